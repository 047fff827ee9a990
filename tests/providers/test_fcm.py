"""FCM HTTP v1: the OAuth2 token from the service account (signed, cached, renewed), the exact
send request, and every class of error; through dispatch for a push Message row."""

import base64
import json
import time
from urllib.parse import parse_qs

import pytest
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.cache import cache
from django.utils import timezone

from core import status as st
from messaging.models import Message, MessageRequest
from messaging.services.dispatch import dispatch_chunk
from providers.backends.base import OutboundMessage, SendError
from providers.backends.fcm import SCOPE, FcmBackend
from tests.factories import ProviderFactory

TOKEN_URI = "https://oauth2.googleapis.com/token"
SEND_URL = "https://fcm.googleapis.com/v1/projects/acme-app/messages:send"
DEVICE = "dA1b2C3:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def account(rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "acme-app",
        "private_key_id": "k3y1d",
        "private_key": pem,
        "client_email": "push@acme-app.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": TOKEN_URI,
    }


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def provider(tenant, account):
    return ProviderFactory(
        tenant=tenant,
        name="fcm",
        provider_type="fcm",
        channels=["push"],
        credentials={"serviceAccount": json.dumps(account)},
    )


def token_ok(rsps, token="ya29.first", expires_in=3599):
    return rsps.post(
        TOKEN_URI,
        json={"access_token": token, "expires_in": expires_in, "token_type": "Bearer"},
    )


def fcm_error(code, http_status, status, message="", violations=None):
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
    if violations:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": f, "description": "bad"} for f in violations],
            }
        )
    return {
        "error": {"code": http_status, "message": message, "status": status, "details": details}
    }


def outbound(**overrides):
    fields = {"id": "m-1", "channel": "push", "to": DEVICE, "subject": "Hi", "body": "Ready"}
    fields.update(overrides)
    return OutboundMessage(**fields)


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- the token ------------------------------------------------------------------------------


@responses.activate
def test_send_signs_a_jwt_and_posts_the_message(provider, rsa_key):
    token_ok(responses)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/0:1500415314455276%31bd1c"})
    before = int(time.time())
    result = provider.backend().send(
        outbound(payload={"data": {"orderId": 42, "kind": "order", "extra": {"a": [1]}}})
    )
    assert result.provider_message_id == "0:1500415314455276%31bd1c"
    assert result.status == st.PENDING_ENROUTE

    token_call, send_call = responses.calls
    form = parse_qs(token_call.request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, claims, signature = form["assertion"][0].split(".")
    assert b64url_json(header) == {"alg": "RS256", "typ": "JWT", "kid": "k3y1d"}
    claims_json = b64url_json(claims)
    assert claims_json["iss"] == "push@acme-app.iam.gserviceaccount.com"
    assert claims_json["scope"] == SCOPE == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims_json["aud"] == TOKEN_URI
    assert before <= claims_json["iat"] <= time.time()
    assert claims_json["exp"] == claims_json["iat"] + 3600
    # A real RS256 signature by the service account's key (raises if not).
    rsa_key.public_key().verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        f"{header}.{claims}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )

    assert send_call.request.method == "POST" and send_call.request.url == SEND_URL
    assert send_call.request.headers["Authorization"] == "Bearer ya29.first"
    assert json.loads(send_call.request.body) == {
        "message": {
            "token": DEVICE,
            "notification": {"title": "Hi", "body": "Ready"},
            "data": {"orderId": "42", "kind": "order", "extra": '{"a":[1]}'},
        }
    }


def sent_message(rsps=responses):
    return json.loads([c for c in rsps.calls if c.request.url == SEND_URL][-1].request.body)[
        "message"
    ]


@responses.activate
def test_the_media_image_and_the_validity_travel(provider):
    token_ok(responses)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/1"})
    before = int(time.time())
    provider.backend().send(
        outbound(
            payload={"media": {"image": {"url": "https://cdn.example.com/a.png"}}},
            expires_at=timezone.now() + timezone.timedelta(seconds=600),
        )
    )
    sent = sent_message()
    # FCM HTTP v1 Message: notification.image; android.ttl is a Duration string ("600s");
    # apns-expiration is the APNs header, a UNIX epoch in seconds; webpush TTL is the
    # RFC 8030 header in seconds (firebase.google.com/docs/cloud-messaging/customize-messages/
    # setting-message-lifespan; firebase-admin _messaging_encoder.encode_ttl writes "600s").
    assert sent["notification"] == {
        "title": "Hi", "body": "Ready", "image": "https://cdn.example.com/a.png"
    }  # fmt: skip
    ttl = int(sent["android"]["ttl"].removesuffix("s"))
    assert 595 <= ttl <= 600 and sent["android"]["ttl"] == f"{ttl}s"
    assert sent["webpush"] == {"headers": {"TTL": str(ttl)}}
    expiration = int(sent["apns"]["headers"]["apns-expiration"])
    assert before + 595 <= expiration <= int(time.time()) + 600
    assert set(sent["android"]) == {"ttl"} and set(sent["apns"]["headers"]) == {"apns-expiration"}
    assert "data" not in sent


@responses.activate
def test_the_validity_is_capped_at_28_days(provider):
    token_ok(responses)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/1"})
    provider.backend().send(outbound(expires_at=timezone.now() + timezone.timedelta(days=60)))
    sent = sent_message()
    # AndroidConfig.ttl: "The maximum time to live supported is 4 weeks" = 2,419,200 s.
    assert sent["android"]["ttl"] == "2419200s"
    assert sent["webpush"]["headers"]["TTL"] == "2419200"
    assert int(sent["apns"]["headers"]["apns-expiration"]) <= time.time() + 2419200


@pytest.mark.parametrize(
    ("priority", "android", "apns", "urgency"),
    [
        # Set the priority of a message (FCM docs): android.priority "high"/"normal",
        # apns-priority "10"/"5", webpush Urgency header (RFC 8030).
        ("high", "high", "10", "high"),
        ("low", "normal", "5", "low"),
        ("normal", None, None, None),  # FCM's own defaults: a notification is not demoted
    ],
)
@responses.activate
def test_priority_travels(provider, priority, android, apns, urgency):
    token_ok(responses)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/1"})
    provider.backend().send(outbound(priority=priority))
    sent = sent_message()
    assert sent.get("android", {}).get("priority") == android
    assert sent.get("apns", {}).get("headers", {}).get("apns-priority") == apns
    assert sent.get("webpush", {}).get("headers", {}).get("Urgency") == urgency


@responses.activate
def test_a_data_only_message_is_never_sent_with_apns_priority_10(provider):
    # "When sending data messages to Apple devices, the priority must be set to 5 ... high
    # priority are rejected by the FCM backend with INVALID_ARGUMENT."
    token_ok(responses)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/1"})
    provider.backend().send(outbound(subject="", body="", priority="high"))
    sent = sent_message()
    assert sent["android"] == {"priority": "high"}
    assert "apns" not in sent


def test_push_carries_one_image_only():
    from providers.backends.content import content_parse

    def problems(payload):
        return [f for f, _ in FcmBackend.content_problems("push", content_parse(payload, "x"))]

    assert problems({"media": {"image": {"url": "https://cdn.example.com/a.png"}}}) == []
    two = {"image": [{"url": "https://x.example/1.png"}, {"url": "https://x.example/2.png"}]}
    assert problems({"media": two}) == ["media"]
    assert problems({"media": {"document": {"url": "https://x.example/a.pdf"}}}) == [
        "media.document"
    ]
    assert problems({"media": {"location": {"latitude": 1, "longitude": 2}}}) == ["media.location"]
    assert problems({"buttons": ["Yes"]}) == ["buttons"]
    assert problems({"providerTemplate": {"name": "t"}}) == ["providerTemplate"]
    assert problems({"media": {"image": {"mediaId": "m-1"}}}) == ["media.image.mediaId"]


@responses.activate
def test_the_token_is_cached_then_renewed_before_it_expires(provider, monkeypatch):
    token_ok(responses, "ya29.first")
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/1"})
    backend = provider.backend()
    backend.send(outbound())
    provider.backend().send(outbound())  # another worker's backend: the cache is shared
    token_calls = [c for c in responses.calls if c.request.url == TOKEN_URI]
    assert len(token_calls) == 1

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3000)  # 50 minutes on: still good
    backend.send(outbound())
    assert len([c for c in responses.calls if c.request.url == TOKEN_URI]) == 1

    responses.replace(
        responses.POST, TOKEN_URI, json={"access_token": "ya29.second", "expires_in": 3599}
    )
    monkeypatch.setattr(time, "time", lambda: now + 3350)  # within 5 minutes of expiry
    backend.send(outbound())
    assert len([c for c in responses.calls if c.request.url == TOKEN_URI]) == 2
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer ya29.second"


@responses.activate
def test_a_rejected_cached_token_is_replaced_once(provider):
    responses.post(TOKEN_URI, json={"access_token": "ya29.stale", "expires_in": 3599})
    responses.post(TOKEN_URI, json={"access_token": "ya29.fresh", "expires_in": 3599})
    unauthenticated = {"error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}}
    responses.post(SEND_URL, json=unauthenticated, status=401)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/7"})
    result = provider.backend().send(outbound())
    assert result.provider_message_id == "7"
    sends = [c for c in responses.calls if c.request.url == SEND_URL]
    assert [c.request.headers["Authorization"] for c in sends] == [
        "Bearer ya29.stale",
        "Bearer ya29.fresh",
    ]


@responses.activate
def test_a_refused_service_account_is_permanent(provider):
    responses.post(
        TOKEN_URI,
        json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
        status=400,
    )
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert err.value.code == "AUTH_FAILED" and err.value.permanent
    assert err.value.status == st.REJECTED_PROVIDER
    assert "Invalid JWT Signature." in err.value.description
    assert len(responses.calls) == 1  # nothing was sent to FCM


@responses.activate
def test_a_token_endpoint_outage_is_transient(provider):
    responses.post(TOKEN_URI, body="oops", status=503, headers={"Retry-After": "30"})
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert not err.value.permanent and err.value.retry_after == 30


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "http", "code", "permanent", "status"),
    [
        (fcm_error("UNREGISTERED", 404, "NOT_FOUND"), 404, "UNREGISTERED", True,
         st.REJECTED_DESTINATION),
        (fcm_error("SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED"), 403, "SENDER_ID_MISMATCH",
         True, st.REJECTED_DESTINATION),
        (fcm_error("INVALID_ARGUMENT", 400, "INVALID_ARGUMENT", violations=["message.data[0].key"]),
         400, "INVALID_ARGUMENT", True, st.REJECTED_CONTENT),
        (fcm_error("INVALID_ARGUMENT", 400, "INVALID_ARGUMENT", violations=["message.token"]),
         400, "INVALID_ARGUMENT", True, st.REJECTED_DESTINATION),
        (fcm_error("INVALID_ARGUMENT", 400, "INVALID_ARGUMENT",
                   "The registration token is not a valid FCM registration token"),
         400, "INVALID_ARGUMENT", True, st.REJECTED_DESTINATION),
        (fcm_error("THIRD_PARTY_AUTH_ERROR", 401, "UNAUTHENTICATED"), 401,
         "THIRD_PARTY_AUTH_ERROR", True, st.REJECTED_PROVIDER),
        (fcm_error("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED"), 429, "QUOTA_EXCEEDED", False,
         st.REJECTED_PROVIDER),
        (fcm_error("UNAVAILABLE", 503, "UNAVAILABLE"), 503, "UNAVAILABLE", False,
         st.REJECTED_PROVIDER),
        (fcm_error("INTERNAL", 500, "INTERNAL"), 500, "INTERNAL", False, st.REJECTED_PROVIDER),
        ("<html>Bad Gateway</html>", 502, "HTTP_502", False, st.REJECTED_PROVIDER),
        ({"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}, 403,
         "PERMISSION_DENIED", True, st.REJECTED_PROVIDER),
    ],
)  # fmt: skip
@responses.activate
def test_errors_map_to_our_statuses(provider, answer, http, code, permanent, status):
    token_ok(responses)
    if isinstance(answer, str):
        responses.post(SEND_URL, body=answer, status=http)
    else:
        responses.post(SEND_URL, json=answer, status=http)
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert (err.value.code, err.value.permanent, err.value.status) == (code, permanent, status)
    assert err.value.raw == answer
    assert len([c for c in responses.calls if c.request.url == SEND_URL]) == 1


# FCM's error-codes page: a bad token is an INVALID_ARGUMENT with only an FcmError detail and
# this message (example 2); a bad payload names its field in a google.rpc.BadRequest
# (example 1). firebase-admin raises both as InvalidArgumentError (firebase-admin-python
# messaging._build_fcm_error maps only UNREGISTERED, SENDER_ID_MISMATCH, QUOTA_EXCEEDED and
# the APNs/third-party auth errors), so the message and the field are what tell them apart.
TOKEN_NOT_VALID = {
    "error": {
        "code": 400,
        "message": "The registration token is not a valid FCM registration token",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
             "errorCode": "INVALID_ARGUMENT"}
        ],
    }
}  # fmt: skip
PAYLOAD_NOT_VALID = {
    "error": {
        "code": 400,
        "message": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {"field": "message.data[0].value",
                     "description": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12"}
                ],
            }
        ],
    }
}  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "dead", "status"),
    [
        (TOKEN_NOT_VALID, True, st.REJECTED_DESTINATION),
        (PAYLOAD_NOT_VALID, False, st.REJECTED_CONTENT),
        (fcm_error("UNREGISTERED", 404, "NOT_FOUND"), True, st.REJECTED_DESTINATION),
        (fcm_error("SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED"), True, st.REJECTED_DESTINATION),
        (fcm_error("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED"), False, st.REJECTED_PROVIDER),
    ],
)
@responses.activate
def test_which_errors_mark_the_token_dead(provider, answer, dead, status):
    token_ok(responses)
    responses.post(SEND_URL, json=answer, status=answer["error"]["code"])
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert (err.value.recipient_dead, err.value.status) == (dead, status)
    assert err.value.permanent is (answer["error"]["code"] != 429)


@responses.activate
def test_quota_exceeded_waits_a_minute_without_retry_after(provider):
    # FCM: retry QUOTA_EXCEEDED with exponential backoff, a minimum initial delay of 1 minute.
    token_ok(responses)
    responses.post(
        SEND_URL, json=fcm_error("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED"), status=429
    )
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert (err.value.permanent, err.value.retry_after) == (False, 60)


@responses.activate
def test_dispatch_marks_an_invalid_token_dead(provider, app):
    message = push_message(provider)
    token_ok(responses)
    responses.post(SEND_URL, json=TOKEN_NOT_VALID, status=400)
    assert dispatch_chunk(message_ids=[str(message.id)])["failed"] == 1
    message.refresh_from_db()
    assert (message.status, message.error_code) == (st.REJECTED_DESTINATION, "INVALID_ARGUMENT")
    from providers.models import DeadRecipient

    assert DeadRecipient.objects.get(provider=provider).recipient == DEVICE


@responses.activate
def test_dispatch_does_not_mark_a_token_dead_for_a_bad_payload(provider, app):
    message = push_message(provider)
    token_ok(responses)
    responses.post(SEND_URL, json=PAYLOAD_NOT_VALID, status=400)
    assert dispatch_chunk(message_ids=[str(message.id)])["failed"] == 1
    message.refresh_from_db()
    assert message.status == st.REJECTED_CONTENT
    from providers.models import DeadRecipient

    assert not DeadRecipient.objects.exists()


@responses.activate
def test_unregistered_says_the_token_is_dead(provider):
    token_ok(responses)
    responses.post(
        SEND_URL,
        json=fcm_error("UNREGISTERED", 404, "NOT_FOUND", "Requested entity was not found."),
        status=404,
    )
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert err.value.description.startswith("Dead token:")
    assert "Requested entity was not found." in err.value.description


@pytest.mark.parametrize("retry_after", ["120", "HTTP_DATE"])
@responses.activate
def test_retry_after_is_honoured(provider, retry_after):
    if retry_after == "HTTP_DATE":
        from email.utils import formatdate

        retry_after = formatdate(time.time() + 120, usegmt=True)
    token_ok(responses)
    responses.post(
        SEND_URL,
        json=fcm_error("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED"),
        status=429,
        headers={"Retry-After": retry_after},
    )
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert 110 <= err.value.retry_after <= 120


# --- test connection ------------------------------------------------------------------------


@responses.activate
def test_test_connection_gets_a_fresh_token(provider):
    token_ok(responses, "ya29.first")
    token_ok(responses, "ya29.second")
    backend = provider.backend()
    backend.access_token()
    assert FcmBackend.can_test_connection()
    said = backend.test_connection()
    assert "push@acme-app.iam.gserviceaccount.com" in said and "acme-app" in said
    assert len(responses.calls) == 2  # not answered from the cache
    assert backend.access_token() == "ya29.second"


# --- credentials ----------------------------------------------------------------------------


def register_fcm(client, service_account):
    return client.post(
        "/api/v1/providers",
        {
            "name": "fcm",
            "providerType": "fcm",
            "channels": ["push"],
            "credentials": {"serviceAccount": service_account},
            "isActive": True,
            "isTenantDefault": False,
        },
        format="json",
    )


@pytest.mark.parametrize("as_text", [True, False])
def test_register_with_the_json_as_text_or_object(client, account, as_text):
    r = register_fcm(client, json.dumps(account) if as_text else account)
    assert r.status_code == 201, r.json()
    assert "serviceAccount" not in json.dumps(r.json())
    from providers.models import Provider

    stored = Provider.objects.get(name="fcm").credentials["serviceAccount"]
    assert json.loads(stored) == account


NOT_A_KEY = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda a: "{not json", "is not valid JSON"),
        (lambda a: json.dumps([a]), "must be the service account's JSON object"),
        (lambda a: {k: v for k, v in a.items() if k not in ("private_key", "token_uri")},
         "lacks private_key, token_uri"),
        (lambda a: {**a, "project_id": ""}, "lacks project_id"),
        (lambda a: {**a, "private_key": NOT_A_KEY}, "not a PEM private key"),
    ],
)  # fmt: skip
def test_a_bad_service_account_is_refused(client, account, change, says):
    r = register_fcm(client, change(account))
    assert r.status_code == 400
    assert says in json.dumps(r.json())
    assert "BEGIN PRIVATE KEY" not in json.dumps(r.json())


# --- through dispatch -----------------------------------------------------------------------


def push_message(provider, to=DEVICE, **fields):
    now = timezone.now()
    request = MessageRequest.objects.create(
        tenant=provider.tenant, app=provider.tenant.apps.first(), validity=3600
    )
    return Message.objects.create(
        tenant=provider.tenant, app=request.app, request=request, channel="push",
        provider=provider, to=to, subject="Your order", body="It shipped",
        content={"data": {"orderId": "o-1"}}, expires_at=now + timezone.timedelta(hours=1),
        created_at=now, updated_at=now, **fields,
    )  # fmt: skip


@responses.activate
def test_dispatch_sends_a_push_message(provider, app):
    message = push_message(provider)
    token_ok(responses)
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/0:99"})
    assert dispatch_chunk(message_ids=[str(message.id)])["sent"] == 1
    message.refresh_from_db()
    assert message.status == st.PENDING_ENROUTE and message.provider_message_id == "0:99"
    sent = json.loads(responses.calls[1].request.body)["message"]
    ttl = int(sent["android"]["ttl"].removesuffix("s"))  # the message's hour of validity
    assert 3590 <= ttl <= 3600
    assert sent == {
        "token": DEVICE,
        "notification": {"title": "Your order", "body": "It shipped"},
        "data": {"orderId": "o-1"},
        "android": {"ttl": f"{ttl}s"},
        "apns": {"headers": {"apns-expiration": sent["apns"]["headers"]["apns-expiration"]}},
        "webpush": {"headers": {"TTL": str(ttl)}},
    }


@responses.activate
def test_dispatch_records_a_dead_token(provider, app):
    message = push_message(provider)
    token_ok(responses)
    responses.post(SEND_URL, json=fcm_error("UNREGISTERED", 404, "NOT_FOUND"), status=404)
    assert dispatch_chunk(message_ids=[str(message.id)])["failed"] == 1
    message.refresh_from_db()
    assert message.status == st.REJECTED_DESTINATION
    assert message.error_code == "UNREGISTERED" and message.error_permanent is True
    attempt = message.send_attempts.get()
    assert attempt.error_code == "UNREGISTERED" and attempt.provider_response["error"]
    # The token is marked dead: the next message to it is refused without calling FCM.
    from providers.models import DeadRecipient

    assert DeadRecipient.objects.get(provider=provider).recipient == DEVICE
    calls = len(responses.calls)
    again = push_message(provider)
    assert dispatch_chunk(message_ids=[str(again.id)])["failed"] == 1
    again.refresh_from_db()
    assert (again.status, again.error_code) == (st.REJECTED_DESTINATION, "RECIPIENT_DEAD")
    assert len(responses.calls) == calls
    assert not again.send_attempts.exists()
    # Another token of the same app still goes out.
    other = push_message(provider, to="other-token")
    responses.post(SEND_URL, json={"name": "projects/acme-app/messages/0:100"})
    assert dispatch_chunk(message_ids=[str(other.id)])["sent"] == 1


@responses.activate
def test_dispatch_retries_after_what_fcm_asks(provider, app):
    message = push_message(provider)
    token_ok(responses)
    responses.post(
        SEND_URL,
        json=fcm_error("UNAVAILABLE", 503, "UNAVAILABLE"),
        status=503,
        headers={"Retry-After": "900"},
    )
    before = timezone.now()
    assert dispatch_chunk(message_ids=[str(message.id)])["retry"] == 1
    message.refresh_from_db()
    assert message.status == st.PENDING_WAITING_RETRY and message.error_code == "UNAVAILABLE"
    assert message.next_attempt_at >= before + timezone.timedelta(seconds=900)


@responses.activate
def test_an_unusable_stored_account_fails_permanently_without_calling_out(tenant):
    provider = ProviderFactory(
        tenant=tenant, provider_type="fcm", channels=["push"],
        credentials={"serviceAccount": '{"project_id": "x"}'},
    )  # fmt: skip
    with pytest.raises(SendError) as err:
        provider.backend().send(outbound())
    assert err.value.code == "INVALID_CREDENTIALS" and err.value.permanent
    assert "lacks client_email, private_key, token_uri" in err.value.description
    assert not responses.calls
