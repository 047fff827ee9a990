"""The shared pieces of the adapter contract."""

import time
from email.utils import formatdate

from providers.backends.base import retry_after_seconds


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds("1.5") == 1.5
    soon = retry_after_seconds(formatdate(time.time() + 120, usegmt=True))
    assert 110 <= soon <= 121
    assert retry_after_seconds(formatdate(time.time() - 120, usegmt=True)) == 0.0
    assert retry_after_seconds("") is None and retry_after_seconds("soon") is None
