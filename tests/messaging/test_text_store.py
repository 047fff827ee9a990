"""textStore sha256 / nostore: once a message has left (or never will), no table of the
database holds its text: not the message (body, HTML, subject, content: buttons, captions,
push title and data, template parameters), not its events, attempts' provider answers,
errors, callbacks, idempotency records, early reports, the sandbox's outbox (it stands for
the provider's store) or the task queue's rows, and not the log. Through the sandbox on every
channel of the send API, and through real adapters whose answers and reports echo the text
(Twilio's Message resource carries `body`, Mailgun's events `message.headers.subject`).

Before it leaves, a message keeps its text: it has to be sent (a scheduled one waits with it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
import responses
from django.apps import apps
from django.utils import timezone

from core import status as st
from core import textstore
from core.channels import CHANNEL_KEYS
from messaging import queue
from messaging.admin.log import _text_digest
from messaging.models import EarlyReport, Message
from messaging.services import timers
from messaging.services.dispatch import dispatch_chunk
from providers.backends.sandbox import SandboxBackend
from tests.factories import ProviderFactory
from tests.helpers import HOOK
from tests.providers.test_anymail_esp import mailgun_signature
from tests.providers.test_twilio import (
    API as TWILIO_API,
)
from tests.providers.test_twilio import (
    MSG_SID,
    SID,
    TOKEN,
    created,
    post_signed,
    status_params,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages"
# Each piece of text carries a token found nowhere else: the dump is searched for these.
BODY = "Your gate code is Zebra7731, valid today"
SUBJECT = "Okapi4412 order shipped"
BUTTON = "Lynx9051 yes"
CAPTION = "Heron6620 caption"
TITLE = "Tapir3310 arrived"
DATA = "Ibex8842 secret note"
PARAM = "Ibis5521"
TOKENS = ("Zebra7731", "Okapi4412", "Lynx9051", "Heron6620", "Tapir3310", "Ibex8842", "Ibis5521")
PHONE = "+14155550100"
PUSH_TOKEN = "dA1b2C3:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"
STORES = ("sha256", "nostore")

# What each channel's entry carries beyond its body: every kind of text it can have.
ENTRIES = {
    "sms": {"body": BODY, "to": [PHONE]},
    "email": {
        "subject": SUBJECT,
        "body": f"<p>{BODY}</p>",
        "format": "text/html",
        "to": ["ann@example.com"],
    },
    "whatsapp": {
        "body": BODY,
        "to": [PHONE],
        "buttons": [BUTTON],
        "media": {"document": {"url": "https://files.example.com/a.pdf", "caption": CAPTION}},
    },
    "viber": {
        "body": BODY,
        "to": [PHONE],
        "media": {"image": {"url": "https://files.example.com/a.jpg"}},
        "buttons": [{"url": {"value": "https://shop.example.com/o/1", "title": BUTTON}}],
    },
    "rcs": {"body": BODY, "to": [PHONE], "buttons": [BUTTON]},
    "push": {"title": TITLE, "body": BODY, "payload": {"note": DATA}, "to": [PUSH_TOKEN]},
}


def entry_for(channel: str) -> dict:
    return ENTRIES.get(channel, {"body": BODY, "to": [PHONE]})


# --- what the database and the log hold ------------------------------------------------------


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        return json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def database_dump() -> list[str]:
    """Every stored value of every table, one line each, as text: JSON as its JSON, the task
    queue's pickled arguments unpickled (django-q's Task/Success/Failure) and its ORM broker's
    signed packages opened (OrmQ)."""
    from django_q.signing import SignedPackage

    lines = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = model._meta.concrete_fields
        for row in model.objects.all():
            for field in fields:
                value = field.value_from_object(row)
                if value in (None, "", b""):
                    continue
                if model._meta.label == "django_q.OrmQ" and field.name == "payload":
                    value = SignedPackage.loads(value)
                lines.append(f"{model._meta.label}.{field.name} #{row.pk}: {_as_text(value)}")
    return lines


def plaintext_in(lines) -> list[str]:
    return [line for line in lines if any(token in line for token in TOKENS)]


@pytest.fixture
def task_args(monkeypatch):
    """Every task enqueued, with its arguments (what the ORM broker pickles into its rows)."""
    seen: list[str] = []
    real = queue.async_task

    def spy(func, *args, **kwargs):
        seen.append(f"{func}{args!r}")
        return real(func, *args, **kwargs)

    monkeypatch.setattr(queue, "async_task", spy)
    return seen


@pytest.fixture
def logs(caplog):
    """The log of the test, but Django's SQL debug log (which prints every query's parameters,
    the accepted text among them: off unless DEBUG logging is configured for it)."""
    caplog.set_level(logging.DEBUG)

    def text() -> list[str]:
        return [
            f"{r.name}: {r.getMessage()} {r.exc_text or ''}"
            for r in caplog.records
            if not r.name.startswith("django.db.backends")
        ]

    return text


def assert_no_plaintext(task_args, logs) -> None:
    assert plaintext_in(database_dump()) == []
    assert plaintext_in(task_args) == []
    assert plaintext_in(logs()) == []


@pytest.fixture
def wire():
    """The network: the app's callback URL answers 200; tests add the providers' answers."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(HOOK, status=200)
        yield rsps


@pytest.fixture
def provider_got(monkeypatch):
    """The text the sandbox was handed (what its recipient reads), per message id."""
    got: dict[str, tuple[str, str]] = {}
    real = SandboxBackend.send

    def send(self, message):
        got[message.id] = (message.body, message.subject)
        return real(self, message)

    monkeypatch.setattr(SandboxBackend, "send", send)
    return got


def post(client, run_tasks, body, key="k-1"):
    r = run_tasks(client.post, URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert r.status_code == 202, r.content
    return [m["messageId"] for m in r.json()["messages"]]


def assert_kept_as(message: Message, text_store: str, body: str, subject: str) -> None:
    """sha256 keeps the hex SHA-256 of the text the provider got (and of its subject)."""
    if text_store == "sha256":
        assert message.body == hashlib.sha256(body.encode()).hexdigest()
        assert message.subject == (hashlib.sha256(subject.encode()).hexdigest() if subject else "")
    else:
        assert (message.body, message.subject) == ("", "")
    assert message.html == ""


# --- the sandbox, every channel ---------------------------------------------------------------


@pytest.mark.parametrize("text_store", STORES)
@pytest.mark.parametrize("channel", CHANNEL_KEYS)
def test_a_delivered_message_leaves_no_text_in_any_table(
    client, sandbox, run_tasks, wire, task_args, logs, provider_got, channel, text_store
):
    body = {channel: [entry_for(channel)], "textStore": text_store, "callback": {"url": HOOK}}
    [mid] = post(client, run_tasks, body)
    got = client.get(f"{URL}/{mid}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert any(TOKENS[0] in text for text in provider_got[mid])  # the provider got the text
    message = Message.objects.get(pk=mid)
    assert_kept_as(message, text_store, *provider_got[mid])
    assert got["body"] == message.body  # the API shows what is kept
    assert len(wire.calls) >= 2  # the callbacks went out (sent, delivered)
    assert_no_plaintext(task_args, logs)


def test_every_channel_is_covered():
    """The channels of the send API are the parametrised ones (a new one gets a generic entry
    until it is added to ENTRIES with the texts it can carry)."""
    assert set(CHANNEL_KEYS) <= set(ENTRIES), set(CHANNEL_KEYS) - set(ENTRIES)


def test_sha256_keeps_the_hash_the_message_log_shows(client, sandbox, run_tasks):
    [mid] = post(client, run_tasks, {"sms": [entry_for("sms")], "textStore": "sha256"})
    message = Message.objects.get(pk=mid)
    assert message.body == hashlib.sha256(BODY.encode()).hexdigest()
    assert _text_digest(message) == message.body


def test_plaintext_keeps_everything(client, sandbox, run_tasks):
    [mid] = post(client, run_tasks, {"whatsapp": [entry_for("whatsapp")]})
    message = Message.objects.get(pk=mid)
    assert message.body == BODY
    assert message.content["buttons"] == [BUTTON]
    assert message.content["media"]["document"]["caption"] == CAPTION


def test_content_keeps_its_references_only(client, sandbox, run_tasks):
    entry = {**entry_for("rcs"), "externalRef": "order-1", "tags": ["otp"]}
    [mid] = post(client, run_tasks, {"rcs": [entry], "textStore": "nostore"})
    assert Message.objects.get(pk=mid).content == {"externalRef": "order-1", "tags": ["otp"]}


# --- real adapters whose answers and reports echo the text ------------------------------------


@pytest.fixture
def twilio(tenant):
    return ProviderFactory(
        tenant=tenant, name="tw", provider_type="twilio", channels=["sms", "whatsapp"],
        credentials={"accountSid": SID, "authToken": TOKEN},
    )  # fmt: skip


MG_URL = "https://api.mailgun.net/v3/mg.example.com/messages"
MG_ID = "<20240101.1@mg.example.com>"


@pytest.fixture
def mailgun(tenant):
    return ProviderFactory(
        tenant=tenant, name="mg", provider_type="mailgun", channels=["email"],
        credentials={"apiKey": "key-1", "senderDomain": "mg.example.com",
                     "webhookSecret": "mg-signing-key"},
    )  # fmt: skip


def twilio_answer(request):
    """Twilio's 201 Message resource: it echoes the body (as sent) and the addresses."""
    form = dict(parse_qsl(request.body))
    # A Content template's body, as Twilio renders it with its variables.
    variables = json.loads(form.get("ContentVariables", "{}"))
    body = form.get("Body") or f"Your code is {' '.join(variables.values())}"
    resource = created(
        body=body, to=form["To"], status="queued", direction="outbound-api",
        **{"from": form.get("From", "")},
    )  # fmt: skip
    return 201, {}, json.dumps(resource)


def twilio_report(anon_client, run_tasks, twilio, mid, status, body: str):
    """Twilio's status callback; its parameters "vary by channel and event type" (Twilio's
    webhook docs): this one carries the Body, as its Event Streams' delivered event does."""
    params = status_params(status, MessageSid=MSG_SID, SmsSid=MSG_SID, Body=body)
    path = f"/webhooks/providers/{twilio.webhook_token}/status?ref={mid}"
    assert run_tasks(post_signed, anon_client, path, params).status_code == 200


@pytest.mark.parametrize("text_store", STORES)
@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_twilio_echoes_of_the_text_are_not_stored(
    client, anon_client, twilio, run_tasks, wire, task_args, logs, channel, text_store
):
    wire.add_callback(responses.POST, TWILIO_API, callback=twilio_answer)
    entry = {"body": BODY, "to": [PHONE], "from": "+15005550006", "provider": "tw"}
    if channel == "whatsapp":  # a Content template: its variables are text too
        entry = {**entry, "providerTemplate": {"name": "HX" + "c" * 32, "params": [PARAM]}}
    body = {channel: [entry], "textStore": text_store, "callback": {"url": HOOK}}
    [mid] = post(client, run_tasks, body)
    sent = dict(parse_qsl(next(c for c in wire.calls if c.request.url == TWILIO_API).request.body))
    if channel == "whatsapp":
        assert json.loads(sent["ContentVariables"]) == {"1": PARAM}
    else:
        assert sent["Body"] == BODY
    for status in ("sent", "delivered"):
        twilio_report(anon_client, run_tasks, twilio, mid, status, BODY)
    message = Message.objects.get(pk=mid)
    assert message.status == st.DELIVERED_TO_HANDSET
    assert message.send_attempts.get().provider_response["sid"] == MSG_SID  # the rest is kept
    assert_no_plaintext(task_args, logs)


def mailgun_answer(request):
    return 200, {}, json.dumps({"id": MG_ID, "message": "Queued. Thank you."})


def mailgun_delivered(mid: str) -> dict:
    """Mailgun's `delivered` event: its message headers carry the subject."""
    return {
        "signature": mailgun_signature(),
        "event-data": {
            "event": "delivered",
            "timestamp": 1529006854.329574,
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "recipient": "ann@example.com",
            "message": {
                "headers": {
                    "to": "ann@example.com",
                    "message-id": MG_ID.strip("<>"),
                    "from": "shop@example.com",
                    "subject": SUBJECT,
                },
                "attachments": [],
                "size": 1024,
            },
            "user-variables": {"message_id": mid},
            "delivery-status": {"code": 250, "message": "OK", "description": ""},
            "tags": [],
        },
    }


@pytest.mark.parametrize("text_store", STORES)
def test_mailgun_echoes_of_the_subject_are_not_stored(
    client, anon_client, mailgun, run_tasks, wire, task_args, logs, text_store
):
    wire.add_callback(responses.POST, MG_URL, callback=mailgun_answer)
    entry = {**entry_for("email"), "from": "shop@example.com", "provider": "mg"}
    [mid] = post(client, run_tasks, {"email": [entry], "textStore": text_store})
    path = f"/webhooks/providers/{mailgun.webhook_token}/status"
    r = run_tasks(anon_client.post, path, mailgun_delivered(mid), format="json")
    assert r.status_code == 200, r.content
    message = Message.objects.get(pk=mid)
    assert message.status == st.DELIVERED_TO_HANDSET
    event = message.events.order_by("-created_at", "-id").first()
    headers = event.raw["espEvent"]["event-data"]["message"]["headers"]
    assert headers["subject"] == textstore.NOT_STORED
    assert headers["to"] == "ann@example.com"  # what is not text stays
    assert_no_plaintext(task_args, logs)


def test_a_report_faster_than_the_send_record_leaves_nothing_behind(
    client, anon_client, twilio, run_tasks, wire, task_args, logs
):
    """Twilio's report can come before our record of its send: kept as an early report (with
    the text it echoes) until the send is recorded, then applied and dropped."""
    wire.add_callback(responses.POST, TWILIO_API, callback=twilio_answer)
    body = {"sms": [{"body": BODY, "to": [PHONE], "provider": "tw"}], "textStore": "nostore"}
    r = client.post(URL, body, format="json")  # accepted; no worker has run yet
    mid = r.json()["messages"][0]["messageId"]
    twilio_report(anon_client, run_tasks, twilio, mid, "delivered", BODY)
    assert EarlyReport.objects.count() == 1
    run_tasks(dispatch_chunk, message_ids=[mid])
    assert Message.objects.get(pk=mid).status == st.DELIVERED_TO_HANDSET
    assert not EarlyReport.objects.exists()
    assert_no_plaintext(task_args, logs)


def test_the_orm_brokers_queue_rows_carry_no_text(client, sandbox, run_tasks, monkeypatch):
    """Off sync mode the tasks wait in django-q's ORM queue, their arguments pickled in its
    rows: ids and the sandbox's reports, never the text."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    if not Conf.ORM:
        pytest.skip("the ORM broker is not configured (Redis is)")
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(queue, "_broker", None)
    body = {"push": [entry_for("push")], "textStore": "nostore", "callback": {"url": HOOK}}
    [mid] = post(client, run_tasks, body)
    run_tasks(dispatch_chunk, message_ids=[mid])  # what the queued dispatch run would do
    assert Message.objects.get(pk=mid).status == st.PENDING_ENROUTE  # its report is queued
    assert OrmQ.objects.count() >= 2  # the dispatch run, the sandbox's report
    assert plaintext_in(database_dump()) == []


# --- messages that never leave, and what the provider says when it refuses ---------------------


def test_a_scheduled_message_keeps_its_text_until_cancelled(
    client, sandbox, run_tasks, task_args, logs
):
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    body = {"email": [entry_for("email")], "textStore": "sha256", "scheduledAt": when}
    [mid] = post(client, run_tasks, body)
    # Expected: it has to be sent, so until it leaves it holds its text.
    message = Message.objects.get(pk=mid)
    assert message.status == st.PENDING_SCHEDULED
    assert SUBJECT == message.subject and BODY in message.html
    assert client.delete(f"{URL}/{mid}").status_code == 202
    message.refresh_from_db()
    assert message.status == st.CANCELLED_BY_CLIENT
    assert message.subject == hashlib.sha256(SUBJECT.encode()).hexdigest()
    assert_no_plaintext(task_args, logs)


@pytest.mark.parametrize("text_store", STORES)
def test_a_message_whose_validity_passes_unsent_is_scrubbed(
    client, sandbox, run_tasks, task_args, logs, text_store
):
    r = client.post(URL, {"rcs": [entry_for("rcs")], "textStore": text_store}, format="json")
    mid = r.json()["messages"][0]["messageId"]
    timers.expire_waiting(timezone.now() + timedelta(days=3))
    message = Message.objects.get(pk=mid)
    assert message.status == st.EXPIRED_EXPIRED
    assert message.content is None or "buttons" not in message.content
    assert_no_plaintext(task_args, logs)


@pytest.mark.parametrize("text_store", STORES)
def test_a_message_the_sandbox_rejects_is_scrubbed(
    client, sandbox, run_tasks, task_args, logs, text_store
):
    entry = {**entry_for("whatsapp"), "to": ["+14155550001"]}  # the sandbox rejects it
    [mid] = post(client, run_tasks, {"whatsapp": [entry], "textStore": text_store})
    assert Message.objects.get(pk=mid).status == st.REJECTED_DESTINATION
    assert_no_plaintext(task_args, logs)


def test_a_provider_error_quoting_the_text_is_scrubbed(
    client, twilio, run_tasks, wire, task_args, logs
):
    """A refusal whose answer quotes the text (and whose description we keep): the quote goes,
    the rest of the error stays."""
    answer = {"code": 30007, "status": 400, "more_info": "https://www.twilio.com/docs/errors/30007",
              "message": f"Message filtered: '{BODY}' looks like spam"}  # fmt: skip
    wire.post(TWILIO_API, json=answer, status=400)
    body = {"sms": [{"body": BODY, "to": [PHONE], "provider": "tw"}], "textStore": "nostore",
            "callback": {"url": HOOK}}  # fmt: skip
    [mid] = post(client, run_tasks, body)
    message = Message.objects.get(pk=mid)
    assert st.get(message.status).is_final, message.status
    assert message.error_code and textstore.NOT_STORED in message.error_description
    attempt = message.send_attempts.get()
    assert attempt.provider_response["code"] == 30007
    assert textstore.NOT_STORED in json.dumps(attempt.provider_response)
    assert_no_plaintext(task_args, logs)


# --- the scrubber itself ----------------------------------------------------------------------


def test_scrub_finds_the_text_in_any_spelling_and_in_text_fields():
    pieces = textstore.fragments(body="Tom & Jerry <3 Zebra7731", subject="Hi Okapi4412")
    answer = {
        "xml": "<Body>Tom &amp; Jerry &lt;3 Zebra7731</Body>",
        "form": "Body=Tom+%26+Jerry+%3C3+Zebra7731",
        "Text": "converted: Tom and Jerry",  # transformed by the provider: found by its field
        "mail": {"headers": [{"name": "Subject", "value": "Hi Okapi..."}]},
        "id": "SM1",
        "count": 3,
    }
    got = textstore.scrub(answer, pieces=pieces)
    assert plaintext_in([json.dumps(got)]) == []
    assert got["Text"] == got["mail"]["headers"][0]["value"] == textstore.NOT_STORED
    assert (got["id"], got["count"]) == ("SM1", 3)


def test_scrub_after_the_send_knows_a_sha256_text_by_its_hash():
    kept = textstore.kept_fields("sha256", body=BODY, subject=SUBJECT)
    got = textstore.scrub({"echo": BODY, "other": "fine"}, digests=[kept["body"]])
    assert got == {"echo": textstore.NOT_STORED, "other": "fine"}


# --- omnimessages ------------------------------------------------------------------------------


@pytest.mark.parametrize("text_store", STORES)
def test_an_omnimessage_leaves_no_text_in_any_table(
    client, sandbox, run_tasks, wire, task_args, logs, text_store
):
    """WhatsApp rejected (no account), then SMS delivered: both steps, the omnimessage, its
    callbacks (per channel and settled) and its idempotency record hold no text."""
    body = {
        "to": "+14155550003",  # the sandbox: no WhatsApp account, SMS delivers
        "messages": [
            {"channel": "whatsapp", "text": BODY, "buttons": [BUTTON]},
            {"channel": "sms", "text": f"{BODY} {PARAM}"},
        ],
        "textStore": text_store,
        "callback": {"url": HOOK},
    }
    r = run_tasks(
        client.post, "/api/v1/omnimessages", body, format="json", HTTP_IDEMPOTENCY_KEY="omni-1"
    )
    assert r.status_code == 201, r.content
    oid = r.json()["omnimessageId"]
    got = client.get(f"/api/v1/omnimessages/{oid}/status").json()
    assert [(s["channel"], s["status"]["groupName"]) for s in got["statuses"]] == [
        ("whatsapp", "REJECTED"),
        ("sms", "DELIVERED"),
    ]
    assert client.get(f"/api/v1/omnimessages/{oid}").json()["state"] == "DELIVERED"
    sent = [json.loads(c.request.body) for c in wire.calls if c.request.url == HOOK]
    assert any(b.get("event") == "omnimessage.status" for b in sent)
    assert_no_plaintext(task_args, logs)
    sms = Message.objects.get(pk=got["statuses"][1]["messageId"])
    assert_kept_as(sms, text_store, f"{BODY} {PARAM}", "")
