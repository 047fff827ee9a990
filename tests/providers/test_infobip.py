"""Infobip: the exact request per message type, error classes, and the pushed delivery reports
and inbound messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRejected, WebhookRequest
from providers.backends.content import content_parse
from providers.backends.infobip import InfobipBackend
from providers.models import InboundMessage
from tests.factories import ProviderFactory
from tests.helpers import assert_error

KEY = "0123456789abcdef-key"
BASE = "https://xyz.api.infobip.com"
HOOK = "https://hooks.example.com/webhooks/providers/tok/status"
MID = "00000000-0000-0000-0000-000000000001"
PENDING = {
    "groupId": 1,
    "groupName": "PENDING",
    "id": 26,
    "name": "PENDING_ACCEPTED",
    "description": "Message sent to next instance",
}


@pytest.fixture
def backend():
    return InfobipBackend({"apiKey": KEY, "apiBaseUrl": BASE}, default_sender="InfoSMS")


@pytest.fixture
def infobip(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="ib",
        provider_type="infobip",
        channels=["sms", "whatsapp", "viber"],
        credentials={"apiKey": KEY, "apiBaseUrl": BASE},
        is_tenant_default=True,
    )


def message(**kw) -> OutboundMessage:
    base = {
        "id": MID,
        "channel": "sms",
        "to": "+41793026727",
        "body": "Hello",
        "status_webhook_url": HOOK,
    }
    return OutboundMessage(**{**base, **kw})


def sent_json(call) -> dict:
    assert call.request.headers["Authorization"] == f"App {KEY}"
    assert call.request.headers["Content-Type"] == "application/json"
    return json.loads(call.request.body)


def bulk_answer(message_id="ib-1", status=PENDING):
    return {
        "bulkId": "b-1",
        "messages": [
            {
                "messageId": message_id,
                "status": status,
                "destination": "41793026727",
                "details": {"messageCount": 1},
            }
        ],
    }


# --- send ----------------------------------------------------------------------------------------


@responses.activate
def test_sms_request(backend):
    responses.post(f"{BASE}/sms/3/messages", json=bulk_answer())
    result = backend.send(message())
    assert sent_json(responses.calls[0]) == {
        "messages": [
            {
                "sender": "InfoSMS",
                # Our id as Infobip's messageId (SmsDestination.messageId) and callbackData.
                "destinations": [{"to": "41793026727", "messageId": MID}],
                "content": {"text": "Hello"},
                "webhooks": {
                    "delivery": {"url": HOOK, "intermediateReport": True},
                    "contentType": "application/json",
                    "callbackData": MID,
                },
            }
        ]
    }
    assert result.provider_message_id == "ib-1"
    assert result.status == st.PENDING_ENROUTE


@responses.activate
def test_viber_request(backend):
    responses.post(f"{BASE}/viber/2/messages", json=bulk_answer())
    backend.send(message(channel="viber", sender="DemoCompany"))
    [entry] = sent_json(responses.calls[0])["messages"]
    assert entry["sender"] == "DemoCompany"
    assert entry["content"] == {"type": "TEXT", "text": "Hello"}
    assert entry["webhooks"]["delivery"]["url"] == HOOK


def wa_answer(message_id="wa-1"):
    return {"to": "41793026727", "messageCount": 1, "messageId": message_id, "status": PENDING}


@responses.activate
def test_whatsapp_text_request(backend):
    responses.post(f"{BASE}/whatsapp/1/message/text", json=wa_answer())
    result = backend.send(message(channel="whatsapp", sender="+441134960000"))
    assert sent_json(responses.calls[0]) == {
        "from": "441134960000",
        "to": "41793026727",
        "messageId": MID,
        "callbackData": MID,
        "notifyUrl": HOOK,
        "content": {"text": "Hello"},
    }
    assert result.provider_message_id == "wa-1"


@responses.activate
def test_whatsapp_image_request(backend):
    responses.post(f"{BASE}/whatsapp/1/message/image", json=wa_answer())
    media = {"type": "image", "url": "https://example.com/box.png"}
    backend.send(message(channel="whatsapp", sender="441134960000", payload={"media": media}))
    body = sent_json(responses.calls[0])
    assert body["content"] == {"mediaUrl": "https://example.com/box.png", "caption": "Hello"}
    assert body["notifyUrl"] == HOOK


@responses.activate
def test_whatsapp_document_request(backend):
    responses.post(f"{BASE}/whatsapp/1/message/document", json=wa_answer())
    media = {"type": "document", "url": "https://example.com/f/inv-7.pdf", "caption": "Invoice"}
    backend.send(message(channel="whatsapp", sender="441134960000", payload={"media": media}))
    assert sent_json(responses.calls[0])["content"] == {
        "mediaUrl": "https://example.com/f/inv-7.pdf",
        "caption": "Invoice",
        "filename": "inv-7.pdf",
    }


# The WhatsApp bodies below follow infobip-api-java-client (src/main/java/com/infobip/model,
# generated from Infobip's OpenAPI): WhatsApp{Image,Document,Video,Audio,Sticker,Location}
# Content, WhatsAppInteractiveButtons/UrlButton*, WhatsAppTemplate{Content,DataContent,
# BodyContent,*HeaderContent,*ButtonContent}; the paths are those of its WhatsAppApi.


def wa(**kw) -> OutboundMessage:
    return message(channel="whatsapp", sender="441134960000", **kw)


@responses.activate
@pytest.mark.parametrize(
    ("media", "path", "content"),
    [
        (
            {"image": {"url": "https://example.com/box.png"}},
            "image",
            {"mediaUrl": "https://example.com/box.png", "caption": "Hello"},
        ),
        (
            {"document": {"url": "https://example.com/f/x.pdf", "filename": "inv-7.pdf"}},
            "document",
            {
                "mediaUrl": "https://example.com/f/x.pdf",
                "caption": "Hello",
                "filename": "inv-7.pdf",
            },
        ),
        (
            {"video": {"url": "https://example.com/v.mp4", "caption": "Watch"}},
            "video",
            {"mediaUrl": "https://example.com/v.mp4", "caption": "Watch"},
        ),
        # Audio and sticker contents take no caption.
        (
            {"audio": {"url": "https://example.com/a.mp3"}},
            "audio",
            {"mediaUrl": "https://example.com/a.mp3"},
        ),
        (
            {"sticker": {"url": "https://example.com/s.webp"}},
            "sticker",
            {"mediaUrl": "https://example.com/s.webp"},
        ),
        (
            {"location": {"latitude": 45.8, "longitude": 15.97, "name": "HQ", "address": "Main 1"}},
            "location",
            {"latitude": 45.8, "longitude": 15.97, "name": "HQ", "address": "Main 1"},
        ),
    ],
)
def test_whatsapp_os1_media_request(backend, media, path, content):
    responses.post(f"{BASE}/whatsapp/1/message/{path}", json=wa_answer())
    backend.send(wa(payload={"media": media}))
    assert sent_json(responses.calls[0]) == {
        "from": "441134960000",
        "to": "41793026727",
        "messageId": MID,
        "callbackData": MID,
        "notifyUrl": HOOK,
        "content": content,
    }


@responses.activate
def test_whatsapp_document_without_filename_takes_the_url_name(backend):
    responses.post(f"{BASE}/whatsapp/1/message/document", json=wa_answer())
    backend.send(wa(payload={"media": {"url": "https://example.com/f/inv-7.pdf"}}))
    assert sent_json(responses.calls[0])["content"]["filename"] == "inv-7.pdf"


@responses.activate
def test_whatsapp_quick_replies_are_interactive_buttons(backend):
    responses.post(f"{BASE}/whatsapp/1/message/interactive/buttons", json=wa_answer())
    payload = {
        "media": {"image": {"url": "https://example.com/box.png"}},
        "buttons": ["Yes", {"quick reply": {"value": "No"}}],
    }
    backend.send(wa(body="Deliver today?", payload=payload))
    body = sent_json(responses.calls[0])
    assert body["notifyUrl"] == HOOK
    assert body["content"] == {
        "body": {"text": "Deliver today?"},
        "action": {
            "buttons": [
                {"type": "REPLY", "id": "Yes", "title": "Yes"},
                {"type": "REPLY", "id": "No", "title": "No"},
            ]
        },
        "header": {"type": "IMAGE", "mediaUrl": "https://example.com/box.png"},
    }


@responses.activate
def test_whatsapp_url_button_is_an_interactive_url_button(backend):
    responses.post(f"{BASE}/whatsapp/1/message/interactive/url-button", json=wa_answer())
    payload = {
        "media": {"document": {"url": "https://example.com/r.pdf", "filename": "r.pdf"}},
        "buttons": [{"url": {"value": "https://example.com/t/1", "title": "Track"}}],
    }
    backend.send(wa(body="Your receipt", payload=payload))
    assert sent_json(responses.calls[0])["content"] == {
        "body": {"text": "Your receipt"},
        "action": {"displayText": "Track", "url": "https://example.com/t/1"},
        "header": {
            "type": "DOCUMENT",
            "mediaUrl": "https://example.com/r.pdf",
            "filename": "r.pdf",
        },
    }


def template_answer():
    return {"messages": [wa_answer("tpl-1")], "bulkId": "b-2"}


@responses.activate
def test_whatsapp_template_request(backend):
    responses.post(f"{BASE}/whatsapp/1/message/template", json=template_answer())
    template = {
        "name": "order_shipped",
        "language": "en_GB",
        "params": ["Ann", "o-1"],
        "header": {"document": {"url": "https://example.com/i.pdf", "filename": "i.pdf"}},
        "buttons": [
            {"type": "quick_reply", "value": "stop", "index": 2},
            {"type": "url", "value": "o-1", "index": 0},
            {"type": "copy_code", "value": "SAVE10", "index": 1},
        ],
    }
    result = backend.send(wa(payload={"providerTemplate": template}))
    assert sent_json(responses.calls[0]) == {
        "messages": [
            {
                "from": "441134960000",
                "to": "41793026727",
                "messageId": MID,
                "callbackData": MID,
                "notifyUrl": HOOK,
                "content": {
                    "templateName": "order_shipped",
                    "templateData": {
                        "body": {"placeholders": ["Ann", "o-1"]},
                        "header": {
                            "type": "DOCUMENT",
                            "mediaUrl": "https://example.com/i.pdf",
                            "filename": "i.pdf",
                        },
                        # In the template's order (Infobip's buttons carry no index).
                        "buttons": [
                            {"type": "URL", "parameter": "o-1"},
                            {"type": "COPY_CODE", "parameter": "SAVE10"},
                            {"type": "QUICK_REPLY", "parameter": "stop"},
                        ],
                    },
                    "language": "en_GB",
                },
            }
        ]
    }
    assert result.provider_message_id == "tpl-1"


@responses.activate
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"text": "Ann"}, {"type": "TEXT", "placeholder": "Ann"}),
        (
            {"image": {"url": "https://e.com/a.png"}},
            {"type": "IMAGE", "mediaUrl": "https://e.com/a.png"},
        ),
        (
            {"video": {"url": "https://e.com/v.mp4"}},
            {"type": "VIDEO", "mediaUrl": "https://e.com/v.mp4"},
        ),
        (
            {"location": {"latitude": 1.5, "longitude": 2.5}},
            {"type": "LOCATION", "latitude": 1.5, "longitude": 2.5},
        ),
    ],
)
def test_whatsapp_template_headers(backend, header, expected):
    responses.post(f"{BASE}/whatsapp/1/message/template", json=template_answer())
    template = {"name": "promo", "header": header}
    backend.send(wa(payload={"providerTemplate": template}))
    [entry] = sent_json(responses.calls[0])["messages"]
    assert entry["content"]["templateData"]["header"] == expected


@responses.activate
def test_whatsapp_template_without_params_sends_an_empty_placeholder_list(backend):
    # WhatsAppTemplateBodyContent.placeholders: "must not be null, but it can be an empty array".
    responses.post(f"{BASE}/whatsapp/1/message/template", json=template_answer())
    backend.send(wa(payload={"providerTemplate": {"name": "hello_world"}}))
    [entry] = sent_json(responses.calls[0])["messages"]
    assert entry["content"] == {
        "templateName": "hello_world",
        "templateData": {"body": {"placeholders": []}},
        "language": "en",
    }


@responses.activate
def test_viber_image_and_url_button(backend):
    # ViberOutboundImageContent {type: IMAGE, mediaUrl, text, button: ViberButton{title, action}}.
    responses.post(f"{BASE}/viber/2/messages", json=bulk_answer())
    payload = {
        "media": {"image": {"url": "https://example.com/a.jpg"}},
        "buttons": [{"url": {"value": "https://example.com/t", "title": "Track"}}],
    }
    backend.send(message(channel="viber", sender="DemoCompany", payload=payload))
    [entry] = sent_json(responses.calls[0])["messages"]
    assert entry["content"] == {
        "type": "IMAGE",
        "mediaUrl": "https://example.com/a.jpg",
        "text": "Hello",
        "button": {"title": "Track", "action": "https://example.com/t"},
    }


@responses.activate
@pytest.mark.parametrize(("channel", "path"), [("sms", "sms/3"), ("viber", "viber/2")])
@pytest.mark.parametrize(("minutes", "seconds"), [(30, 1800), (7 * 24 * 60, 48 * 3600)])
def test_validity_travels_in_seconds_capped_at_48_hours(backend, channel, path, minutes, seconds):
    # SmsMessageOptions/ViberMessageOptions.validityPeriod = ValidityPeriod{amount, timeUnit
    # SECONDS|MINUTES|HOURS}; "longer than 48h is not supported".
    responses.post(f"{BASE}/{path}/messages", json=bulk_answer())
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    backend.send(message(channel=channel, expires_at=expires))
    [entry] = sent_json(responses.calls[0])["messages"]
    validity = entry["options"]["validityPeriod"]
    assert validity["timeUnit"] == "SECONDS"
    assert seconds - 2 <= validity["amount"] <= seconds


@responses.activate
def test_whatsapp_has_no_validity(backend):
    responses.post(f"{BASE}/whatsapp/1/message/text", json=wa_answer())
    backend.send(wa(expires_at=datetime.now(UTC) + timedelta(hours=1)))
    assert "options" not in sent_json(responses.calls[0])


@pytest.mark.parametrize(
    ("channel", "entry", "source"),
    [
        ("sms", {"media": {"image": {"url": "https://e.com/a.jpg"}}}, "media.image"),
        ("sms", {"buttons": ["Yes"]}, "buttons"),
        ("whatsapp", {"media": {"image": {"mediaId": "m-1"}}}, "media.image.mediaId"),
        (
            "whatsapp",
            {"media": {"image": [{"url": "https://e.com/1.jpg"}, {"url": "https://e.com/2.jpg"}]}},
            "media",
        ),
        ("whatsapp", {"buttons": ["a", "b", "c", "d"]}, "buttons"),
        ("whatsapp", {"buttons": ["A title longer than twenty"]}, "buttons[0]"),
        (
            "whatsapp",
            {"buttons": ["Yes", {"url": {"value": "https://e.com", "title": "Go"}}]},
            "buttons",
        ),
        ("whatsapp", {"buttons": [{"url": {"value": "https://e.com"}}]}, "buttons[0]"),
        (
            "whatsapp",
            {"media": {"audio": {"url": "https://e.com/a.mp3"}}, "buttons": ["Yes"]},
            "buttons",
        ),
        (
            "whatsapp",
            {"media": {"location": {"latitude": 1, "longitude": 2}}, "buttons": ["Yes"]},
            "buttons",
        ),
    ],
)
def test_what_infobip_cannot_carry_is_a_400_naming_the_field(
    client, infobip, channel, entry, source
):
    body = {channel: [{"body": "Hi", "to": ["+41793026727"], "from": "441134960000", **entry}]}
    r = client.post("/api/v1/messages", body, format="json")
    assert_error(r, 400, source=f"{channel}[0].{source}", code="unsupported_content")
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("payload", "source"),
    [
        ({"media": {"document": {"url": "https://e.com/a.pdf"}}}, "media.document"),
        ({"buttons": ["Yes"]}, "buttons"),
        ({"buttons": [{"url": {"value": "https://e.com"}}]}, "buttons[0]"),
    ],
)
def test_what_infobip_viber_cannot_carry_is_refused(payload, source):
    # Viber is no entry channel of POST /api/v1/messages: accept asks the same method.
    problems = InfobipBackend.content_problems("viber", content_parse(payload))
    assert source in [field for field, _ in problems]


@responses.activate
def test_os1_media_through_the_api(client, infobip, run_tasks):
    responses.post(f"{BASE}/whatsapp/1/message/document", json=wa_answer())
    media = {"document": {"url": "https://example.com/doc.pdf", "filename": "receipt.pdf"}}
    entry = {"body": "Receipt", "to": ["+41793026727"], "from": "441134960000", "media": media}
    r = run_tasks(client.post, "/api/v1/messages", {"whatsapp": [entry]}, format="json")
    assert r.status_code == 202, r.content
    assert sent_json(responses.calls[0])["content"] == {
        "mediaUrl": "https://example.com/doc.pdf",
        "caption": "Receipt",
        "filename": "receipt.pdf",
    }


@responses.activate
def test_rejected_in_the_send_answer_is_a_permanent_refusal(backend):
    rejected = {
        "groupId": 5,
        "groupName": "REJECTED",
        "id": 52,
        "name": "REJECTED_DESTINATION",
        "description": "Invalid destination address.",
    }
    responses.post(f"{BASE}/sms/3/messages", json=bulk_answer(status=rejected))
    with pytest.raises(SendError) as exc:
        backend.send(message())
    assert (exc.value.code, exc.value.status, exc.value.permanent) == (
        "REJECTED_DESTINATION",
        st.REJECTED_DESTINATION,
        True,
    )


@pytest.mark.parametrize(
    ("http", "body", "code", "permanent"),
    [
        (400, {"errorCode": "E400", "description": "Bad request", "violations": []}, "E400", True),
        (401, {"errorCode": "E401", "description": "Invalid login details"}, "E401", True),
        (
            401,
            {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "No"}}},
            "UNAUTHORIZED",
            True,
        ),
        (429, {"errorCode": "E429", "description": "Too many requests"}, "E429", False),
        (500, {"errorCode": "E500", "description": "Internal error"}, "E500", False),
        (503, "Service Unavailable", "HTTP_503", False),
    ],
)
@responses.activate
def test_error_classes(backend, http, body, code, permanent):
    if isinstance(body, dict):
        responses.post(f"{BASE}/sms/3/messages", json=body, status=http)
    else:
        responses.post(f"{BASE}/sms/3/messages", body=body, status=http)
    with pytest.raises(SendError) as exc:
        backend.send(message())
    assert (exc.value.code, exc.value.permanent) == (code, permanent)
    if permanent:
        assert exc.value.status == st.REJECTED_PROVIDER
    if http == 429:
        assert exc.value.retry_after == 5.0


@responses.activate
def test_test_connection_reads_the_balance(backend):
    responses.get(f"{BASE}/account/1/balance", json={"balance": 47.79, "currency": "EUR"})
    assert backend.test_connection() == "Balance 47.79 EUR"
    assert responses.calls[0].request.headers["Authorization"] == f"App {KEY}"


def test_api_key_is_required(client, tenant):
    r = client.post(
        "/api/v1/providers",
        {"name": "ib", "providerType": "infobip", "credentials": {"apiBaseUrl": BASE}},
        format="json",
    )
    assert r.status_code == 400, r.content
    assert "credentials.apiKey" in {e["source"] for e in r.json()["errors"]}


# --- delivery reports ----------------------------------------------------------------------------


def dlr(message_id="ib-1", status=None, error=None, **extra):
    return {
        "bulkId": "b-1",
        "messageId": message_id,
        "to": "41793026727",
        "sentAt": "2026-11-25T18:00:00.000+0000",
        "doneAt": "2026-11-25T18:00:05.123+0000",
        "messageCount": 1,
        "price": {"pricePerMessage": 0.01, "currency": "EUR"},
        "status": status
        or {
            "groupId": 3,
            "groupName": "DELIVERED",
            "id": 5,
            "name": "DELIVERED_TO_HANDSET",
            "description": "Message delivered to handset",
        },
        "error": error
        or {
            "groupId": 0,
            "groupName": "OK",
            "id": 0,
            "name": "NO_ERROR",
            "description": "No Error",
            "permanent": False,
        },
        "callbackData": MID,
        **extra,
    }


def as_request(body) -> WebhookRequest:
    return WebhookRequest("POST", HOOK, {}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "error", "ours", "permanent"),
    [
        ((3, "DELIVERED", 5), None, st.DELIVERED_TO_HANDSET, True),
        ((3, "DELIVERED", 2), None, st.DELIVERED_TO_OPERATOR, True),
        ((1, "PENDING", 7), None, st.PENDING_ENROUTE, True),
        ((2, "UNDELIVERABLE", 9), (1, "EC_ABSENT_SUBSCRIBER_SM", 6, False), "UND", False),
        ((2, "UNDELIVERABLE", 4), (3, "EC_SYSTEM", 5000, True), "UND_OP", True),
        ((2, "UNDELIVERABLE", 9), (2, "EC_CONTENT_BLOCKED", 603, True), "REJ_DEST", True),
        ((4, "EXPIRED", 15), None, st.EXPIRED_EXPIRED, True),
        ((5, "REJECTED", 18), None, st.REJECTED_NOT_ON_CHANNEL, True),
        ((5, "REJECTED", 999), None, st.REJECTED_PROVIDER, True),
        # No error object: the rejections a later attempt may get past are transient.
        ((5, "REJECTED", 20), None, st.REJECTED_PROVIDER, False),
        ((5, "REJECTED", 12), None, st.REJECTED_PROVIDER, False),
        ((5, "REJECTED", 21), None, st.REJECTED_PROVIDER, False),
        ((2, "UNDELIVERABLE", 9), None, "UND", True),
        # Infobip's own verdict in the error object wins.
        ((5, "REJECTED", 20), (3, "EC_SYSTEM", 5000, True), st.REJECTED_PROVIDER, True),
        ((2, "UNDELIVERABLE", 9), (1, "EC_CALL_BARRED", 13, False), "UND", False),
    ],
)
def test_status_and_error_tables(backend, status, error, ours, permanent):
    ours = {
        "UND": st.UNDELIVERABLE_NOT_DELIVERED,
        "UND_OP": st.UNDELIVERABLE_REJECTED_OPERATOR,
        "REJ_DEST": st.REJECTED_DESTINATION,
    }.get(ours, ours)
    group_id, group, sid = status
    status_obj = {"groupId": group_id, "groupName": group, "id": sid, "name": "X"}
    error_obj = None
    if error:
        egroup, ename, eid, eperm = error
        error_obj = {
            "groupId": egroup,
            "groupName": "G",
            "id": eid,
            "name": ename,
            "description": ename.lower(),
            "permanent": eperm,
        }
    [report] = backend.parse_status_webhook(
        as_request({"results": [dlr(status=status_obj, error=error_obj)]})
    )
    assert (report.status, report.permanent) == (ours, permanent)
    assert report.error_code == (error[1] if error else "")
    assert report.provider_message_id == "ib-1"


def test_report_carries_price_time_and_legacy_fields(backend):
    legacy = dlr()
    legacy.pop("messageCount")
    legacy.update(smsCount=1, mccmnc="22801")
    reports = backend.parse_status_webhook(as_request({"results": [dlr("a"), legacy]}))
    assert [r.provider_message_id for r in reports] == ["a", "ib-1"]
    assert str(reports[0].price) == "0.01" and reports[0].currency == "EUR"
    assert reports[0].occurred_at.isoformat() == "2026-11-25T18:00:05.123000+00:00"


def test_seen_report_is_read(backend):
    seen = {
        "messageId": "wa-1",
        "from": "441134960000",
        "to": "41793026727",
        "sentAt": "2026-11-25T18:00:00.000+0000",
        "seenAt": "2026-11-25T18:01:00.000+0000",
    }
    [report] = backend.parse_status_webhook(as_request({"results": [seen]}))
    assert (report.status, report.provider_message_id) == (st.DELIVERED_READ, "wa-1")


def test_report_message_ref_is_our_callback_data_or_our_message_id(backend):
    [report] = backend.parse_status_webhook(as_request({"results": [dlr("ib-1")]}))
    assert report.message_ref == MID
    # No callbackData (a report of a send made elsewhere), but the messageId we set.
    item = dlr(MID)
    item.pop("callbackData")
    [report] = backend.parse_status_webhook(as_request({"results": [item]}))
    assert (report.provider_message_id, report.message_ref) == (MID, MID)
    # A seen report carries only the messageId.
    seen = {"messageId": MID, "to": "41793026727", "seenAt": "2026-11-25T18:01:00.000+0000"}
    [report] = backend.parse_status_webhook(as_request({"results": [seen]}))
    assert report.message_ref == MID


@pytest.mark.parametrize("value", [None, "", "order-17", "ib-1", "0" * 32])
def test_only_a_uuid_is_taken_for_our_ref(backend, value):
    [report] = backend.parse_status_webhook(
        as_request({"results": [dlr("ib-1", callbackData=value)]})
    )
    assert report.message_ref == ""


def log_entry(message_id=MID, status=None):
    """One SmsLog (GET /sms/3/logs) as infobip-api-python-client's model has it."""
    return {
        "sender": "InfoSMS",
        "destination": "41793026727",
        "bulkId": "b-1",
        "messageId": message_id,
        "sentAt": "2026-11-25T18:00:00.000+0000",
        "doneAt": "2026-11-25T18:00:05.123+0000",
        "messageCount": 1,
        "price": {"pricePerMessage": 0.01, "currency": "EUR"},
        "status": status or PENDING,
        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR"},
        "content": {"text": "Hello"},
    }


@responses.activate
def test_lookup_finds_the_message_in_the_logs_by_our_message_id(backend):
    responses.get(f"{BASE}/sms/3/logs", json={"results": [log_entry()]})
    result = backend.lookup(message())
    [call] = responses.calls
    assert call.request.url == f"{BASE}/sms/3/logs?messageId={MID}"
    assert call.request.headers["Authorization"] == f"App {KEY}"
    assert result.provider_message_id == MID
    assert result.status == st.PENDING_ENROUTE
    assert (str(result.price), result.currency) == ("0.01", "EUR")
    assert InfobipBackend.can_lookup()


@responses.activate
def test_lookup_of_a_message_infobip_has_not_is_none(backend):
    responses.get(f"{BASE}/sms/3/logs", json={"results": []})
    assert backend.lookup(message()) is None


@responses.activate
@pytest.mark.parametrize(
    ("http", "body", "permanent"),
    [
        (500, {"errorCode": "E500", "description": "Internal error"}, False),
        (429, {"errorCode": "E429", "description": "Too many requests"}, False),
        (401, {"errorCode": "E401", "description": "Invalid login details"}, True),
        (200, {"unexpected": True}, False),
    ],
)
def test_lookup_provider_error_raises(backend, http, body, permanent):
    responses.get(f"{BASE}/sms/3/logs", json=body, status=http)
    with pytest.raises(SendError) as exc:
        backend.lookup(message())
    assert exc.value.permanent is permanent


def test_lookup_of_whatsapp_or_viber_is_not_offered(backend):
    for channel in ("whatsapp", "viber"):
        with pytest.raises(NotImplementedError):
            backend.lookup(message(channel=channel))


@responses.activate
def test_a_duplicate_message_id_after_a_lost_answer_is_the_message_already_there(backend):
    duplicate = {
        "groupId": 5,
        "groupName": "REJECTED",
        "id": 23,
        "name": "REJECTED_DUPLICATE_MESSAGE_ID",
        "description": "Duplicate message id",
    }
    responses.post(f"{BASE}/sms/3/messages", json=bulk_answer("x", status=duplicate))
    responses.get(f"{BASE}/sms/3/logs", json={"results": [log_entry()]})
    result = backend.send(message())
    assert result.provider_message_id == MID


@pytest.mark.parametrize("body", [{"messageId": "x"}, {"results": "x"}, {"results": [{}]}, []])
def test_malformed_reports_are_400(backend, body):
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_status_webhook(as_request(body))
    assert exc.value.status == 400


@responses.activate
def test_send_through_the_api_then_the_pushed_report_delivers(
    client, anon_client, infobip, run_tasks
):
    responses.post(f"{BASE}/sms/3/messages", json=bulk_answer("ib-77"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+41793026727"], "senderId": "InfoSMS"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    body = sent_json(responses.calls[0])
    assert body["messages"][0]["webhooks"]["delivery"]["url"] == infobip.status_webhook_url
    assert body["messages"][0]["webhooks"]["callbackData"] == mid
    assert body["messages"][0]["destinations"] == [{"to": "41793026727", "messageId": mid}]
    assert Message.objects.get(pk=mid).provider_message_id == "ib-77"

    path = f"/webhooks/providers/{infobip.webhook_token}/status"
    r = anon_client.post(path, {"results": [dlr("ib-77")]}, format="json")
    assert r.status_code == 200, r.content
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"


def _sent_sms(client, run_tasks, provider_message_id="ib-77") -> str:
    responses.post(f"{BASE}/sms/3/messages", json=bulk_answer(provider_message_id))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+41793026727"], "senderId": "InfoSMS"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "X"}


@responses.activate
@pytest.mark.parametrize(
    ("error", "final"),
    [
        # EC_ABSENT_SUBSCRIBER_SM: the handset is off, Infobip says "permanent": false.
        ({"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 6, "name": "EC_ABSENT_SUBSCRIBER_SM",
          "description": "Absent subscriber", "permanent": False}, st.PENDING_WAITING_RETRY),
        ({"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 1, "name": "EC_UNKNOWN_SUBSCRIBER",
          "description": "Unknown subscriber", "permanent": True}, st.UNDELIVERABLE_NOT_DELIVERED),
    ],
)  # fmt: skip
def test_a_report_is_retried_or_final_by_infobips_verdict(
    client, anon_client, infobip, run_tasks, error, final
):
    mid = _sent_sms(client, run_tasks)
    path = f"/webhooks/providers/{infobip.webhook_token}/status"
    report = dlr("ib-77", status=UNDELIVERABLE, error=error)
    r = anon_client.post(path, {"results": [report]}, format="json")
    assert r.status_code == 200, r.content
    got = Message.objects.get(pk=mid)
    assert got.status == final
    assert got.error_code == error["name"]


# --- inbound -------------------------------------------------------------------------------------


def test_inbound_sms_is_stored(anon_client, infobip):
    body = {
        "results": [
            {
                "messageId": "in-1",
                "from": "385916242493",
                "to": "385921004026",
                "text": "QUIZ Correct answer is Paris",
                "cleanText": "Correct answer is Paris",
                "keyword": "QUIZ",
                "receivedAt": "2026-11-25T18:00:00.000+0000",
                "smsCount": 1,
                "price": {"pricePerMessage": 0, "currency": "EUR"},
                "callbackData": None,
            }
        ],
        "messageCount": 1,
        "pendingMessageCount": 0,
    }
    path = f"/webhooks/providers/{infobip.webhook_token}/inbound"
    assert anon_client.post(path, body, format="json").status_code == 200
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.sender, stored.recipient, stored.text) == (
        "sms",
        "+385916242493",
        "+385921004026",
        "QUIZ Correct answer is Paris",
    )
    assert stored.provider_message_id == "in-1"


def test_inbound_whatsapp_is_stored(anon_client, infobip):
    body = {
        "results": [
            {
                "from": "41793026727",
                "to": "441134960000",
                "integrationType": "WHATSAPP",
                "receivedAt": "2026-11-25T18:00:00.000+0000",
                "messageId": "wamid.1",
                "pairedMessageId": None,
                "callbackData": None,
                "message": {"type": "TEXT", "text": "Yes please"},
                "contact": {"name": "Ann"},
                "price": {"pricePerMessage": 0, "currency": "EUR"},
            }
        ],
        "messageCount": 1,
        "pendingMessageCount": 0,
    }
    path = f"/webhooks/providers/{infobip.webhook_token}/inbound"
    assert anon_client.post(path, body, format="json").status_code == 200
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.sender, stored.text) == (
        "whatsapp",
        "+41793026727",
        "Yes please",
    )
    assert stored.payload["contact"] == {"name": "Ann"}
