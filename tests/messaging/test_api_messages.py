"""POST/GET/DELETE /api/v1/messages: what a client sees, and that a bad request stores nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import IdempotencyRecord, Message, MessageRequest
from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, issue_key
from tests.helpers import assert_error, counts

URL = "/api/v1/messages"


def sms(to, **extra):
    return {"sms": [{"template": "otp", "data": {"otp": "1234"}, "to": to, **extra}]}


def email(**extra):
    entry = {"template": "order", "data": {"orderId": "o-1", "name": "Ann"}, "to": ["a@x.com"]}
    return {"email": [{**entry, **extra}]}


@pytest.fixture
def setup(sandbox, templates):
    return sandbox, templates


@pytest.fixture
def other_client(db):
    """An app of another tenant, with its own default provider and templates."""
    tenant = TenantFactory(slug="globex")
    ProviderFactory(tenant=tenant, name="sandbox", is_tenant_default=True)
    TemplateFactory(tenant=tenant, name="otp", mode="sms", data={"body": "Code {{otp}}"})
    c = APIClient()
    c.credentials(HTTP_X_API_KEY=issue_key(AppFactory(tenant=tenant)))
    return c


# --- accepted -----------------------------------------------------------------------------


def test_sms_is_accepted_with_one_message_per_recipient(client, setup):
    r = client.post(
        URL,
        sms([{"countryCode": "1", "number": "4155550100"}, "+14155550101", "(415) 555-0102"]),
        format="json",
    )
    assert r.status_code == 202, r.content
    body = r.json()
    assert set(body) == {"requestId", "messages"}
    assert [m["to"] for m in body["messages"]] == ["+14155550100", "+14155550101", "+14155550102"]
    for m in body["messages"]:
        assert set(m) == {"messageId", "channel", "to", "status"}
        assert m["channel"] == "sms"
        assert m["status"] == {
            "groupName": "PENDING",
            "name": "PENDING_ACCEPTED",
            "description": m["status"]["description"],
        }
    assert Message.objects.filter(request_id=body["requestId"]).count() == 3
    assert Message.objects.first().body == "Your Acme code is 1234"


@pytest.mark.parametrize(
    ("country", "national", "e164"),
    [("US", "415-555-0100", "+14155550100"), ("AU", "0412 345 678", "+61412345678")],
)
def test_national_numbers_use_the_tenant_default_country(
    client, setup, tenant, country, national, e164
):
    tenant.default_country = country
    tenant.save()
    r = client.post(URL, sms([national]), format="json")
    assert r.status_code == 202, r.content
    assert r.json()["messages"][0]["to"] == e164


def test_email_with_to_cc_bcc_is_one_message(client, setup):
    r = client.post(
        URL, email(to=["a@x.com", "b@x.com"], cc=["c@x.com"], bcc=["d@X.COM"]), format="json"
    )
    assert r.status_code == 202, r.content
    messages = r.json()["messages"]
    assert len(messages) == 1
    assert messages[0]["channel"] == "email" and messages[0]["to"] == "a@x.com"
    m = Message.objects.get()
    assert m.recipients == {"to": ["a@x.com", "b@x.com"], "cc": ["c@x.com"], "bcc": ["d@x.com"]}
    assert m.subject == "Order o-1"


def test_bulk_by_repeating_entries_across_channels(client, setup):
    body = {
        "sms": [
            {"template": "otp", "data": {"otp": "1"}, "to": ["+14155550100"]},
            {"template": "otp", "data": {"otp": "2"}, "to": ["+14155550101", "+14155550102"]},
        ],
        "email": email()["email"] * 2,
        "whatsapp": [{"template": "wa", "data": {"name": "Ann"}, "to": ["+14155550103"]}],
    }
    r = client.post(URL, body, format="json")
    assert r.status_code == 202, r.content
    channels = [m["channel"] for m in r.json()["messages"]]
    assert channels == ["sms", "sms", "sms", "email", "email", "whatsapp"]
    assert sorted(Message.objects.filter(channel="sms").values_list("body", flat=True)) == [
        "Your Acme code is 1",
        "Your Acme code is 2",
        "Your Acme code is 2",
    ]


def test_inline_body_instead_of_a_template(client, setup):
    body = {
        "sms": [{"body": "Hello {{name}} from {{company}}", "data": {"name": "Ann"},
                 "to": ["+14155550100"]}],
        "email": [{"subject": "Hi {{name}}", "body": "<b>{{name}}</b>", "format": "text/html",
                   "data": {"name": "<Ann>"}, "to": ["a@x.com"]}],
    }  # fmt: skip
    r = client.post(URL, body, format="json")
    assert r.status_code == 202, r.content
    s, e = Message.objects.order_by("channel")[1], Message.objects.order_by("channel")[0]
    assert s.body == "Hello Ann from Acme" and s.template is None
    assert e.subject == "Hi <Ann>" and e.html == "<b>&lt;Ann&gt;</b>"
    assert e.body == "<Ann>"  # the text part is plain text, not HTML entities


def test_sent_message_shows_its_status_timeline(client, setup, run_tasks):
    r = run_tasks(client.post, URL, sms(["+14155550100"]), format="json")
    mid = r.json()["messages"][0]["messageId"]
    got = client.get(f"{URL}/{mid}")
    assert got.status_code == 200
    m = got.json()
    assert m["messageId"] == mid and m["requestId"] == r.json()["requestId"]
    assert m["status"]["groupName"] == "DELIVERED"
    assert m["provider"] == "sandbox" and m["providerMessageId"].startswith("sbx-")
    assert m["attempts"] == 1 and m["error"] is None
    names = [e["status"] for e in m["events"]]
    assert names[0] == "PENDING_ACCEPTED" and names[-1] == "DELIVERED_TO_HANDSET"
    assert all(e["timestamp"] for e in m["events"])


def test_rejected_message_shows_its_error(client, setup, run_tasks):
    r = run_tasks(client.post, URL, sms(["+14155550001"]), format="json")
    m = client.get(f"{URL}/{r.json()['messages'][0]['messageId']}").json()
    assert m["status"]["groupName"] == "REJECTED"
    assert m["error"]["permanent"] is True and m["error"]["code"]


def test_scheduled_message_is_held_and_can_be_cancelled(client, setup):
    when = (timezone.now() + timedelta(days=1)).isoformat()
    r = client.post(URL, {**sms(["+14155550100"]), "scheduledAt": when}, format="json")
    assert r.status_code == 202, r.content
    msg = r.json()["messages"][0]
    assert msg["status"]["name"] == "PENDING_SCHEDULED"
    d = client.delete(f"{URL}/{msg['messageId']}")
    assert d.status_code == 202, d.content
    assert d.json()["status"]["groupName"] == "CANCELLED"
    assert Message.objects.get().status == "CANCELLED_BY_CLIENT"
    again = client.delete(f"{URL}/{msg['messageId']}")
    assert_error(again, 409)


def test_cancelling_a_sent_message_is_a_conflict(client, setup, run_tasks):
    r = run_tasks(client.post, URL, sms(["+14155550100"]), format="json")
    mid = r.json()["messages"][0]["messageId"]
    assert_error(client.delete(f"{URL}/{mid}"), 409, code="already_sent")
    assert Message.objects.get().status == "DELIVERED_TO_HANDSET"


def test_options_are_stored(client, setup):
    body = {
        **sms(["+14155550100"]),
        "callback": {"url": "https://app.example.com/hook", "meta": {"k": 1}},
        "priority": "high",
        "validity": 30,
        "textStore": "sha256",
    }
    assert client.post(URL, body, format="json").status_code == 202
    req = MessageRequest.objects.get()
    assert req.callback_url == "https://app.example.com/hook" and req.callback_meta == {"k": 1}
    assert req.priority == 0 and req.validity == 30 and req.text_store == "sha256"


# --- list and filters -----------------------------------------------------------------------


@pytest.fixture
def sent(client, setup, run_tasks):
    """Delivered SMS to +14155550100, rejected SMS to +14155550001, one scheduled email."""
    a = run_tasks(client.post, URL, sms(["+14155550100", "+14155550001"]), format="json").json()
    when = (timezone.now() + timedelta(days=1)).isoformat()
    b = client.post(URL, {**email(), "scheduledAt": when}, format="json").json()
    return a, b


def _ids(r):
    assert r.status_code == 200, r.content
    return {m["messageId"] for m in r.json()["results"]}


def test_list_is_paginated(client, sent):
    r = client.get(URL, {"pageSize": 2})
    body = r.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["previous"] is None
    assert "page=2" in body["next"] and "pageSize=2" in body["next"]
    second = client.get(URL, {"pageSize": 2, "page": 2}).json()
    assert len(second["results"]) == 1 and second["next"] is None


def test_list_filters(client, sent):
    a, b = sent
    delivered, rejected = (m["messageId"] for m in a["messages"])
    scheduled = b["messages"][0]["messageId"]
    assert _ids(client.get(URL, {"status": "DELIVERED"})) == {delivered}
    assert _ids(client.get(URL, {"status": "delivered_to_handset"})) == {delivered}
    assert _ids(client.get(URL, {"status": "REJECTED"})) == {rejected}
    assert _ids(client.get(URL, {"status": "PENDING_SCHEDULED"})) == {scheduled}
    assert _ids(client.get(URL, {"channel": "email"})) == {scheduled}
    assert _ids(client.get(URL, {"channel": "SMS"})) == {delivered, rejected}
    assert _ids(client.get(URL, {"requestId": a["requestId"]})) == {delivered, rejected}
    for to in ("+14155550100", "(415) 555-0100", "4155550100", "+1 415 555 0100"):
        assert _ids(client.get(URL, {"to": to})) == {delivered}, to
    assert _ids(client.get(URL, {"to": "A@X.COM".lower()})) == {scheduled}


def test_list_since_and_until(client, sent):
    a, b = sent
    old = timezone.now() - timedelta(days=3)
    Message.objects.filter(request_id=a["requestId"]).update(created_at=old)
    cut = (timezone.now() - timedelta(days=1)).isoformat()
    scheduled = b["messages"][0]["messageId"]
    assert _ids(client.get(URL, {"since": cut})) == {scheduled}
    assert _ids(client.get(URL, {"until": cut})) == {m["messageId"] for m in a["messages"]}
    assert _ids(client.get(URL, {"since": cut, "channel": "sms"})) == set()
    # A date, or a date-time without a zone, is read as UTC.
    today = timezone.now().date().isoformat()
    assert _ids(client.get(URL, {"since": today})) == {scheduled}
    assert _ids(client.get(URL, {"until": f"{today}T00:00:00"})) == {
        m["messageId"] for m in a["messages"]
    }


@pytest.mark.parametrize(
    ("params", "source"),
    [
        ({"status": "BOGUS"}, "status"),
        ({"requestId": "not-a-uuid"}, "requestId"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45T00:00:00Z"}, "until"),
        ({"since": "2026-02-30"}, "since"),
    ],
)
def test_list_bad_filters(client, setup, params, source):
    assert_error(client.get(URL, params), 400, source=source)


def test_another_tenants_message_is_not_found(client, setup, other_client):
    theirs = other_client.post(URL, sms(["+14155550100"]), format="json")
    assert theirs.status_code == 202, theirs.content
    mid = theirs.json()["messages"][0]["messageId"]
    assert_error(client.get(f"{URL}/{mid}"), 404)
    assert_error(client.delete(f"{URL}/{mid}"), 404)
    assert client.get(URL).json()["count"] == 0
    assert Message.objects.get().status == "PENDING_ACCEPTED"


def test_another_tenants_template_and_provider_cannot_be_used(client, setup):
    globex = TenantFactory(slug="globex")
    TemplateFactory(tenant=globex, name="theirs")
    ProviderFactory(tenant=globex, name="theirs")
    before = counts()
    r = client.post(URL, sms(["+14155550100"], template="theirs", provider="theirs"), format="json")
    errors = assert_error(r, 400, source="sms[0].template", code="unknown_template")
    assert "sms[0].provider" in [e["source"] for e in errors]
    assert counts() == before


def test_unknown_message_id_is_not_found(client, setup):
    assert_error(client.get(f"{URL}/00000000-0000-0000-0000-000000000000"), 404)
    assert_error(client.get(f"{URL}/not-a-uuid"), 404)


# --- bad input: each a 400 (or other 4xx) with the error document, nothing stored ---------------

long_wa = "x" * 4097
BAD = {
    "unknown template": (sms(["+14155550100"], template="nope"), 400, "sms[0].template"),
    "inactive template": (sms(["+14155550100"], template="off"), 400, "sms[0].template"),
    "template of another mode": (sms(["+14155550100"], template="wa"), 400, "sms[0].template"),
    "unknown provider": (sms(["+14155550100"], provider="nope"), 400, "sms[0].provider"),
    "inactive provider": (sms(["+14155550100"], provider="off"), 400, "sms[0].provider"),
    "provider as a list": (sms(["+14155550100"], provider=["x"]), 400, "sms[0].provider"),
    "invalid phone": (sms(["+14155550100", "+1 555"]), 400, "sms[0].to[1]"),
    "invalid phone object": (
        sms(["+14155550100", {"countryCode": "1", "number": "55"}]),
        400,
        "sms[0].to[1].number",
    ),
    "phone object with an unknown field": (
        sms([{"countryCode": "1", "number": "4155550100", "ext": "12"}]),
        400,
        "sms[0].to[0].ext",
    ),
    "phone object without number": (sms([{"countryCode": "1"}]), 400, "sms[0].to[0].number"),
    "phone of a wrong type": (sms([14155550100]), 400, "sms[0].to[0]"),
    "letters as phone": (sms(["call me"]), 400, "sms[0].to[0]"),
    "no sms recipients": (sms([]), 400, "sms[0].to"),
    "sms to missing": ({"sms": [{"template": "otp", "data": {"otp": "1"}}]}, 400, "sms[0].to"),
    "invalid email": (email(to=["a@x.com", "not-an-email"]), 400, "email[0].to[1]"),
    "invalid cc": (email(cc=["x@"]), 400, "email[0].cc[0]"),
    "invalid bcc": (email(bcc=[42]), 400, "email[0].bcc[0]"),
    "no email recipients": (email(to=[]), 400, "email[0].to"),
    "over 50 email recipients": (
        email(
            to=[f"t{i}@x.com" for i in range(20)],
            cc=[f"c{i}@x.com" for i in range(20)],
            bcc=[f"b{i}@x.com" for i in range(11)],
        ),
        400,
        "email[0].to",
    ),
    "unknown channel": ({"telegram": [{"body": "hi", "to": ["@ann"]}]}, 400, "telegram"),
    "unknown top-level field": ({**sms(["+14155550100"]), "foo": 1}, 400, "foo"),
    "unknown entry field": (sms(["+14155550100"], colour="red"), 400, "sms[0].colour"),
    "channel not a list": ({"sms": {"to": ["+14155550100"]}}, 400, "sms"),
    "entry not an object": ({"sms": ["+14155550100"]}, 400, "sms[0]"),
    "no messages": ({}, 400, None),
    "empty channel": ({"sms": []}, 400, None),
    "body not an object": (["sms"], 400, None),
    "missing placeholder": (sms(["+14155550100"], data={}), 400, "sms[0].data.otp"),
    "missing placeholder in email subject": (
        email(data={"name": "Ann"}),
        400,
        "email[0].data.orderId",
    ),
    "data not an object": (sms(["+14155550100"], data=[1]), 400, "sms[0].data"),
    "template and body": (sms(["+14155550100"], body="hi"), 400, "sms[0].body"),
    "neither template nor body": ({"sms": [{"to": ["+14155550100"]}]}, 400, "sms[0].template"),
    "inline body that does not parse": (
        {"sms": [{"body": "Hi {{name", "to": ["+14155550100"]}]},
        400,
        "sms[0].body",
    ),
    "inline email without subject": (
        {"email": [{"body": "hi", "to": ["a@x.com"]}]},
        400,
        "email[0].subject",
    ),
    "subject override not a string": (email(subject=["x"]), 400, "email[0].subject"),
    "bad format": (
        {"email": [{"subject": "s", "body": "b", "format": "rtf", "to": ["a@x.com"]}]},
        400,
        "email[0].format",
    ),  # fmt: skip
    "whatsapp text over 4096": (
        {"whatsapp": [{"body": long_wa, "to": ["+14155550100"]}]},
        400,
        "whatsapp[0].body",
    ),
    "whatsapp template rendering over 4096": (
        {"whatsapp": [{"template": "wa", "data": {"name": long_wa}, "to": ["+14155550100"]}]},
        400,
        "whatsapp[0].template",
    ),
    "media not an object": (
        {
            "whatsapp": [
                {"template": "wa", "data": {"name": "A"}, "media": "x", "to": ["+14155550100"]}
            ]
        },
        400,
        "whatsapp[0].media",
    ),  # fmt: skip
    "scheduledAt unparseable": (
        {**sms(["+14155550100"]), "scheduledAt": "tomorrow"},
        400,
        "scheduledAt",
    ),  # fmt: skip
    "scheduledAt impossible date": (
        {**sms(["+14155550100"]), "scheduledAt": "2030-02-30T10:00:00Z"},
        400,
        "scheduledAt",
    ),
    "scheduledAt not a string": (
        {**sms(["+14155550100"]), "scheduledAt": 1234},
        400,
        "scheduledAt",
    ),  # fmt: skip
    "scheduledAt in the past": (
        {**sms(["+14155550100"]), "scheduledAt": "2020-01-01T00:00:00Z"},
        400,
        "scheduledAt",
    ),
    "scheduledAt without timezone": (
        {**sms(["+14155550100"]), "scheduledAt": "2099-01-01T00:00:00"},
        400,
        "scheduledAt",
    ),
    "callback.url ftp": (
        {**sms(["+14155550100"]), "callback": {"url": "ftp://example.com/x"}},
        400,
        "callback.url",
    ),
    "callback.url missing": (
        {**sms(["+14155550100"]), "callback": {"meta": {}}},
        400,
        "callback.url",
    ),  # fmt: skip
    "callback.url javascript": (
        {**sms(["+14155550100"]), "callback": {"url": "javascript:alert(1)"}},
        400,
        "callback.url",
    ),
    "callback not an object": (
        {**sms(["+14155550100"]), "callback": "https://x.com"},
        400,
        "callback",
    ),  # fmt: skip
    "callback unknown field": (
        {**sms(["+14155550100"]), "callback": {"url": "https://x.com/h", "secret": "s"}},
        400,
        "callback.secret",
    ),
    "priority unknown": ({**sms(["+14155550100"]), "priority": "urgent"}, 400, "priority"),
    "priority unhashable": ({**sms(["+14155550100"]), "priority": ["high"]}, 400, "priority"),
    "validity zero": ({**sms(["+14155550100"]), "validity": 0}, 400, "validity"),
    "validity a string": ({**sms(["+14155550100"]), "validity": "60"}, 400, "validity"),
    "textStore unknown": ({**sms(["+14155550100"]), "textStore": "zip"}, 400, "textStore"),
}


@pytest.mark.parametrize(("body", "status", "source"), BAD.values(), ids=BAD.keys())
def test_bad_send_request(client, setup, tenant, body, status, source):
    TemplateFactory(tenant=tenant, name="off", is_active=False)
    ProviderFactory(tenant=tenant, name="off", is_active=False)
    before = counts()
    r = client.post(URL, body, format="json")
    assert_error(r, status, source=source)
    assert counts() == before


def test_errors_name_the_template_and_provider(client, setup):
    r = client.post(URL, sms(["+14155550100"], template="nope", provider="gone"), format="json")
    details = " ".join(e["detail"] for e in assert_error(r, 400))
    assert "'nope'" in details and "'gone'" in details


def test_every_error_of_a_request_is_reported(client, setup):
    r = client.post(
        URL,
        {"sms": [{"template": "otp", "data": {"otp": "1"}, "to": ["x", "+14155550100", "y"]}],
         "email": [{"template": "order", "to": ["bad"]}]},
        format="json",
    )  # fmt: skip
    sources = {e["source"] for e in assert_error(r, 400)}
    assert {"sms[0].to[0]", "sms[0].to[2]", "email[0].to[0]"} <= sources


def test_no_default_provider(client, templates):
    before = counts()
    assert_error(client.post(URL, sms(["+14155550100"]), format="json"), 400, "sms[0].provider")
    assert counts() == before


def test_provider_that_does_not_serve_the_channel(client, setup, tenant):
    ProviderFactory(tenant=tenant, name="mailer", channels=["email"])
    r = client.post(URL, sms(["+14155550100"], provider="mailer"), format="json")
    assert_error(r, 400, "sms[0].provider", code="unsupported_channel")


def test_more_than_10000_messages_is_too_large(client, setup):
    before = counts()
    to = [f"+1415555{i:04d}" for i in range(5000)]
    body = {"sms": [{"template": "otp", "data": {"otp": "1"}, "to": to}] * 2}
    body["sms"].append({"template": "otp", "data": {"otp": "1"}, "to": ["+14155550100"]})
    assert_error(client.post(URL, body, format="json"), 413, code="too_many_messages")
    assert counts() == before


def test_body_over_5mb_is_too_large(client, setup):
    before = counts()
    raw = b'{"sms": [{"body": "' + b"x" * (5 * 1024 * 1024) + b'", "to": ["+14155550100"]}]}'
    r = client.post(URL, raw, content_type="application/json")
    assert_error(r, 413)
    assert counts() == before


def test_malformed_json(client, setup):
    before = counts()
    r = client.post(URL, b'{"sms": [', content_type="application/json")
    assert_error(r, 400, code="malformed_body")
    assert counts() == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type(client, setup, content_type):
    before = counts()
    r = client.post(URL, b"sms=1", content_type=content_type)
    assert_error(r, 415)
    assert counts() == before


def test_no_key_stores_nothing(anon_client, setup):
    before = counts()
    assert_error(anon_client.post(URL, sms(["+14155550100"]), format="json"), 401)
    assert counts() == before


# --- Idempotency-Key ------------------------------------------------------------------------


def test_idempotent_repeat_returns_the_first_answer(client, setup):
    body = sms(["+14155550100"])
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 202
    before = counts()
    again = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert counts() == before
    other = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.json()["requestId"] != first.json()["requestId"]


def test_the_same_json_spelled_otherwise_is_the_same_request(client, setup):
    """Whitespace and key order are the client's serialiser's, not the request's."""
    compact = '{"sms":[{"body":"Hi","to":["+14155550100"]}],"priority":"high"}'
    spaced = '{ "priority" : "high",\n  "sms": [ { "to": [ "+14155550100" ], "body": "Hi" } ] }'
    first = client.post(URL, compact, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 202
    before = counts()
    again = client.post(URL, spaced, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (again.status_code, again.json()) == (202, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == before


def test_idempotency_key_with_another_body_is_a_conflict(client, setup):
    client.post(URL, sms(["+14155550100"]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    before = counts()
    r = client.post(URL, sms(["+14155550199"]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(r, 409, source="Idempotency-Key")
    assert counts() == before


def test_idempotency_key_of_a_failed_request_can_be_reused(client, setup):
    bad = client.post(URL, sms(["nope"]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert bad.status_code == 400
    good = client.post(URL, sms(["+14155550100"]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert good.status_code == 202


def test_idempotency_keys_are_per_app(client, setup, other_client):
    body = sms(["+14155550100"])
    a = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    b = other_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert a.status_code == b.status_code == 202
    assert a.json()["requestId"] != b.json()["requestId"]


def test_expired_idempotency_key_makes_a_new_request(client, setup):
    body = sms(["+14155550100"])
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k").json()
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k").json()
    assert again["requestId"] != first["requestId"]


def test_idempotency_key_too_long(client, setup):
    before = counts()
    r = client.post(URL, sms(["+14155550100"]), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert_error(r, 400, source="Idempotency-Key")
    assert counts() == before
