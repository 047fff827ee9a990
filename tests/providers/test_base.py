"""The shared pieces of the adapter contract."""

import time
from email.utils import formatdate

from providers.backends.base import retry_after_seconds, whatsapp_template_spec


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds("1.5") == 1.5
    soon = retry_after_seconds(formatdate(time.time() + 120, usegmt=True))
    assert 110 <= soon <= 121
    assert retry_after_seconds(formatdate(time.time() - 120, usegmt=True)) == 0.0
    assert retry_after_seconds("") is None and retry_after_seconds("soon") is None


def test_whatsapp_template_named_three_ways():
    body = "Ann\nA-1\n"
    assert whatsapp_template_spec({}, body, "en") is None
    by_ref = whatsapp_template_spec({"externalRef": "order_update:de"}, body, "en")
    assert by_ref == {"name": "order_update", "language": "de", "params": ["Ann", "A-1"]}
    explicit = {"providerTemplate": {"name": "otp", "params": ["123"]}, "externalRef": "x"}
    assert whatsapp_template_spec(explicit, body, "en") == {
        "name": "otp",
        "language": "en",
        "params": ["123"],
    }
