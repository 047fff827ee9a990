"""Twilio: the exact send requests, error classes, and the signed status and inbound webhooks."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlencode

import pytest
import responses
from django.conf import settings

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRejected, WebhookRequest
from providers.backends.twilio import TwilioBackend, twilio_signature
from providers.models import InboundMessage
from tests.factories import ProviderFactory

SID = "AC" + "a" * 32
TOKEN = "test_auth_token"
API = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
MSG_SID = "SM" + "1" * 32
HOOK = "https://hooks.example.com/webhooks/providers/tok/status"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def created(**overrides):
    """A 201 Message resource as Twilio documents it (counters are strings)."""
    return {
        "sid": MSG_SID,
        "account_sid": SID,
        "status": "queued",
        "num_segments": "1",
        "num_media": "0",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "api_version": "2010-04-01",
        **overrides,
    }


@pytest.fixture
def backend():
    return TwilioBackend({"accountSid": SID, "authToken": TOKEN}, default_sender="+15005550006")


@pytest.fixture
def twilio(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="tw",
        provider_type="twilio",
        channels=["sms", "whatsapp"],
        credentials={"accountSid": SID, "authToken": TOKEN},
        is_tenant_default=True,
    )


def message(**kw) -> OutboundMessage:
    base = {
        "id": "00000000-0000-0000-0000-000000000001",
        "channel": "sms",
        "to": "+14155550100",
        "body": "Your code is 1234",
        "status_webhook_url": HOOK,
    }
    return OutboundMessage(**{**base, **kw})


# --- send ----------------------------------------------------------------------------------------


@responses.activate
def test_sms_request_is_a_signed_in_form_post(backend):
    responses.post(API, json=created(), status=201)
    result = backend.send(message())
    [call] = responses.calls
    assert call.request.method == "POST"
    assert call.request.url == API
    assert call.request.headers["Authorization"] == basic(SID, TOKEN)
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(call.request.body) == [
        ("To", "+14155550100"),
        ("From", "+15005550006"),
        ("Body", "Your code is 1234"),
        # Our id travels in the callback URL's query: Twilio has no reference field.
        ("StatusCallback", HOOK + "?ref=00000000-0000-0000-0000-000000000001"),
    ]
    assert result.provider_message_id == MSG_SID
    assert result.status == st.PENDING_ENROUTE


@responses.activate
def test_whatsapp_request_uses_channel_addresses_and_media(backend):
    responses.post(API, json=created(), status=201)
    backend.send(
        message(
            channel="whatsapp",
            sender="+14155238886",
            payload={"media": {"type": "image", "url": "https://example.com/p.jpg"}},
        )
    )
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert form["To"] == "whatsapp:+14155550100"
    assert form["From"] == "whatsapp:+14155238886"
    assert form["MediaUrl"] == "https://example.com/p.jpg"


@responses.activate
def test_whatsapp_content_template_replaces_the_body(backend):
    """providerTemplate.name is the Content SID; its params become ContentVariables numbered
    from "1" (twilio-python MessageList.create: content_sid, content_variables a JSON string)."""
    responses.post(API, json=created(), status=201)
    template = {"name": "HX" + "c" * 32, "params": ["Ann", "o-1"]}
    backend.send(
        message(channel="whatsapp", sender="+14155238886", payload={"providerTemplate": template})
    )
    form = parse_qsl(responses.calls[0].request.body)
    assert dict(form)["ContentSid"] == "HX" + "c" * 32
    assert json.loads(dict(form)["ContentVariables"]) == {"1": "Ann", "2": "o-1"}
    # Error 63016's advice: remove Body and MediaUrl when sending a Content template.
    assert [k for k, _ in form] == [
        "To",
        "From",
        "ContentSid",
        "ContentVariables",
        "StatusCallback",
    ]


@responses.activate
def test_a_content_template_without_params_sends_no_variables(backend):
    responses.post(API, json=created(), status=201)
    backend.send(
        message(
            channel="whatsapp",
            sender="+14155238886",
            payload={"providerTemplate": {"name": "HX" + "d" * 32}},
        )
    )
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert form["ContentSid"] == "HX" + "d" * 32
    assert "ContentVariables" not in form and "Body" not in form


@responses.activate
def test_messaging_service_sid_as_sender(backend):
    responses.post(API, json=created(status="accepted"), status=201)
    mg = "MG" + "b" * 32
    backend.send(message(sender=mg))
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert form["MessagingServiceSid"] == mg
    assert "From" not in form


@responses.activate
def test_api_base_url_credential_points_elsewhere():
    backend = TwilioBackend(
        {"accountSid": SID, "authToken": TOKEN, "apiBaseUrl": "http://127.0.0.1:9/"}
    )
    responses.post(
        f"http://127.0.0.1:9/2010-04-01/Accounts/{SID}/Messages.json", json=created(), status=201
    )
    assert backend.send(message(sender="+15005550006")).provider_message_id == MSG_SID


@pytest.mark.parametrize(
    ("http", "code", "status", "permanent"),
    [
        (400, 21211, st.REJECTED_DESTINATION, True),
        (400, 21610, st.REJECTED_DESTINATION, True),
        (400, 63024, st.REJECTED_NOT_ON_CHANNEL, True),
        (400, 21606, st.REJECTED_PROVIDER, True),
        (400, 99999, st.REJECTED_PROVIDER, True),
        (401, 20003, st.REJECTED_PROVIDER, True),
        (429, 20429, st.REJECTED_PROVIDER, False),
        (503, 20503, st.REJECTED_PROVIDER, False),
    ],
)
@responses.activate
def test_error_classes(backend, http, code, status, permanent):
    body = {
        "code": code,
        "message": "Nope",
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http,
    }
    responses.post(API, json=body, status=http)
    with pytest.raises(SendError) as exc:
        backend.send(message())
    assert (exc.value.code, exc.value.permanent) == (str(code), permanent)
    assert exc.value.description == "Nope"
    if permanent:
        assert exc.value.status == status
    if http == 429:
        assert exc.value.retry_after == 5.0
    assert exc.value.raw == body


@responses.activate
def test_retry_after_header_is_honoured_and_non_json_5xx_is_transient(backend):
    responses.post(API, body="upstream down", status=502, headers={"Retry-After": "30"})
    with pytest.raises(SendError) as exc:
        backend.send(message())
    assert (exc.value.code, exc.value.permanent, exc.value.retry_after) == ("HTTP_502", False, 30)


@responses.activate
def test_test_connection_reads_the_account(backend):
    responses.get(
        f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json",
        json={"sid": SID, "friendly_name": "Acme", "status": "active"},
    )
    assert backend.test_connection() == "Acme (active)"
    assert responses.calls[0].request.headers["Authorization"] == basic(SID, TOKEN)


def test_credentials_are_required(client, tenant):
    r = client.post(
        "/api/v1/providers",
        {"name": "tw", "providerType": "twilio", "credentials": {"accountSid": SID}},
        format="json",
    )
    assert r.status_code == 400, r.content
    assert "credentials.authToken" in {e["source"] for e in r.json()["errors"]}


# --- signature -----------------------------------------------------------------------------------

SDK_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("https://mycompany.com/myapp.php?foo=1&bar=2", SDK_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            SDK_PARAMS,
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
        ),
        (
            "http://mycompany.com:80/myapp.php?foo=1&bar=2",
            SDK_PARAMS,
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        ),
        (
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            [
                ("Sid", "CA123"),
                ("SidAccount", "AC123"),
                ("Digits", "5678"),
                ("Digits", "1234"),
                ("Digits", "1234"),
            ],
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        ),
    ],
)
def test_signature_matches_the_sdk_vectors(url, params, expected):
    assert twilio_signature("12345", url, params) == expected


def status_params(status="delivered", **extra):
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": "SM" + "1" * 32,
        "MessageStatus": status,
        "SmsSid": "SM" + "1" * 32,
        "SmsStatus": status,
        "To": "+15005550010",
        **extra,
    }


def test_signature_of_the_documented_status_callback_vector():
    url = "https://example.com/webhooks/twilio/status"
    params = list(status_params().items())
    assert twilio_signature("test_auth_token", url, params) == "uAV+Qsx0kNS+wbmimM8OUEmo+Lw="


@pytest.mark.parametrize("signed_url", ["https://example.com/hook", "https://example.com:443/hook"])
def test_either_port_form_of_the_url_verifies(backend, signed_url):
    params = status_params()
    body = urlencode(params).encode()
    sig = twilio_signature(TOKEN, signed_url, list(params.items()))
    request = WebhookRequest("POST", "https://example.com/hook", {"X-Twilio-Signature": sig}, body)
    [report] = backend.parse_status_webhook(request)
    assert report.status == st.DELIVERED_TO_HANDSET


@pytest.mark.parametrize(
    ("status", "error", "ours", "permanent"),
    [
        ("sent", "", st.DELIVERED_TO_OPERATOR, True),
        ("delivered", "", st.DELIVERED_TO_HANDSET, True),
        ("read", "", st.DELIVERED_READ, True),
        ("undelivered", "30003", st.UNDELIVERABLE_NOT_DELIVERED, False),
        ("undelivered", "30007", st.UNDELIVERABLE_REJECTED_OPERATOR, True),
        ("failed", "30036", st.EXPIRED_EXPIRED, False),
        ("failed", "63016", st.REJECTED_CONTENT, True),
        ("failed", "63024", st.REJECTED_NOT_ON_CHANNEL, True),
        ("failed", "12345", st.UNDELIVERABLE_NOT_DELIVERED, True),
    ],
)
def test_status_table(backend, status, error, ours, permanent):
    extra = {"ErrorCode": error} if error else {}
    params = status_params(status, **extra)
    url = "https://example.com/hook"
    sig = twilio_signature(TOKEN, url, list(params.items()))
    request = WebhookRequest("POST", url, {"X-Twilio-Signature": sig}, urlencode(params).encode())
    [report] = backend.parse_status_webhook(request)
    assert (report.status, report.error_code, report.permanent) == (ours, error, permanent)
    assert report.provider_message_id == "SM" + "1" * 32


def signed_status(url: str, **extra) -> WebhookRequest:
    params = status_params(**extra)
    sig = twilio_signature(TOKEN, url, list(params.items()))
    return WebhookRequest("POST", url, {"X-Twilio-Signature": sig}, urlencode(params).encode())


OUR_ID = "00000000-0000-0000-0000-000000000001"


def test_the_ref_of_the_signed_callback_url_is_our_message_ref(backend):
    request = signed_status(f"{HOOK}?ref={OUR_ID}")
    request.query = {"ref": OUR_ID}
    [report] = backend.parse_status_webhook(request)
    assert report.message_ref == OUR_ID
    # Without a parsed query (a request object built by hand) the URL still carries it.
    [report] = backend.parse_status_webhook(signed_status(f"{HOOK}?ref={OUR_ID}"))
    assert report.message_ref == OUR_ID


def test_a_ref_outside_the_signed_url_is_refused(backend):
    """The query is part of what Twilio signs: a ref added afterwards breaks the signature."""
    request = signed_status(HOOK)
    request.url = f"{HOOK}?ref={OUR_ID}"
    with pytest.raises(WebhookRejected):
        backend.parse_status_webhook(request)


@pytest.mark.parametrize("ref", ["", "SM" + "1" * 32, "not-a-uuid", "0" * 32])
def test_only_a_uuid_is_taken_for_our_ref(backend, ref):
    [report] = backend.parse_status_webhook(signed_status(f"{HOOK}?ref={ref}"))
    assert report.message_ref == ""


def test_a_callback_url_with_a_query_keeps_it_and_gains_ref(backend):
    form = dict(backend.build_form(message(status_webhook_url=HOOK + "?a=1&ref=old")))
    assert form["StatusCallback"] == f"{HOOK}?a=1&ref={OUR_ID}"


# --- webhooks through our URLs -------------------------------------------------------------------


def post_signed(anon_client, url_path, params, token=TOKEN, signature=None):
    full = settings.PUBLIC_BASE_URL + url_path
    headers = {}
    if signature is not False:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature or twilio_signature(
            token, full, list(params.items())
        )
    return anon_client.generic(
        "POST",
        url_path,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        **headers,
    )


@responses.activate
def test_send_through_the_api_then_the_status_callback_delivers(
    client, anon_client, twilio, run_tasks
):
    responses.post(API, json=created(), status=201)
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+14155550100"], "senderId": "+15005550006"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert form["StatusCallback"] == f"{twilio.status_webhook_url}?ref={mid}"
    assert Message.objects.get(pk=mid).provider_message_id == MSG_SID

    # Twilio calls the StatusCallback exactly as given, query included, and signs all of it.
    path = f"/webhooks/providers/{twilio.webhook_token}/status?ref={mid}"
    for status in ("sent", "delivered"):
        params = status_params(status, MessageSid=MSG_SID, SmsSid=MSG_SID)
        assert post_signed(anon_client, path, params).status_code == 200
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert [e["status"] for e in got["events"]][-2:] == [
        "DELIVERED_TO_OPERATOR",
        "DELIVERED_TO_HANDSET",
    ]


@pytest.mark.parametrize(
    ("token", "signature"), [("wrong-token", None), (TOKEN, "bm90IGl0"), (TOKEN, False)]
)
def test_bad_or_missing_signature_is_refused(anon_client, twilio, token, signature):
    path = f"/webhooks/providers/{twilio.webhook_token}/status"
    r = post_signed(anon_client, path, status_params(), token=token, signature=signature)
    assert r.status_code == 403, r.content
    assert r.json()["errors"][0]["code"] == "webhook_rejected"


def test_tampered_body_is_refused(anon_client, twilio):
    path = f"/webhooks/providers/{twilio.webhook_token}/status"
    good = twilio_signature(TOKEN, settings.PUBLIC_BASE_URL + path, list(status_params().items()))
    r = post_signed(anon_client, path, status_params("read"), signature=good)
    assert r.status_code == 403


INBOUND = {
    "ToCountry": "US",
    "SmsMessageSid": "SM" + "2" * 32,
    "NumMedia": "0",
    "SmsSid": "SM" + "2" * 32,
    "SmsStatus": "received",
    "Body": "Hello back",
    "To": "+15005550006",
    "NumSegments": "1",
    "MessageSid": "SM" + "2" * 32,
    "AccountSid": SID,
    "From": "+14155550100",
    "ApiVersion": "2010-04-01",
}


@pytest.mark.parametrize(("prefix", "channel"), [("", "sms"), ("whatsapp:", "whatsapp")])
def test_inbound_is_stored_and_answered_with_empty_twiml(anon_client, twilio, prefix, channel):
    path = f"/webhooks/providers/{twilio.webhook_token}/inbound"
    params = {**INBOUND, "From": prefix + INBOUND["From"], "To": prefix + INBOUND["To"]}
    r = post_signed(anon_client, path, params)
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in r.content
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.sender, stored.recipient, stored.text) == (
        channel,
        "+14155550100",
        "+15005550006",
        "Hello back",
    )
    assert stored.provider_message_id == "SM" + "2" * 32
    # Twilio retries the same message: stored once.
    assert post_signed(anon_client, path, params).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_inbound_without_signature_is_refused(anon_client, twilio):
    path = f"/webhooks/providers/{twilio.webhook_token}/inbound"
    assert post_signed(anon_client, path, INBOUND, signature=False).status_code == 403
    assert not InboundMessage.objects.exists()


def test_unsigned_request_object_is_rejected(backend):
    with pytest.raises(WebhookRejected):
        backend.parse_inbound_webhook(
            WebhookRequest("POST", "https://x.example/h", {}, urlencode(INBOUND).encode())
        )


def test_inbound_by_get_is_verified_over_the_url(anon_client, twilio):
    path = f"/webhooks/providers/{twilio.webhook_token}/inbound?{urlencode(INBOUND)}"
    sig = twilio_signature(TOKEN, settings.PUBLIC_BASE_URL + path, [])
    r = anon_client.get(path, HTTP_X_TWILIO_SIGNATURE=sig)
    assert r.status_code == 200, r.content
    assert b"<Response/>" in r.content
    assert InboundMessage.objects.get().text == "Hello back"
    bad = anon_client.get(path, HTTP_X_TWILIO_SIGNATURE="bm9wZQ==")
    assert bad.status_code == 403


@responses.activate
def test_a_whatsapp_template_named_in_the_request_reaches_twilio(client, tenant, run_tasks):
    """`providerTemplate` in a send entry travels to the provider (Twilio's Content API):
    its name as ContentSid, its params as ContentVariables {"1": ..., "2": ...}."""
    from tests.factories import ProviderFactory

    provider = ProviderFactory(
        tenant=tenant, name="tw", provider_type="twilio", channels=["sms", "whatsapp"],
        credentials={"accountSid": "AC" + "1" * 32, "authToken": "secret"},
    )  # fmt: skip
    responses.post(
        f"https://api.twilio.com/2010-04-01/Accounts/{'AC' + '1' * 32}/Messages.json",
        json={"sid": "SM" + "2" * 32, "status": "queued"},
        status=201,
    )
    entry = {
        "body": "Your order {{o}} shipped", "data": {"o": "A1"}, "provider": provider.name,
        "from": "+14155550000", "to": ["+14155550100"],
        "providerTemplate": {"name": "HX" + "3" * 32, "params": ["A1", "today"]},
    }  # fmt: skip
    r = run_tasks(client.post, "/api/v1/messages", {"whatsapp": [entry]}, format="json")
    assert r.status_code == 202, r.content
    from urllib.parse import parse_qs

    sent = parse_qs(responses.calls[0].request.body)
    assert sent["ContentSid"] == ["HX" + "3" * 32]
    assert json.loads(sent["ContentVariables"][0]) == {"1": "A1", "2": "today"}
    assert "Body" not in sent


def test_provider_template_must_be_an_object(client, sandbox):
    entry = {"body": "x", "to": ["+14155550100"], "providerTemplate": "nope"}
    r = client.post("/api/v1/messages", {"whatsapp": [entry]}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"] == "whatsapp[0].providerTemplate"


# --- what it carries (issue 8) -------------------------------------------------------------------

WA_FROM = "+14155238886"


def api_send(client, run_tasks, channel="whatsapp", **entry):
    """POST one entry through the API; (response, the form Twilio got as a list)."""
    entry = {"body": "Hi", "to": ["+14155550100"], "from": WA_FROM, **entry}
    r = run_tasks(client.post, "/api/v1/messages", {channel: [entry]}, format="json")
    form = parse_qsl(responses.calls[0].request.body) if responses.calls else []
    return r, form


def refused(r) -> dict[str, str]:
    assert r.status_code == 400, r.content
    return {e["source"]: e["detail"] for e in r.json()["errors"]}


@responses.activate
def test_os1_image_on_whatsapp_is_one_media_url(client, twilio, run_tasks):
    # Twilio API for WhatsApp: media goes as MediaUrl, exactly like MMS, one attachment.
    responses.post(API, json=created(), status=201)
    r, form = api_send(
        client, run_tasks, body="Your ticket", media={"image": {"url": "https://cdn.example/t.png"}}
    )
    assert r.status_code == 202, r.content
    assert form[:4] == [
        ("To", "whatsapp:+14155550100"),
        ("From", "whatsapp:" + WA_FROM),
        ("Body", "Your ticket"),
        ("MediaUrl", "https://cdn.example/t.png"),
    ]


@responses.activate
def test_os1_document_without_filename_goes_as_media_url(client, twilio, run_tasks):
    responses.post(API, json=created(), status=201)
    r, form = api_send(client, run_tasks, media={"document": {"url": "https://cdn.example/a.pdf"}})
    assert r.status_code == 202, r.content
    assert ("MediaUrl", "https://cdn.example/a.pdf") in form


def test_a_document_filename_is_refused_as_twilio_has_no_field_for_it(client, twilio):
    # "Twilio does not support setting a filename or caption for documents" (WhatsApp media
    # guidance); the Messages resource has MediaUrl only.
    doc = {"url": "https://cdn.example/a.pdf", "filename": "invoice.pdf"}
    r = client.post(
        "/api/v1/messages",
        {"whatsapp": [{"body": "x", "to": ["+14155550100"], "media": {"document": doc}}]},
        format="json",
    )
    assert "whatsapp[0].media.document.filename" in refused(r)


@responses.activate
def test_mms_carries_up_to_ten_media_urls_in_order(client, twilio, run_tasks):
    # twilio-python: "provide multiple media_url parameters ... up to ten".
    responses.post(API, json=created(num_media="2"), status=201)
    images = [{"url": "https://cdn.example/1.jpg"}, {"url": "https://cdn.example/2.jpg"}]
    r, form = api_send(client, run_tasks, "sms", media={"image": images})
    assert r.status_code == 202, r.content
    assert [v for k, v in form if k == "MediaUrl"] == [
        "https://cdn.example/1.jpg",
        "https://cdn.example/2.jpg",
    ]
    eleven = [{"url": f"https://cdn.example/{n}.jpg"} for n in range(11)]
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "x", "to": ["+14155550100"], "media": {"image": eleven}}]},
        format="json",
    )
    assert "sms[0].media" in refused(r)


def test_whatsapp_takes_one_media_item(client, twilio):
    # "unlike MMS, a WhatsApp media message can only contain one media attachment".
    media = {"image": [{"url": "https://cdn.example/1.jpg"}, {"url": "https://cdn.example/2.jpg"}]}
    r = client.post(
        "/api/v1/messages",
        {"whatsapp": [{"body": "x", "to": ["+14155550100"], "media": media}]},
        format="json",
    )
    assert "whatsapp[0].media" in refused(r)


@responses.activate
def test_os1_location_on_whatsapp_is_a_geo_persistent_action(client, twilio, run_tasks):
    # twilio-python: PersistentAction is "used for sending location in WhatsApp messages";
    # Twilio's sample: persistent_action=['geo:37.787890,-122.391664|375 Beale St'].
    responses.post(API, json=created(), status=201)
    location = {"latitude": 37.78789, "longitude": -122.391664, "name": "375 Beale St"}
    r, form = api_send(client, run_tasks, body="Our office", media={"location": location})
    assert r.status_code == 202, r.content
    assert ("Body", "Our office") in form
    assert ("PersistentAction", "geo:37.78789,-122.391664|375 Beale St") in form
    assert not [k for k, _ in form if k == "MediaUrl"]


@responses.activate
def test_a_location_without_text_gets_its_name_as_body(backend):
    responses.post(API, json=created(), status=201)
    media = {"location": {"latitude": 52.5, "longitude": 13.4, "address": "Alexanderplatz"}}
    backend.send(message(channel="whatsapp", sender=WA_FROM, body="", payload={"media": media}))
    form = parse_qsl(responses.calls[0].request.body)
    assert ("Body", "Alexanderplatz") in form
    assert ("PersistentAction", "geo:52.5,13.4|Alexanderplatz") in form


@pytest.mark.parametrize(
    ("channel", "entry", "field"),
    [
        ("sms", {"media": {"location": {"latitude": 1, "longitude": 2}}}, "sms[0].media.location"),
        (
            "sms",
            {"media": {"sticker": {"url": "https://cdn.example/s.webp"}}},
            "sms[0].media.sticker",
        ),
        ("sms", {"buttons": ["Yes"]}, "sms[0].buttons"),
        ("whatsapp", {"buttons": ["Yes", "No"]}, "whatsapp[0].buttons"),
        (
            "whatsapp",
            {"buttons": [{"url": {"value": "https://example.com", "title": "Open"}}]},
            "whatsapp[0].buttons",
        ),
        ("whatsapp", {"media": {"image": {"mediaId": "abc"}}}, "whatsapp[0].media.image.mediaId"),
        (
            "whatsapp",
            {"media": {"image": {"url": "https://cdn.example/i.png", "caption": "c"}}},
            "whatsapp[0].media.image.caption",
        ),
    ],
)
def test_what_twilio_cannot_carry_is_a_400_naming_the_field(client, twilio, channel, entry, field):
    r = client.post(
        "/api/v1/messages",
        {channel: [{"body": "x", "to": ["+14155550100"], **entry}]},
        format="json",
    )
    problems = refused(r)
    assert field in problems, problems
    if channel == "whatsapp" and "buttons" in entry:
        # Free-form buttons need the Content API: the refusal says so.
        assert "providerTemplate" in problems[field]


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"name": "order_shipped", "params": ["A1"]}, "whatsapp[0].providerTemplate.name"),
        (
            {"name": "HX" + "3" * 32, "buttons": [{"type": "url", "value": "A1"}]},
            "whatsapp[0].providerTemplate.buttons",
        ),
        (
            {"name": "HX" + "3" * 32, "header": {"image": {"url": "https://cdn.example/h.png"}}},
            "whatsapp[0].providerTemplate.header",
        ),
    ],
)
def test_a_template_twilio_cannot_name_or_fill_is_a_400(client, twilio, template, field):
    entry = {"body": "x", "to": ["+14155550100"], "providerTemplate": template}
    r = client.post("/api/v1/messages", {"whatsapp": [entry]}, format="json")
    assert field in refused(r)


@responses.activate
def test_external_ref_names_the_content_sid_and_fills_its_variables(client, twilio, run_tasks):
    """A WhatsApp entry's externalRef becomes the template; the text's placeholders, in
    order, its ContentVariables."""
    responses.post(API, json=created(), status=201)
    r, form = api_send(
        client,
        run_tasks,
        body="Hi {{name}}, order {{order}} shipped",
        data={"name": "Ann", "order": "A1"},
        externalRef="HX" + "e" * 32,
    )
    assert r.status_code == 202, r.content
    got = dict(form)
    assert got["ContentSid"] == "HX" + "e" * 32
    assert json.loads(got["ContentVariables"]) == {"1": "Ann", "2": "A1"}
    assert "Body" not in got


@responses.activate
def test_a_template_on_sms_is_a_content_template_too(client, twilio, run_tasks):
    # twilio/text Content templates list SMS among their channels.
    responses.post(API, json=created(), status=201)
    r, form = api_send(
        client, run_tasks, "sms", providerTemplate={"name": "HX" + "f" * 32, "params": ["7"]}
    )
    assert r.status_code == 202, r.content
    assert dict(form)["ContentSid"] == "HX" + "f" * 32
    assert json.loads(dict(form)["ContentVariables"]) == {"1": "7"}


# --- validity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "seconds"), [(5, 300), (600, 36000), (2880, 36000)])
@responses.activate
def test_validity_travels_as_validity_period_capped_at_ten_hours(backend, minutes, seconds):
    # ValidityPeriod: integer seconds 1..36000 (twilio-python MessageList.create; 90007).
    from datetime import UTC, datetime, timedelta

    responses.post(API, json=created(), status=201)
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    backend.send(message(expires_at=expires))
    got = int(dict(parse_qsl(responses.calls[0].request.body))["ValidityPeriod"])
    assert seconds - 2 <= got <= seconds


@responses.activate
def test_validity_needs_no_messaging_service(backend):
    """Twilio documents ValidityPeriod on the Messages request itself ("in your Messaging
    Service settings or in your API requests", error 30001): a plain From takes it too."""
    from datetime import UTC, datetime, timedelta

    responses.post(API, json=created(), status=201)
    backend.send(message(expires_at=datetime.now(UTC) + timedelta(seconds=0)))
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert form["From"] == "+15005550006"
    assert form["ValidityPeriod"] == "1"  # at least Twilio's minimum


@responses.activate
def test_the_requests_validity_reaches_twilio(client, twilio, run_tasks):
    responses.post(API, json=created(), status=201)
    entry = {"body": "Hi", "to": ["+14155550100"], "from": "+15005550006"}
    r = run_tasks(client.post, "/api/v1/messages", {"sms": [entry], "validity": 10}, format="json")
    assert r.status_code == 202, r.content
    got = int(dict(parse_qsl(responses.calls[0].request.body))["ValidityPeriod"])
    assert 590 <= got <= 600


# --- verdicts through the real webhook path ------------------------------------------------------


def _sent(client, run_tasks) -> str:
    responses.post(API, json=created(), status=201)
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+14155550100"], "from": "+15005550006"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


@pytest.mark.parametrize(
    ("code", "final", "permanent"),
    [
        ("30003", st.PENDING_WAITING_RETRY, False),  # unreachable handset: try again later
        ("30001", st.PENDING_WAITING_RETRY, False),  # Twilio's own queue overflowed
        ("30005", st.UNDELIVERABLE_NOT_DELIVERED, True),  # unknown handset
        ("30007", st.UNDELIVERABLE_REJECTED_OPERATOR, True),  # carrier filtering
        ("63016", st.REJECTED_CONTENT, True),  # outside the WhatsApp window
    ],
)
@responses.activate
def test_a_failure_callback_retries_or_ends_by_its_code(
    client, anon_client, twilio, run_tasks, code, final, permanent
):
    mid = _sent(client, run_tasks)
    path = f"/webhooks/providers/{twilio.webhook_token}/status?ref={mid}"
    params = status_params("undelivered", MessageSid=MSG_SID, SmsSid=MSG_SID, ErrorCode=code)
    assert post_signed(anon_client, path, params).status_code == 200
    stored = Message.objects.get(pk=mid)
    assert stored.status == final
    assert (stored.error_code, stored.error_permanent) == (code, permanent)
    if code == "63016":
        assert "template" in stored.error_description


def test_canceled_is_not_a_delivery_failure(backend):
    """Only a message scheduled at Twilio can be canceled, before it is sent."""
    [report] = backend.parse_status_webhook(signed_status(HOOK, status="canceled"))
    assert report.status == st.CANCELLED_BY_CLIENT
    assert report.error_code == ""


def test_an_error_code_on_a_non_failure_status_does_not_refine_it(backend):
    [report] = backend.parse_status_webhook(signed_status(HOOK, status="sent", ErrorCode="30003"))
    assert (report.status, report.permanent) == (st.DELIVERED_TO_OPERATOR, True)


@pytest.mark.parametrize(
    ("code", "status", "permanent"),
    [
        (21611, st.REJECTED_PROVIDER, False),  # the From's queue is full: back off
        (21617, st.REJECTED_CONTENT, True),  # body too long
        (21655, st.REJECTED_CONTENT, True),  # ContentSid invalid
        (63016, st.REJECTED_CONTENT, True),
    ],
)
@responses.activate
def test_refused_creates_by_code(backend, code, status, permanent):
    body = {"code": code, "message": "m", "more_info": "", "status": 400}
    responses.post(API, json=body, status=400)
    with pytest.raises(SendError) as exc:
        backend.send(message())
    assert (exc.value.status, exc.value.permanent) == (status, permanent)


# --- inbound without MessageSid ------------------------------------------------------------------


def test_inbound_without_a_message_sid_is_stored_once_across_retries(anon_client, twilio):
    path = f"/webhooks/providers/{twilio.webhook_token}/inbound"
    params = {
        k: v for k, v in INBOUND.items() if k not in ("MessageSid", "SmsSid", "SmsMessageSid")
    }
    for _ in range(2):  # Twilio retries the very same signed call
        assert post_signed(anon_client, path, params).status_code == 200
    stored = InboundMessage.objects.get()
    assert stored.provider_message_id.startswith("twilio-sha256:")
    # Another message (other text) is another row.
    assert post_signed(anon_client, path, {**params, "Body": "Again"}).status_code == 200
    assert InboundMessage.objects.count() == 2
