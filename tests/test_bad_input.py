"""Input no database can take is a 400 (or cleaned, where a provider would retry a refusal
forever), never a 500: NUL characters in URLs and webhooks, nesting, overlong URLs, dates
that overflow."""

import json

import pytest

from messaging.models import Message
from providers.models import InboundMessage
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/api/v1/messages?to=%00", "/api/v1/messages?status=PENDING%00", "/api/v1/templates/a%00b"],
)
def test_a_nul_in_the_url_is_a_400(client, path):
    assert_error(client.get(path), 400, code="invalid_url")


def test_a_nul_in_a_webhook_url_is_a_400(anon_client, sandbox):
    r = anon_client.get(f"/webhooks/providers/{sandbox.webhook_token}%00/status")
    assert r.status_code == 400


def test_inbound_text_with_a_nul_is_stored_cleaned(anon_client, sandbox):
    body = {"from": "+14155550100", "to": "+14155550199", "text": "STOP\u0000 now\ud800"}
    url = f"/webhooks/providers/{sandbox.webhook_token}/inbound"
    raw = json.dumps(body)  # ASCII, the NUL and the lone surrogate escaped, as sent
    r = anon_client.post(url, raw, content_type="application/json")
    assert r.status_code == 200, r.content
    assert InboundMessage.objects.get().text == "STOP now\ufffd"


def test_a_report_with_a_nul_is_applied_cleaned(client, anon_client, sandbox, run_tasks,
                                                 no_sandbox_report):  # fmt: skip
    r = run_tasks(client.post, "/api/v1/messages",
                  {"sms": [{"body": "hi", "to": ["+14155550100"]}]}, format="json")  # fmt: skip
    m = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    report = {"messageId": m.provider_message_id, "status": "UNDELIVERABLE",
              "errorCode": "E\u00001", "errorDescription": "bad\u0000 handset"}  # fmt: skip
    url = f"/webhooks/providers/{sandbox.webhook_token}/status"
    assert run_tasks(anon_client.post, url, report, format="json").status_code == 200
    m.refresh_from_db()
    assert (m.status, m.error_code, m.error_description) == (
        "UNDELIVERABLE_NOT_DELIVERED", "E1", "bad handset",
    )  # fmt: skip


def test_a_deeply_nested_webhook_body_is_a_400(anon_client, sandbox):
    url = f"/webhooks/providers/{sandbox.webhook_token}/status"
    body = "[" * 100_000 + "]" * 100_000
    r = anon_client.post(url, body, content_type="application/json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["detail"] == "The body is nested too deeply."


def test_a_schedule_in_year_9999_is_a_400(client, sandbox):
    body = {"sms": [{"body": "hi", "to": ["+14155550100"]}], "scheduledAt": "9999-12-31T23:59:59Z"}
    assert_error(client.post("/api/v1/messages", body, format="json"), 400,
                 source="scheduledAt", code="too_far_ahead")  # fmt: skip
    assert not Message.objects.exists()


def test_an_overlong_callback_url_is_a_400(client, sandbox):
    url = "https://example.com/" + "a" * 10_000
    body = {"sms": [{"body": "hi", "to": ["+14155550100"]}], "callback": {"url": url}}
    assert_error(client.post("/api/v1/messages", body, format="json"), 400,
                 source="callback.url", code="invalid_url")  # fmt: skip
    assert not Message.objects.exists()
