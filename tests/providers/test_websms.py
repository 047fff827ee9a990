"""websms: the OAuth2 token (cached, renewed), each message type's request, status codes, and
the webhooks acknowledged with the JSON document websms waits for."""

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
import responses
from django.core.cache import cache

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRejected, WebhookRequest
from providers.backends.websms import WebsmsBackend
from providers.models import InboundMessage
from tests.factories import ProviderFactory

TOKEN_URL = "https://auth.websms.com/oauth/token"
API = "https://api.websms.com"
APP = "97ab27fa-30e2-43e3-92a3-160e80f4c0d5"
OAUTH = {"clientId": "client-1", "clientSecret": "secret-1", "applicationId": APP}
# The REST SMS API takes HTTP Basic (or a web-interface access token), not the messaging
# API's OAuth2 token (PROVIDERS.md §6; jshmrtn/websms priv/schema.yaml securitySchemes).
SMS_CREDS = {"username": "acme-api", "password": "pw-1"}
CREDS = {**OAUTH, **SMS_CREDS}
BASIC = "Basic " + base64.b64encode(b"acme-api:pw-1").decode()
SMS_URL = f"{API}/rest/smsmessaging/text"
STATUS_URL = "https://msg.example.com/webhooks/providers/tok/status"
ACK = {"statusCode": 2000, "statusMessage": "Request processed"}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def token(rsps, value="tok-1", expires_in=300):
    return rsps.post(
        TOKEN_URL,
        json={"access_token": value, "token_type": "bearer", "expires_in": expires_in},
    )


def accepted(transfer="005d0666e100d97ccc31"):
    return {
        "statusCode": 2000,
        "statusMessage": "Request accepted",
        "clientMessageId": None,
        "transferId": transfer,
    }


def outbound(channel="sms", **kw):
    fields = {
        "id": "6f1c1d3e-0000-4000-8000-000000000001",
        "channel": channel,
        "to": "+43 653 1234567",
        "body": "Hello World",
        "sender": "Acme",
        "status_webhook_url": STATUS_URL,
    }
    return OutboundMessage(**{**fields, **kw})


def backend(**creds):
    return WebsmsBackend({**CREDS, **creds}, provider_id=7)


# --- the token (messaging API: WhatsApp, RCS, media) --------------------------------------------
WA_TEXT = f"{API}/messaging/whatsapp/send_text"


@responses.activate
def test_token_request_is_client_credentials_with_basic_auth():
    token(responses)
    responses.post(WA_TEXT, json=accepted())
    backend().send(outbound("whatsapp"))
    call = responses.calls[0]
    basic = base64.b64encode(b"client-1:secret-1").decode()
    assert call.request.url == TOKEN_URL
    assert call.request.headers["Authorization"] == f"Basic {basic}"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(call.request.body)) == {
        "grant_type": "client_credentials",
        "scope": "messaging:whatsapp messaging:rcs media:create media:read",
    }
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok-1"


@responses.activate
def test_a_second_send_reuses_the_cached_token():
    token(responses)
    responses.post(WA_TEXT, json=accepted())
    backend().send(outbound("whatsapp"))
    backend().send(outbound("whatsapp"))  # a new backend instance, as the next task would build
    urls = [c.request.url for c in responses.calls]
    assert urls.count(TOKEN_URL) == 1
    assert cache.get("websms:token:7:client-1") == "tok-1"


@responses.activate
def test_an_expired_token_is_renewed(monkeypatch):
    token(responses, "tok-1", expires_in=300)
    responses.post(WA_TEXT, json=accepted())
    timeouts = []
    real_set = cache.set
    monkeypatch.setattr(
        cache, "set", lambda k, v, timeout: (timeouts.append(timeout), real_set(k, v, timeout))
    )
    backend().send(outbound("whatsapp"))
    assert timeouts == [240]  # renewed a minute before its 300 s are up
    cache.delete("websms:token:7:client-1")  # what the cache does when the 240 s pass
    responses.replace(
        responses.POST,
        TOKEN_URL,
        json={"access_token": "tok-2", "token_type": "bearer", "expires_in": 300},
    )
    backend().send(outbound("whatsapp"))
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-2"
    assert [c.request.url for c in responses.calls].count(TOKEN_URL) == 2


@responses.activate
def test_a_refused_token_is_renewed_once_on_401():
    cache.set("websms:token:7:client-1", "revoked", 100)
    token(responses, "tok-new")
    responses.post(WA_TEXT, status=401, json={"statusCode": 4001})
    responses.post(WA_TEXT, json=accepted("T2"))
    assert backend().send(outbound("whatsapp")).provider_message_id == "T2"
    auths = [c.request.headers.get("Authorization") for c in responses.calls]
    assert auths[0] == "Bearer revoked"
    assert auths[-1] == "Bearer tok-new"


@responses.activate
def test_tokens_are_per_provider_and_client():
    token(responses, "tok-a")
    responses.post(WA_TEXT, json=accepted())
    backend().send(outbound("whatsapp"))
    WebsmsBackend(CREDS, provider_id=8).send(outbound("whatsapp"))
    assert [c.request.url for c in responses.calls].count(TOKEN_URL) == 2


@pytest.mark.parametrize(("http", "permanent"), [(401, True), (503, False)])
@responses.activate
def test_token_failure(http, permanent):
    responses.post(TOKEN_URL, status=http, json={"error": "invalid_client"})
    with pytest.raises(SendError) as exc:
        backend().send(outbound("whatsapp"))
    assert exc.value.permanent is permanent
    assert exc.value.code == f"WEBSMS_TOKEN_HTTP_{http}"


@responses.activate
def test_api_base_url_also_serves_the_token_for_stand_ins():
    base = "http://127.0.0.1:9000"
    responses.post(f"{base}/oauth/token", json={"access_token": "t", "expires_in": 300})
    responses.post(f"{base}/messaging/whatsapp/send_text", json=accepted("S1"))
    assert backend(apiBaseUrl=base).send(outbound("whatsapp")).provider_message_id == "S1"


@responses.activate
def test_test_connection_fetches_a_token():
    token(responses)
    assert "client-1" in WebsmsBackend(OAUTH, provider_id=7).test_connection()


@responses.activate
def test_test_connection_probes_the_sms_credentials_with_a_test_request():
    """`test: true` only simulates (schema.yaml); no recipient, so nothing could go out."""
    responses.post(SMS_URL, status=400, json={"statusCode": 4002, "statusMessage": "no recipient"})
    assert "SMS credentials accepted" in WebsmsBackend(SMS_CREDS).test_connection()
    sent = json.loads(responses.calls[0].request.body)
    assert sent["test"] is True and sent["recipientAddressList"] == []
    assert responses.calls[0].request.headers["Authorization"] == BASIC
    responses.replace(responses.POST, SMS_URL, status=401, json={"statusCode": 4001})
    with pytest.raises(SendError):
        WebsmsBackend(SMS_CREDS).test_connection()


@pytest.mark.parametrize(
    ("creds", "errors"),
    [
        ({}, {"username"}),
        ({"username": "u"}, {"password"}),
        ({"clientId": "c"}, {"clientSecret"}),
        ({"accessToken": "t", "maxPriority": 10}, {"maxPriority"}),
    ],
)
def test_credentials_need_sms_or_oauth_pairs(creds, errors):
    from providers.backends import CredentialsInvalid

    with pytest.raises(CredentialsInvalid) as exc:
        WebsmsBackend.clean_credentials(creds)
    assert set(exc.value.errors) == errors


@pytest.mark.parametrize("creds", [SMS_CREDS, {"accessToken": "t"}, OAUTH, CREDS])
def test_credentials_accepted(creds):
    assert WebsmsBackend.clean_credentials(creds) == creds


# --- each message type ------------------------------------------------------------------------


SMS_BODY = {
    "recipientAddressList": [436531234567],
    "messageContent": "Hello World",
    "clientMessageId": "6f1c1d3e-0000-4000-8000-000000000001",
    "senderAddress": "Acme",
    "senderAddressType": "alphanumeric",
    "notificationCallbackUrl": STATUS_URL,
}


@responses.activate
def test_sms_request_with_basic_auth():
    """TextSmsSendRequest (jshmrtn/websms priv/schema.yaml; WebSmsNet TextSmsSendRequest.cs)
    with `Authorization: Basic username:password`; no OAuth2 token is fetched."""
    responses.post(SMS_URL, json={**accepted("SMS1"), "smsCount": 1})
    result = backend().send(outbound())
    [call] = responses.calls
    assert (call.request.method, call.request.url) == ("POST", SMS_URL)
    assert call.request.headers["Authorization"] == BASIC
    assert json.loads(call.request.body) == SMS_BODY
    assert result.provider_message_id == "SMS1"


@responses.activate
def test_sms_with_the_web_interface_access_token_is_bearer():
    responses.post(SMS_URL, json=accepted("SMS2"))
    WebsmsBackend({"accessToken": "web-token-1"}).send(outbound())
    [call] = responses.calls
    assert call.request.headers["Authorization"] == "Bearer web-token-1"


def test_sms_without_sms_credentials_is_a_permanent_error():
    with responses.RequestsMock():  # no call: not even the OAuth2 token
        with pytest.raises(SendError) as exc:
            WebsmsBackend(OAUTH).send(outbound())
    assert (exc.value.code, exc.value.permanent) == ("WEBSMS_NO_SMS_CREDENTIALS", True)


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (timedelta(minutes=10), 600),
        (timedelta(days=5), 259_200),  # capped at websms's 3 days
        (timedelta(seconds=20), 60),  # raised to websms's 1 minute
    ],
)
@responses.activate
def test_sms_validity_is_validityperiode_in_seconds_capped(left, expected):
    """`validityPeriode` (sic), seconds, 60..259200 (schema.yaml; WebSmsNet SmsSendRequest)."""
    responses.post(SMS_URL, json=accepted())
    backend().send(outbound(expires_at=datetime.now(UTC) + left))
    sent = json.loads(responses.calls[0].request.body)
    assert expected - 2 <= sent["validityPeriode"] <= expected


@pytest.mark.parametrize(
    ("ours", "creds", "expected"),
    [
        ("low", {}, 1),
        ("high", {"maxPriority": 5}, 5),
        ("high", {}, None),  # the account's maximum is not known: its default
        ("normal", {"maxPriority": 5}, None),
    ],
)
@responses.activate
def test_sms_priority(ours, creds, expected):
    """`priority`: an integer that "must not exceed the value configured for the account"."""
    responses.post(SMS_URL, json=accepted())
    backend(**creds).send(outbound(priority=ours))
    assert json.loads(responses.calls[0].request.body).get("priority") == expected


@pytest.mark.parametrize(
    ("payload", "path", "fields"),
    [
        ({}, "send_text", {"content": "Hello World"}),
        (
            {"media": {"image": {"mediaId": "5a8ffac5-2288-485d-b463-90c3cd9941ad"}}},
            "send_media",
            {"mediaId": "5a8ffac5-2288-485d-b463-90c3cd9941ad", "content": "Hello World"},
        ),
        (
            {"media": {"video": {"mediaId": "5a8ffac5-2288-485d-b463-90c3cd9941ae"}}},
            "send_media",
            {"mediaId": "5a8ffac5-2288-485d-b463-90c3cd9941ae", "content": "Hello World"},
        ),
        (
            {"providerTemplate": {"name": "order_confirmation", "params": ["Ann", "A-1"]}},
            "send_template",
            {
                "templateName": "order_confirmation",
                "templateLocale": "en",
                "localizableParams": [{"default": "Ann"}, {"default": "A-1"}],
            },
        ),
        (
            # seed 002's TemplateMessageSendRequest example; the one shape's language.
            {
                "providerTemplate": {
                    "name": "ticket_reactivation",
                    "language": "de",
                    "params": ["first placeholder", "second placeholder"],
                }
            },
            "send_template",
            {
                "templateName": "ticket_reactivation",
                "templateLocale": "de",
                "localizableParams": [
                    {"default": "first placeholder"},
                    {"default": "second placeholder"},
                ],
            },
        ),
        (
            # No params: none are sent (the body is not turned into placeholders).
            {"providerTemplate": {"name": "ticket_reactivation", "language": "de"}},
            "send_template",
            {"templateName": "ticket_reactivation", "templateLocale": "de"},
        ),
    ],
)
@responses.activate
def test_whatsapp_requests(payload, path, fields):
    token(responses)
    responses.post(f"{API}/messaging/whatsapp/{path}", json=accepted("WA1"))
    result = backend().send(outbound("whatsapp", payload=payload))
    call = responses.calls[1]
    assert call.request.url == f"{API}/messaging/whatsapp/{path}"
    assert call.request.headers["Authorization"] == "Bearer tok-1"
    assert json.loads(call.request.body) == {
        "applicationId": APP,
        "recipient": "+436531234567",
        "clientMessageId": "6f1c1d3e-0000-4000-8000-000000000001",
        **fields,
    }
    assert result.provider_message_id == "WA1"


@responses.activate
def test_whatsapp_media_by_url_is_uploaded_first():
    token(responses)
    responses.get("https://ex.com/r.pdf", body=b"%PDF-1.4", content_type="application/pdf")
    responses.post(
        f"{API}/messaging/media", json={"statusCode": 2000, "statusMessage": "OK", "mediaId": "M1"}
    )
    responses.post(f"{API}/messaging/whatsapp/send_media", json=accepted("WA2"))
    payload = {"media": {"document": {"url": "https://ex.com/r.pdf", "filename": "r.pdf"}}}
    backend().send(outbound("whatsapp", payload=payload, body=""))
    upload = next(c for c in responses.calls if c.request.url.endswith("/messaging/media"))
    assert upload.request.body == b"%PDF-1.4"
    assert upload.request.headers["Content-Type"] == "application/pdf"
    assert upload.request.headers["Authorization"] == "Bearer tok-1"
    sent = json.loads(responses.calls[-1].request.body)
    assert sent["mediaId"] == "M1"
    assert "content" not in sent


@responses.activate
def test_rcs_text_request():
    token(responses)
    responses.get(f"{API}/messaging/rcs/{APP}/contactCapabilities", json={"capabilities": ["x"]})
    responses.post(
        f"{API}/messaging/rcs/{APP}/messages",
        json={"RCSMessage": {"msgId": "6f1c1d3e-0000-4000-8000-000000000001", "status": "pending"}},
    )
    result = backend().send(outbound("rcs"))
    assert json.loads(responses.calls[2].request.body) == {
        "RCSMessage": {
            "msgId": "6f1c1d3e-0000-4000-8000-000000000001",
            "textMessage": "Hello World",
        },
        "messageContact": {"userContact": "+436531234567"},
    }
    assert result.provider_message_id == "6f1c1d3e-0000-4000-8000-000000000001"


def test_whatsapp_without_application_id_is_a_permanent_error():
    with pytest.raises(SendError) as exc:
        WebsmsBackend({"clientId": "c", "clientSecret": "s"}).send(outbound("whatsapp"))
    assert exc.value.permanent is True


@pytest.mark.parametrize(
    ("http", "code", "permanent", "status"),
    [
        (400, 4002, True, st.REJECTED_DESTINATION),
        (400, 4031, True, st.REJECTED_DESTINATION),
        (400, 4009, True, st.REJECTED_CONTENT),
        (400, 4027, True, st.REJECTED_CONTENT),
        (400, 4029, True, st.REJECTED_DESTINATION),
        (400, 4042, True, st.REJECTED_DESTINATION),
        (400, 4043, True, st.REJECTED_DESTINATION),
        (403, 4035, True, st.REJECTED_PROVIDER),
        (400, 4013, True, st.REJECTED_PROVIDER),
        (400, 4400, True, st.REJECTED_CONTENT),
        (403, 4014, True, st.REJECTED_PROVIDER),
        (200, 4003, True, st.REJECTED_PROVIDER),
        (429, 4023, False, st.REJECTED_PROVIDER),
        (200, 4024, False, st.REJECTED_PROVIDER),
        (500, 5000, False, st.REJECTED_PROVIDER),
        (503, 5003, False, st.REJECTED_PROVIDER),
    ],
)
@responses.activate
def test_status_codes_are_mapped(http, code, permanent, status):
    responses.post(
        f"{API}/rest/smsmessaging/text",
        status=http,
        json={"statusCode": code, "statusMessage": f"message {code}"},
    )
    with pytest.raises(SendError) as exc:
        backend().send(outbound())
    err = exc.value
    assert (err.code, err.description, err.permanent, err.status) == (
        f"WEBSMS_{code}",
        f"message {code}",
        permanent,
        status,
    )
    if code in (4023, 4024):
        assert err.retry_after


@responses.activate
def test_a_bare_502_is_transient():
    responses.post(f"{API}/rest/smsmessaging/text", status=502, body="Bad gateway")
    with pytest.raises(SendError) as exc:
        backend().send(outbound())
    assert (exc.value.code, exc.value.permanent) == ("HTTP_502", False)


# --- webhooks ---------------------------------------------------------------------------------


def hook(body):
    return WebhookRequest(
        method="POST", url="https://x", headers={}, body=json.dumps(body).encode()
    )


OUR_ID = "6f1c1d3e-0000-4000-8000-000000000001"


def test_status_message_client_message_id_is_our_message_ref():
    """The messenger status message of seed 002, with the clientMessageId we sent."""
    body = {
        "applicationId": APP,
        "sender": "+436991234567",
        "transferId": "005f21626a001102e7f2",
        "messageStatus": "delivered",
        "deliveredOn": "2020-07-29T13:50:06.000+02:00",
        "clientMessageId": OUR_ID,
    }
    [report] = backend().parse_webhook("status", hook(body)).reports
    assert (report.provider_message_id, report.message_ref) == ("005f21626a001102e7f2", OUR_ID)


def test_sms_delivery_report_client_message_id_is_our_message_ref():
    body = {
        "messageType": "deliveryReport",
        "notificationId": "1a2b3c4d5e6f7a8b9c0d",
        "transferId": "005d0666e100d97ccc31",
        "senderAddress": "436761234567",
        "recipientAddress": "436761234567",
        "deliveryReportMessageStatus": "delivered",
        "sentOn": "2020-07-29T13:50:05.000+02:00",
        "deliveredOn": "2020-07-29T13:50:06.000+02:00",
        "deliveredAs": "sms",
        "clientMessageId": OUR_ID,
    }
    [report] = backend().parse_webhook("status", hook(body)).reports
    assert report.message_ref == OUR_ID
    [report] = backend().parse_webhook("status", hook({**body, "clientMessageId": "myid"})).reports
    assert report.message_ref == ""


def test_websms_has_no_lookup():
    assert not WebsmsBackend.can_lookup()


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("dispatched", st.DELIVERED_TO_OPERATOR),
        ("delivered", st.DELIVERED_TO_HANDSET),
        ("read", st.DELIVERED_READ),
        ("failed", st.UNDELIVERABLE_NOT_DELIVERED),
    ],
)
def test_messenger_status_messages(status, ours):
    body = {
        "applicationId": APP,
        "sender": "+436991234567",
        "transferId": "005f21626a001102e7f2",
        "messageStatus": status,
        "deliveredOn": "2020-07-29T13:50:06.000+02:00",
        "clientMessageId": "myMessageId",
    }
    (report,) = backend().parse_webhook("status", hook(body)).reports
    assert (report.provider_message_id, report.status) == ("005f21626a001102e7f2", ours)
    assert report.occurred_at.isoformat() == "2020-07-29T13:50:06+02:00"
    assert bool(report.error_code) == (status == "failed")


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("accepted", st.PENDING_ENROUTE),
        ("delivered", st.DELIVERED_TO_HANDSET),
        ("undelivered", st.UNDELIVERABLE_NOT_DELIVERED),
        ("expired", st.EXPIRED_EXPIRED),
        ("deleted", st.UNDELIVERABLE_NOT_DELIVERED),
        ("rejected", st.UNDELIVERABLE_REJECTED_OPERATOR),
    ],
)
def test_sms_delivery_reports(status, ours):
    body = {
        "messageType": "deliveryReport",
        "notificationId": "a1b2c3d4e5f6a7b8c9d0",
        "senderAddress": "Acme",
        "recipientAddress": "436531234567",
        "transferId": "T1",
        "deliveryReportMessageStatus": status,
        "sentOn": "2020-07-29T13:50:00.000+02:00",
        "deliveredOn": "2020-07-29T13:50:06.000+02:00",
        "deliveredAs": "sms",
        "clientMessageId": "6f1c1d3e",
    }
    (report,) = backend().parse_webhook("status", hook(body)).reports
    assert (report.status, report.event_id) == (ours, "a1b2c3d4e5f6a7b8c9d0")


@pytest.mark.parametrize("body", [{"transferId": "T", "messageStatus": "weird"}, {"x": 1}, [1]])
def test_unknown_documents_are_400(body):
    with pytest.raises(WebhookRejected) as exc:
        backend().parse_webhook("status", hook(body))
    assert exc.value.status == 400


@pytest.fixture
def websms(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="websms",
        provider_type="websms",
        channels=["sms", "whatsapp", "rcs"],
        credentials=CREDS,
    )


@responses.activate
def test_end_to_end_whatsapp_send_then_status_webhook_acknowledged(
    client, websms, run_tasks, anon_client
):
    token(responses)
    responses.post(f"{API}/messaging/whatsapp/send_text", json=accepted("TR-1"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"whatsapp": [{"body": "Hi", "to": ["+436531234567"], "provider": "websms"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    assert json.loads(responses.calls[1].request.body)["clientMessageId"] == mid
    assert Message.objects.get(pk=mid).status == st.PENDING_ENROUTE

    url = f"/webhooks/providers/{websms.webhook_token}/status"
    body = {
        "applicationId": APP,
        "sender": "+436531234567",
        "transferId": "TR-1",
        "messageStatus": "delivered",
        "deliveredOn": "2020-07-29T13:50:06.000+02:00",
        "clientMessageId": mid,
    }
    r = anon_client.post(url, body, format="json")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/json")
    assert r.json() == ACK
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET


def test_inbound_whatsapp_and_sms_are_stored_and_acknowledged(anon_client, websms):
    url = f"/webhooks/providers/{websms.webhook_token}/inbound"
    whatsapp = {
        "type": "whatsapp",
        "applicationId": APP,
        "sender": "+436761234567",
        "user": {"displayName": "The user"},
        "recipient": "+436761234500",
        "content": "Hello World!",
        "mediaId": "0F6368DC-6D35-430A-B739-1245ED1457A5",
    }
    sms = {
        "messageType": "text",
        "notificationId": "n0000000000000000001",
        "senderAddress": "436761234567",
        "recipientAddress": "4367612345",
        "senderAddressType": "international",
        "recipientAddressType": "national",
        "messageFlashSms": False,
        "textMessageContent": "STOP",
    }
    for body in (whatsapp, sms, sms):  # the retry of the SMS is stored once
        r = anon_client.post(url, body, format="json")
        assert r.status_code == 200
        assert r.json() == ACK
    stored = list(InboundMessage.objects.order_by("id").values_list("channel", "sender", "text"))
    assert stored == [
        ("whatsapp", "+436761234567", "Hello World!"),
        ("sms", "+436761234567", "STOP"),
    ]


def test_inbound_whatsapp_without_an_id_is_stored_once_on_retries(anon_client, websms):
    """Seed 002's inbound document has no id: its fields' hash is its provider id."""
    url = f"/webhooks/providers/{websms.webhook_token}/inbound"
    body = {
        "type": "whatsapp",
        "applicationId": APP,
        "sender": "+436761234567",
        "recipient": "+436761234500",
        "content": "Yes please",
    }
    for _ in range(3):  # websms retries until acknowledged
        assert anon_client.post(url, body, format="json").json() == ACK
    [stored] = InboundMessage.objects.all()
    assert stored.provider_message_id.startswith("sha256:")
    anon_client.post(url, {**body, "content": "Something else"}, format="json")
    assert InboundMessage.objects.count() == 2


# --- content through the API --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "source"),
    [
        ({"buttons": ["Yes"]}, "buttons"),
        ({"buttons": [{"url": {"value": "https://e.com/x"}}]}, "buttons"),
        ({"media": {"location": {"latitude": 48.2, "longitude": 16.37}}}, "media.location"),
        ({"media": {"sticker": {"url": "https://e.com/s.webp"}}}, "media.sticker"),
        ({"media": {"image": [{"url": "https://e.com/1.png"}, {"url": "https://e.com/2.png"}]}},
         "media"),
        ({"providerTemplate": {"name": "t", "header": {"text": "Hi"}}}, "providerTemplate.header"),
        ({"providerTemplate": {"name": "t", "header": {"image": {"url": "https://e.com/1.png"}}}},
         "providerTemplate.header"),
        ({"providerTemplate": {"name": "t", "buttons": [{"type": "url", "value": "x"}]}},
         "providerTemplate.buttons"),
    ],
)  # fmt: skip
def test_what_websms_whatsapp_cannot_carry_is_a_400(client, websms, entry, source):
    r = client.post(
        "/api/v1/messages",
        {"whatsapp": [{"body": "Hi", "provider": "websms", "to": ["+436531234567"], **entry}]},
        format="json",
    )
    assert r.status_code == 400, r.content
    sources = [e["source"] for e in r.json()["errors"]]
    assert f"whatsapp[0].{source}" in sources, sources


@pytest.mark.parametrize(
    "entry",
    [
        {"media": {"image": {"url": "https://e.com/1.png"}}},
        {"buttons": ["Yes"]},
    ],
)
def test_sms_through_websms_carries_text_only(client, websms, entry):
    # RCS's media and suggestions: tests/providers/test_viber_rcs_content.py
    for channel in ("sms",):
        r = client.post(
            "/api/v1/messages",
            {channel: [{"body": "Hi", "provider": "websms", "to": ["+436531234567"], **entry}]},
            format="json",
        )
        assert r.status_code == 400, (channel, r.content)


@responses.activate
def test_os1_image_through_the_api_is_uploaded_then_sent(client, websms, run_tasks):
    token(responses)
    responses.get("https://ex.com/box.png", body=b"\x89PNG", content_type="image/png")
    responses.post(f"{API}/messaging/media", json={"statusCode": 2000, "mediaId": "M9"})
    responses.post(f"{API}/messaging/whatsapp/send_media", json=accepted("TR-9"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"whatsapp": [{"body": "Your box", "provider": "websms", "to": ["+436531234567"],
                       "media": {"image": {"url": "https://ex.com/box.png"}}}]},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    assert json.loads(responses.calls[-1].request.body) == {
        "applicationId": APP,
        "recipient": "+436531234567",
        "clientMessageId": mid,
        "mediaId": "M9",
        "content": "Your box",
    }


@responses.activate
def test_provider_template_through_the_api(client, websms, run_tasks):
    token(responses)
    responses.post(f"{API}/messaging/whatsapp/send_template", json=accepted("TR-T"))
    entries = [
        {"body": "Hello\nthere", "providerTemplate": {"name": "welcome", "language": "de"}},
        {"body": "Hi {{name}}", "data": {"name": "Ann"}, "externalRef": "greeting:en_GB"},
    ]
    for entry in entries:
        r = run_tasks(
            client.post,
            "/api/v1/messages",
            {"whatsapp": [{"provider": "websms", "to": ["+436531234567"], **entry}]},
            format="json",
        )
        assert r.status_code == 202, r.content
    sent = [json.loads(c.request.body) for c in responses.calls if "send_template" in c.request.url]
    assert [(b["templateName"], b["templateLocale"], b.get("localizableParams")) for b in sent] == [
        ("welcome", "de", None),  # no params: none sent
        ("greeting", "en_GB", [{"default": "Ann"}]),
    ]


@responses.activate
def test_sms_validity_through_the_api(client, websms, run_tasks):
    responses.post(SMS_URL, json=accepted("S-V"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Code 1234", "provider": "websms", "to": ["+436531234567"]}],
         "validity": 10, "priority": "low"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    call = responses.calls[-1]
    assert call.request.headers["Authorization"] == BASIC
    sent = json.loads(call.request.body)
    assert 590 <= sent["validityPeriode"] <= 600
    assert sent["priority"] == 1


@responses.activate
def test_a_failed_report_is_final(client, websms, run_tasks, anon_client):
    """websms's reports carry no reason code, so none says "try again": a failure is final."""
    responses.post(SMS_URL, json=accepted("TR-F"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "provider": "websms", "to": ["+436531234567"]}]},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    report = {
        "messageType": "deliveryReport",
        "notificationId": "n0000000000000000002",
        "transferId": "TR-F",
        "senderAddress": "Acme",
        "recipientAddress": "436531234567",
        "deliveryReportMessageStatus": "undelivered",
        "clientMessageId": mid,
    }
    url = f"/webhooks/providers/{websms.webhook_token}/status"
    assert run_tasks(anon_client.post, url, report, format="json").json() == ACK
    m = Message.objects.get(pk=mid)
    assert (m.status, m.error_permanent) == (st.UNDELIVERABLE_NOT_DELIVERED, True)
    assert st.get(m.status).is_final
