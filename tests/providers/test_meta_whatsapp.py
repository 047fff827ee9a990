"""Meta WhatsApp Cloud API: the exact Graph requests, error mapping, the hub.challenge
handshake, X-Hub-Signature-256, and statuses + inbound on one webhook."""

import hashlib
import hmac
import json

import pytest
import responses

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRequest
from providers.backends.meta_whatsapp import MetaWhatsAppBackend
from providers.models import InboundMessage
from tests.factories import ProviderFactory

CREDS = {
    "accessToken": "EAAG-token",
    "phoneNumberId": "106540352242922",
    "appSecret": "test_app_secret",
    "verifyToken": "my-verify-token",
}
SEND_URL = "https://graph.facebook.com/v23.0/106540352242922/messages"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDNjQ5RkQyMjc5QjVBNTk2NUEA"
OK = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
    "messages": [{"id": WAMID, "message_status": "accepted"}],
}


def backend(**extra):
    return MetaWhatsAppBackend({**CREDS, **extra})


def message(body="Hello", **payload):
    return OutboundMessage(
        id="m-1", channel="whatsapp", to="+16505551234", body=body, payload=payload
    )


def sent_body(rsps):
    call = rsps.calls[-1]
    assert call.request.method == "POST"
    assert call.request.url == SEND_URL
    assert call.request.headers["Authorization"] == "Bearer EAAG-token"
    assert call.request.headers["Content-Type"] == "application/json"
    return json.loads(call.request.body)


BASE = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "+16505551234",
    # Our id, echoed in the message's status webhooks.
    "biz_opaque_callback_data": "m-1",
}


# --- sending -------------------------------------------------------------------------------
# Bodies as documented in facebook/openapi @ ecba623b `business-messaging-api_v23.0.yaml`
# (TextMessage, ImageMessage/DocumentMessage + MediaMessageProperties caption/filename,
# LocationMessage, InteractiveObject/ActionObject, TemplateObject/TemplateComponent/
# ButtonParameterObject) and Meta's "Interactive Call-to-Action URL Button Messages" page.
IMG = "https://example.com/r.png"
PDF = "https://example.com/f/inv-7.pdf"


def tpl(**kw):
    return {"providerTemplate": {"name": "order_delivered", **kw}}


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        pytest.param(
            message("Your order shipped"),
            {"type": "text", "text": {"body": "Your order shipped", "preview_url": False}},
            id="text",
        ),
        pytest.param(
            message("Track it: https://example.com/t/1"),
            {
                "type": "text",
                "text": {"body": "Track it: https://example.com/t/1", "preview_url": True},
            },
            id="text-with-link",
        ),
        pytest.param(
            message("Your receipt", media={"image": {"url": IMG}}),
            {"type": "image", "image": {"link": IMG, "caption": "Your receipt"}},
            id="os1-image",
        ),
        pytest.param(
            message("Invoice", media={"document": {"url": PDF, "filename": "Invoice 7.pdf"}}),
            {
                "type": "document",
                "document": {"link": PDF, "caption": "Invoice", "filename": "Invoice 7.pdf"},
            },
            id="os1-document-with-filename",
        ),
        pytest.param(
            message("", media={"document": {"url": PDF}}),
            {"type": "document", "document": {"link": PDF, "filename": "inv-7.pdf"}},
            id="os1-document-filename-from-url",
        ),
        pytest.param(
            message("Clip", media={"video": {"mediaId": "1166846181421424"}}),
            {"type": "video", "video": {"id": "1166846181421424", "caption": "Clip"}},
            id="video-by-media-id",
        ),
        pytest.param(
            message("", media={"audio": {"url": "https://example.com/a.ogg"}}),
            {"type": "audio", "audio": {"link": "https://example.com/a.ogg"}},
            id="audio-without-caption",
        ),
        pytest.param(
            message("", media={"sticker": {"mediaId": "798882015472548"}}),
            {"type": "sticker", "sticker": {"id": "798882015472548"}},
            id="sticker",
        ),
        pytest.param(
            message("Receipt", media={"url": IMG}),
            {"type": "image", "image": {"link": IMG, "caption": "Receipt"}},
            id="flat-media-url",
        ),
        pytest.param(
            message(
                "",
                media={
                    "location": {
                        "latitude": 37.4847,
                        "longitude": -122.1486,
                        "name": "Meta HQ",
                        "address": "1 Hacker Way, Menlo Park, CA 94025",
                    }
                },
            ),
            {
                "type": "location",
                "location": {
                    "latitude": "37.4847",
                    "longitude": "-122.1486",
                    "name": "Meta HQ",
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                },
            },
            id="os1-location",
        ),
        pytest.param(
            message("Pick one", buttons=["Yes", {"quick reply": {"value": "No"}}]),
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick one"},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": "Yes", "title": "Yes"}},
                            {"type": "reply", "reply": {"id": "No", "title": "No"}},
                        ]
                    },
                },
            },
            id="os1-quick-replies",
        ),
        pytest.param(
            message(
                "Delivered?",
                media={"image": {"url": "https://example.com/box.png"}},
                buttons=[{"quickReply": {"value": "Confirm delivery"}}],
            ),
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "header": {"type": "image", "image": {"link": "https://example.com/box.png"}},
                    "body": {"text": "Delivered?"},
                    "action": {
                        "buttons": [
                            {
                                "type": "reply",
                                "reply": {"id": "Confirm delivery", "title": "Confirm delivery"},
                            }
                        ]
                    },
                },
            },
            id="quick-replies-with-media-header",
        ),
        pytest.param(
            message(
                "Tap to see dates.",
                buttons=[{"url": {"value": "https://example.com/dates", "title": "See Dates"}}],
            ),
            {
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "Tap to see dates."},
                    "action": {
                        "name": "cta_url",
                        "parameters": {
                            "display_text": "See Dates",
                            "url": "https://example.com/dates",
                        },
                    },
                },
            },
            id="os1-url-button-as-cta_url",
        ),
        pytest.param(
            message(
                "Your invoice",
                media={"document": {"url": PDF, "filename": "inv.pdf"}},
                buttons=[{"url": {"trackurl": "https://example.com/pay"}}],
            ),
            {
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "header": {
                        "type": "document",
                        "document": {"link": PDF, "filename": "inv.pdf"},
                    },
                    "body": {"text": "Your invoice"},
                    "action": {
                        "name": "cta_url",
                        "parameters": {
                            "display_text": "Open link",  # no title: our documented default
                            "url": "https://example.com/pay",
                        },
                    },
                },
            },
            id="url-button-default-label-with-document-header",
        ),
        pytest.param(
            message("ignored", **tpl(language="pt_BR", params=["Ana", "o-1"])),
            {
                "type": "template",
                "template": {
                    "name": "order_delivered",
                    "language": {"policy": "deterministic", "code": "pt_BR"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Ana"},
                                {"type": "text", "text": "o-1"},
                            ],
                        }
                    ],
                },
            },
            id="template-with-params",
        ),
        pytest.param(
            message("Line one\nLine two", **tpl()),
            {
                "type": "template",
                "template": {
                    "name": "order_delivered",
                    "language": {"policy": "deterministic", "code": "en_US"},
                },
            },
            id="template-without-params-sends-none",
        ),
        pytest.param(
            message("Ana\no-1\n", **tpl(params="bodyLines")),
            {
                "type": "template",
                "template": {
                    "name": "order_delivered",
                    "language": {"policy": "deterministic", "code": "en_US"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Ana"},
                                {"type": "text", "text": "o-1"},
                            ],
                        }
                    ],
                },
            },
            id="template-params-from-body-lines-when-asked",
        ),
        pytest.param(
            message(
                "",
                media={"document": {"url": "https://example.com/i.pdf", "filename": "i.pdf"}},
                **tpl(
                    params=["Ana"],
                    buttons=[
                        {"type": "url", "value": "o-1"},
                        {"type": "quick_reply", "value": "STOP", "index": 2},
                        {"type": "copy_code", "value": "25OFF", "index": 3},
                    ],
                ),
            ),
            {
                "type": "template",
                "template": {
                    "name": "order_delivered",
                    "language": {"policy": "deterministic", "code": "en_US"},
                    "components": [
                        {
                            "type": "header",
                            "parameters": [
                                {
                                    "type": "document",
                                    "document": {
                                        "link": "https://example.com/i.pdf",
                                        "filename": "i.pdf",
                                    },
                                }
                            ],
                        },
                        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                        {
                            "type": "button",
                            "sub_type": "url",
                            "index": "0",
                            "parameters": [{"type": "text", "text": "o-1"}],
                        },
                        {
                            "type": "button",
                            "sub_type": "quick_reply",
                            "index": "2",
                            "parameters": [{"type": "payload", "payload": "STOP"}],
                        },
                        {
                            "type": "button",
                            "sub_type": "copy_code",
                            "index": "3",
                            "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}],
                        },
                    ],
                },
            },
            id="template-media-header-and-buttons",
        ),
        pytest.param(
            message("", **tpl(header={"text": "Order o-1"})),
            {
                "type": "template",
                "template": {
                    "name": "order_delivered",
                    "language": {"policy": "deterministic", "code": "en_US"},
                    "components": [
                        {"type": "header", "parameters": [{"type": "text", "text": "Order o-1"}]}
                    ],
                },
            },
            id="template-text-header",
        ),
        pytest.param(
            message("", **tpl(header={"location": {"latitude": 52.52, "longitude": 13.405}})),
            {
                "type": "template",
                "template": {
                    "name": "order_delivered",
                    "language": {"policy": "deterministic", "code": "en_US"},
                    "components": [
                        {
                            "type": "header",
                            "parameters": [
                                {
                                    "type": "location",
                                    "location": {"latitude": "52.52", "longitude": "13.405"},
                                }
                            ],
                        }
                    ],
                },
            },
            id="template-location-header",
        ),
    ],
)
def test_send_builds_the_documented_request(msg, expected):
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=OK)
        result = backend().send(msg)
        assert sent_body(rsps) == {**BASE, **expected}
    assert result.provider_message_id == WAMID
    assert result.status == st.PENDING_ENROUTE


def test_send_honours_base_url_version_and_language():
    b = backend(apiBaseUrl="http://sim.local:9000/", apiVersion="v21.0", templateLanguage="de")
    with responses.RequestsMock() as rsps:
        rsps.post("http://sim.local:9000/v21.0/106540352242922/messages", json=OK)
        b.send(message("Eva", providerTemplate={"name": "greeting"}))
        body = json.loads(rsps.calls[0].request.body)
    assert body["template"]["language"]["code"] == "de"


@pytest.mark.parametrize("held", ["held_for_quality_assessment", "paused"])
def test_held_or_paused_sends_stay_enroute(held):
    """META-OAI MessageStatus: Meta holds the message (quality assessment) or has paused its
    delivery; it is Meta's, sent or dropped later, so it waits for a status like any."""
    answer = {**OK, "messages": [{"id": WAMID, "message_status": held}]}
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=answer)
        result = backend().send(message())
    assert (result.provider_message_id, result.status) == (WAMID, st.PENDING_ENROUTE)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"media": {"audio": {"url": "https://example.com/a.ogg"}}}, "audio message carries no"),
        ({"media": {"sticker": {"mediaId": "1"}}}, "sticker message carries no"),
        ({"media": {"location": {"latitude": 1, "longitude": 2}}}, "location message"),
    ],
)
def test_text_with_an_uncaptioned_kind_is_refused_before_any_call(payload, fragment):
    """Meta's audio, sticker and location messages have no caption: the text would be lost,
    so the send is refused (permanently) rather than sent without it."""
    with responses.RequestsMock():  # any HTTP call would fail the test
        with pytest.raises(SendError) as err:
            backend().send(message("Listen", **payload))
    assert (err.value.permanent, err.value.status) == (True, st.REJECTED_CONTENT)
    assert fragment in err.value.description


@pytest.mark.parametrize(
    ("entry", "source"),
    [
        ({"buttons": ["a", "b", "c", "d"]}, "buttons"),
        ({"buttons": ["x" * 21]}, "buttons[0]"),
        ({"buttons": ["Same", "Same"]}, "buttons[1]"),
        (
            {
                "buttons": [
                    {"url": {"value": "https://e.com/1"}},
                    {"url": {"value": "https://e.com/2"}},
                ]
            },
            "buttons",
        ),
        ({"buttons": ["Yes", {"url": {"value": "https://e.com/1"}}]}, "buttons"),
        (
            {"buttons": [{"url": {"value": "https://e.com/1", "title": "y" * 21}}]},
            "buttons[0].url.title",
        ),
        (
            {"buttons": ["Yes"], "media": {"audio": {"url": "https://example.com/a.ogg"}}},
            "buttons",
        ),
        (
            {"buttons": ["Yes"], "media": {"location": {"latitude": 1, "longitude": 2}}},
            "buttons",
        ),
        (
            {"media": {"image": [{"url": IMG}, {"url": "https://example.com/2.png"}]}},
            "media",
        ),
        (
            {
                "media": {
                    "image": {"url": IMG},
                    "location": {"latitude": 1, "longitude": 2},
                }
            },
            "media",
        ),
        (
            {
                "providerTemplate": {
                    "name": "t",
                    "header": {"audio": {"url": "https://e.com/a.mp3"}},
                }
            },
            "providerTemplate.header",
        ),
    ],
)
def test_what_meta_cannot_carry_is_a_400_at_accept(client, meta, entry, source):
    r = client.post(
        "/api/v1/messages",
        {"whatsapp": [{"body": "Pick", "provider": "meta", "to": ["+16505551234"], **entry}]},
        format="json",
    )
    assert r.status_code == 400, r.content
    sources = [e["source"] for e in r.json()["errors"]]
    assert f"whatsapp[0].{source}" in sources, sources
    assert not Message.objects.exists()


def _send_through_api(client, run_tasks, entry, **options):
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=OK)
        r = run_tasks(
            client.post,
            "/api/v1/messages",
            {"whatsapp": [{"provider": "meta", "to": ["+16505551234"], **entry}], **options},
            format="json",
        )
        assert r.status_code == 202, r.content
        body = sent_body(rsps)
    return r.json()["messages"][0]["messageId"], body


def test_os1_media_and_buttons_through_the_api(client, meta, run_tasks):
    mid, body = _send_through_api(
        client,
        run_tasks,
        {
            "body": "Your receipt",
            "media": {"document": {"url": PDF, "filename": "receipt.pdf"}},
            "buttons": [{"quick reply": {"value": "Thanks"}}, "Wrong"],
        },
    )
    assert body == {
        **BASE,
        "biz_opaque_callback_data": mid,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "document", "document": {"link": PDF, "filename": "receipt.pdf"}},
            "body": {"text": "Your receipt"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "Thanks", "title": "Thanks"}},
                    {"type": "reply", "reply": {"id": "Wrong", "title": "Wrong"}},
                ]
            },
        },
    }


def test_provider_template_with_params_through_the_api(client, meta, run_tasks):
    mid, body = _send_through_api(
        client,
        run_tasks,
        {
            "body": "Hello",
            "providerTemplate": {"name": "order_update", "language": "de", "params": ["Ana"]},
        },
    )
    assert body["template"] == {
        "name": "order_update",
        "language": {"policy": "deterministic", "code": "de"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}],
    }


def test_a_template_without_variables_sends_no_parameters(client, meta, run_tasks):
    """Error 132000 (parameter count mismatch) came from turning body lines into parameters."""
    _, body = _send_through_api(
        client,
        run_tasks,
        {"body": "Welcome!\nSee you soon.", "providerTemplate": {"name": "hello_world"}},
    )
    assert body["template"] == {
        "name": "hello_world",
        "language": {"policy": "deterministic", "code": "en_US"},
    }


def test_external_ref_sends_the_placeholders_values(client, meta, run_tasks):
    _, body = _send_through_api(
        client,
        run_tasks,
        {
            "body": "Hi {{name}}, order {{orderId}} is here.",
            "data": {"name": "Ana", "orderId": "o-1"},
            "externalRef": "order_delivered:pt_BR",
        },
    )
    assert body["template"] == {
        "name": "order_delivered",
        "language": {"policy": "deterministic", "code": "pt_BR"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "o-1"}],
            }
        ],
    }


def test_no_validity_travels_to_meta(client, meta, run_tasks):
    """The Cloud API has no per-message TTL (a template's message_send_ttl_seconds is set on
    the template in WhatsApp Manager): our own EXPIRED is all there is."""
    _, body = _send_through_api(client, run_tasks, {"body": "Hi"}, validity=5, priority="high")
    assert set(body) == {*BASE, "type", "text"}


def graph_error(code, http=400, **extra):
    return {
        "error": {
            "message": f"Error {code}",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCd",
            **extra,
        }
    }


@pytest.mark.parametrize(
    ("http", "body", "code", "permanent", "status", "retry_after"),
    [
        (400, graph_error(131047), "131047", True, st.REJECTED_PROVIDER, None),
        (400, graph_error(131026), "131026", True, st.UNDELIVERABLE_NOT_DELIVERED, None),
        (400, graph_error(132001), "132001", True, st.REJECTED_CONTENT, None),
        (400, graph_error(100), "100", True, st.REJECTED_PROVIDER, None),
        (401, graph_error(190), "190", True, st.REJECTED_PROVIDER, None),
        (429, graph_error(130429), "130429", False, st.REJECTED_PROVIDER, 1),
        (400, graph_error(131056), "131056", False, st.REJECTED_PROVIDER, 6),
        (400, graph_error(131057), "131057", False, st.REJECTED_PROVIDER, 60),
        (400, graph_error(131042), "131042", True, st.REJECTED_PROVIDER, None),
        (403, graph_error(130497), "130497", True, st.REJECTED_DESTINATION, None),
        (400, graph_error(80007), "80007", False, st.REJECTED_PROVIDER, 60),
        (500, graph_error(131000), "131000", False, st.REJECTED_PROVIDER, 30),
        (400, graph_error(999999), "999999", True, st.REJECTED_PROVIDER, None),
        (400, graph_error(999998, is_transient=True), "999998", False, st.REJECTED_PROVIDER, None),
        (503, "<html>down</html>", "HTTP_503", False, st.REJECTED_PROVIDER, None),
        (404, "not found", "HTTP_404", True, st.REJECTED_PROVIDER, None),
    ],
)
def test_send_errors_are_mapped_by_the_table(http, body, code, permanent, status, retry_after):
    with responses.RequestsMock() as rsps:
        if isinstance(body, dict):
            rsps.post(SEND_URL, json=body, status=http)
        else:
            rsps.post(SEND_URL, body=body, status=http)
        with pytest.raises(SendError) as err:
            backend().send(message())
    assert (err.value.code, err.value.permanent, err.value.status) == (code, permanent, status)
    assert err.value.retry_after == retry_after
    assert err.value.raw == body if isinstance(body, dict) else True


def test_window_error_says_to_send_a_template():
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=graph_error(131047), status=400)
        with pytest.raises(SendError) as err:
            backend().send(message())
    assert "template" in err.value.description


def test_retry_after_header_wins():
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=graph_error(130429), status=429, headers={"Retry-After": "7"})
        with pytest.raises(SendError) as err:
            backend().send(message())
    assert err.value.retry_after == 7


def test_test_connection_names_the_number():
    with responses.RequestsMock() as rsps:
        rsps.get(
            "https://graph.facebook.com/v23.0/106540352242922",
            json={"verified_name": "Acme", "display_phone_number": "+1 555-0100", "id": "1"},
        )
        assert backend().test_connection() == "Acme (+1 555-0100)"
        assert rsps.calls[0].request.headers["Authorization"] == "Bearer EAAG-token"


def test_credentials_are_validated():
    from providers.backends import CredentialsInvalid

    with pytest.raises(CredentialsInvalid) as err:
        MetaWhatsAppBackend.clean_credentials({"accessToken": "t"})
    assert set(err.value.errors) == {"phoneNumberId", "appSecret", "verifyToken"}
    assert MetaWhatsAppBackend.clean_credentials(CREDS) == CREDS


# --- webhooks ------------------------------------------------------------------------------
@pytest.fixture
def meta(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="meta",
        provider_type="meta_whatsapp",
        channels=["whatsapp"],
        credentials=CREDS,
        is_tenant_default=True,
    )


def url(provider, kind):
    return f"/webhooks/providers/{provider.webhook_token}/{kind}"


def sign(body: bytes, secret="test_app_secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_signed(anon_client, provider, kind, envelope, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(envelope).encode()
    headers = {} if signature is False else {"HTTP_X_HUB_SIGNATURE_256": signature or sign(body)}
    return anon_client.generic(
        "POST", url(provider, kind), body, content_type="application/json", **headers
    )


def envelope(value, phone_number_id="106540352242922"):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def status(wamid, name, ts="1750263773", errors=None):
    item = {
        "id": wamid,
        "status": name,
        "timestamp": ts,
        "recipient_id": "16505551234",
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
    }
    if errors:
        item["errors"] = errors
    return item


OUR_ID = "6f1c1d3e-0000-4000-8000-000000000001"


def status_request(item) -> WebhookRequest:
    raw = json.dumps(envelope({"statuses": [item]})).encode()
    headers = {"X-Hub-Signature-256": sign(raw)}
    return WebhookRequest("POST", "https://x/status", headers, raw)


def test_status_webhook_echoes_biz_opaque_callback_data_as_message_ref():
    item = {**status(WAMID, "delivered"), "biz_opaque_callback_data": OUR_ID}
    [report] = backend().parse_webhook("status", status_request(item)).reports
    assert (report.provider_message_id, report.message_ref) == (WAMID, OUR_ID)


@pytest.mark.parametrize("value", [None, "", "order-17", '{"source": "api"}'])
def test_a_foreign_biz_opaque_callback_data_is_no_message_ref(value):
    item = status(WAMID, "sent")
    if value is not None:
        item["biz_opaque_callback_data"] = value
    [report] = backend().parse_webhook("status", status_request(item)).reports
    assert report.message_ref == ""


def test_meta_has_no_lookup():
    assert not MetaWhatsAppBackend.can_lookup()


def text_in(text="Hi there", wamid="wamid.IN1"):
    return {
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": [
            {
                "from": "16505551234",
                "id": wamid,
                "timestamp": "1750263773",
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def test_signature_test_vector_from_providers_md():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert sign(body) == ("sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756")
    request = WebhookRequest("POST", "https://x", {"X-Hub-Signature-256": sign(body)}, body)
    assert backend().parse_webhook("status", request).reports == []


@pytest.mark.parametrize("kind", ["status", "inbound"])
def test_challenge_handshake(anon_client, meta, kind):
    q = {
        "hub.mode": "subscribe",
        "hub.verify_token": "my-verify-token",
        "hub.challenge": "1158201444",
    }
    r = anon_client.get(url(meta, kind), q)
    assert r.status_code == 200
    assert r.content == b"1158201444"
    assert r["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "my-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_challenge_refused(anon_client, meta, query):
    r = anon_client.get(url(meta, "status"), query)
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "webhook_rejected"


@pytest.mark.parametrize(
    ("signature", "detail"),
    [(False, "missing"), ("sha256=" + "0" * 64, "does not match"), ("garbage", "does not match")],
)
def test_unsigned_or_badly_signed_posts_are_refused(anon_client, meta, signature, detail):
    r = post_signed(anon_client, meta, "status", envelope(text_in()), signature=signature)
    assert r.status_code == 403
    assert detail in r.json()["errors"][0]["detail"]
    assert not InboundMessage.objects.exists()


def test_signed_with_another_secret_is_refused(anon_client, meta):
    body = json.dumps(envelope(text_in())).encode()
    r = post_signed(anon_client, meta, "inbound", None, signature=sign(body, "other"), raw=body)
    assert r.status_code == 403


@pytest.fixture
def sent(meta, client, run_tasks):
    """A WhatsApp text sent through the Meta provider, via the public API."""
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=OK)
        r = run_tasks(
            client.post,
            "/api/v1/messages",
            {
                "whatsapp": [
                    {"body": "Your order shipped", "provider": "meta", "to": ["+16505551234"]}
                ]
            },
            format="json",
        )
        assert r.status_code == 202, r.content
        mid = r.json()["messages"][0]["messageId"]
        assert sent_body(rsps) == {
            **BASE,
            "biz_opaque_callback_data": mid,
            "type": "text",
            "text": {"body": "Your order shipped", "preview_url": False},
        }
    m = Message.objects.get(pk=mid)
    assert (m.status, m.provider_message_id) == (st.PENDING_ENROUTE, WAMID)
    return m


@pytest.mark.parametrize("kind", ["status", "inbound"])
def test_end_to_end_sent_delivered_read(anon_client, client, sent, meta, run_tasks, kind):
    for name, expected in [
        ("sent", st.DELIVERED_TO_OPERATOR),
        ("delivered", st.DELIVERED_TO_HANDSET),
        ("read", st.DELIVERED_READ),
        ("delivered", st.DELIVERED_READ),  # a late report never moves it back
    ]:
        r = run_tasks(
            post_signed, anon_client, meta, kind, envelope({"statuses": [status(WAMID, name)]})
        )
        assert r.status_code == 200, r.content
        sent.refresh_from_db()
        assert sent.status == expected
    got = client.get(f"/api/v1/messages/{sent.id}").json()
    assert got["status"]["name"] == "DELIVERED_READ"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (131047, st.REJECTED_PROVIDER),
        (131026, st.UNDELIVERABLE_NOT_DELIVERED),
        (131050, st.REJECTED_DESTINATION),
        (424242, st.UNDELIVERABLE_NOT_DELIVERED),
    ],
)
def test_failed_status_is_mapped_by_its_error(
    anon_client, client, sent, meta, run_tasks, code, expected
):
    errors = [
        {
            "code": code,
            "title": "Message failed",
            "message": "Message failed to send",
            "error_data": {"details": "Some detail"},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ]
    value = {"statuses": [status(WAMID, "failed", errors=errors)]}
    r = run_tasks(post_signed, anon_client, meta, "status", envelope(value))
    assert r.status_code == 200
    got = client.get(f"/api/v1/messages/{sent.id}").json()
    assert got["status"]["name"] == expected
    assert got["error"]["code"] == str(code)
    assert got["error"]["permanent"] is True
    assert "Some detail" in got["error"]["description"]
    if code == 131047:
        assert "template" in got["error"]["description"]


@pytest.mark.parametrize("code", [130429, 131000, 131056])
def test_a_transient_failed_status_retries(anon_client, client, sent, meta, run_tasks, code):
    """Throughput (130429), "something went wrong" (131000) and pair rate limit (131056)
    are passing failures: the report puts the message back on the retry lane."""
    errors = [{"code": code, "title": "Rate limit hit", "message": "Rate limit hit"}]
    value = {"statuses": [status(WAMID, "failed", errors=errors)]}
    r = run_tasks(post_signed, anon_client, meta, "status", envelope(value))
    assert r.status_code == 200
    sent.refresh_from_db()
    assert sent.status == st.PENDING_WAITING_RETRY
    assert (sent.error_code, sent.error_permanent) == (str(code), False)


def test_a_permanent_failed_status_is_final(anon_client, sent, meta, run_tasks):
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    value = {"statuses": [status(WAMID, "failed", errors=errors)]}
    run_tasks(post_signed, anon_client, meta, "status", envelope(value))
    sent.refresh_from_db()
    assert sent.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert st.get(sent.status).is_final and sent.error_permanent is True


@pytest.mark.parametrize("kind", ["inbound", "status"])
def test_inbound_text_is_stored_from_either_url(anon_client, meta, kind):
    r = post_signed(anon_client, meta, kind, envelope(text_in()))
    assert r.status_code == 200, r.content
    [m] = InboundMessage.objects.all()
    assert (m.channel, m.sender, m.recipient, m.text, m.provider_message_id) == (
        "whatsapp",
        "+16505551234",
        "+15550783881",
        "Hi there",
        "wamid.IN1",
    )
    # Meta retries: stored once.
    post_signed(anon_client, meta, kind, envelope(text_in()))
    assert InboundMessage.objects.count() == 1


INBOUND_KINDS = [
    (
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "ok", "title": "Yes"}},
        },
        "Yes",
    ),
    (
        {"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}},
        "Stop promotions",
    ),
    (
        {"type": "image", "image": {"id": "1234", "mime_type": "image/jpeg", "caption": "Box"}},
        "Box",
    ),
    ({"type": "document", "document": {"id": "1", "filename": "a.pdf"}}, "[document]"),
    ({"type": "unsupported", "errors": [{"code": 131051}]}, "[unsupported]"),
]


@pytest.mark.parametrize(("msg", "text"), INBOUND_KINDS)
def test_inbound_kinds(msg, text):
    value = {"messages": [{"from": "16505551234", "id": "wamid.X", "timestamp": "1", **msg}]}
    body = json.dumps(envelope(value)).encode()
    request = WebhookRequest("POST", "https://x", {"X-Hub-Signature-256": sign(body)}, body)
    [inbound] = backend().parse_webhook("inbound", request).inbound
    assert inbound.text == text


def test_statuses_and_messages_in_one_call(anon_client, sent, meta, run_tasks):
    value = {**text_in(), "statuses": [status(WAMID, "delivered")]}
    r = run_tasks(post_signed, anon_client, meta, "inbound", envelope(value))
    assert r.status_code == 200
    sent.refresh_from_db()
    assert sent.status == st.DELIVERED_TO_HANDSET
    assert InboundMessage.objects.count() == 1


def test_another_numbers_events_are_ignored(anon_client, sent, meta, run_tasks):
    value = {**text_in(), "statuses": [status(WAMID, "delivered")]}
    r = run_tasks(post_signed, anon_client, meta, "status", envelope(value, phone_number_id="999"))
    assert r.status_code == 200
    sent.refresh_from_db()
    assert sent.status == st.PENDING_ENROUTE
    assert not InboundMessage.objects.exists()


@pytest.mark.parametrize("raw", [b"{not json", b"[1]"])
def test_signed_garbage_is_400(anon_client, meta, raw):
    r = post_signed(anon_client, meta, "status", None, raw=raw)
    assert r.status_code == 400


def test_register_through_the_api(client, tenant):
    r = client.post(
        "/api/v1/providers",
        {"name": "wa", "providerType": "meta_whatsapp", "credentials": CREDS, "isActive": True,
         "isTenantDefault": False},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    assert r.json()["data"]["channels"] == ["whatsapp"]
    r = client.post(
        "/api/v1/providers",
        {"name": "wa2", "providerType": "meta_whatsapp", "credentials": {"accessToken": "x"},
         "isActive": True, "isTenantDefault": False},
        format="json",
    )  # fmt: skip
    assert r.status_code == 400
    sources = {e["source"] for e in r.json()["errors"]}
    assert "credentials.appSecret" in sources
