"""Provider webhooks: POST /webhooks/providers/{token}/status and /inbound, no API key."""

import pytest

from core import status as st
from messaging.models import Message
from providers.models import InboundMessage
from tests.factories import ProviderFactory


@pytest.fixture
def enroute(client, sandbox, run_tasks, no_sandbox_report):
    """A sent message whose delivery report the test will post itself."""
    r = run_tasks(
        client.post, "/api/v1/messages", {"sms": [{"body": "hi", "to": ["+14155550100"]}]},
        format="json",
    )  # fmt: skip
    m = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    assert m.status == st.PENDING_ENROUTE
    return m


def status_url(provider):
    return f"/webhooks/providers/{provider.webhook_token}/status"


def inbound_url(provider):
    return f"/webhooks/providers/{provider.webhook_token}/inbound"


def post_raw(anon_client, url, body, content_type="application/json"):
    return anon_client.generic("POST", url, body, content_type=content_type)


def assert_error(r, status, code="webhook_rejected"):
    assert r.status_code == status, r.content
    [error] = r.json()["errors"]
    assert error["code"] == code
    assert error["detail"]
    return error


@pytest.mark.parametrize("kind", ["status", "inbound"])
def test_unknown_token_is_404(anon_client, sandbox, kind):
    r = anon_client.post(
        f"/webhooks/providers/not-a-token/{kind}", {"messageId": "x"}, format="json"
    )
    assert_error(r, 404)


@pytest.mark.parametrize("kind", ["status", "inbound"])
@pytest.mark.parametrize("body", ["{not json", "", b"\xff\xfe", "[1, 2"])
def test_bad_json_is_400(anon_client, sandbox, kind, body):
    url = f"/webhooks/providers/{sandbox.webhook_token}/{kind}"
    assert_error(post_raw(anon_client, url, body), 400)


@pytest.mark.parametrize("kind", ["status", "inbound"])
def test_get_is_not_allowed(anon_client, sandbox, kind):
    r = anon_client.get(f"/webhooks/providers/{sandbox.webhook_token}/{kind}")
    assert r.status_code == 405


def test_status_report_moves_the_message(anon_client, client, sandbox, enroute, run_tasks):
    r = run_tasks(
        anon_client.post,
        status_url(sandbox),
        {"messageId": enroute.provider_message_id, "status": "delivered"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json() == {"accepted": 1}
    got = client.get(f"/api/v1/messages/{enroute.id}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert got["events"][-1]["source"] == "provider"


def test_status_report_batch(anon_client, client, sandbox, enroute, run_tasks):
    r = run_tasks(
        anon_client.post,
        status_url(sandbox),
        [
            {"messageId": "sbx-unknown", "status": "DELIVERED"},
            {
                "messageId": enroute.provider_message_id,
                "status": "REJECTED",
                "errorCode": "BARRED",
                "errorDescription": "The number is barred.",
            },
        ],
        format="json",
    )
    assert r.json() == {"accepted": 1}
    got = client.get(f"/api/v1/messages/{enroute.id}").json()
    assert got["status"]["name"] == "REJECTED_DESTINATION"
    assert got["error"] == {
        "code": "BARRED",
        "description": "The number is barred.",
        "permanent": True,
    }


def test_status_report_for_an_unknown_message_is_accepted_and_ignored(anon_client, sandbox):
    r = anon_client.post(
        status_url(sandbox), {"messageId": "sbx-nope", "status": "DELIVERED"}, format="json"
    )
    assert r.status_code == 200
    assert r.json() == {"accepted": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"status": "DELIVERED"},
        {"messageId": "", "status": "DELIVERED"},
        {"messageId": "sbx-1", "status": "LOST"},
        {"messageId": "sbx-1"},
        [1],
        "text",
    ],
)
def test_status_report_not_understood_is_400(anon_client, sandbox, enroute, body):
    r = anon_client.post(status_url(sandbox), body, format="json")
    assert_error(r, 400)
    enroute.refresh_from_db()
    assert enroute.status == st.PENDING_ENROUTE


def test_no_api_key_is_needed_and_a_wrong_one_is_ignored(sandbox, enroute, run_tasks):
    from rest_framework.test import APIClient

    c = APIClient()
    c.credentials(HTTP_X_API_KEY="wrong")
    r = run_tasks(
        c.post,
        status_url(sandbox),
        {"messageId": enroute.provider_message_id, "status": "DELIVERED"},
        format="json",
    )
    assert r.status_code == 200
    assert r.json() == {"accepted": 1}


def test_inbound_is_stored_with_sms_by_default(anon_client, sandbox, tenant):
    r = anon_client.post(
        inbound_url(sandbox),
        {"from": "+14155550123", "to": "+18005550000", "text": "STOP"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json() == {"accepted": 1}
    inbound = InboundMessage.objects.get()
    assert (inbound.tenant, inbound.provider, inbound.channel) == (tenant, sandbox, "sms")
    assert (inbound.sender, inbound.recipient, inbound.text) == (
        "+14155550123",
        "+18005550000",
        "STOP",
    )


def test_inbound_on_whatsapp(anon_client, sandbox):
    r = anon_client.post(
        inbound_url(sandbox),
        {"from": "+14155550123", "to": "+18005550000", "text": "Yes", "channel": "whatsapp"},
        format="json",
    )
    assert r.json() == {"accepted": 1}
    assert InboundMessage.objects.get().channel == "whatsapp"


def test_a_retried_inbound_is_stored_once(anon_client, sandbox):
    body = {"from": "+14155550123", "to": "+18005550000", "text": "Yes", "messageId": "in-1"}
    for _ in range(3):
        r = anon_client.post(inbound_url(sandbox), body, format="json")
        assert r.status_code == 200
        assert r.json() == {"accepted": 1}
    assert InboundMessage.objects.count() == 1
    assert InboundMessage.objects.get().provider_message_id == "in-1"
    # Another message id is another message; no id at all cannot be deduplicated.
    anon_client.post(inbound_url(sandbox), {**body, "messageId": "in-2"}, format="json")
    del body["messageId"]
    anon_client.post(inbound_url(sandbox), body, format="json")
    anon_client.post(inbound_url(sandbox), body, format="json")
    assert InboundMessage.objects.count() == 4


def test_the_same_inbound_id_at_two_providers_is_two_messages(anon_client, sandbox):
    other = ProviderFactory(name="other")
    body = {"from": "+14155550123", "to": "+18005550000", "text": "Yes", "messageId": "in-1"}
    anon_client.post(inbound_url(sandbox), body, format="json")
    anon_client.post(inbound_url(other), body, format="json")
    assert sorted(InboundMessage.objects.values_list("tenant__slug", flat=True)) == sorted(
        [sandbox.tenant.slug, other.tenant.slug]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"to": "+18005550000", "text": "x"},
        {"from": "+14155550123", "text": "x"},
        {"from": "+14155550123", "to": "+18005550000"},
        {"from": 14155550123, "to": "+18005550000", "text": "x"},
        {"from": "+14155550123", "to": "+18005550000", "text": "x", "channel": "pigeon"},
        ["from"],
    ],
)
def test_inbound_not_understood_is_400(anon_client, sandbox, body):
    assert_error(anon_client.post(inbound_url(sandbox), body, format="json"), 400)
    assert not InboundMessage.objects.exists()


def test_null_optional_fields_are_empty_not_none(anon_client, client, sandbox, enroute, run_tasks):
    pmid = enroute.provider_message_id
    for status in ("DELIVERED", "READ"):
        r = run_tasks(
            anon_client.post,
            status_url(sandbox),
            {"messageId": pmid, "status": status, "eventId": None, "errorCode": None},
            format="json",
        )
        assert r.json() == {"accepted": 1}
    got = client.get(f"/api/v1/messages/{enroute.id}").json()
    assert got["status"]["name"] == "DELIVERED_READ"
    assert got["error"] is None

    body = {"from": "+14155550123", "to": "+18005550000", "text": "a", "messageId": None}
    anon_client.post(inbound_url(sandbox), body, format="json")
    anon_client.post(inbound_url(sandbox), {**body, "text": "b"}, format="json")
    assert sorted(InboundMessage.objects.values_list("text", "provider_message_id")) == [
        ("a", ""),
        ("b", ""),
    ]


def test_a_head_probe_of_a_webhook_url_is_answered(anon_client, sandbox):
    url = f"/webhooks/providers/{sandbox.webhook_token}/status"
    assert anon_client.head(url).status_code == 200
    assert anon_client.put(url).status_code == 405
