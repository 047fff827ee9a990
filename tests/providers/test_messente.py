"""Messente omnimessage: the request per channel, error codes, signed DLR and inbound webhooks."""

import base64
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
import responses

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRejected, WebhookRequest
from providers.backends.messente import MessenteBackend, sign
from providers.models import InboundMessage
from tests.factories import ProviderFactory

API = "https://api.messente.com/v1/omnimessage"
CREDS = {"username": "api_user", "password": "api_password"}
DLR_URL = "https://msg.example.com/webhooks/providers/tok/status"


def created(channel="sms", mid="m1"):
    return {
        "messages": [{"channel": channel, "message_id": mid, "sender": "Acme"}],
        "to": "+37251000000",
        "omnimessage_id": "om-1",
    }


def outbound(channel="sms", **kw):
    fields = {
        "id": "6f1c1d3e-0000-4000-8000-000000000001",
        "channel": channel,
        "to": "37251000000",
        "body": "Hello",
        "sender": "Acme",
        "status_webhook_url": DLR_URL,
    }
    return OutboundMessage(**{**fields, **kw})


def sent_body(call):
    basic = base64.b64encode(b"api_user:api_password").decode()
    assert call.request.headers["Authorization"] == f"Basic {basic}"
    assert call.request.method == "POST"
    assert call.request.url == API
    return json.loads(call.request.body)


@pytest.mark.parametrize(
    ("channel", "payload", "entry"),
    [
        ("sms", {}, {"channel": "sms", "sender": "Acme", "text": "Hello"}),
        (
            "viber",
            {
                "media": {"image": {"url": "https://ex.com/a.jpg"}},
                "buttons": [{"url": {"value": "https://ex.com/t", "text": "Track"}}],
            },
            {
                "channel": "viber",
                "sender": "Acme",
                "text": "Hello",
                "image_url": "https://ex.com/a.jpg",
                "button_url": "https://ex.com/t",
                "button_text": "Track",
            },
        ),
        (
            "whatsapp",
            {},
            {
                "channel": "whatsapp",
                "sender": "Acme",
                "text": {"body": "Hello", "preview_url": True},
            },
        ),
        (
            "whatsapp",
            {"media": {"document": {"url": "https://ex.com/r.pdf", "filename": "r.pdf"}}},
            {
                "channel": "whatsapp",
                "sender": "Acme",
                "document": {
                    "link": "https://ex.com/r.pdf",
                    "caption": "Hello",
                    "filename": "r.pdf",
                },
            },
        ),
        (
            "whatsapp",
            {"externalRef": "order_update:et", "templateParams": ["Ann", "42"]},
            {
                "channel": "whatsapp",
                "sender": "Acme",
                "template": {
                    "name": "order_update",
                    "language": {"code": "et"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Ann"},
                                {"type": "text", "text": "42"},
                            ],
                        }
                    ],
                },
            },
        ),
        (
            "whatsapp",
            {"media": {"template": {"name": "otp", "language": "de"}}},
            {
                "channel": "whatsapp",
                "sender": "Acme",
                "template": {
                    "name": "otp",
                    "language": {"code": "de"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": "Hello"}]}
                    ],
                },
            },
        ),
    ],
)
@responses.activate
def test_the_request_per_channel(channel, payload, entry):
    responses.post(API, status=201, json=created(channel, "msg-9"))
    result = MessenteBackend(CREDS).send(outbound(channel, payload=payload))
    assert sent_body(responses.calls[0]) == {
        "to": "+37251000000",
        "messages": [entry],
        # Our id rides in the report URL's query: an omnimessage has no reference field.
        "dlr_url": DLR_URL + "?ref=6f1c1d3e-0000-4000-8000-000000000001",
    }
    assert result.provider_message_id == "msg-9"
    assert result.raw["omnimessage_id"] == "om-1"


@pytest.mark.parametrize(
    ("http", "code", "source", "permanent", "status"),
    [
        (400, "105", "to", True, st.REJECTED_DESTINATION),
        (400, "105", "messages/0/text", True, st.REJECTED_CONTENT),
        (400, "106", "messages", True, st.REJECTED_CONTENT),
        (401, "103", None, True, st.REJECTED_PROVIDER),
        (403, "102", None, True, st.REJECTED_PROVIDER),
        (500, "104", None, False, st.REJECTED_PROVIDER),
    ],
)
@responses.activate
def test_api_errors_are_mapped(http, code, source, permanent, status):
    error = {"title": "Invalid data", "detail": f"detail {code}", "code": code, "source": source}
    responses.post(API, status=http, json={"errors": [error]})
    with pytest.raises(SendError) as exc:
        MessenteBackend(CREDS).send(outbound())
    err = exc.value
    assert (err.code, err.description, err.permanent, err.status) == (
        f"MESSENTE_{code}",
        f"detail {code}",
        permanent,
        status,
    )


@pytest.mark.parametrize("http", [429, 502, 503])
@responses.activate
def test_throttling_and_gateway_errors_are_transient(http):
    responses.post(API, status=http, body="<html>busy</html>", headers={"Retry-After": "3"})
    with pytest.raises(SendError) as exc:
        MessenteBackend(CREDS).send(outbound())
    assert (exc.value.code, exc.value.permanent, exc.value.retry_after) == (
        f"HTTP_{http}",
        False,
        3.0,
    )


# --- delivery reports -------------------------------------------------------------------------


def test_signature_matches_the_documented_test_vector():
    body = b'{"status":"DELIVRD","err":0,"message_id":"m1"}'
    assert sign("api_password", body) == (
        "b90375a1446853e13c1db9a8827b6e150bb5ef68baab5f0ad9abf824e47c55a8"
    )


def dlr_request(body: dict, secret="api_password", header=True):
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if header:
        headers["X-Messente-Signature"] = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return WebhookRequest(method="POST", url="https://x", headers=headers, body=raw)


DLR = {
    "status": "DELIVRD",
    "err": 0,
    "error": None,
    "message_id": "msg-9",
    "omnimessage_id": "om-1",
    "channel": "sms",
    "sender": "Acme",
    "to": "+37251000000",
    "timestamp": "2020-02-04T08:09:42.389630",
    "price_info": {"part_price": "0.05", "parts_count": 1, "total_price": "0.05"},
}


def test_dlr_parsed():
    (report,) = MessenteBackend(CREDS).parse_status_webhook(dlr_request(DLR))
    assert report.provider_message_id == "msg-9"
    assert report.status == st.DELIVERED_TO_HANDSET
    assert report.error_code == ""
    assert report.price == Decimal("0.05")
    assert report.occurred_at.isoformat() == "2020-02-04T08:09:42.389630+00:00"


OUR_ID = "6f1c1d3e-0000-4000-8000-000000000001"


def test_dlr_message_ref_is_the_ref_of_the_dlr_url():
    request = dlr_request(DLR)
    request.url = f"{DLR_URL}?ref={OUR_ID}"
    request.query = {"ref": OUR_ID}
    (report,) = MessenteBackend(CREDS).parse_status_webhook(request)
    assert report.message_ref == OUR_ID
    request.query = {}  # a hand-built request: the URL's query still says it
    (report,) = MessenteBackend(CREDS).parse_status_webhook(request)
    assert report.message_ref == OUR_ID


@pytest.mark.parametrize("ref", [None, "", "msg-9", "om-1", "0" * 32])
def test_dlr_without_a_uuid_ref_has_no_message_ref(ref):
    request = dlr_request(DLR)
    if ref is not None:
        request.url = f"{DLR_URL}?ref={ref}"
    (report,) = MessenteBackend(CREDS).parse_status_webhook(request)
    assert report.message_ref == ""


def test_messente_has_no_lookup():
    assert not MessenteBackend.can_lookup()


@pytest.mark.parametrize(
    ("status", "err", "ours", "code"),
    [
        ("ACK", 0, st.PENDING_ENROUTE, ""),
        ("SEEN", 10, st.DELIVERED_READ, ""),
        ("UNDELIV", 1, st.UNDELIVERABLE_NOT_DELIVERED, "MESSENTE_UNDELIV_1"),
        ("EXPIRED", 2, st.EXPIRED_EXPIRED, "MESSENTE_EXPIRED_2"),
        ("REJECTD", 3, st.REJECTED_DESTINATION, "MESSENTE_REJECTD_3"),
        ("FAILED", 7, st.REJECTED_PROVIDER, "MESSENTE_FAILED_7"),
        ("REJECTD", 8, st.UNDELIVERABLE_REJECTED_OPERATOR, "MESSENTE_REJECTD_8"),
        ("NACK", 0, st.REJECTED_PROVIDER, "MESSENTE_NACK"),
        ("FAILED", 999, st.UNDELIVERABLE_NOT_DELIVERED, "MESSENTE_FAILED_999"),
    ],
)
def test_dlr_statuses_and_errors(status, err, ours, code):
    body = {**DLR, "status": status, "err": err}
    (report,) = MessenteBackend(CREDS).parse_status_webhook(dlr_request(body))
    assert (report.status, report.error_code) == (ours, code)


@pytest.mark.parametrize(
    "request_",
    [dlr_request(DLR, secret="wrong"), dlr_request(DLR, header=False)],
    ids=["wrong", "missing"],
)
def test_dlr_with_a_wrong_or_missing_signature_is_refused(request_):
    with pytest.raises(WebhookRejected) as exc:
        MessenteBackend(CREDS).parse_status_webhook(request_)
    assert exc.value.status == 403


# --- through the real URLs --------------------------------------------------------------------


@pytest.fixture
def messente(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="messente",
        provider_type="messente",
        channels=["sms", "viber", "whatsapp"],
        credentials={**CREDS, "inboundSecret": "shared"},
    )


def post_signed(anon_client, url, body: dict, secret: str | None):
    raw = json.dumps(body)
    headers = {}
    if secret:
        sig = hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
        headers["HTTP_X_MESSENTE_SIGNATURE"] = sig
    return anon_client.generic("POST", url, raw, content_type="application/json", **headers)


@responses.activate
def test_end_to_end_send_then_dlr_delivers(client, messente, run_tasks, anon_client):
    responses.post(API, status=201, json=created("sms", "msg-e2e"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+37251000000"], "provider": "messente", "from": "Acme"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    body = sent_body(responses.calls[0])
    assert body["dlr_url"] == f"{messente.status_webhook_url}?ref={mid}"
    assert body["messages"] == [{"channel": "sms", "sender": "Acme", "text": "Hi"}]

    url = f"/webhooks/providers/{messente.webhook_token}/status?ref={mid}"
    dlr = {**DLR, "message_id": "msg-e2e"}
    assert post_signed(anon_client, url, dlr, "wrong").status_code == 403
    assert post_signed(anon_client, url, dlr, None).status_code == 403
    r = post_signed(anon_client, url, dlr, "api_password")
    assert r.status_code == 200, r.content
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET


def test_inbound_is_checked_with_the_shared_secret_and_stored(anon_client, messente):
    url = f"/webhooks/providers/{messente.webhook_token}/inbound"
    inbound = {
        "msg_id": "in-1",
        "sub_msg_id": "sub-1",
        "channel": "whatsapp",
        "recipient": "+37250000000",
        "time": "2020-02-04T08:09:42Z",
        "text": "Yes please",
        "sender": "+37251000000",
    }
    assert post_signed(anon_client, url, inbound, "api_password").status_code == 403
    assert post_signed(anon_client, url, inbound, None).status_code == 403
    r = post_signed(anon_client, url, inbound, "shared")
    assert r.status_code == 200, r.content
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.sender, stored.text, stored.provider_message_id) == (
        "whatsapp",
        "+37251000000",
        "Yes please",
        "sub-1",
    )
