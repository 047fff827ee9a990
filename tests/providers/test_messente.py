"""Messente omnimessage: the request per channel, error codes, signed DLR and inbound webhooks."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import responses

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRejected, WebhookRequest
from providers.backends.content import content_parse
from providers.backends.messente import MessenteBackend, sign
from providers.models import InboundMessage
from tests.factories import ProviderFactory
from tests.helpers import assert_error

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
                # WhatsAppDocument {id|link, caption, mime_type, file_name}.
                "document": {
                    "link": "https://ex.com/r.pdf",
                    "caption": "Hello",
                    "file_name": "r.pdf",
                },
            },
        ),
        (
            "whatsapp",
            {
                "providerTemplate": {
                    "name": "order_update",
                    "language": "et",
                    "params": ["Ann", "42"],
                }
            },
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
            # No params: no body component (WhatsAppTemplate.components is required: []).
            "whatsapp",
            {"providerTemplate": {"name": "otp", "language": "de"}},
            {
                "channel": "whatsapp",
                "sender": "Acme",
                "template": {"name": "otp", "language": {"code": "de"}, "components": []},
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
        # Omnimessage.text_store (TextStore) and .priority (Priority: low, regular, high).
        "text_store": "plaintext",
        "priority": "regular",
    }
    assert result.provider_message_id == "msg-9"
    assert result.raw["omnimessage_id"] == "om-1"


# WhatsApp bodies per messente-api-python models/whats_app*.py (WhatsAppImage/Video {id|link,
# caption}, WhatsAppAudio/Sticker {id|link}, WhatsAppTemplate {name, language{code},
# components[WhatsAppComponent{type, sub_type, index, parameters[WhatsAppParameter]}]}).
@pytest.mark.parametrize(
    ("media", "key", "obj"),
    [
        (
            {"image": {"url": "https://ex.com/a.jpg"}},
            "image",
            {"link": "https://ex.com/a.jpg", "caption": "Hello"},
        ),
        ({"image": {"mediaId": "m-1"}}, "image", {"id": "m-1", "caption": "Hello"}),
        (
            {"video": {"url": "https://ex.com/v.mp4", "caption": "Clip"}},
            "video",
            {"link": "https://ex.com/v.mp4", "caption": "Clip"},
        ),
        ({"audio": {"url": "https://ex.com/a.mp3"}}, "audio", {"link": "https://ex.com/a.mp3"}),
        (
            {"sticker": {"url": "https://ex.com/s.webp"}},
            "sticker",
            {"link": "https://ex.com/s.webp"},
        ),
        # The flat shape some pages show is the same one item.
        (
            {"url": "https://ex.com/b.png"},
            "image",
            {"link": "https://ex.com/b.png", "caption": "Hello"},
        ),
    ],
)
@responses.activate
def test_whatsapp_media(media, key, obj):
    responses.post(API, status=201, json=created("whatsapp"))
    MessenteBackend(CREDS).send(outbound("whatsapp", payload={"media": media}))
    [entry] = sent_body(responses.calls[0])["messages"]
    assert entry == {"channel": "whatsapp", "sender": "Acme", key: obj}


@responses.activate
def test_whatsapp_template_with_header_and_buttons():
    responses.post(API, status=201, json=created("whatsapp"))
    template = {
        "name": "shipped",
        "params": ["Ann"],
        "header": {"document": {"url": "https://ex.com/i.pdf", "filename": "i.pdf"}},
        "buttons": [
            {"type": "quick_reply", "value": "stop", "index": 2},
            {"type": "url", "value": "o-1", "index": 0},
            {"type": "copy_code", "value": "SAVE10", "index": 1},
        ],
    }
    MessenteBackend(CREDS).send(outbound("whatsapp", payload={"providerTemplate": template}))
    [entry] = sent_body(responses.calls[0])["messages"]
    assert entry["template"] == {
        "name": "shipped",
        "language": {"code": "en"},
        "components": [
            {
                "type": "header",
                "parameters": [
                    {
                        "type": "document",
                        "document": {"link": "https://ex.com/i.pdf", "filename": "i.pdf"},
                    }
                ],
            },
            {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]},
            {
                "type": "button",
                "sub_type": "url",
                "index": 0,
                "parameters": [{"type": "text", "text": "o-1"}],
            },
            {
                "type": "button",
                "sub_type": "copy_code",
                "index": 1,
                "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": 2,
                "parameters": [{"type": "payload", "payload": "stop"}],
            },
        ],
    }


@pytest.mark.parametrize(
    ("header", "parameter"),
    [
        ({"text": "Ann"}, {"type": "text", "text": "Ann"}),
        (
            {"image": {"url": "https://ex.com/a.png"}},
            {"type": "image", "image": {"link": "https://ex.com/a.png"}},
        ),
        ({"video": {"mediaId": "v-1"}}, {"type": "video", "video": {"id": "v-1"}}),
    ],
)
@responses.activate
def test_whatsapp_template_headers(header, parameter):
    responses.post(API, status=201, json=created("whatsapp"))
    template = {"name": "promo", "language": "et", "header": header}
    MessenteBackend(CREDS).send(outbound("whatsapp", payload={"providerTemplate": template}))
    [entry] = sent_body(responses.calls[0])["messages"]
    assert entry["template"]["components"] == [{"type": "header", "parameters": [parameter]}]


@pytest.mark.parametrize("channel", ["sms", "viber", "whatsapp"])
@pytest.mark.parametrize(("minutes", "seconds"), [(30, 1800), (7 * 24 * 60, 7 * 24 * 3600)])
@responses.activate
def test_validity_travels_as_the_channel_ttl_in_seconds(channel, minutes, seconds):
    # SMS/Viber/WhatsApp.ttl: "After how many seconds this channel is considered as failed";
    # Messente documents no maximum, so nothing is capped.
    responses.post(API, status=201, json=created(channel))
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    MessenteBackend(CREDS).send(outbound(channel, expires_at=expires))
    [entry] = sent_body(responses.calls[0])["messages"]
    assert seconds - 2 <= entry["ttl"] <= seconds
    assert "validity" not in entry  # "Only one of ttl and validity can be used."


@pytest.mark.parametrize(
    ("priority", "text_store", "theirs"),
    [("high", "nostore", "high"), ("low", "sha256", "low"), ("normal", "plaintext", "regular")],
)
@responses.activate
def test_priority_and_text_store_are_handed_over(priority, text_store, theirs):
    responses.post(API, status=201, json=created())
    MessenteBackend(CREDS).send(outbound(priority=priority, text_store=text_store))
    body = sent_body(responses.calls[0])
    assert (body["priority"], body["text_store"]) == (theirs, text_store)


@pytest.mark.parametrize(
    ("entry", "source"),
    [
        ({"media": {"location": {"latitude": 1, "longitude": 2}}}, "media.location"),
        ({"buttons": ["Yes"]}, "buttons"),
        ({"buttons": [{"url": {"value": "https://ex.com", "title": "Go"}}]}, "buttons"),
        (
            {
                "media": {
                    "image": [{"url": "https://ex.com/1.jpg"}, {"url": "https://ex.com/2.jpg"}]
                }
            },
            "media",
        ),
        (
            {
                "providerTemplate": {
                    "name": "t",
                    "header": {"location": {"latitude": 1, "longitude": 2}},
                }
            },
            "providerTemplate.header",
        ),
    ],
)
def test_what_messente_whatsapp_cannot_carry_is_a_400_naming_the_field(
    client, messente, entry, source
):
    body = {"whatsapp": [{"body": "Hi", "to": ["+37251000000"], "provider": "messente", **entry}]}
    r = client.post("/api/v1/messages", body, format="json")
    assert_error(r, 400, source=f"whatsapp[0].{source}", code="unsupported_content")
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("payload", "source"),
    [
        ({"media": {"image": {"mediaId": "m-1"}}}, "media.image.mediaId"),
        ({"media": {"video": {"url": "https://ex.com/v.mp4"}}}, "media.video.thumbnail"),
        ({"buttons": ["Yes"]}, "buttons"),
        ({"buttons": [{"url": {"value": "https://ex.com"}}]}, "buttons[0]"),
    ],
)
def test_what_messente_viber_cannot_carry_is_refused(payload, source):
    # Viber is no entry channel of POST /api/v1/messages: accept asks the same method.
    problems = MessenteBackend.content_problems("viber", content_parse(payload))
    # (an image with text but no button: tests/providers/test_viber_rcs_content.py)
    assert source in [field for field, _ in problems]


@responses.activate
def test_viber_text_with_a_url_button():
    responses.post(API, status=201, json=created("viber"))
    payload = {"buttons": [{"url": {"value": "https://ex.com/t", "title": "Track"}}]}
    MessenteBackend(CREDS).send(outbound("viber", payload=payload))
    [entry] = sent_body(responses.calls[0])["messages"]
    assert entry == {
        "channel": "viber",
        "sender": "Acme",
        "text": "Hello",
        "button_url": "https://ex.com/t",
        "button_text": "Track",
    }


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
    ("status", "err", "ours", "code", "permanent"),
    [
        ("ACK", 0, st.PENDING_ENROUTE, "", True),
        ("SEEN", 10, st.DELIVERED_READ, "", True),
        ("UNDELIV", 1, st.UNDELIVERABLE_NOT_DELIVERED, "MESSENTE_UNDELIV_1", True),
        ("EXPIRED", 2, st.EXPIRED_EXPIRED, "MESSENTE_EXPIRED_2", True),
        ("REJECTD", 3, st.REJECTED_DESTINATION, "MESSENTE_REJECTD_3", True),
        ("FAILED", 4, st.REJECTED_PROVIDER, "MESSENTE_FAILED_4", False),
        ("FAILED", 7, st.REJECTED_PROVIDER, "MESSENTE_FAILED_7", True),
        ("REJECTD", 8, st.UNDELIVERABLE_REJECTED_OPERATOR, "MESSENTE_REJECTD_8", True),
        ("NACK", 0, st.REJECTED_PROVIDER, "MESSENTE_NACK", True),
        # ErrorCodeOmnichannelMachine: "999 - General temporary error".
        ("FAILED", 999, st.UNDELIVERABLE_NOT_DELIVERED, "MESSENTE_FAILED_999", False),
        ("UNKNOWN", 0, st.UNDELIVERABLE_NOT_DELIVERED, "MESSENTE_UNKNOWN", False),
        ("UNKNOWN", 999, st.UNDELIVERABLE_NOT_DELIVERED, "MESSENTE_UNKNOWN_999", False),
        ("UNKNOWN", 3, st.REJECTED_DESTINATION, "MESSENTE_UNKNOWN_3", True),
    ],
)
def test_dlr_statuses_and_errors(status, err, ours, code, permanent):
    body = {**DLR, "status": status, "err": err}
    (report,) = MessenteBackend(CREDS).parse_status_webhook(dlr_request(body))
    assert (report.status, report.error_code, report.permanent) == (ours, code, permanent)


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
    [entry] = body["messages"]
    # The default validity (48 h) as the channel's ttl, in seconds.
    assert 48 * 3600 - 5 <= entry.pop("ttl") <= 48 * 3600
    assert entry == {"channel": "sms", "sender": "Acme", "text": "Hi"}

    url = f"/webhooks/providers/{messente.webhook_token}/status?ref={mid}"
    dlr = {**DLR, "message_id": "msg-e2e"}
    assert post_signed(anon_client, url, dlr, "wrong").status_code == 403
    assert post_signed(anon_client, url, dlr, None).status_code == 403
    r = post_signed(anon_client, url, dlr, "api_password")
    assert r.status_code == 200, r.content
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET


@responses.activate
@pytest.mark.parametrize(
    ("status", "err", "final"),
    [
        ("FAILED", 999, st.PENDING_WAITING_RETRY),  # general temporary error: retried
        ("UNKNOWN", 0, st.PENDING_WAITING_RETRY),
        ("REJECTD", 3, st.REJECTED_DESTINATION),  # invalid number: final
    ],
)
def test_a_report_is_retried_or_final_by_its_verdict(
    client, messente, run_tasks, anon_client, status, err, final
):
    responses.post(API, status=201, json=created("sms", "msg-r"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+37251000000"], "provider": "messente", "from": "Acme"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    url = f"/webhooks/providers/{messente.webhook_token}/status?ref={mid}"
    dlr = {**DLR, "message_id": "msg-r", "status": status, "err": err}
    r = post_signed(anon_client, url, dlr, "api_password")
    assert r.status_code == 200, r.content
    assert Message.objects.get(pk=mid).status == final


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


def test_a_report_whose_err_is_a_digit_int_refuses_is_read_not_a_500():
    # "²".isdigit() is True, int("²") raises: a signed report must not crash the intake.
    (report,) = MessenteBackend(CREDS).parse_status_webhook(
        dlr_request({**DLR, "status": "FAILED", "err": "²"})
    )
    assert report.status == st.UNDELIVERABLE_NOT_DELIVERED
