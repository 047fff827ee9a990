"""Web Push with VAPID: real key pairs, the exact request to the push service (VAPID
Authorization, aes128gcm body the subscriber can decrypt, TTL), the credential checks, and
every class of error; through dispatch for a push Message row."""

import base64
import json
import os
import time

import http_ece
import pytest
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.utils import timezone

from core import status as st
from messaging.models import Message, MessageRequest
from messaging.services.dispatch import dispatch_chunk
from providers.backends.base import OutboundMessage, SendError
from providers.backends.webpush import WebPushBackend
from tests.factories import ProviderFactory

ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABnX1"
SUBJECT = "mailto:ops@acme.example"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@pytest.fixture(scope="module")
def vapid():
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return {"key": key, "private": b64url(raw), "public": b64url(point(key))}


@pytest.fixture(scope="module")
def browser():
    """The subscribing browser's own key pair and auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    subscription = {
        "endpoint": ENDPOINT,
        "keys": {"p256dh": b64url(point(key)), "auth": b64url(auth)},
    }
    return {"key": key, "auth": auth, "subscription": subscription, "to": json.dumps(subscription)}


def credentials(vapid, **overrides):
    return {
        "vapidPrivateKey": vapid["private"],
        "vapidPublicKey": vapid["public"],
        "vapidSubject": SUBJECT,
        **overrides,
    }


@pytest.fixture
def provider(tenant, vapid):
    return ProviderFactory(
        tenant=tenant,
        name="webpush",
        provider_type="webpush",
        channels=["push"],
        credentials=credentials(vapid),
    )


def outbound(browser, **overrides):
    fields = {"id": "m-1", "channel": "push", "to": browser["to"], "subject": "Hi", "body": "Ready"}
    fields.update(overrides)
    return OutboundMessage(**fields)


def decrypt(browser, body: bytes) -> dict:
    return json.loads(
        http_ece.decrypt(
            body, private_key=browser["key"], auth_secret=browser["auth"], version="aes128gcm"
        )
    )


def verify_vapid(authorization: str, vapid_public: str) -> dict:
    """Check `vapid t=<jwt>,k=<key>` as a push service would; return the JWT's claims."""
    scheme, params = authorization.split(" ", 1)
    assert scheme == "vapid"
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert parts["k"] == vapid_public
    header, claims, signature = parts["t"].split(".")
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    sig = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(unb64url(claims))


# --- send -----------------------------------------------------------------------------------


@responses.activate
def test_send_posts_an_encrypted_signed_push(provider, vapid, browser):
    responses.post(ENDPOINT, status=201, headers={"Location": ENDPOINT.replace("wpush", "m")})
    result = provider.backend().send(
        outbound(
            browser,
            payload={"data": {"url": "/orders/1"}},
            expires_at=timezone.now() + timezone.timedelta(seconds=600),
            priority="high",
        )
    )
    assert result.status == st.PENDING_ENROUTE
    assert result.provider_message_id == "gAAAAABnX1"

    (call,) = responses.calls
    request = call.request
    assert request.method == "POST" and request.url == ENDPOINT
    assert request.headers["Content-Encoding"] == "aes128gcm"
    # RFC 8030: TTL (section 5.2) in seconds, Urgency (section 5.3) very-low|low|normal|high.
    assert 595 <= int(request.headers["TTL"]) <= 600
    assert request.headers["Urgency"] == "high"
    claims = verify_vapid(request.headers["Authorization"], vapid["public"])
    assert claims["aud"] == "https://updates.push.services.mozilla.com"
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    # Only the subscriber can read it, and it reads our payload.
    assert decrypt(browser, request.body) == {
        "title": "Hi",
        "body": "Ready",
        "data": {"url": "/orders/1"},
    }


@responses.activate
def test_a_default_ttl_of_a_day(provider, browser):
    responses.post(ENDPOINT, status=201)
    result = provider.backend().send(outbound(browser))
    assert responses.calls[0].request.headers["TTL"] == "86400"
    assert responses.calls[0].request.headers["Urgency"] == "normal"
    assert result.provider_message_id == "m-1"  # no Location: our own id


@responses.activate
def test_the_validity_is_capped_at_28_days(provider, browser):
    responses.post(ENDPOINT, status=201)
    provider.backend().send(
        outbound(browser, expires_at=timezone.now() + timezone.timedelta(days=90))
    )
    assert responses.calls[0].request.headers["TTL"] == str(28 * 24 * 3600)


@pytest.mark.parametrize(("priority", "urgency"), [("high", "high"), ("normal", "normal"),
                                                    ("low", "low")])  # fmt: skip
@responses.activate
def test_priority_is_the_urgency_header(provider, browser, priority, urgency):
    responses.post(ENDPOINT, status=201)
    provider.backend().send(outbound(browser, priority=priority))
    assert responses.calls[0].request.headers["Urgency"] == urgency


@responses.activate
def test_the_media_image_is_in_the_payload(provider, browser):
    responses.post(ENDPOINT, status=201)
    provider.backend().send(
        outbound(browser, payload={"media": {"image": {"url": "https://cdn.example.com/a.png"}}})
    )
    assert decrypt(browser, responses.calls[0].request.body) == {
        "title": "Hi",
        "body": "Ready",
        "image": "https://cdn.example.com/a.png",
    }


def test_push_carries_one_image_only():
    from providers.backends.content import content_parse

    def problems(payload):
        return [f for f, _ in WebPushBackend.content_problems("push", content_parse(payload, "x"))]

    assert problems({"media": {"image": {"url": "https://cdn.example.com/a.png"}}}) == []
    two = {"image": [{"url": "https://x.example/1.png"}, {"url": "https://x.example/2.png"}]}
    assert problems({"media": two}) == ["media"]
    assert problems({"media": {"document": {"url": "https://x.example/a.pdf"}}}) == [
        "media.document"
    ]
    assert problems({"media": {"location": {"latitude": 1, "longitude": 2}}}) == ["media.location"]
    assert problems({"buttons": ["Yes"]}) == ["buttons"]
    assert problems({"providerTemplate": {"name": "t"}}) == ["providerTemplate"]


class OldWebPushException(Exception):
    """pywebpush 2.x before 2.5: `message` and `response` only, no `status_code` property
    (pywebpush/__init__.py, class WebPushException, at 2.4.0)."""

    def __init__(self, message, response=None):
        self.message = message
        self.response = response


class FakeResponse:
    def __init__(self, status_code, text="", headers=None):
        self.status_code, self.text, self.headers = status_code, text, headers or {}


@pytest.mark.parametrize(
    ("response", "code", "permanent", "retry_after", "dead"),
    [
        (FakeResponse(410, "gone"), "SUBSCRIPTION_GONE", True, None, True),
        (FakeResponse(429, "", {"Retry-After": "30"}), "RATE_LIMITED", False, 30, False),
        (FakeResponse(502), "PUSH_SERVICE_ERROR", False, None, False),
        (None, "INVALID_SUBSCRIPTION", True, None, False),  # nothing was sent
    ],
)
def test_an_exception_without_status_code_reads_the_response(
    provider, browser, monkeypatch, response, code, permanent, retry_after, dead
):
    import providers.backends.webpush as module

    assert not hasattr(OldWebPushException("x"), "status_code")

    def webpush(*args, **kwargs):
        raise OldWebPushException("Push failed", response=response)

    monkeypatch.setattr(module, "WebPushException", OldWebPushException)
    monkeypatch.setattr(module, "webpush", webpush)
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound(browser))
    got = err.value
    assert (got.code, got.permanent, got.retry_after, got.recipient_dead) == (
        code, permanent, retry_after, dead
    )  # fmt: skip


@pytest.mark.parametrize(
    "to",
    [
        "not json",
        json.dumps({"endpoint": ENDPOINT}),
        json.dumps({"endpoint": "ftp://x", "keys": {"p256dh": "a", "auth": "b"}}),
        json.dumps({"endpoint": ENDPOINT, "keys": {"p256dh": "", "auth": "b"}}),
        json.dumps({"endpoint": ENDPOINT, "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
    ],
)
@responses.activate
def test_a_recipient_that_is_not_a_subscription_is_refused(provider, browser, to):
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound(browser, to=to))
    assert err.value.code == "INVALID_SUBSCRIPTION" and err.value.permanent
    assert err.value.status == st.REJECTED_DESTINATION
    assert not responses.calls


@pytest.mark.parametrize(
    ("http", "code", "permanent", "status"),
    [
        (404, "SUBSCRIPTION_GONE", True, st.REJECTED_DESTINATION),
        (410, "SUBSCRIPTION_GONE", True, st.REJECTED_DESTINATION),
        (413, "PAYLOAD_TOO_LARGE", True, st.REJECTED_CONTENT),
        (400, "BAD_REQUEST", True, st.REJECTED_CONTENT),
        (403, "VAPID_REJECTED", True, st.REJECTED_PROVIDER),
        (429, "RATE_LIMITED", False, st.REJECTED_PROVIDER),
        (500, "PUSH_SERVICE_ERROR", False, st.REJECTED_PROVIDER),
        (503, "PUSH_SERVICE_ERROR", False, st.REJECTED_PROVIDER),
    ],
)
@responses.activate
def test_push_service_errors_map_to_our_statuses(provider, browser, http, code, permanent, status):
    responses.post(ENDPOINT, status=http, body="push service says no")
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound(browser))
    assert (err.value.code, err.value.permanent, err.value.status) == (code, permanent, status)
    assert "push service says no" in err.value.description
    assert err.value.raw == {"status": http, "body": "push service says no"}


@responses.activate
def test_a_gone_subscription_says_it_is_dead(provider, browser):
    responses.post(ENDPOINT, status=410)
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound(browser))
    assert err.value.description.startswith("Dead subscription:")


@responses.activate
def test_retry_after_is_honoured(provider, browser):
    responses.post(ENDPOINT, status=429, headers={"Retry-After": "75"})
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound(browser))
    assert err.value.retry_after == 75


def test_no_test_connection_without_an_account():
    assert not WebPushBackend.can_test_connection()


# --- credentials ----------------------------------------------------------------------------


def register_webpush(client, creds):
    return client.post(
        "/api/v1/providers",
        {"name": "webpush", "providerType": "webpush", "channels": ["push"], "credentials": creds,
         "isActive": True, "isTenantDefault": False},
        format="json",
    )  # fmt: skip


def pem_and_der(key):
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, b64url(der)


def test_register_with_a_raw_key(client, vapid):
    r = register_webpush(client, credentials(vapid))
    assert r.status_code == 201, r.json()
    assert vapid["private"] not in json.dumps(r.json())


@pytest.mark.parametrize("form", ["pem", "der"])
@responses.activate
def test_pem_and_der_keys_sign_too(tenant, vapid, browser, form):
    pem, der = pem_and_der(vapid["key"])
    creds = credentials(vapid, vapidPrivateKey=pem if form == "pem" else der)
    WebPushBackend.clean_credentials(creds)
    responses.post(ENDPOINT, status=201)
    WebPushBackend(creds).send(outbound(browser))
    verify_vapid(responses.calls[0].request.headers["Authorization"], vapid["public"])


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"vapidSubject": "ops@acme.example"}, "vapidSubject", "must start with mailto:"),
        ({"vapidPrivateKey": "not-a-key"}, "vapidPrivateKey", "is not a P-256 private key"),
        ({"vapidPrivateKey": "/etc/passwd"}, "vapidPrivateKey", "is not a P-256 private key"),
        ({"vapidPublicKey": "BAAAA"}, "vapidPublicKey", "does not match vapidPrivateKey"),
    ],
)
def test_bad_credentials_are_refused(client, vapid, change, field, says):
    r = register_webpush(client, credentials(vapid, **change))
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert any(e["source"] == f"credentials.{field}" and says in e["detail"] for e in errors)


def test_a_key_of_another_curve_is_refused(client, vapid):
    _, der = pem_and_der(ec.generate_private_key(ec.SECP384R1()))
    r = register_webpush(client, credentials(vapid, vapidPrivateKey=der))
    assert r.status_code == 400 and "P-256" in json.dumps(r.json())


# --- through dispatch -----------------------------------------------------------------------


def push_message(provider, to):
    now = timezone.now()
    request = MessageRequest.objects.create(
        tenant=provider.tenant, app=provider.tenant.apps.first(), validity=3600
    )
    return Message.objects.create(
        tenant=provider.tenant, app=request.app, request=request, channel="push",
        provider=provider, to=to, subject="Your order", body="It shipped",
        content={"data": {"orderId": "o-1"}}, expires_at=now + timezone.timedelta(hours=1),
        created_at=now, updated_at=now,
    )  # fmt: skip


@responses.activate
def test_dispatch_sends_a_push_message(provider, browser, app):
    message = push_message(provider, browser["to"])
    responses.post(ENDPOINT, status=201)
    assert dispatch_chunk(message_ids=[str(message.id)])["sent"] == 1
    message.refresh_from_db()
    assert message.status == st.PENDING_ENROUTE
    assert decrypt(browser, responses.calls[0].request.body) == {
        "title": "Your order",
        "body": "It shipped",
        "data": {"orderId": "o-1"},
    }


@responses.activate
def test_dispatch_records_a_gone_subscription(provider, browser, app):
    message = push_message(provider, browser["to"])
    responses.post(ENDPOINT, status=410, body="")
    assert dispatch_chunk(message_ids=[str(message.id)])["failed"] == 1
    message.refresh_from_db()
    assert message.status == st.REJECTED_DESTINATION
    assert message.error_code == "SUBSCRIPTION_GONE" and message.error_permanent is True


@responses.activate
def test_dispatch_retries_a_throttled_push(provider, browser, app):
    message = push_message(provider, browser["to"])
    responses.post(ENDPOINT, status=429, headers={"Retry-After": "600"})
    before = timezone.now()
    assert dispatch_chunk(message_ids=[str(message.id)])["retry"] == 1
    message.refresh_from_db()
    assert message.status == st.PENDING_WAITING_RETRY and message.error_code == "RATE_LIMITED"
    assert message.next_attempt_at >= before + timezone.timedelta(seconds=600)


@responses.activate
def test_an_unusable_stored_key_fails_permanently_without_calling_out(tenant, vapid, browser):
    backend = WebPushBackend(credentials(vapid, vapidPrivateKey="garbage"))
    with pytest.raises(SendError) as err:
        backend.send(outbound(browser))
    assert err.value.code == "INVALID_CREDENTIALS" and err.value.permanent
    assert not responses.calls


def test_a_full_size_subscription_fits_the_recipient_column(db, tenant, app):
    """Real subscriptions run to several hundred characters; PostgreSQL enforces the limit."""
    from django.utils import timezone

    from messaging.models import Message, MessageRequest
    from tests.factories import ProviderFactory

    provider = ProviderFactory(tenant=tenant, provider_type="webpush", channels=["push"])
    request = MessageRequest.objects.create(tenant=tenant, app=app, validity=60)
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/" + "A" * 400
    to = json.dumps({"endpoint": endpoint, "keys": {"p256dh": "B" * 87, "auth": "C" * 22}})
    now = timezone.now()
    Message.objects.create(
        tenant=tenant, app=app, request=request, channel="push", provider=provider, to=to,
        expires_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
    assert Message.objects.get(provider=provider).to == to
