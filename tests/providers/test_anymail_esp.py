"""Email through django-anymail: the ESP API request each type makes with the tenant's own
credentials, the error classes, and each ESP's webhooks (signature or basic auth checked)
turned into status reports and inbound messages."""

import base64
import hashlib
import hmac
import json
import time
from unittest import mock

import pytest
import responses
from botocore.stub import Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core import status as st
from messaging.models import Message
from providers.backends import (
    OutboundMessage,
    SendError,
    WebhookRejected,
    WebhookRequest,
    get_backend_class,
)
from providers.backends.anymail_esp import BACKENDS, ESPS
from providers.models import InboundMessage
from tests.factories import ProviderFactory

OUR_ID = "11111111-2222-4333-8444-555555555555"
PDF_URL = "https://files.example.com/inv.pdf"


def outbound(**kw):
    fields = {
        "id": OUR_ID,
        "channel": "email",
        "to": "ann@example.com",
        "body": "Hello",
        "html": "<p>Hello</p>",
        "sender": "Shop <shop@example.com>",
        "subject": "Hi",
        "cc": ["cc@example.com"],
        "bcc": ["bcc@example.com"],
        "payload": {
            "to": ["ann@example.com", "bob@example.com"],
            "replyTo": "help@example.com",
            "tags": ["order", "eu"],
            "media": {"document": {"url": PDF_URL, "filename": "invoice.pdf"}},
        },
    }
    return OutboundMessage(**{**fields, **kw})


def plain(**kw):
    return outbound(**{"payload": {"to": ["ann@example.com"]}, "cc": [], "bcc": [], **kw})


def mock_pdf():
    responses.get(PDF_URL, body=b"%PDF-1.4", content_type="application/pdf")


PDF_B64 = base64.b64encode(b"%PDF-1.4").decode()


def sent(call_index=-1):
    return responses.calls[call_index].request


# --- registration -----------------------------------------------------------------------------


def test_every_esp_is_a_registered_email_type():
    names = {esp.provider_type for esp in ESPS}
    assert {
        "ses",
        "sendgrid",
        "mailgun",
        "postmark",
        "brevo",
        "mailjet",
        "resend",
        "sparkpost",
    } <= (names)
    for name in names:
        cls = get_backend_class(name)
        assert cls.channels == ("email",)
        fields = {f.name for f in cls.credential_fields}
        # SES webhooks come through SNS, signed by AWS: there is no secret to configure.
        assert ("webhookSecret" in fields) == (name != "ses")


def test_credentials_are_checked_per_esp():
    with pytest.raises(Exception) as exc:
        BACKENDS["mailjet"].clean_credentials({"apiKey": "k"})
    assert "secretKey" in exc.value.errors
    with pytest.raises(Exception) as exc:
        BACKENDS["sendgrid"].clean_credentials({"apiKey": "k", "api_key": "k"})
    assert "api_key" in exc.value.errors
    assert BACKENDS["ses"].clean_credentials(
        {"accessKeyId": "AKIA", "secretAccessKey": "s", "region": "eu-west-1"}
    )


def test_register_through_the_api(client):
    r = client.post(
        "/api/v1/providers",
        {
            "name": "pm",
            "providerType": "postmark",
            "credentials": {"serverToken": "pm-token", "webhookSecret": "hook:pw"},
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["data"]["channels"] == ["email"]
    r = client.post(
        "/api/v1/providers",
        {"name": "pm2", "providerType": "postmark", "credentials": {}},
        format="json",
    )
    assert r.status_code == 400
    assert "serverToken" in json.dumps(r.json())


# --- sending: the exact ESP request -----------------------------------------------------------


@responses.activate
def test_sendgrid_request_and_generated_message_id(settings):
    settings.ANYMAIL = {"SENDGRID_API_KEY": "GLOBAL-KEY-MUST-NOT-BE-USED"}
    mock_pdf()
    responses.post("https://api.sendgrid.com/v3/mail/send", status=202)
    result = BACKENDS["sendgrid"]({"apiKey": "SG.tenant"}).send(outbound())
    req = sent()
    assert req.headers["Authorization"] == "Bearer SG.tenant"
    body = json.loads(req.body)
    anymail_id = body["personalizations"][0]["custom_args"]["anymail_id"]
    assert body["personalizations"][0]["to"] == [
        {"email": "ann@example.com"},
        {"email": "bob@example.com"},
    ]
    assert body["personalizations"][0]["cc"] == [{"email": "cc@example.com"}]
    assert body["personalizations"][0]["bcc"] == [{"email": "bcc@example.com"}]
    assert body["from"] == {"email": "shop@example.com", "name": "Shop"}
    assert body["reply_to_list"] == [{"email": "help@example.com"}]
    assert body["content"] == [
        {"type": "text/plain", "value": "Hello"},
        {"type": "text/html", "value": "<p>Hello</p>"},
    ]
    assert body["attachments"] == [
        {"content": PDF_B64, "type": "application/pdf", "filename": "invoice.pdf"}
    ]
    assert body["custom_args"] == {"message_id": OUR_ID}
    assert body["categories"] == ["order", "eu"]
    assert result.provider_message_id == anymail_id
    assert result.status == st.PENDING_ENROUTE


@responses.activate
def test_mailgun_request_uses_sender_domain_and_region_url():
    mock_pdf()
    url = "https://api.eu.mailgun.net/v3/mg.example.com/messages"
    responses.post(url, json={"id": "<20240101.1@mg.example.com>", "message": "Queued."})
    creds = {
        "apiKey": "key-1",
        "senderDomain": "mg.example.com",
        "apiBaseUrl": "https://api.eu.mailgun.net/v3",
    }
    result = BACKENDS["mailgun"](creds).send(outbound())
    req = sent()
    assert req.url == url
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"api:key-1").decode()
    body = req.body.decode()
    for name, value in [
        ("from", "Shop <shop@example.com>"),
        ("to", "ann@example.com"),
        ("to", "bob@example.com"),
        ("cc", "cc@example.com"),
        ("bcc", "bcc@example.com"),
        ("h:Reply-To", "help@example.com"),
        ("text", "Hello"),
        ("html", "<p>Hello</p>"),
        ("v:message_id", OUR_ID),
        ("o:tag", "order"),
        ("o:tag", "eu"),
    ]:
        assert f'name="{name}"\r\n\r\n{value}\r\n' in body
    assert 'name="attachment"; filename="invoice.pdf"' in body
    assert result.provider_message_id == "<20240101.1@mg.example.com>"


@responses.activate
def test_postmark_request_takes_one_tag():
    mock_pdf()
    responses.post(
        "https://api.postmarkapp.com/email",
        json={
            "To": "ann@example.com",
            "SubmittedAt": "2024-01-01T00:00:00Z",
            "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
            "ErrorCode": 0,
            "Message": "OK",
        },
    )
    creds = {"serverToken": "pm-token", "messageStream": "outbound"}
    result = BACKENDS["postmark"](creds).send(outbound())
    req = sent()
    assert req.headers["X-Postmark-Server-Token"] == "pm-token"
    assert json.loads(req.body) == {
        "From": "Shop <shop@example.com>",
        "To": "ann@example.com, bob@example.com",
        "Cc": "cc@example.com",
        "Bcc": "bcc@example.com",
        "Subject": "Hi",
        "ReplyTo": "help@example.com",
        "TextBody": "Hello",
        "HtmlBody": "<p>Hello</p>",
        "Attachments": [
            {"Name": "invoice.pdf", "Content": PDF_B64, "ContentType": "application/pdf"}
        ],
        "Metadata": {"message_id": OUR_ID},
        "Tag": "order",
        "MessageStream": "outbound",
    }
    assert result.provider_message_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"


@responses.activate
def test_brevo_request():
    mock_pdf()
    responses.post(
        "https://api.brevo.com/v3/smtp/email",
        status=201,
        json={"messageId": "<202401010000.123@smtp-relay.mailin.fr>"},
    )
    result = BACKENDS["brevo"]({"apiKey": "xkeysib-1"}).send(outbound())
    req = sent()
    assert req.headers["api-key"] == "xkeysib-1"
    body = json.loads(req.body)
    assert body["sender"] == {"email": "shop@example.com", "name": "Shop"}
    assert body["to"] == [{"email": "ann@example.com"}, {"email": "bob@example.com"}]
    assert (body["cc"], body["bcc"]) == (
        [{"email": "cc@example.com"}],
        [{"email": "bcc@example.com"}],
    )
    assert body["replyTo"] == {"email": "help@example.com"}
    assert (body["textContent"], body["htmlContent"]) == ("Hello", "<p>Hello</p>")
    assert body["attachment"] == [{"name": "invoice.pdf", "content": PDF_B64}]
    assert body["tags"] == ["order", "eu"]
    assert json.loads(body["headers"]["X-Mailin-custom"]) == {"message_id": OUR_ID}
    assert result.provider_message_id == "<202401010000.123@smtp-relay.mailin.fr>"


@responses.activate
def test_mailjet_request_and_per_recipient_ids():
    responses.post(
        "https://api.mailjet.com/v3.1/send",
        json={
            "Messages": [
                {
                    "Status": "success",
                    "To": [
                        {"Email": "ann@example.com", "MessageUUID": "u1", "MessageID": 1001},
                        {"Email": "bob@example.com", "MessageUUID": "u2", "MessageID": 1002},
                    ],
                }
            ]
        },
    )
    msg = outbound(cc=[], bcc=[], payload={"to": ["ann@example.com", "bob@example.com"]})
    result = BACKENDS["mailjet"]({"apiKey": "mjpub", "secretKey": "mjsec"}).send(msg)
    req = sent()
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"mjpub:mjsec").decode()
    body = json.loads(req.body)
    assert body["Globals"]["EventPayload"] == json.dumps({"message_id": OUR_ID})
    assert body["Messages"] == [
        {"To": [{"Email": "ann@example.com"}, {"Email": "bob@example.com"}]}
    ]
    # Mailjet gives each recipient its own id: the primary "to" recipient's joins reports.
    assert result.provider_message_id == "1001"
    assert result.raw["recipients"]["bob@example.com"]["messageId"] == "1002"


@responses.activate
def test_resend_request():
    responses.post("https://api.resend.com/emails", json={"id": "49a3999c-0ce1-4ea6"})
    result = BACKENDS["resend"]({"apiKey": "re_123"}).send(plain())
    req = sent()
    assert req.headers["Authorization"] == "Bearer re_123"
    body = json.loads(req.body)
    assert body["to"] == ["ann@example.com"]
    assert json.loads(body["headers"]["X-Metadata"]) == {"message_id": OUR_ID}
    assert result.provider_message_id == "49a3999c-0ce1-4ea6"


@responses.activate
def test_sparkpost_request():
    responses.post(
        "https://api.sparkpost.com/api/v1/transmissions/",
        json={
            "results": {
                "total_rejected_recipients": 0,
                "total_accepted_recipients": 1,
                "id": "11668787484950529",
            }
        },
    )
    result = BACKENDS["sparkpost"]({"apiKey": "sp-key"}).send(plain())
    req = sent()
    assert req.headers["Authorization"] == "sp-key"
    body = json.loads(req.body)
    assert body["metadata"] == {"message_id": OUR_ID}
    assert body["recipients"][0]["address"]["email"] == "ann@example.com"
    assert body["content"]["text"] == "Hello"
    assert result.provider_message_id == "11668787484950529"


def test_ses_sends_raw_mime_with_the_tenants_keys():
    backend = BACKENDS["ses"](
        {
            "accessKeyId": "AKIATENANT",
            "secretAccessKey": "s3cret",
            "region": "eu-west-1",
            "configurationSetName": "tracking",
        }  # fmt: skip
    )
    clients = []

    class Raw:
        def __eq__(self, data):
            self.data = data
            return True

    raw = Raw()
    real_session = __import__("boto3").session.Session

    def session(**params):
        assert params == {
            "aws_access_key_id": "AKIATENANT",
            "aws_secret_access_key": "s3cret",
            "region_name": "eu-west-1",
        }
        s = real_session(**params)
        original = s.client

        def client(name, **kw):
            c = original(name, **kw)
            stub = Stubber(c)
            stub.add_response(
                "send_email",
                {"MessageId": "0100018c-ses-id"},
                {
                    "ConfigurationSetName": "tracking",
                    "Destination": {"ToAddresses": ["ann@example.com"]},
                    "Content": {"Raw": {"Data": raw}},
                },
            )
            stub.activate()
            clients.append((c, stub))
            return c

        s.client = client
        return s

    with mock.patch("anymail.backends.amazon_ses.boto3.session.Session", session):
        result = backend.send(plain())
    assert result.provider_message_id == "0100018c-ses-id"
    clients[0][1].assert_no_pending_responses()
    assert b'X-Metadata: {"message_id": "' + OUR_ID.encode() in raw.data
    assert b"Subject: Hi" in raw.data


# --- sending: errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http_status", "permanent", "status"),
    [
        (400, True, st.REJECTED_CONTENT),
        (401, True, st.REJECTED_PROVIDER),
        (403, True, st.REJECTED_PROVIDER),
        (413, True, st.REJECTED_CONTENT),
        (429, False, st.REJECTED_PROVIDER),
        (500, False, st.REJECTED_PROVIDER),
        (503, False, st.REJECTED_PROVIDER),
    ],
)
@responses.activate
def test_http_errors_are_mapped(http_status, permanent, status):
    responses.post(
        "https://api.resend.com/emails",
        status=http_status,
        json={"statusCode": http_status, "name": "error", "message": "nope"},
        headers={"Retry-After": "7"},
    )
    with pytest.raises(SendError) as exc:
        BACKENDS["resend"]({"apiKey": "re_123"}).send(plain())
    assert (exc.value.permanent, exc.value.status) == (permanent, status)
    assert exc.value.code == f"HTTP_{http_status}"
    if not permanent:
        assert exc.value.retry_after == 7


@responses.activate
def test_a_connection_error_is_transient():
    import requests

    responses.post("https://api.brevo.com/v3/smtp/email", body=requests.ConnectionError("down"))
    with pytest.raises(SendError) as exc:
        BACKENDS["brevo"]({"apiKey": "k"}).send(plain())
    assert (exc.value.code, exc.value.permanent) == ("NETWORK_ERROR", False)


@responses.activate
def test_all_recipients_refused_is_permanent():
    # Postmark answers 422 with ErrorCode 406 for an inactive (suppressed) recipient.
    responses.post(
        "https://api.postmarkapp.com/email",
        status=422,
        json={
            "ErrorCode": 406,
            "Message": "You tried to send to a recipient that has been marked as inactive.\n"
            "Found inactive addresses: ann@example.com.\n"
            "Inactive recipients are ones that have generated a hard bounce or a spam complaint.",
        },
    )
    with pytest.raises(SendError) as exc:
        BACKENDS["postmark"]({"serverToken": "t"}).send(plain())
    assert exc.value.permanent
    assert exc.value.status == st.REJECTED_DESTINATION


@responses.activate
def test_an_attachment_that_is_gone_is_permanent():
    responses.get(PDF_URL, status=404)
    with pytest.raises(SendError) as exc:
        BACKENDS["brevo"]({"apiKey": "k"}).send(outbound())
    assert (exc.value.code, exc.value.permanent) == ("ATTACHMENT_NOT_FOUND", True)
    assert len(responses.calls) == 1  # nothing was posted to Brevo


@responses.activate
def test_an_attachment_too_large_is_refused(monkeypatch):
    monkeypatch.setattr("providers.email.ATTACHMENT_MAX_BYTES", 4)
    mock_pdf()
    with pytest.raises(SendError) as exc:
        BACKENDS["brevo"]({"apiKey": "k"}).send(outbound())
    assert exc.value.code == "ATTACHMENT_TOO_LARGE"


def test_ses_throttling_is_transient():
    from anymail.exceptions import AnymailAPIError

    from providers.backends.anymail_esp import send_error_for

    err = AnymailAPIError(
        "slow down",
        response={"Error": {"Code": "TooManyRequestsException"},
                  "ResponseMetadata": {"HTTPStatusCode": 429}},
    )  # fmt: skip
    assert send_error_for(err).permanent is False
    err = AnymailAPIError(
        "no",
        response={"Error": {"Code": "MessageRejected"},
                  "ResponseMetadata": {"HTTPStatusCode": 400}},
    )  # fmt: skip
    assert (send_error_for(err).permanent, send_error_for(err).status) == (
        True,
        st.REJECTED_CONTENT,
    )


# --- webhooks ---------------------------------------------------------------------------------


def hook(body, headers=None, content_type="application/json", kind="status"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(
        method="POST",
        url=f"https://msg.example.com/webhooks/providers/tok/{kind}",
        headers={"Content-Type": content_type, **(headers or {})},
        body=raw,
    )


def basic(userpass: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(userpass.encode()).decode()}


# SendGrid: Signed Event Webhook (ECDSA P-256 over timestamp + body).
SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(
    SG_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sendgrid_signed(body: bytes, key=SG_KEY) -> dict:
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


SENDGRID_EVENTS = [
    {
        "email": "ann@example.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "delivered",
        "category": ["order"],
        "sg_event_id": "sg_event_id_delivered",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "response": "250 OK",
        "anymail_id": "252a7510-cfb2-4789-9f24-4067ae3f4e44",
        "message_id": OUR_ID,
    },
    {
        "email": "bob@example.com",
        "timestamp": 1513299570,
        "event": "bounce",
        "type": "bounce",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "status": "5.1.1",
        "sg_event_id": "sg_event_id_bounce",
        "anymail_id": "another-message",
    },
    {"email": "ann@example.com", "timestamp": 1513299571, "event": "processed",
     "sg_event_id": "sg_processed", "anymail_id": "252a7510-cfb2-4789-9f24-4067ae3f4e44"},
]  # fmt: skip


def test_sendgrid_signed_events_become_reports():
    body = json.dumps(SENDGRID_EVENTS).encode()
    backend = BACKENDS["sendgrid"]({"apiKey": "k", "webhookSecret": SG_PUBLIC})
    events = backend.parse_webhook("status", hook(body, sendgrid_signed(body)))
    delivered, bounced, processed = events.reports
    # SendGrid "processed" is anymail's queued: reported, it moves nothing.
    assert (processed.status, processed.recipient) == (st.PENDING_ENROUTE, "ann@example.com")
    assert delivered.recipient == "ann@example.com" and bounced.recipient == "bob@example.com"
    assert bounced.permanent is True
    assert delivered.provider_message_id == "252a7510-cfb2-4789-9f24-4067ae3f4e44"
    assert delivered.status == st.DELIVERED_TO_HANDSET
    assert delivered.event_id == "sg_event_id_delivered"
    assert bounced.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert "does not exist" in bounced.error_description
    assert bounced.error_code == "BOUNCED"


def test_sendgrid_wrong_or_missing_signature_is_rejected():
    body = json.dumps(SENDGRID_EVENTS).encode()
    backend = BACKENDS["sendgrid"]({"apiKey": "k", "webhookSecret": SG_PUBLIC})
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_webhook("status", hook(body, sendgrid_signed(body, other)))
    assert exc.value.status == 403
    with pytest.raises(WebhookRejected):
        backend.parse_webhook("status", hook(body))
    with pytest.raises(WebhookRejected) as exc:  # no key configured: signed webhooks refused
        BACKENDS["sendgrid"]({"apiKey": "k"}).parse_webhook(
            "status", hook(body, sendgrid_signed(body))
        )
    assert "webhookSecret" in exc.value.detail


# Mailgun: HMAC-SHA256(signing key, timestamp + token), in the JSON body.
MG_KEY = "mg-signing-key"


def mailgun_signature(key=MG_KEY, timestamp="1529006854", token="a8ce0edb2dd8301dee6c"):
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {"timestamp": timestamp, "token": token, "signature": digest.hexdigest()}


def mailgun_event(event="delivered", signature=None, **extra):
    return {
        "signature": signature or mailgun_signature(),
        "event-data": {
            "event": event,
            "timestamp": 1529006854.329574,
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "recipient": "ann@example.com",
            "message": {"headers": {"message-id": "20240101.1@mg.example.com"}},
            "user-variables": {"message_id": OUR_ID},
            "delivery-status": {"code": 250, "message": "OK", "description": ""},
            "tags": [],
            **extra,
        },
    }


def test_mailgun_signed_event_becomes_a_report():
    backend = BACKENDS["mailgun"]({"apiKey": "k", "webhookSecret": MG_KEY})
    [report] = backend.parse_webhook("status", hook(mailgun_event())).reports
    assert report.provider_message_id == "<20240101.1@mg.example.com>"  # as the send stored it
    assert report.status == st.DELIVERED_TO_HANDSET
    assert report.event_id == "a8ce0edb2dd8301dee6c"  # anymail's event id: the signed token
    assert report.raw["metadata"] == {"message_id": OUR_ID}


def test_mailgun_permanent_failure():
    backend = BACKENDS["mailgun"]({"apiKey": "k", "webhookSecret": MG_KEY})
    body = mailgun_event(
        "failed",
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "5.1.1 No such user", "description": ""}},
    )
    [report] = backend.parse_webhook("status", hook(body)).reports
    assert report.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert "No such user" in report.error_description


@pytest.mark.parametrize("signature", ["wrong", "missing"])
def test_mailgun_bad_signature_is_rejected(signature):
    backend = BACKENDS["mailgun"]({"apiKey": "k", "webhookSecret": MG_KEY})
    body = mailgun_event(signature=mailgun_signature(key="other-key"))
    if signature == "missing":
        body.pop("signature")
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_webhook("status", hook(body))
    assert exc.value.status == 403


def test_mailgun_signed_inbound_form():
    backend = BACKENDS["mailgun"]({"apiKey": "k", "webhookSecret": MG_KEY})
    from urllib.parse import urlencode

    form = {
        **mailgun_signature(),
        "recipient": "support@mg.example.com",
        "sender": "carol@example.net",
        "from": "Carol <carol@example.net>",
        "To": "support@mg.example.com",
        "subject": "Where is my order?",
        "body-plain": "Order 42 has not arrived.",
        "stripped-text": "Order 42 has not arrived.",
        "Message-Id": "<CAB1@mail.example.net>",
        "message-headers": json.dumps(
            [["From", "Carol <carol@example.net>"], ["To", "support@mg.example.com"],
             ["Subject", "Where is my order?"], ["Message-Id", "<CAB1@mail.example.net>"]]
        ),
    }  # fmt: skip
    request = hook(
        urlencode(form).encode(), content_type="application/x-www-form-urlencoded", kind="inbound"
    )
    [item] = backend.parse_webhook("inbound", request).inbound
    assert (item.channel, item.sender, item.recipient) == (
        "email",
        "carol@example.net",
        "support@mg.example.com",
    )
    assert item.text == "Order 42 has not arrived."
    assert item.provider_message_id == "<CAB1@mail.example.net>"
    form["signature"] = "0" * 64
    with pytest.raises(WebhookRejected):
        backend.parse_webhook(
            "inbound",
            hook(urlencode(form).encode(), content_type="application/x-www-form-urlencoded"),
        )


# Postmark: basic auth (webhookSecret "user:password" in the webhook URL).
POSTMARK_DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
    "Recipient": "ann@example.com",
    "Tag": "order",
    "DeliveredAt": "2024-01-01T16:33:54.9070259Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"message_id": OUR_ID},
}
POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "order",
    "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
    "Metadata": {"message_id": OUR_ID},
    "ServerID": 23,
    "MessageStream": "outbound",
    "Description": "The server was unable to deliver your message (ex: unknown user).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "ann@example.com",
    "From": "shop@example.com",
    "BouncedAt": "2024-01-01T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Hi",
}


def test_postmark_delivery_and_bounce_with_basic_auth():
    backend = BACKENDS["postmark"]({"serverToken": "t", "webhookSecret": "hook:pw"})
    [report] = backend.parse_webhook("status", hook(POSTMARK_DELIVERY, basic("hook:pw"))).reports
    assert (report.provider_message_id, report.status) == (
        "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
        st.DELIVERED_TO_HANDSET,
    )
    [report] = backend.parse_webhook("status", hook(POSTMARK_BOUNCE, basic("hook:pw"))).reports
    assert report.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert report.event_id == "4323372036854775807"


@pytest.mark.parametrize("auth", [basic("hook:wrong"), {}])
def test_postmark_wrong_or_missing_basic_auth_is_rejected(auth):
    backend = BACKENDS["postmark"]({"serverToken": "t", "webhookSecret": "hook:pw"})
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_webhook("status", hook(POSTMARK_DELIVERY, auth))
    assert exc.value.status == 403


def test_postmark_inbound():
    body = {
        "FromName": "Carol",
        "MessageStream": "inbound",
        "From": "carol@example.net",
        "FromFull": {"Email": "carol@example.net", "Name": "Carol", "MailboxHash": ""},
        "To": "support@inbound.example.com",
        "ToFull": [{"Email": "support@inbound.example.com", "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": "support@inbound.example.com",
        "Subject": "Where is my order?",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Fri, 1 Aug 2014 16:45:32 -04:00",
        "TextBody": "Order 42 has not arrived.",
        "HtmlBody": "<p>Order 42 has not arrived.</p>",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [{"Name": "Message-ID", "Value": "<CAB2@mail.example.net>"}],
        "Attachments": [],
    }
    backend = BACKENDS["postmark"]({"serverToken": "t", "webhookSecret": "hook:pw"})
    [item] = backend.parse_webhook("inbound", hook(body, basic("hook:pw"), kind="inbound")).inbound
    assert (item.sender, item.recipient, item.text) == (
        "carol@example.net",
        "support@inbound.example.com",
        "Order 42 has not arrived.",
    )
    assert item.raw["subject"] == "Where is my order?"
    with pytest.raises(WebhookRejected):
        backend.parse_webhook("inbound", hook(body, basic("x:y"), kind="inbound"))


# Brevo: basic auth.
BREVO_DELIVERED = {
    "event": "delivered",
    "email": "ann@example.com",
    "id": 123456,
    "date": "2024-01-01 00:00:00",
    "ts": 1604933619,
    "message-id": "<202401010000.123@smtp-relay.mailin.fr>",
    "ts_event": 1604933654,
    "subject": "Hi",
    "X-Mailin-custom": json.dumps({"message_id": OUR_ID}),
    "sending_ip": "185.41.28.109",
    "ts_epoch": 1604933654111,
    "tags": ["order"],
}


def test_brevo_events_with_basic_auth():
    backend = BACKENDS["brevo"]({"apiKey": "k", "webhookSecret": "hook:pw"})
    [report] = backend.parse_webhook("status", hook(BREVO_DELIVERED, basic("hook:pw"))).reports
    assert report.provider_message_id == "<202401010000.123@smtp-relay.mailin.fr>"
    assert report.status == st.DELIVERED_TO_HANDSET
    assert report.raw["metadata"] == {"message_id": OUR_ID}
    hard = {**BREVO_DELIVERED, "event": "hard_bounce", "reason": "550 no such user"}
    [report] = backend.parse_webhook("status", hook(hard, basic("hook:pw"))).reports
    assert report.status == st.UNDELIVERABLE_NOT_DELIVERED
    opened = {**BREVO_DELIVERED, "event": "opened"}
    [report] = backend.parse_webhook("status", hook(opened, basic("hook:pw"))).reports
    assert report.status == st.DELIVERED_READ


@pytest.mark.parametrize("auth", [basic("hook:wrong"), {}])
def test_brevo_wrong_or_missing_basic_auth_is_rejected(auth):
    backend = BACKENDS["brevo"]({"apiKey": "k", "webhookSecret": "hook:pw"})
    with pytest.raises(WebhookRejected):
        backend.parse_webhook("status", hook(BREVO_DELIVERED, auth))


def test_without_a_basic_auth_secret_the_url_token_suffices():
    backend = BACKENDS["brevo"]({"apiKey": "k"})
    assert backend.parse_webhook("status", hook(BREVO_DELIVERED)).reports


# Resend: Svix signatures.
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-test-signing-key-32bytes!").decode()


def svix_headers(body: bytes, secret=RESEND_SECRET, msg_id="msg_2bQv", stamp=None):
    stamp = str(int(time.time()) if stamp is None else stamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        "svix-signature": "v1," + base64.b64encode(sig).decode(),
    }


RESEND_DELIVERED = {
    "type": "email.delivered",
    "created_at": "2024-02-22T23:41:12.126Z",
    "data": {
        "created_at": "2024-02-22T23:41:11.894719+00:00",
        "email_id": "49a3999c-0ce1-4ea6",
        "from": "Shop <shop@example.com>",
        "to": ["ann@example.com"],
        "subject": "Hi",
        "headers": [{"name": "X-Metadata", "value": json.dumps({"message_id": OUR_ID})}],
    },
}


def test_resend_signed_event_becomes_a_report():
    body = json.dumps(RESEND_DELIVERED).encode()
    backend = BACKENDS["resend"]({"apiKey": "re", "webhookSecret": RESEND_SECRET})
    [report] = backend.parse_webhook("status", hook(body, svix_headers(body))).reports
    assert (report.provider_message_id, report.status, report.event_id) == (
        "49a3999c-0ce1-4ea6",
        st.DELIVERED_TO_HANDSET,
        "msg_2bQv",
    )
    bounced = json.dumps(
        {**RESEND_DELIVERED, "type": "email.bounced",
         "data": {**RESEND_DELIVERED["data"], "bounce": {"message": "mailbox full"}}}
    ).encode()  # fmt: skip
    [report] = backend.parse_webhook("status", hook(bounced, svix_headers(bounced))).reports
    assert report.status == st.UNDELIVERABLE_NOT_DELIVERED


@pytest.mark.parametrize("case", ["wrong", "missing", "stale"])
def test_resend_bad_signature_is_rejected(case):
    body = json.dumps(RESEND_DELIVERED).encode()
    backend = BACKENDS["resend"]({"apiKey": "re", "webhookSecret": RESEND_SECRET})
    headers = {
        "wrong": svix_headers(body, secret="whsec_" + base64.b64encode(b"x" * 32).decode()),
        "missing": {},
        "stale": svix_headers(body, stamp=int(time.time()) - 3600),
    }[case]
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_webhook("status", hook(body, headers))
    assert exc.value.status == 403


# SparkPost and Mailjet: basic auth.
def test_sparkpost_delivery_event():
    body = [
        {
            "msys": {
                "message_event": {
                    "type": "delivery",
                    "event_id": "92356927693813856",
                    "transmission_id": "11668787484950529",
                    "message_id": "0e0d94b7-9085-4e3c-ab30-e3f2cd9c273e",
                    "rcpt_to": "ann@example.com",
                    "timestamp": "1454442600",
                    "rcpt_meta": {"message_id": OUR_ID},
                }
            }
        }
    ]
    backend = BACKENDS["sparkpost"]({"apiKey": "k", "webhookSecret": "hook:pw"})
    [report] = backend.parse_webhook("status", hook(body, basic("hook:pw"))).reports
    assert (report.provider_message_id, report.status) == (
        "11668787484950529",
        st.DELIVERED_TO_HANDSET,
    )
    with pytest.raises(WebhookRejected):
        backend.parse_webhook("status", hook(body, basic("hook:no")))


def test_mailjet_sent_and_bounce_events():
    bounce = {
        "event": "bounce",
        "time": 1430812195,
        "MessageID": 1001,
        "email": "ann@example.com",
        "mj_campaign_id": 0,
        "mj_contact_id": 1,
        "customcampaign": "",
        "CustomID": "",
        "Payload": json.dumps({"message_id": OUR_ID}),
        "blocked": False,
        "hard_bounce": True,
        "error_related_to": "recipient",
        "error": "user unknown",
    }
    backend = BACKENDS["mailjet"]({"apiKey": "a", "secretKey": "b", "webhookSecret": "hook:pw"})
    [report] = backend.parse_webhook("status", hook(bounce, basic("hook:pw"))).reports
    assert (report.provider_message_id, report.status) == ("1001", st.UNDELIVERABLE_NOT_DELIVERED)


def test_a_body_that_is_not_the_esps_format_is_400():
    backend = BACKENDS["postmark"]({"serverToken": "t"})
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_webhook("status", hook(b"{not json"))
    assert exc.value.status == 400


# --- end to end: API → ESP → webhook → DELIVERED ----------------------------------------------


@pytest.fixture
def postmark(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="postmark",
        provider_type="postmark",
        channels=["email"],
        credentials={"serverToken": "pm-token", "webhookSecret": "hook:pw"},
    )


@responses.activate
def test_end_to_end_postmark(client, anon_client, postmark, run_tasks):
    responses.post(
        "https://api.postmarkapp.com/email",
        json={"To": "ann@example.com", "MessageID": "pm-e2e-1", "ErrorCode": 0, "Message": "OK"},
    )
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {
            "email": [
                {
                    "to": ["ann@example.com"],
                    "cc": ["cc@example.com"],
                    "subject": "Order",
                    "body": "Shipped",
                    "from": "shop@example.com",
                    "replyTo": "help@example.com",
                    "tags": ["order"],
                    "provider": "postmark",
                }
            ]
        },
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    body = json.loads(responses.calls[0].request.body)
    assert body["Metadata"] == {"message_id": mid}
    assert (body["To"], body["Cc"], body["ReplyTo"]) == (
        "ann@example.com",
        "cc@example.com",
        "help@example.com",
    )
    message = Message.objects.get(pk=mid)
    assert (message.status, message.provider_message_id) == (st.PENDING_ENROUTE, "pm-e2e-1")

    url = f"/webhooks/providers/{postmark.webhook_token}/status"
    delivery = {**POSTMARK_DELIVERY, "MessageID": "pm-e2e-1", "Metadata": {"message_id": mid}}
    r = anon_client.post(
        url, delivery, format="json", HTTP_AUTHORIZATION=basic("x:y")["Authorization"]
    )
    assert r.status_code == 403
    r = run_tasks(
        anon_client.post, url, delivery, format="json",
        HTTP_AUTHORIZATION=basic("hook:pw")["Authorization"],
    )  # fmt: skip
    assert r.status_code == 200, r.content
    message.refresh_from_db()
    assert message.status == st.DELIVERED_TO_HANDSET

    inbound = {
        "From": "carol@example.net",
        "FromFull": {"Email": "carol@example.net", "Name": "Carol"},
        "ToFull": [{"Email": "support@inbound.example.com", "Name": ""}],
        "Subject": "Re: Order",
        "MessageID": "in-1",
        "TextBody": "Thanks!",
        "Headers": [],
        "Attachments": [],
    }
    url = f"/webhooks/providers/{postmark.webhook_token}/inbound"
    for _ in range(2):  # Postmark's retry of the same message is stored once
        r = anon_client.post(
            url, inbound, format="json", HTTP_AUTHORIZATION=basic("hook:pw")["Authorization"]
        )
        assert r.status_code == 200, r.content
    [stored] = InboundMessage.objects.filter(provider=postmark)
    assert (stored.channel, stored.sender, stored.text) == ("email", "carol@example.net", "Thanks!")


# --- test connection --------------------------------------------------------------------------


@responses.activate
def test_connection_postmark_and_brevo():
    responses.get(
        "https://api.postmarkapp.com/server",
        json={"ID": 1, "Name": "Shop transactional"},
        match=[responses.matchers.header_matcher({"X-Postmark-Server-Token": "pm-token"})],
    )
    assert BACKENDS["postmark"]({"serverToken": "pm-token"}).test_connection() == (
        "Server 'Shop transactional'."
    )
    responses.get("https://api.brevo.com/v3/account", status=401, json={"code": "unauthorized"})
    with pytest.raises(SendError) as exc:
        BACKENDS["brevo"]({"apiKey": "bad"}).test_connection()
    assert (exc.value.code, exc.value.permanent) == ("HTTP_401", True)
    assert BACKENDS["postmark"].can_test_connection()
    assert not BACKENDS["resend"].can_test_connection()


# --- Amazon SES: events through an SNS HTTPS subscription, signed by AWS ------------------------

SNS_CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
SES_TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"
SES_CREDS = {
    "accessKeyId": "AKIATENANT",
    "secretAccessKey": "s3cret",
    "region": "eu-west-1",
    "snsTopicArn": SES_TOPIC,
}


def _sns_cert():
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


SNS_KEY, SNS_PEM = _sns_cert()


def sns_signed(message, key=SNS_KEY):
    from cryptography.hazmat.primitives.asymmetric import padding

    message = {**message, "SignatureVersion": "2", "SigningCertURL": SNS_CERT_URL}
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()
    signature = key.sign(canonical, padding.PKCS1v15(), hashes.SHA256())
    return {**message, "Signature": base64.b64encode(signature).decode()}


def ses_notification(event_type="Delivery", **event_object):
    event = {
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-11-25T12:00:00.000Z",
            "source": "shop@example.com",
            "messageId": "0100018c-ses-id",
            "destination": ["ann@example.com"],
            "headers": [{"name": "X-Metadata", "value": json.dumps({"message_id": OUR_ID})}],
        },
        event_type.lower(): event_object
        or {"timestamp": "2026-11-25T12:00:01.000Z", "recipients": ["ann@example.com"],
            "smtpResponse": "250 2.6.0 Message received"},
    }  # fmt: skip
    return {
        "Type": "Notification",
        "MessageId": "a1b2c3d4-sns-1",
        "TopicArn": SES_TOPIC,
        "Message": json.dumps(event),
        "Timestamp": "2026-11-25T12:00:02.000Z",
    }


def sns_hook(message):
    return hook(
        message,
        {"x-amz-sns-message-type": message["Type"], "x-amz-sns-message-id": message["MessageId"]},
        content_type="text/plain; charset=UTF-8",
    )


@pytest.fixture
def sns_cert():
    from providers import sns

    sns.clear_certificate_cache()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(SNS_CERT_URL, body=SNS_PEM)
        yield rsps
    sns.clear_certificate_cache()


def test_ses_delivery_and_bounce_through_sns(sns_cert):
    backend = BACKENDS["ses"](SES_CREDS)
    [report] = backend.parse_webhook("status", sns_hook(sns_signed(ses_notification()))).reports
    assert (report.provider_message_id, report.status, report.event_id) == (
        "0100018c-ses-id",
        st.DELIVERED_TO_HANDSET,
        "a1b2c3d4-sns-1",
    )
    bounce = ses_notification(
        "Bounce",
        bounceType="Permanent",
        bounceSubType="General",
        bouncedRecipients=[{"emailAddress": "ann@example.com", "diagnosticCode": "smtp; 550"}],
    )
    [report] = backend.parse_webhook("status", sns_hook(sns_signed(bounce))).reports
    assert report.status == st.UNDELIVERABLE_NOT_DELIVERED


def test_ses_unsigned_wrong_topic_or_forged_is_rejected(sns_cert):
    backend = BACKENDS["ses"](SES_CREDS)
    forged_key, _ = _sns_cert()
    for message in (
        ses_notification(),  # unsigned
        sns_signed(ses_notification(), key=forged_key),
        sns_signed({**ses_notification(), "TopicArn": "arn:aws:sns:eu-west-1:9:other"}),
    ):
        with pytest.raises(WebhookRejected) as exc:
            backend.parse_webhook("status", sns_hook(message))
        assert exc.value.status == 403


def test_ses_subscription_is_confirmed(sns_cert):
    subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok"
    confirm = sns_cert.get(subscribe, body="<ConfirmSubscriptionResponse/>")
    message = sns_signed(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "sub-1",
            "Token": "tok",
            "TopicArn": SES_TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": subscribe,
            "Timestamp": "2026-11-25T12:00:00.000Z",
        }
    )
    events = BACKENDS["ses"](SES_CREDS).parse_webhook("status", sns_hook(message))
    assert (events.reports, events.inbound) == ([], [])
    assert confirm.call_count == 1


@responses.activate
def test_end_to_end_mailgun_signed_webhook_through_the_url(client, anon_client, tenant, run_tasks):
    provider = ProviderFactory(
        tenant=tenant,
        name="mailgun",
        provider_type="mailgun",
        channels=["email"],
        credentials={"apiKey": "key-1", "senderDomain": "mg.example.com", "webhookSecret": MG_KEY},
    )
    responses.post(
        "https://api.mailgun.net/v3/mg.example.com/messages",
        json={"id": "<20240101.1@mg.example.com>", "message": "Queued. Thank you."},
    )
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"email": [{"to": ["ann@example.com"], "subject": "Hi", "body": "Hello",
                    "from": "shop@mg.example.com", "provider": "mailgun"}]},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    from urllib.parse import parse_qs

    form = parse_qs(responses.calls[0].request.body)
    assert (form["v:message_id"], form["to"]) == ([mid], ["ann@example.com"])
    url = f"/webhooks/providers/{provider.webhook_token}/status"
    forged = mailgun_event(signature=mailgun_signature(key="not-the-key"))
    assert anon_client.post(url, forged, format="json").status_code == 403
    assert Message.objects.get(pk=mid).status == st.PENDING_ENROUTE
    r = run_tasks(anon_client.post, url, mailgun_event(), format="json")
    assert r.status_code == 200, r.content
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET
    opened = mailgun_event("opened")
    opened["event-data"]["id"] = "opened-1"
    opened["signature"] = mailgun_signature(token="another-token-for-open")
    run_tasks(anon_client.post, url, opened, format="json")
    assert Message.objects.get(pk=mid).status == st.DELIVERED_READ


def test_no_sender_is_refused_before_any_call():
    with pytest.raises(SendError) as exc:
        BACKENDS["resend"]({"apiKey": "re"}).send(plain(sender=""))
    assert (exc.value.code, exc.value.permanent) == ("NO_SENDER", True)
    # the provider's defaultSender stands in
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.resend.com/emails", json={"id": "r-1"})
        BACKENDS["resend"]({"apiKey": "re"}, default_sender="shop@example.com").send(
            plain(sender="")
        )
        assert json.loads(rsps.calls[0].request.body)["from"] == "shop@example.com"


# --- anymail's event types, each mapped ----------------------------------------------------------


def tracking_event(event_type, **kw):
    from anymail.signals import AnymailTrackingEvent

    fields = {"event_type": event_type, "message_id": "esp-1", "event_id": f"ev-{event_type}",
              "recipient": "ann@example.com"}  # fmt: skip
    return AnymailTrackingEvent(**{**fields, **kw})


# anymail.signals.EventType (django-anymail 15): every tracking type has a row; subscribed and
# unknown are not about our message. (status, permanent, feedback)
EVENT_TABLE = {
    "queued": (st.PENDING_ENROUTE, True, ""),
    "sent": (st.PENDING_ENROUTE, True, ""),
    "deferred": (st.PENDING_ENROUTE, True, ""),  # the ESP still tries: not a failure
    "delivered": (st.DELIVERED_TO_HANDSET, True, ""),
    "autoresponded": (st.DELIVERED_TO_HANDSET, True, ""),
    "opened": (st.DELIVERED_READ, True, ""),
    "clicked": (st.DELIVERED_READ, True, ""),
    "rejected": (st.REJECTED_DESTINATION, True, ""),
    "bounced": (st.UNDELIVERABLE_NOT_DELIVERED, True, ""),
    "failed": (st.UNDELIVERABLE_NOT_DELIVERED, True, ""),
    "complained": (st.DELIVERED_TO_HANDSET, True, "complained"),
    "unsubscribed": (st.DELIVERED_TO_HANDSET, True, "unsubscribed"),
    "subscribed": None,
    "unknown": None,
}


def test_every_anymail_tracking_event_type_is_mapped_explicitly():
    from anymail.signals import EventType

    from providers.email import reports_from_events

    types = {v for k, v in vars(EventType).items() if k.isupper()} - {"inbound", "inbound_failed"}
    assert types == set(EVENT_TABLE)
    for event_type, expected in EVENT_TABLE.items():
        reports = reports_from_events([tracking_event(event_type)])
        if expected is None:
            assert reports == []
            continue
        [report] = reports
        assert (report.status, report.permanent, report.feedback) == expected, event_type
        assert report.recipient == "ann@example.com"
        assert report.event_id == f"ev-{event_type}"


def test_one_esp_event_for_two_recipients_makes_two_reports():
    from providers.email import reports_from_events

    one, two = reports_from_events(
        [tracking_event("bounced", event_id="sns-1", recipient="cc@example.com"),
         tracking_event("bounced", event_id="sns-1", recipient="ann@example.com")]
    )  # fmt: skip
    assert (one.recipient, two.recipient) == ("cc@example.com", "ann@example.com")
    assert one.event_id != two.event_id  # messaging keeps one report per event id


def test_ses_complaint_is_feedback_and_a_two_address_bounce_is_two_reports(sns_cert):
    backend = BACKENDS["ses"](SES_CREDS)
    complaint = ses_notification(
        "Complaint",
        complainedRecipients=[{"emailAddress": "ann@example.com"}],
        complaintFeedbackType="abuse",
        timestamp="2026-11-25T12:00:01.000Z",
    )
    [report] = backend.parse_webhook("status", sns_hook(sns_signed(complaint))).reports
    assert (report.feedback, report.status, report.recipient) == (
        "complained", st.DELIVERED_TO_HANDSET, "ann@example.com"
    )  # fmt: skip
    bounce = ses_notification(
        "Bounce",
        bounceType="Permanent",
        bounceSubType="General",
        bouncedRecipients=[{"emailAddress": "ann@example.com", "diagnosticCode": "smtp; 550"},
                           {"emailAddress": "cc@example.com", "diagnosticCode": "smtp; 550"}],
    )  # fmt: skip
    reports = backend.parse_webhook("status", sns_hook(sns_signed(bounce))).reports
    assert [r.recipient for r in reports] == ["ann@example.com", "cc@example.com"]
    assert len({r.event_id for r in reports}) == 2


# --- feedback and a cc's bounce, through the real webhook path ---------------------------------


def send_postmark(client, run_tasks, **entry):
    responses.post(
        "https://api.postmarkapp.com/email",
        json={"To": "ann@example.com", "MessageID": "pm-fb-1", "ErrorCode": 0, "Message": "OK"},
    )
    body = {
        "to": ["ann@example.com"],
        "cc": ["cc@example.com"],
        "subject": "Order",
        "body": "Shipped",
        "from": "shop@example.com",
        "provider": "postmark",
        **entry,
    }
    r = run_tasks(client.post, "/api/v1/messages", {"email": [body]}, format="json")
    assert r.status_code == 202, r.content
    return Message.objects.get(pk=r.json()["messages"][0]["messageId"])


def post_postmark(anon_client, run_tasks, provider, event):
    r = run_tasks(
        anon_client.post, f"/webhooks/providers/{provider.webhook_token}/status", event,
        format="json", HTTP_AUTHORIZATION=basic("hook:pw")["Authorization"],
    )  # fmt: skip
    assert r.status_code == 200, r.content


@responses.activate
def test_a_complaint_and_an_unsubscribe_are_recorded_and_the_status_stays(
    client, anon_client, postmark, run_tasks
):
    message = send_postmark(client, run_tasks)
    delivery = {**POSTMARK_DELIVERY, "MessageID": "pm-fb-1"}
    post_postmark(anon_client, run_tasks, postmark, delivery)
    # Postmark's SpamComplaint and SubscriptionChange webhooks (postmarkapp.com/developer/
    # webhooks), as anymail's Postmark view reads them.
    complaint = {**POSTMARK_BOUNCE, "RecordType": "SpamComplaint", "Type": "SpamComplaint",
                 "TypeCode": 512, "ID": 42, "MessageID": "pm-fb-1"}  # fmt: skip
    post_postmark(anon_client, run_tasks, postmark, complaint)
    unsubscribe = {"RecordType": "SubscriptionChange", "MessageID": "pm-fb-1",
                   "Recipient": "ann@example.com", "SuppressSending": True,
                   "SuppressionReason": "ManualSuppression", "ChangedAt": "2024-01-01T17:00:00Z",
                   "Metadata": {}}  # fmt: skip
    post_postmark(anon_client, run_tasks, postmark, unsubscribe)
    message.refresh_from_db()
    assert message.status == st.DELIVERED_TO_HANDSET
    said = list(message.events.values_list("description", flat=True))
    assert "The recipient marked it as spam." in said
    assert "The recipient unsubscribed." in said


@responses.activate
def test_a_cc_bounce_is_recorded_and_the_primary_bounce_is_final(
    client, anon_client, postmark, run_tasks
):
    message = send_postmark(client, run_tasks)
    cc_bounce = {**POSTMARK_BOUNCE, "ID": 1, "MessageID": "pm-fb-1", "Email": "cc@example.com"}
    post_postmark(anon_client, run_tasks, postmark, cc_bounce)
    message.refresh_from_db()
    assert message.status == st.PENDING_ENROUTE  # the email to ann goes on
    assert any(
        d.startswith("Not delivered to cc@example.com")
        for d in message.events.values_list("description", flat=True)
    )
    to_bounce = {**POSTMARK_BOUNCE, "ID": 2, "MessageID": "pm-fb-1", "Email": "ann@example.com"}
    post_postmark(anon_client, run_tasks, postmark, to_bounce)
    message.refresh_from_db()
    # A bounce is final: the ESP already retried, and a resend would duplicate the mail.
    assert message.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert message.error_permanent is True


# --- attachments from the one content model ------------------------------------------------------


@responses.activate
def test_os1_media_become_attachments():
    png = "https://files.example.com/pics/logo.png"
    responses.get(png, body=b"\x89PNG", content_type="image/png")
    mock_pdf()
    responses.post("https://api.sendgrid.com/v3/mail/send", status=202)
    media = {"image": {"url": png},
             "document": [{"url": PDF_URL, "filename": "invoice.pdf"}]}  # fmt: skip
    BACKENDS["sendgrid"]({"apiKey": "SG.tenant"}).send(plain(payload={"to": ["ann@example.com"],
                                                                      "media": media}))  # fmt: skip
    body = json.loads(sent().body)
    # SendGrid v3 mail/send attachments: content (base64), type, filename.
    assert body["attachments"] == [
        {"content": base64.b64encode(b"\x89PNG").decode(), "type": "image/png",
         "filename": "logo.png"},
        {"content": PDF_B64, "type": "application/pdf", "filename": "invoice.pdf"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("media", "field"),
    [
        ({"location": {"latitude": 52.5, "longitude": 13.4}}, "media.location"),
        ({"image": {"mediaId": "m-1"}}, "media.image.mediaId"),
        ({"sticker": {"url": "https://files.example.com/s.webp"}}, "media.sticker"),
    ],
)
@responses.activate
def test_media_an_email_cannot_carry_is_refused_before_any_call(media, field):
    with pytest.raises(SendError) as exc:
        BACKENDS["sendgrid"]({"apiKey": "k"}).send(plain(payload={"to": ["a@example.com"],
                                                                  "media": media}))  # fmt: skip
    assert (exc.value.code, exc.value.permanent, exc.value.status) == (
        "UNSUPPORTED_CONTENT", True, st.REJECTED_CONTENT
    )  # fmt: skip
    assert field in exc.value.description
    assert not responses.calls


@responses.activate
def test_media_that_does_not_parse_is_refused():
    with pytest.raises(SendError) as exc:
        BACKENDS["sendgrid"]({"apiKey": "k"}).send(
            plain(payload={"to": ["a@example.com"], "media": {"image": {"url": "ftp://x/a.png"}}})
        )
    assert (exc.value.code, exc.value.permanent) == ("INVALID_MEDIA", True)


@pytest.mark.parametrize("url", ["http://127.0.0.1/a.pdf", "http://10.0.0.5/a.pdf"])
@responses.activate
def test_attachment_urls_stay_off_private_addresses(settings, url):
    settings.ALLOW_PRIVATE_URLS = False
    with pytest.raises(SendError) as exc:
        BACKENDS["sendgrid"]({"apiKey": "k"}).send(
            plain(payload={"to": ["a@example.com"], "media": {"document": {"url": url}}})
        )
    assert (exc.value.code, exc.value.permanent) == ("ATTACHMENT_URL", True)
    assert not responses.calls


def test_email_capabilities():
    from providers.backends.content import content_parse

    for cls in (BACKENDS["postmark"], get_backend_class("smtp")):
        problems = cls.content_problems(
            "email", content_parse({"media": {"document": {"url": PDF_URL}}}, "x")
        )
        assert problems == []
        problems = cls.content_problems("email", content_parse({"buttons": ["Yes"]}, "x"))
        assert [f for f, _ in problems] == ["buttons"]


@responses.activate
def test_template_media_is_attached_through_the_api(client, tenant, postmark, run_tasks):
    from tests.factories import TemplateFactory

    TemplateFactory(
        tenant=tenant, name="invoice", mode="email",
        data={"subject": "Invoice", "body": "Attached.", "from": "shop@example.com",
              "media": {"document": {"url": PDF_URL, "filename": "invoice.pdf"}}},
    )  # fmt: skip
    mock_pdf()
    responses.post(
        "https://api.postmarkapp.com/email",
        json={"To": "ann@example.com", "MessageID": "pm-t-1", "ErrorCode": 0, "Message": "OK"},
    )
    r = run_tasks(
        client.post, "/api/v1/messages",
        {"email": [{"template": "invoice", "to": ["ann@example.com"], "provider": "postmark"}]},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    body = json.loads(sent().body)
    # Postmark's email API: Attachments [{Name, Content (base64), ContentType}].
    assert body["Attachments"] == [
        {"Name": "invoice.pdf", "Content": PDF_B64, "ContentType": "application/pdf"}
    ]
