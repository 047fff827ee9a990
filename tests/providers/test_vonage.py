"""Vonage SMS API: the send request, its per-part status codes, signed DLR and inbound webhooks."""

import hashlib
import hmac
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest
import responses

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError, WebhookRejected, WebhookRequest
from providers.backends.vonage import VonageBackend, signature
from providers.models import InboundMessage
from tests.factories import ProviderFactory

API = "https://rest.nexmo.com/sms/json"
CREDS = {"apiKey": "abc123", "apiSecret": "s3cret"}
SIGNED = {**CREDS, "signatureSecret": "sigsecret"}


def ok_answer(*ids, status="0"):
    return {
        "message-count": str(len(ids)),
        "messages": [
            {
                "to": "447700900000",
                "message-id": mid,
                "status": status,
                "remaining-balance": "3.14159265",
                "message-price": "0.03330000",
                "network": "12345",
            }
            for mid in ids
        ],
    }


def outbound(**kw):
    fields = {
        "id": "6f1c1d3e-0000-4000-8000-000000000001",
        "channel": "sms",
        "to": "+44 7700 900000",
        "body": "Hello",
        "sender": "Acme",
        "status_webhook_url": "https://msg.example.com/webhooks/providers/tok/status",
    }
    return OutboundMessage(**{**fields, **kw})


@responses.activate
def test_send_posts_the_documented_form():
    responses.post(API, json=ok_answer("0A0000000123ABCD1"))
    result = VonageBackend(CREDS).send(outbound())
    (call,) = responses.calls
    assert call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(call.request.body)) == {
        "api_key": "abc123",
        "api_secret": "s3cret",
        "from": "Acme",
        "to": "447700900000",
        "text": "Hello",
        "type": "text",
        "client-ref": "6f1c1d3e-0000-4000-8000-000000000001",
        "callback": "https://msg.example.com/webhooks/providers/tok/status",
        "status-report-req": "true",
    }
    assert result.provider_message_id == "0A0000000123ABCD1"
    assert result.status == st.PENDING_ENROUTE
    assert result.price == Decimal("0.03330000")


@responses.activate
def test_unicode_text_numeric_sender_and_multipart_price():
    responses.post(API, json=ok_answer("P1", "P2"))
    result = VonageBackend(CREDS).send(outbound(body="Привет " * 30, sender="+1 415 555 0100"))
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert (form["type"], form["from"]) == ("unicode", "14155550100")
    assert result.provider_message_id == "P1"
    assert result.price == Decimal("0.06660000")


@pytest.mark.parametrize(
    ("code", "permanent", "status"),
    [
        ("1", False, st.REJECTED_PROVIDER),
        ("4", True, st.REJECTED_PROVIDER),
        ("5", False, st.REJECTED_PROVIDER),
        ("6", True, st.REJECTED_DESTINATION),
        ("7", True, st.REJECTED_DESTINATION),
        ("9", True, st.REJECTED_PROVIDER),
        ("29", True, st.REJECTED_DESTINATION),
        ("77", True, st.REJECTED_PROVIDER),
    ],
)
@responses.activate
def test_per_message_status_codes_are_mapped(code, permanent, status):
    answer = {"message-count": "1", "messages": [{"status": code, "error-text": f"err {code}"}]}
    responses.post(API, json=answer)  # HTTP 200 even on a logical error
    with pytest.raises(SendError) as exc:
        VonageBackend(CREDS).send(outbound())
    err = exc.value
    assert (err.code, err.description, err.permanent, err.status) == (
        f"VONAGE_{code}",
        f"err {code}",
        permanent,
        status,
    )
    assert err.raw == answer
    assert (err.retry_after is not None) == (code == "1")


@pytest.mark.parametrize("http", [429, 500, 503])
@responses.activate
def test_http_429_and_5xx_are_transient(http):
    responses.post(API, status=http, body="busy", headers={"Retry-After": "7"})
    with pytest.raises(SendError) as exc:
        VonageBackend(CREDS).send(outbound())
    assert exc.value.permanent is False
    assert exc.value.retry_after == 7.0
    assert exc.value.code == f"HTTP_{http}"


@responses.activate
def test_http_401_without_a_message_list_is_permanent():
    responses.post(API, status=401, json={"error": "unauthorized"})
    with pytest.raises(SendError) as exc:
        VonageBackend(CREDS).send(outbound())
    assert exc.value.permanent is True


@responses.activate
def test_api_base_url_credential_points_elsewhere():
    responses.post("http://127.0.0.1:9000/sms/json", json=ok_answer("X"))
    backend = VonageBackend({**CREDS, "apiBaseUrl": "http://127.0.0.1:9000/"})
    assert backend.send(outbound()).provider_message_id == "X"


@responses.activate
def test_test_connection_reads_the_balance():
    responses.get(
        "https://rest.nexmo.com/account/get-balance",
        json={"value": 10.28, "autoReload": False},
        match=[
            responses.matchers.query_param_matcher({"api_key": "abc123", "api_secret": "s3cret"})
        ],
    )
    assert "10.28" in VonageBackend(CREDS).test_connection()


def test_credentials():
    assert VonageBackend.clean_credentials(SIGNED) == SIGNED
    with pytest.raises(Exception) as exc:
        VonageBackend.clean_credentials({"apiKey": "k"})
    assert "apiSecret" in exc.value.errors


# --- signatures -------------------------------------------------------------------------------

DLR = {
    "msisdn": "447700900000",
    "to": "Acme",
    "network-code": "23410",
    "messageId": "0A0000000123ABCD1",
    "price": "0.03330000",
    "status": "delivered",
    "scts": "2001011400",
    "err-code": "0",
    "message-timestamp": "2020-01-01 12:00:00",
    "client-ref": "6f1c1d3e",
    "api-key": "abc123",
}


def signed(params, method="sha256", secret="sigsecret", timestamp=None):
    stamp = str(int(time.time())) if timestamp is None else str(timestamp)
    params = {**params, "timestamp": stamp, "nonce": "a1b2&c=3"}
    if method == "md5hash":
        text = "".join(
            f"&{k}={params[k].replace('&', '_').replace('=', '_')}" for k in sorted(params)
        )
        sig = hashlib.md5((text + secret).encode()).hexdigest()
    else:
        text = "".join(
            f"&{k}={params[k].replace('&', '_').replace('=', '_')}" for k in sorted(params)
        )
        sig = hmac.new(secret.encode(), text.encode(), method).hexdigest()
    return {**params, "sig": sig}


def test_signature_matches_the_sdk_algorithm_by_hand():
    params = {"a": "1", "b": "x=y&z", "sig": "ignored"}
    expected = hmac.new(b"k", b"&a=1&b=x_y_z", hashlib.sha256).hexdigest()
    assert signature(params, "k", "sha256") == expected
    assert signature(params, "k", "md5hash") == hashlib.md5(b"&a=1&b=x_y_zk").hexdigest()


def query_request(params, method="GET"):
    return WebhookRequest(method=method, url="https://x/status", headers={}, body=b"", query=params)


OUR_ID = "6f1c1d3e-0000-4000-8000-000000000001"


def test_receipt_client_ref_is_our_message_ref():
    (report,) = VonageBackend(CREDS).parse_status_webhook(
        query_request({**DLR, "client-ref": OUR_ID})
    )
    assert (report.provider_message_id, report.message_ref) == ("0A0000000123ABCD1", OUR_ID)
    # Signed receipts carry it too, under the signature.
    (report,) = VonageBackend(SIGNED).parse_status_webhook(
        query_request(signed({**DLR, "client-ref": OUR_ID}))
    )
    assert report.message_ref == OUR_ID


@pytest.mark.parametrize("ref", ["6f1c1d3e", "", "my-own-ref"])
def test_a_client_ref_that_is_not_our_id_is_no_message_ref(ref):
    (report,) = VonageBackend(CREDS).parse_status_webhook(query_request({**DLR, "client-ref": ref}))
    assert report.message_ref == ""


def test_vonage_has_no_lookup():
    assert not VonageBackend.can_lookup()


@pytest.mark.parametrize("method", ["md5", "md5hash", "sha1", "sha256", "sha512"])
def test_each_signature_method_is_accepted(method):
    (report,) = VonageBackend(SIGNED).parse_status_webhook(query_request(signed(DLR, method)))
    assert report.status == st.DELIVERED_TO_HANDSET


@pytest.mark.parametrize(
    "params",
    [
        signed(DLR, secret="wrong"),
        {**signed(DLR), "status": "failed"},  # tampered after signing
        DLR,  # missing sig
    ],
)
def test_wrong_or_missing_signature_is_refused(params):
    with pytest.raises(WebhookRejected) as exc:
        VonageBackend(SIGNED).parse_status_webhook(query_request(params))
    assert exc.value.status == 403


def test_unsigned_is_accepted_without_a_signature_secret():
    (report,) = VonageBackend(CREDS).parse_status_webhook(query_request(DLR))
    assert report.provider_message_id == "0A0000000123ABCD1"
    assert report.price == Decimal("0.03330000")
    assert report.occurred_at.isoformat() == "2020-01-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("status", "err", "ours", "code"),
    [
        ("accepted", "0", st.PENDING_ENROUTE, ""),
        ("buffered", "0", st.PENDING_ENROUTE, ""),
        ("delivered", "0", st.DELIVERED_TO_HANDSET, ""),
        ("expired", "1", st.EXPIRED_EXPIRED, "VONAGE_DLR_1"),
        ("failed", "2", st.UNDELIVERABLE_NOT_DELIVERED, "VONAGE_DLR_2"),
        ("failed", "9", st.REJECTED_DESTINATION, "VONAGE_DLR_9"),
        ("rejected", "6", st.UNDELIVERABLE_REJECTED_OPERATOR, "VONAGE_DLR_6"),
        ("unknown", "99", st.UNDELIVERABLE_NOT_DELIVERED, "VONAGE_DLR_99"),
    ],
)
def test_dlr_statuses_and_error_codes(status, err, ours, code):
    params = {**DLR, "status": status, "err-code": err}
    (report,) = VonageBackend(CREDS).parse_status_webhook(query_request(params))
    assert (report.status, report.error_code) == (ours, code)


def test_unknown_dlr_status_is_400():
    with pytest.raises(WebhookRejected) as exc:
        VonageBackend(CREDS).parse_status_webhook(query_request({**DLR, "status": "weird"}))
    assert exc.value.status == 400


# --- through the real webhook URLs -------------------------------------------------------------


@pytest.fixture
def vonage(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="vonage",
        provider_type="vonage",
        channels=["sms"],
        credentials=SIGNED,
    )


@responses.activate
def test_end_to_end_send_then_signed_post_json_dlr_delivers(client, vonage, run_tasks, anon_client):
    responses.post(API, json=ok_answer("0A0000000123ABCD1"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+447700900000"], "provider": "vonage", "from": "Acme"}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    form = dict(parse_qsl(responses.calls[0].request.body))
    assert form["callback"] == vonage.status_webhook_url
    assert form["client-ref"] == mid
    assert form["to"] == "447700900000"
    assert Message.objects.get(pk=mid).status == st.PENDING_ENROUTE

    url = f"/webhooks/providers/{vonage.webhook_token}/status"
    bad = anon_client.post(url, {**signed(DLR), "sig": "0" * 64}, format="json")
    assert bad.status_code == 403
    ok = anon_client.post(url, signed({**DLR, "client-ref": mid}), format="json")
    assert ok.status_code == 200, ok.content
    message = Message.objects.get(pk=mid)
    assert message.status == st.DELIVERED_TO_HANDSET


def test_form_post_dlr_and_signed_inbound_through_the_urls(anon_client, vonage):
    status_url = f"/webhooks/providers/{vonage.webhook_token}/status"
    r = anon_client.generic(
        "POST", status_url, urlencode(signed(DLR)), content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 200, r.content

    inbound = {
        "msisdn": "447700900001",
        "to": "447700900000",
        "messageId": "0A0000001234567B",
        "text": "Hello world",
        "type": "text",
        "keyword": "HELLO",
        "message-timestamp": "2020-01-01 12:00:00",
    }
    inbound_url = f"/webhooks/providers/{vonage.webhook_token}/inbound"
    assert anon_client.post(inbound_url, inbound, format="json").status_code == 403
    for _ in range(2):  # Vonage re-sends until it gets a 2xx: stored once
        r = anon_client.post(inbound_url, signed(inbound, "sha512"), format="json")
        assert r.status_code == 200, r.content
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.sender, stored.recipient, stored.text) == (
        "sms",
        "+447700900001",
        "447700900000",
        "Hello world",
    )
    assert stored.provider_message_id == "0A0000001234567B"


@responses.activate
def test_receipt_sent_by_get_moves_the_message(client, vonage, run_tasks, anon_client):
    """Vonage can be set to call webhooks with GET: the receipt is read from the query."""
    responses.post(API, json=ok_answer("0A0000000123ABCD1"))
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Hi", "to": ["+447700900000"], "provider": "vonage", "from": "Acme"}]},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    url = f"/webhooks/providers/{vonage.webhook_token}/status"
    assert anon_client.get(url, {**DLR, "client-ref": mid}).status_code == 403  # unsigned
    ok = anon_client.get(url, signed({**DLR, "client-ref": mid}))
    assert ok.status_code == 200, ok.content
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET


# --- long messages: one answer entry per part (issue 8) -----------------------------------------


def part(mid, status="0", **extra):
    """One `messages[]` entry as vonage-python-sdk's send_long_sms.json /
    send_sms_partial_error.json show them (a refused part has no message-id)."""
    if status != "0":
        return {"status": status, "error-text": extra.pop("text", "Throttled"), **extra}
    return {
        "to": "447700900000",
        "message-id": mid,
        "status": "0",
        "remaining-balance": "37.43563628",
        "message-price": "0.04120000",
        "network": "23420",
        "client-ref": "ref123",
        **extra,
    }


LONG = "x" * 400  # three GSM-7 parts


@responses.activate
def test_a_three_part_message_keeps_every_part_id_in_order():
    answer = {"message-count": "3", "messages": [part("P1"), part("P2"), part("P3")]}
    responses.post(API, json=answer)
    result = VonageBackend(CREDS).send(outbound(body=LONG))
    assert result.provider_message_id == "P1"
    assert result.part_ids == ("P1", "P2", "P3")
    assert result.price == Decimal("0.12360000")
    assert VonageBackend.reports_parts is True


@responses.activate
def test_a_later_part_refused_after_accepted_ones_is_permanent_and_says_which():
    answer = {
        "message-count": "3",
        "messages": [part("P1"), part("P2"), part(None, "1", text="Throttled")],
    }
    responses.post(API, json=answer)
    with pytest.raises(SendError) as exc:
        VonageBackend(CREDS).send(outbound(body=LONG))
    err = exc.value
    # Throttled alone would be retried; with parts 1-2 on their way a resend would send them
    # twice, so it is final.
    assert err.permanent is True
    assert err.code == "VONAGE_1"
    assert err.retry_after is None
    assert "1 (P1), 2 (P2) of 3" in err.description
    assert "3 (status 1: Throttled)" in err.description
    assert err.raw == answer


@responses.activate
def test_the_first_part_refused_transiently_is_retried_as_before():
    answer = {"message-count": "2", "messages": [part(None, "1"), part(None, "1")]}
    responses.post(API, json=answer)
    with pytest.raises(SendError) as exc:
        VonageBackend(CREDS).send(outbound(body=LONG))
    assert (exc.value.permanent, exc.value.retry_after) == (False, 1.0)
    assert exc.value.description == "Throttled"


def _api_send(client, run_tasks, body="Hi", **options):
    entry = {"body": body, "to": ["+447700900000"], "provider": "vonage", "from": "Acme"}
    r = run_tasks(client.post, "/api/v1/messages", {"sms": [entry], **options}, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


@responses.activate
def test_through_dispatch_a_partly_accepted_long_message_is_not_resent(client, vonage, run_tasks):
    answer = {"message-count": "3", "messages": [part("P1"), part("P2"), part(None, "9")]}
    responses.post(API, json=answer)
    mid = _api_send(client, run_tasks, body=LONG)
    message = Message.objects.get(pk=mid)
    assert message.status == st.REJECTED_PROVIDER  # status 9: partner quota violation
    assert message.error_permanent is True
    assert len(responses.calls) == 1


@responses.activate
def test_through_dispatch_a_throttled_first_part_waits_for_a_retry(client, vonage, run_tasks):
    responses.post(API, json={"message-count": "1", "messages": [part(None, "1")]})
    mid = _api_send(client, run_tasks)
    assert Message.objects.get(pk=mid).status == st.PENDING_WAITING_RETRY


@responses.activate
def test_each_part_reports_on_its_own_and_all_must_be_delivered(
    client, vonage, run_tasks, anon_client
):
    responses.post(API, json={"message-count": "2", "messages": [part("P1"), part("P2")]})
    mid = _api_send(client, run_tasks, body="x" * 200)
    url = f"/webhooks/providers/{vonage.webhook_token}/status"
    dlr = {**DLR, "client-ref": mid}
    assert (
        anon_client.post(url, signed({**dlr, "messageId": "P1"}), format="json").status_code == 200
    )
    assert Message.objects.get(pk=mid).status == st.PENDING_ENROUTE  # part 2 still on its way
    assert (
        anon_client.post(url, signed({**dlr, "messageId": "P2"}), format="json").status_code == 200
    )
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET


# --- validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "ttl"),
    [(3600, 3_600_000), (5, 20_000), (30 * 86400, 604_800_000)],
)
@responses.activate
def test_validity_travels_as_ttl_in_milliseconds_within_vonages_range(seconds, ttl):
    # vonage-python-sdk SmsMessage.ttl: milliseconds, ge=20000, le=604800000.
    from datetime import UTC, datetime, timedelta

    responses.post(API, json=ok_answer("X"))
    VonageBackend(CREDS).send(outbound(expires_at=datetime.now(UTC) + timedelta(seconds=seconds)))
    got = int(dict(parse_qsl(responses.calls[0].request.body))["ttl"])
    assert ttl - 2000 <= got <= ttl


@responses.activate
def test_without_validity_no_ttl_is_sent():
    responses.post(API, json=ok_answer("X"))
    VonageBackend(CREDS).send(outbound())
    assert "ttl" not in dict(parse_qsl(responses.calls[0].request.body))


@responses.activate
def test_the_requests_validity_reaches_vonage(client, vonage, run_tasks):
    responses.post(API, json=ok_answer("X"))
    _api_send(client, run_tasks, validity=30)
    got = int(dict(parse_qsl(responses.calls[0].request.body))["ttl"])
    assert 1_790_000 <= got <= 1_800_000


# --- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "permanent", "status"),
    [
        ("10", False, st.REJECTED_PROVIDER),  # too many binds: back off and retry
        ("12", True, st.REJECTED_CONTENT),  # message too long
        ("15", True, st.REJECTED_PROVIDER),  # invalid sender address
        ("33", True, st.REJECTED_DESTINATION),  # number de-activated
    ],
)
@responses.activate
def test_more_send_status_codes(code, permanent, status):
    responses.post(API, json={"message-count": "1", "messages": [part(None, code, text="e")]})
    with pytest.raises(SendError) as exc:
        VonageBackend(CREDS).send(outbound())
    assert (exc.value.permanent, exc.value.status) == (permanent, status)


@pytest.mark.parametrize(
    ("status", "err", "permanent"),
    [
        ("failed", "2", False),  # absent subscriber (temporary): "Retry"
        ("failed", "7", False),  # handset busy: "Retry"
        ("failed", "8", False),  # network error: "Retry"
        ("failed", "3", True),  # absent subscriber (permanent)
        ("rejected", "6", True),  # anti-spam
        ("expired", "1", True),
    ],
)
def test_dlr_error_codes_vonage_says_to_retry_are_transient(status, err, permanent):
    (report,) = VonageBackend(CREDS).parse_status_webhook(
        query_request({**DLR, "status": status, "err-code": err})
    )
    assert report.permanent is permanent


@pytest.mark.parametrize(
    ("err", "final"),
    [("2", st.PENDING_WAITING_RETRY), ("4", st.REJECTED_DESTINATION)],
)
@responses.activate
def test_a_failed_receipt_retries_or_ends_through_the_webhook(
    client, vonage, run_tasks, anon_client, err, final
):
    responses.post(API, json=ok_answer("0A0000000123ABCD1"))
    mid = _api_send(client, run_tasks)
    url = f"/webhooks/providers/{vonage.webhook_token}/status"
    dlr = signed({**DLR, "status": "failed", "err-code": err, "client-ref": mid})
    assert anon_client.post(url, dlr, format="json").status_code == 200
    message = Message.objects.get(pk=mid)
    assert message.status == final
    assert message.error_code == f"VONAGE_DLR_{err}"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"media": {"image": {"url": "https://cdn.example/i.png"}}}, "sms[0].media.image"),
        ({"buttons": ["Yes"]}, "sms[0].buttons"),
        ({"providerTemplate": {"name": "t"}}, "sms[0].providerTemplate"),
    ],
)
def test_vonage_sms_carries_text_only(client, vonage, entry, field):
    body = {"sms": [{"body": "x", "to": ["+447700900000"], "provider": "vonage", **entry}]}
    r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 400, r.content
    assert field in {e["source"] for e in r.json()["errors"]}


@pytest.mark.parametrize("age", [-400, 400])
def test_a_signed_call_outside_the_time_window_is_refused(age):
    backend = VonageBackend({**CREDS, "signatureSecret": "sigsecret"})
    params = signed(DLR, timestamp=int(time.time()) + age)
    request = WebhookRequest(method="GET", url="https://x/?" + urlencode(params), headers={},
                             body=b"", query=params)  # fmt: skip
    with pytest.raises(WebhookRejected) as exc:
        backend.parse_status_webhook(request)
    assert "timestamp" in exc.value.detail
