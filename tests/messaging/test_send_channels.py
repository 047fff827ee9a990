"""Every channel through POST /api/v1/messages: viber, rcs and push as sms, email and whatsapp
are, to the sandbox end to end (accepted, delivered by its report, in its outbox); what each
channel refuses (400 naming the field, nothing stored); templates and previews of the new
modes; push to FCM and Web Push (the exact request); sends to a contact's address."""

import base64
import json
import os
import time

import http_ece
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import cache
from django.test import override_settings

from contacts.models import Contact, ContactAddress
from messaging.models import Message
from providers.models import SandboxOutboxEntry
from tests.factories import ProviderFactory, TemplateFactory
from tests.helpers import assert_error, counts

URL = "/api/v1/messages"
TOKEN = "dA1b2C3:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"
ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABnX1"
TOKEN_URI = "https://oauth2.googleapis.com/token"
FCM_SEND = "https://fcm.googleapis.com/v1/projects/acme-app/messages:send"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def browser():
    """A subscribing browser: its key pair, auth secret and PushSubscription.toJSON()."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    subscription = {
        "endpoint": ENDPOINT,
        "expirationTime": None,
        "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
    }
    return {"key": key, "auth": auth, "subscription": subscription}


def subscription_of(browser, **changes):
    return {**browser["subscription"], **changes}


def stored(subscription) -> str:
    """A subscription as the API answers and stores it: compact JSON of endpoint and keys."""
    keys = subscription["keys"]
    return json.dumps(
        {
            "endpoint": subscription["endpoint"],
            "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]},
        },
        separators=(",", ":"),
    )


def send(client, run_tasks, body):
    r = run_tasks(client.post, URL, body, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"]


def status_of(client, mid) -> str:
    return client.get(f"{URL}/{mid}").json()["status"]["name"]


# --- every channel to the sandbox, end to end -------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "entry", "to"),
    [
        ("sms", {"body": "Hi by SMS", "to": ["+14155550100"]}, "+14155550100"),
        (
            "email",
            {"subject": "Hi", "body": "Hi by email", "to": ["ann@example.com"]},
            "ann@example.com",
        ),
        ("whatsapp", {"body": "Hi on WhatsApp", "to": ["+14155550100"]}, "+14155550100"),
        ("viber", {"body": "Hi on Viber", "to": ["(415) 555-0101"]}, "+14155550101"),
        (
            "rcs",
            {"body": "Hi by RCS", "to": [{"countryCode": "1", "number": "4155550102"}]},
            "+14155550102",
        ),
        ("push", {"title": "Order", "body": "Hi by push", "to": [TOKEN]}, TOKEN),
    ],
)
def test_every_channel_is_delivered_by_the_sandbox(client, sandbox, run_tasks, channel, entry, to):
    (message,) = send(client, run_tasks, {channel: [entry]})
    assert (message["channel"], message["to"]) == (channel, to)
    got = client.get(f"{URL}/{message['messageId']}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert [e["status"] for e in got["events"]] == [
        "PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_TO_HANDSET",
    ]  # fmt: skip
    outbox = SandboxOutboxEntry.objects.get()
    assert (outbox.channel, outbox.to, outbox.body) == (channel, to, entry["body"])
    assert str(outbox.message_id) == message["messageId"]


def test_a_push_carries_its_title_payload_and_image_to_a_subscription(
    client, sandbox, run_tasks, browser
):
    entry = {
        "title": "Your order {{id}}",
        "body": "It shipped, {{name}}.",
        "data": {"id": "o-1", "name": "Ann"},
        "payload": {"url": "/orders/o-1", "count": 2},
        "image": "https://example.com/parcel.png",
        "to": [subscription_of(browser), json.dumps(browser["subscription"], indent=2), TOKEN],
    }
    messages = send(client, run_tasks, {"push": [entry]})
    # The object and its JSON text are one subscription, in one form.
    assert [m["to"] for m in messages] == [stored(browser["subscription"])] * 2 + [TOKEN]
    assert {status_of(client, m["messageId"]) for m in messages} == {"DELIVERED_TO_HANDSET"}
    outbox = SandboxOutboxEntry.objects.order_by("to").first()
    assert (outbox.subject, outbox.body) == ("Your order o-1", "It shipped, Ann.")
    assert outbox.payload["data"] == {"url": "/orders/o-1", "count": 2}
    assert outbox.payload["media"] == {"image": {"url": "https://example.com/parcel.png"}}


def test_a_push_may_be_a_title_alone(client, sandbox, run_tasks):
    (message,) = send(client, run_tasks, {"push": [{"title": "Ping", "to": [TOKEN]}]})
    assert status_of(client, message["messageId"]) == "DELIVERED_TO_HANDSET"
    assert Message.objects.get().subject == "Ping"


@pytest.mark.parametrize(
    ("channel", "to", "status"),
    [
        ("viber", "+14155550003", "REJECTED_NOT_ON_CHANNEL"),
        ("rcs", "+14155550003", "REJECTED_NOT_ON_CHANNEL"),
        ("viber", "+14155550001", "REJECTED_DESTINATION"),
        ("rcs", "+14155550004", "UNDELIVERABLE_NOT_DELIVERED"),
        ("push", "device-token-0001", "REJECTED_DESTINATION"),
        ("push", "device-token-0004", "UNDELIVERABLE_NOT_DELIVERED"),
        ("push", "device-token-0003", "DELIVERED_TO_HANDSET"),  # push needs no account
        ("push", "d0e0v0i0c1e", "DELIVERED_TO_HANDSET"),  # its last four are not all digits
    ],
)
def test_magic_recipients_script_the_new_channels(client, sandbox, run_tasks, channel, to, status):
    (message,) = send(client, run_tasks, {channel: [{"body": "Hi", "to": [to]}]})
    assert status_of(client, message["messageId"]) == status


def test_a_subscription_is_steered_by_its_endpoint(client, sandbox, run_tasks, browser):
    rejected = subscription_of(browser, endpoint=ENDPOINT + "0001")
    (message,) = send(client, run_tasks, {"push": [{"body": "Hi", "to": [rejected]}]})
    assert status_of(client, message["messageId"]) == "REJECTED_DESTINATION"


# --- what each channel refuses ------------------------------------------------------------------


def bad_subscription(**changes):
    keys = {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}
    return {"endpoint": ENDPOINT, "keys": keys, **changes}


PHONE = "+14155550100"
PDF = {"document": {"url": "https://e.com/a.pdf"}}


@pytest.mark.parametrize(
    ("channel", "fields", "source", "code"),
    [
        ("viber", {"body": "x" * 1001}, "viber[0].body", "body_too_long"),
        ("rcs", {"body": "x" * 3073}, "rcs[0].body", "body_too_long"),
        ("viber", {"to": ["+1 555"]}, "viber[0].to[0]", "invalid_recipient"),
        ("rcs", {"to": [{"number": "12"}]}, "rcs[0].to[0].number", "invalid_recipient"),
        ("viber", {"title": "T"}, "viber[0].title", "unknown_field"),
        ("sms", {"payload": {}}, "sms[0].payload", "unknown_field"),
        ("rcs", {"to": []}, "rcs[0].to", "no_recipients"),
        ("push", {"to": ["two words"]}, "push[0].to[0]", "invalid_recipient"),
        ("push", {"to": [7]}, "push[0].to[0]", "invalid_recipient"),
        ("push", {"to": ["{not json"]}, "push[0].to[0]", "invalid_recipient"),
        ("push", {"to": [PHONE, "{not json"]}, "push[0].to[1]", "invalid_recipient"),
        ("push", {"to": [bad_subscription(keys={"p256dh": "AAAA"})]},
         "push[0].to[0].keys.auth", "invalid_recipient"),
        ("push", {"to": [bad_subscription()]}, "push[0].to[0].keys.p256dh", "invalid_recipient"),
        ("push", {"to": [bad_subscription(endpoint="ftp://x")]},
         "push[0].to[0].endpoint", "invalid_recipient"),
        ("push", {"to": [bad_subscription(extra=1)]}, "push[0].to[0].extra", "invalid_recipient"),
        ("push", {"senderId": "ACME"}, "push[0].senderId", "unknown_field"),
        ("push", {"payload": "x"}, "push[0].payload", "invalid_type"),
        ("push", {"image": "not a url"}, "push[0].image", "invalid_content"),
        ("push", {"image": "https://e.com/a.png", "media": {}}, "push[0].image",
         "ambiguous_content"),
        ("push", {"media": PDF}, "push[0].media.document", "unsupported_content"),
        ("push", {"body": "", "title": " "}, "push[0].template", "required"),
        ("push", {"title": "x" * 251}, "push[0].title", "title_too_long"),
        ("push", {"title": "{{name}}"}, "push[0].data.name", "missing_placeholder"),
        ("push", {"title": "{{ oops"}, "push[0].title", "template_syntax"),
        ("push", {"body": "x" * 3000, "payload": {"k": "y" * 1200}}, "push[0].body",
         "unsupported_content"),
    ],
)  # fmt: skip
def test_bad_input_per_channel_is_a_400_naming_the_field(
    client, sandbox, channel, fields, source, code
):
    entry = {"body": "Hi", "to": [TOKEN if channel == "push" else PHONE], **fields}
    before = counts()
    r = client.post(URL, {channel: [entry]}, format="json")
    assert_error(r, 400, source=source, code=code)
    assert counts() == before


@override_settings(ALLOW_PRIVATE_URLS=False)
def test_a_subscription_on_a_private_address_is_refused(client, sandbox, browser):
    to = subscription_of(browser, endpoint="https://10.0.0.5/push/1")
    r = client.post(URL, {"push": [{"body": "Hi", "to": [to]}]}, format="json")
    (err,) = assert_error(r, 400, source="push[0].to[0].endpoint", code="invalid_recipient")
    assert "private" in err["detail"]
    to = subscription_of(browser, endpoint="http://updates.example.com/push/1")
    r = client.post(URL, {"push": [{"body": "Hi", "to": [to]}]}, format="json")
    assert_error(r, 400, source="push[0].to[0].endpoint", code="invalid_recipient")


def test_the_request_names_every_channel(client, sandbox):
    r = client.post(URL, {"fax": [{"body": "Hi", "to": ["+14155550100"]}]}, format="json")
    (err,) = assert_error(r, 400, source="fax", code="unknown_channel")
    assert "viber" in err["detail"] and "push" in err["detail"]
    (err,) = assert_error(client.post(URL, {"push": []}, format="json"), 400, code="no_messages")
    assert "rcs" in err["detail"]


# --- push providers: which recipients, which payloads -------------------------------------------


@pytest.fixture(scope="module")
def service_account():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "acme-app",
        "private_key": pem,
        "client_email": "push@acme-app.iam.gserviceaccount.com",
        "token_uri": TOKEN_URI,
    }


@pytest.fixture
def fcm(tenant, service_account):
    cache.clear()  # no access token of another test
    yield ProviderFactory(
        tenant=tenant, name="fcm", provider_type="fcm", channels=["push"],
        credentials={"serviceAccount": json.dumps(service_account)},
    )  # fmt: skip
    cache.clear()


@pytest.fixture(scope="module")
def vapid():
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"private": b64url(key.private_numbers().private_value.to_bytes(32, "big")),
            "public": b64url(public)}  # fmt: skip


@pytest.fixture
def webpush(tenant, vapid):
    return ProviderFactory(
        tenant=tenant, name="webpush", provider_type="webpush", channels=["push"],
        credentials={"vapidPrivateKey": vapid["private"], "vapidPublicKey": vapid["public"],
                     "vapidSubject": "mailto:ops@acme.example"},
    )  # fmt: skip


def test_each_push_provider_takes_its_kind_of_recipient(client, sandbox, fcm, webpush, browser):
    r = client.post(
        URL, {"push": [{"provider": "fcm", "body": "Hi", "to": [subscription_of(browser)]}]},
        format="json",
    )  # fmt: skip
    (err,) = assert_error(r, 400, source="push[0].to[0]", code="unsupported_recipient")
    assert "registration tokens" in err["detail"]
    r = client.post(
        URL, {"push": [{"provider": "webpush", "body": "Hi", "to": [TOKEN]}]}, format="json"
    )
    (err,) = assert_error(r, 400, source="push[0].to[0]", code="unsupported_recipient")
    assert "Web Push subscriptions" in err["detail"]


def test_fcm_refuses_its_reserved_data_keys(client, fcm):
    payload = {"google.sent": "1", "Message_Type": "x", "ok": "y"}
    body = {"push": [{"provider": "fcm", "body": "Hi", "to": [TOKEN], "payload": payload}]}
    errors = assert_error(client.post(URL, body, format="json"), 400)
    assert {(e["source"], e["code"]) for e in errors} == {
        ("push[0].payload.google.sent", "unsupported_content"),
        ("push[0].payload.Message_Type", "unsupported_content"),
    }


def test_web_push_counts_its_payload_as_it_sends_it(client, webpush, browser):
    # 1,000 non-ASCII characters: 2,000 bytes as UTF-8, 6,000 as the JSON Web Push sends.
    body = {"push": [{"provider": "webpush", "body": "é" * 1000, "to": [subscription_of(browser)]}]}
    (err,) = assert_error(
        client.post(URL, body, format="json"),
        400,
        source="push[0].body",
        code="unsupported_content",
    )
    assert "at most 3993" in err["detail"]


def test_push_to_fcm_sends_the_exact_request(client, fcm, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URI, json={"access_token": "ya29.ok", "expires_in": 3599})
        send_call = rsps.post(
            FCM_SEND,
            json={"name": "projects/acme-app/messages/0:1500415314455276%31bd1c96f9fd7ecd"},
        )
        (message,) = send(client, run_tasks, {"push": [{
            "provider": "fcm", "title": "Order {{id}}", "body": "It shipped.",
            "data": {"id": "o-1"},
            "payload": {"url": "/orders/o-1", "count": 2}, "image": "https://example.com/p.png",
            "to": [TOKEN],
        }]})  # fmt: skip
    sent = json.loads(send_call.calls[0].request.body)["message"]
    # The validity (48 hours by default) as FCM's expiries, to the second of sending.
    expiry = int(sent.pop("apns")["headers"]["apns-expiration"])
    assert 172790 <= expiry - time.time() <= 172800
    ttl = int(sent["android"].pop("ttl").rstrip("s"))
    assert 172790 <= ttl <= 172800 and sent["webpush"]["headers"].pop("TTL") == str(ttl)
    assert sent == {
        "token": TOKEN,
        "notification": {
            "title": "Order o-1", "body": "It shipped.", "image": "https://example.com/p.png",
        },
        "data": {"url": "/orders/o-1", "count": "2"},  # FCM's data is strings only
        "android": {},
        "webpush": {"headers": {}},
    }  # fmt: skip
    assert send_call.calls[0].request.headers["Authorization"] == "Bearer ya29.ok"
    got = client.get(f"{URL}/{message['messageId']}").json()
    # FCM sends no delivery receipt: handed over is as far as it goes.
    assert got["status"]["name"] == "PENDING_ENROUTE"
    assert got["providerMessageId"] == "0:1500415314455276%31bd1c96f9fd7ecd"


def test_push_to_web_push_sends_what_the_service_worker_reads(client, webpush, browser, run_tasks):
    with responses.RequestsMock() as rsps:
        call = rsps.post(ENDPOINT, status=201, headers={"Location": ENDPOINT + "/m/42"})
        (message,) = send(client, run_tasks, {"push": [{
            "provider": "webpush", "title": "Order", "body": "It shipped.",
            "payload": {"url": "/orders/o-1"}, "media": {"image": {"url": "https://e.com/p.png"}},
            "to": [subscription_of(browser)],
        }]})  # fmt: skip
    request = call.calls[0].request
    assert request.headers["Content-Encoding"] == "aes128gcm"
    decrypted = http_ece.decrypt(
        request.body, private_key=browser["key"], auth_secret=browser["auth"], version="aes128gcm"
    )
    assert json.loads(decrypted) == {
        "title": "Order", "body": "It shipped.", "image": "https://e.com/p.png",
        "data": {"url": "/orders/o-1"},
    }  # fmt: skip
    assert status_of(client, message["messageId"]) == "PENDING_ENROUTE"


# --- templates and previews of the new modes ----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "data", "preview", "sent"),
    [
        (
            "viber",
            {"body": "Hi {{name}}", "media": {"image": {"url": "https://e.com/v.png"}}},
            {"body": "Hi Ann", "media": {"image": {"url": "https://e.com/v.png"}}},
            {"body": "Hi Ann"},
        ),
        ("rcs", {"body": "Your code {{otp}}"}, {"body": "Your code 12"}, {"body": "Your code 12"}),
        (
            "push",
            {"title": "Order {{id}}", "body": "Hi {{name}}", "payload": {"screen": "orders"}},
            {"title": "Order o-1", "body": "Hi Ann", "payload": {"screen": "orders"}},
            {"subject": "Order o-1", "body": "Hi Ann"},
        ),
    ],
)
def test_templates_of_the_new_modes_preview_and_send(
    client, sandbox, run_tasks, mode, data, preview, sent
):
    r = client.post(
        "/api/v1/templates", {"name": f"t-{mode}", "mode": mode, "data": data}, format="json"
    )
    assert r.status_code == 201, r.content
    values = {"name": "Ann", "otp": "12", "id": "o-1"}
    r = client.post(f"/api/v1/templates/t-{mode}/preview", {"data": values}, format="json")
    assert r.status_code == 200, r.content
    assert {k: r.json()[k] for k in preview} == preview
    assert r.json()["mode"] == mode
    to = TOKEN if mode == "push" else "+14155550100"
    (message,) = send(
        client, run_tasks, {mode: [{"template": f"t-{mode}", "data": values, "to": [to]}]}
    )
    assert status_of(client, message["messageId"]) == "DELIVERED_TO_HANDSET"
    outbox = SandboxOutboxEntry.objects.get()
    assert {k: getattr(outbox, k) for k in sent} == sent
    if mode == "push":
        assert outbox.payload["data"] == {"screen": "orders"}


def test_a_push_entry_overrides_its_templates_title_and_payload(client, sandbox, run_tasks, tenant):
    TemplateFactory(
        tenant=tenant, name="ready", mode="push",
        data={"title": "Ready", "body": "Come by", "payload": {"screen": "home"}},
    )  # fmt: skip
    send(client, run_tasks, {"push": [
        {"template": "ready", "title": "Ready, {{name}}", "data": {"name": "Ann"},
         "payload": {"screen": "pickup"}, "to": [TOKEN]},
    ]})  # fmt: skip
    outbox = SandboxOutboxEntry.objects.get()
    assert (outbox.subject, outbox.body, outbox.payload["data"]) == (
        "Ready, Ann", "Come by", {"screen": "pickup"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "data", "source", "code"),
    [
        ("sms", {"body": "Hi", "title": "T"}, "data.title", "unknown_field"),
        ("viber", {"body": "Hi", "payload": {}}, "data.payload", "unknown_field"),
        ("push", {"title": "T", "payload": []}, "data.payload", "invalid_type"),
        ("push", {"title": " "}, "data.body", "required"),
        ("push", {"title": "{{ oops"}, "data.title", "template_syntax"),
    ],
)
def test_template_fields_of_push_are_checked(client, sandbox, mode, data, source, code):
    r = client.post("/api/v1/templates", {"name": "t", "mode": mode, "data": data}, format="json")
    assert_error(r, 400, source=source, code=code)


def test_a_template_of_another_mode_is_refused(client, sandbox, tenant):
    TemplateFactory(tenant=tenant, name="v", mode="viber", data={"body": "Hi"})
    r = client.post(URL, {"rcs": [{"template": "v", "to": ["+14155550100"]}]}, format="json")
    assert_error(r, 400, source="rcs[0].template", code="template_mode")


# --- contacts ---------------------------------------------------------------------------------


@pytest.fixture
def ann(tenant, browser):
    contact = Contact.objects.create(tenant=tenant, external_id="ann", name="Ann")
    for kind, address in (("phone", "+14155550107"), ("push", json.dumps(browser["subscription"]))):
        ContactAddress.objects.create(
            contact=contact, tenant=tenant, channel=kind, address=address, normalized=address
        )
    return contact


@pytest.mark.parametrize(
    ("channel", "body"),
    [
        ("viber", {"body": "Hi {{contact.name}}"}),
        ("rcs", {"body": "Hi {{contact.name}}"}),
        ("push", {"title": "Hi {{contact.name}}", "payload": {"screen": "home"}}),
    ],
)
def test_a_contact_gets_viber_rcs_and_push_at_its_address(
    client, sandbox, run_tasks, ann, browser, channel, body
):
    r = run_tasks(client.post, f"/api/v1/contacts/{ann.pk}/messages/{channel}", body, format="json")
    assert r.status_code == 202, r.content
    (message,) = r.json()["messages"]
    expected = stored(browser["subscription"]) if channel == "push" else "+14155550107"
    assert message["to"] == expected
    assert status_of(client, message["messageId"]) == "DELIVERED_TO_HANDSET"
    outbox = SandboxOutboxEntry.objects.get()
    assert "Hi Ann" in (outbox.subject if channel == "push" else outbox.body)
    # And by reference in POST /api/v1/messages.
    messages = send(client, run_tasks, {channel: [{**body, "to": [{"externalId": "ann"}]}]})
    assert messages[0]["to"] == expected


def test_a_contact_push_address_that_is_not_one_is_named(client, sandbox, tenant):
    contact = Contact.objects.create(tenant=tenant, external_id="bob", name="Bob")
    ContactAddress.objects.create(
        contact=contact, tenant=tenant, channel="push", address="{broken", normalized="{broken"
    )
    r = client.post(URL, {"push": [{"body": "Hi", "to": [{"externalId": "bob"}]}]}, format="json")
    assert_error(r, 400, source="push[0].to[0]", code="invalid_recipient")


def test_contacts_keep_a_subscription_in_its_one_form(client, sandbox, browser):
    text = json.dumps(browser["subscription"], indent=1)
    r = client.post("/api/v1/contacts", {"externalId": "cy", "push": [text]}, format="json")
    assert r.status_code == 201, r.content
    assert ContactAddress.objects.get(channel="push").normalized == stored(browser["subscription"])
    r = client.post("/api/v1/contacts", {"externalId": "dee", "push": ["two words"]}, format="json")
    assert_error(r, 400, source="push[0]", code="invalid_address")
