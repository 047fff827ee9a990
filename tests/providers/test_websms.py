"""websms: the OAuth2 token (cached, renewed), each message type's request, status codes, and
the webhooks acknowledged with the JSON document websms waits for."""

import base64
import json
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
CREDS = {"clientId": "client-1", "clientSecret": "secret-1", "applicationId": APP}
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


# --- the token --------------------------------------------------------------------------------


@responses.activate
def test_token_request_is_client_credentials_with_basic_auth():
    token(responses)
    responses.post(f"{API}/rest/smsmessaging/text", json=accepted())
    backend().send(outbound())
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
    responses.post(f"{API}/rest/smsmessaging/text", json=accepted())
    backend().send(outbound())
    backend().send(outbound())  # a new backend instance, as the next task would build
    urls = [c.request.url for c in responses.calls]
    assert urls.count(TOKEN_URL) == 1
    assert cache.get("websms:token:7:client-1") == "tok-1"


@responses.activate
def test_an_expired_token_is_renewed(monkeypatch):
    token(responses, "tok-1", expires_in=300)
    responses.post(f"{API}/rest/smsmessaging/text", json=accepted())
    timeouts = []
    real_set = cache.set
    monkeypatch.setattr(
        cache, "set", lambda k, v, timeout: (timeouts.append(timeout), real_set(k, v, timeout))
    )
    backend().send(outbound())
    assert timeouts == [240]  # renewed a minute before its 300 s are up
    cache.delete("websms:token:7:client-1")  # what the cache does when the 240 s pass
    responses.replace(
        responses.POST,
        TOKEN_URL,
        json={"access_token": "tok-2", "token_type": "bearer", "expires_in": 300},
    )
    backend().send(outbound())
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-2"
    assert [c.request.url for c in responses.calls].count(TOKEN_URL) == 2


@responses.activate
def test_a_refused_token_is_renewed_once_on_401():
    cache.set("websms:token:7:client-1", "revoked", 100)
    token(responses, "tok-new")
    responses.post(f"{API}/rest/smsmessaging/text", status=401, json={"statusCode": 4021})
    responses.post(f"{API}/rest/smsmessaging/text", json=accepted("T2"))
    assert backend().send(outbound()).provider_message_id == "T2"
    auths = [c.request.headers.get("Authorization") for c in responses.calls]
    assert auths[0] == "Bearer revoked"
    assert auths[-1] == "Bearer tok-new"


@responses.activate
def test_tokens_are_per_provider_and_client():
    token(responses, "tok-a")
    responses.post(f"{API}/rest/smsmessaging/text", json=accepted())
    backend().send(outbound())
    WebsmsBackend(CREDS, provider_id=8).send(outbound())
    assert [c.request.url for c in responses.calls].count(TOKEN_URL) == 2


@pytest.mark.parametrize(("http", "permanent"), [(401, True), (503, False)])
@responses.activate
def test_token_failure(http, permanent):
    responses.post(TOKEN_URL, status=http, json={"error": "invalid_client"})
    with pytest.raises(SendError) as exc:
        backend().send(outbound())
    assert exc.value.permanent is permanent
    assert exc.value.code == f"WEBSMS_TOKEN_HTTP_{http}"


@responses.activate
def test_api_base_url_also_serves_the_token_for_stand_ins():
    base = "http://127.0.0.1:9000"
    responses.post(f"{base}/oauth/token", json={"access_token": "t", "expires_in": 300})
    responses.post(f"{base}/rest/smsmessaging/text", json=accepted("S1"))
    assert backend(apiBaseUrl=base).send(outbound()).provider_message_id == "S1"


@responses.activate
def test_test_connection_fetches_a_token():
    token(responses)
    assert "client-1" in backend().test_connection()


# --- each message type ------------------------------------------------------------------------


@responses.activate
def test_sms_request():
    token(responses)
    responses.post(f"{API}/rest/smsmessaging/text", json={**accepted("SMS1"), "smsCount": 1})
    result = backend().send(outbound())
    call = responses.calls[1]
    assert call.request.method == "POST"
    assert json.loads(call.request.body) == {
        "recipientAddressList": [436531234567],
        "messageContent": "Hello World",
        "clientMessageId": "6f1c1d3e-0000-4000-8000-000000000001",
        "senderAddress": "Acme",
        "senderAddressType": "alphanumeric",
        "notificationCallbackUrl": STATUS_URL,
    }
    assert result.provider_message_id == "SMS1"


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
            {"externalRef": "order_confirmation", "templateParams": ["Ann", "A-1"]},
            "send_template",
            {
                "templateName": "order_confirmation",
                "templateLocale": "en",
                "localizableParams": [{"default": "Ann"}, {"default": "A-1"}],
            },
        ),
        (
            {"externalRef": "ticket_reactivation:de"},
            "send_template",
            {
                "templateName": "ticket_reactivation",
                "templateLocale": "de",
                "localizableParams": [{"default": "Hello World"}],
            },
        ),
    ],
)
@responses.activate
def test_whatsapp_requests(payload, path, fields):
    token(responses)
    responses.post(f"{API}/messaging/whatsapp/{path}", json=accepted("WA1"))
    result = backend().send(outbound("whatsapp", payload=payload))
    call = responses.calls[1]
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
    responses.post(
        f"{API}/messaging/rcs/{APP}/messages",
        json={"RCSMessage": {"msgId": "6f1c1d3e-0000-4000-8000-000000000001", "status": "pending"}},
    )
    result = backend().send(outbound("rcs"))
    assert json.loads(responses.calls[1].request.body) == {
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
    token(responses)
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
    token(responses)
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
