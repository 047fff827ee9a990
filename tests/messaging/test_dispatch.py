"""Dispatch in sync mode: claim before send, retries within bounds, time budget, textStore."""

import hashlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.utils import timezone

from core import status as st
from messaging.models import Message
from messaging.services import dispatch
from messaging.services.dispatch import dispatch_chunk, retry_delay
from messaging.services.sweep import sweep
from providers.backends import SendError
from providers.backends.sandbox import SandboxBackend
from providers.models import SandboxOutboxEntry


def accept(client, numbers, **options):
    """Accept without running tasks: as if the enqueue was lost or is still on its way."""
    body = {"sms": [{"body": "Your code is 1234", "to": list(numbers)}], **options}
    r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return [m["messageId"] for m in r.json()["messages"]]


def numbers(n, start=100):
    return [f"+1415555{start + i:04d}" for i in range(n)]


def detail(client, mid):
    return client.get(f"/api/v1/messages/{mid}").json()


def timeline(got):
    return [e["status"] for e in got["events"]]


def retry_now(run_tasks):
    Message.objects.filter(status=st.PENDING_WAITING_RETRY).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    return run_tasks(sweep)


def outbox_counts():
    counts = {}
    for mid in SandboxOutboxEntry.objects.values_list("message_id", flat=True):
        counts[str(mid)] = counts.get(str(mid), 0) + 1
    return counts


def test_dispatching_the_same_chunk_twice_sends_each_message_once(client, sandbox, run_tasks):
    ids = accept(client, numbers(5))
    first = run_tasks(dispatch_chunk, message_ids=ids)
    second = run_tasks(dispatch_chunk, message_ids=ids)
    assert first["claimed"] == first["sent"] == 5
    assert second == {"claimed": 0, "sent": 0, "failed": 0, "retry": 0, "released": 0, "unknown": 0}
    assert outbox_counts() == {i: 1 for i in ids}
    for mid in ids:
        got = detail(client, mid)
        assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
        assert got["attempts"] == 1


def test_a_message_under_a_live_claim_is_not_sent_again(client, sandbox, run_tasks):
    [mid] = accept(client, numbers(1))
    Message.objects.filter(pk=mid).update(
        status=st.PENDING_PROCESSING,
        claim_token="11111111-1111-1111-1111-111111111111",
        claimed_until=timezone.now() + timedelta(minutes=5),
        attempts=1,
    )
    assert run_tasks(dispatch_chunk, message_ids=[mid])["claimed"] == 0
    run_tasks(sweep)  # the lease is still live: the sweep leaves it too
    assert not SandboxOutboxEntry.objects.exists()
    m = Message.objects.get(pk=mid)
    assert (m.status, m.attempts) == (st.PENDING_PROCESSING, 1)


def test_a_retry_that_is_not_due_is_not_claimed(client, sandbox, run_tasks):
    [mid] = accept(client, numbers(1))
    Message.objects.filter(pk=mid).update(
        status=st.PENDING_WAITING_RETRY, next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert run_tasks(dispatch_chunk, message_ids=[mid])["claimed"] == 0
    assert not SandboxOutboxEntry.objects.exists()


def test_a_final_or_cancelled_message_is_never_sent(client, sandbox, run_tasks):
    ids = accept(client, numbers(2))
    r = client.delete(f"/api/v1/messages/{ids[0]}")
    assert r.status_code == 202, r.content
    run_tasks(dispatch_chunk, message_ids=ids)
    assert outbox_counts() == {ids[1]: 1}
    assert detail(client, ids[0])["status"]["name"] == "CANCELLED_BY_CLIENT"


@pytest.fixture
def always_transient(monkeypatch):
    def send(self, message):
        raise SendError("UPSTREAM_BUSY", "The provider is busy.", permanent=False)

    monkeypatch.setattr(SandboxBackend, "send", send)


def test_retries_stop_after_max_attempts(client, sandbox, run_tasks, settings, always_transient):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    [mid] = accept(client, numbers(1))
    run_tasks(dispatch_chunk, message_ids=[mid])
    for _ in range(5):
        retry_now(run_tasks)
    got = detail(client, mid)
    assert got["status"]["groupName"] == "UNDELIVERABLE"
    assert got["status"]["name"] == "UNDELIVERABLE_NOT_DELIVERED"
    assert got["attempts"] == 3
    assert got["error"]["code"] == "UPSTREAM_BUSY"
    assert got["error"]["description"] == "The provider is busy."
    assert got["finalAt"] is not None
    assert timeline(got) == [
        "PENDING_ACCEPTED",
        "PENDING_WAITING_RETRY",
        "PENDING_WAITING_RETRY",
        "UNDELIVERABLE_NOT_DELIVERED",
    ]
    assert "Gave up after 3 attempts" in got["events"][-1]["description"]


def test_a_retry_that_would_pass_the_validity_expires_the_message(
    client, sandbox, run_tasks, always_transient
):
    [mid] = accept(client, numbers(1), validity=1)
    # The first retry would come 5-10 s later; leave it less than that.
    Message.objects.filter(pk=mid).update(expires_at=timezone.now() + timedelta(seconds=4))
    run_tasks(dispatch_chunk, message_ids=[mid])
    got = detail(client, mid)
    assert got["status"]["name"] == "EXPIRED_EXPIRED"
    assert got["status"]["groupName"] == "EXPIRED"
    assert got["error"]["code"] == "UPSTREAM_BUSY"
    assert got["attempts"] == 1


def test_a_provider_retry_after_is_honoured(client, sandbox, run_tasks, monkeypatch):
    def send(self, message):
        raise SendError("THROTTLED", "Slow down.", permanent=False, retry_after=600)

    monkeypatch.setattr(SandboxBackend, "send", send)
    [mid] = accept(client, numbers(1))
    before = timezone.now()
    run_tasks(dispatch_chunk, message_ids=[mid])
    m = Message.objects.get(pk=mid)
    assert m.status == st.PENDING_WAITING_RETRY
    assert m.next_attempt_at >= before + timedelta(seconds=600)


def test_an_expired_message_is_not_sent(client, sandbox, run_tasks):
    [mid] = accept(client, numbers(1))
    Message.objects.filter(pk=mid).update(expires_at=timezone.now() - timedelta(seconds=1))
    run_tasks(dispatch_chunk, message_ids=[mid])
    got = detail(client, mid)
    assert got["status"]["name"] == "EXPIRED_EXPIRED"
    assert got["error"]["code"] == "VALIDITY_PASSED"
    assert not SandboxOutboxEntry.objects.exists()


def test_a_network_error_is_retried(client, sandbox, run_tasks, monkeypatch):
    calls = []
    real_send = SandboxBackend.send

    def send(self, message):
        calls.append(message.attempt)
        if message.attempt == 1:
            raise requests.ConnectionError("connection reset")
        return real_send(self, message)

    monkeypatch.setattr(SandboxBackend, "send", send)
    [mid] = accept(client, numbers(1))
    run_tasks(dispatch_chunk, message_ids=[mid])
    got = detail(client, mid)
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["code"] == "NETWORK_ERROR"
    retry_now(run_tasks)
    assert detail(client, mid)["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert calls == [1, 2]


def test_an_adapter_bug_does_not_strand_the_rest_of_the_chunk(
    client, sandbox, run_tasks, monkeypatch
):
    real_send = SandboxBackend.send

    def send(self, message):
        if message.to.endswith("0100"):
            raise KeyError("oops")
        return real_send(self, message)

    monkeypatch.setattr(SandboxBackend, "send", send)
    ids = accept(client, numbers(3))
    counts = run_tasks(dispatch_chunk, message_ids=ids)
    assert counts["retry"] == 1 and counts["sent"] == 2
    got = detail(client, ids[0])
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["code"] == "INTERNAL_ERROR"
    assert [detail(client, i)["status"]["name"] for i in ids[1:]] == ["DELIVERED_TO_HANDSET"] * 2


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 12, 20, 100])
def test_retry_delay_grows_exponentially_with_jitter(attempt):
    base = min(10 * 2 ** (attempt - 1), 3600)
    delays = [retry_delay(attempt) for _ in range(200)]
    assert all(base / 2 <= d <= base for d in delays)
    assert len(set(delays)) > 1  # jittered


def test_retry_delay_each_retry_waits_longer_until_the_cap():
    for attempt in range(1, 9):
        assert max(retry_delay(attempt) for _ in range(50)) <= min(
            retry_delay(attempt + 1) for _ in range(50)
        )
    assert 1800 <= min(retry_delay(30) for _ in range(50))
    assert max(retry_delay(30) for _ in range(50)) <= 3600


def test_out_of_time_hands_the_unsent_rest_back_and_sends_each_once(
    client, sandbox, run_tasks, settings
):
    settings.DISPATCH_WINDOW_BUDGET = 0
    settings.DISPATCH_WAVE_SIZE = 2
    settings.DISPATCH_PROVIDER_CONCURRENCY = 1  # waves of two
    ids = accept(client, numbers(4))
    counts = dispatch.dispatch_window()  # its wake-up for the rest is not run yet
    assert (counts["claimed"], counts["sent"], counts["released"]) == (4, 2, 2)
    assert Message.objects.filter(status=st.PENDING_ACCEPTED, attempts=0).count() == 2
    dispatch.dispatch_window()
    assert outbox_counts() == {i: 1 for i in ids}
    for mid in ids:
        got = detail(client, mid)
        assert got["status"]["name"] == "PENDING_ENROUTE"
        assert got["attempts"] == 1  # a release does not count as an attempt


def test_out_of_time_with_a_slow_provider(client, sandbox, run_tasks, settings, monkeypatch):
    settings.DISPATCH_WINDOW_BUDGET = 5
    clock = iter(range(0, 1000, 3))
    monkeypatch.setattr(dispatch, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    ids = accept(client, numbers(5))
    run_tasks(dispatch_chunk, message_ids=ids)
    assert outbox_counts() == {i: 1 for i in ids}
    assert {detail(client, i)["status"]["name"] for i in ids} == {"DELIVERED_TO_HANDSET"}


def test_big_request_fans_out_into_chunks(client, sandbox, run_tasks, settings):
    settings.DISPATCH_WINDOW_SIZE = 2
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "hi", "to": numbers(7)}]},
        format="json",
    )
    ids = [m["messageId"] for m in r.json()["messages"]]
    assert outbox_counts() == {i: 1 for i in ids}


@pytest.mark.parametrize(
    ("text_store", "body"),
    [
        ("plaintext", "Your code is 1234"),
        ("sha256", hashlib.sha256(b"Your code is 1234").hexdigest()),
        ("nostore", ""),
    ],
)
def test_text_store_changes_the_stored_body_after_sending(
    client, sandbox, run_tasks, text_store, body
):
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Your code is 1234", "to": ["+14155550100"]}], "textStore": text_store},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    got = detail(client, mid)
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert got["body"] == body
    # The sandbox's outbox stands for the provider's store: it honours textStore too.
    assert SandboxOutboxEntry.objects.get().body == body


def test_text_store_keeps_the_text_while_a_retry_needs_it(client, sandbox, run_tasks):
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Your code is 1234", "to": ["+14155550002"]}], "textStore": "nostore"},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    assert detail(client, mid)["body"] == "Your code is 1234"
    retry_now(run_tasks)
    retry_now(run_tasks)
    assert detail(client, mid)["body"] == ""
    assert SandboxOutboxEntry.objects.get().body == ""


def test_text_store_email_html(client, sandbox, run_tasks, templates):
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {
            "email": [
                {
                    "template": "order",
                    "data": {"orderId": "o-1", "name": "Ann"},
                    "to": ["ann@example.com"],
                }
            ],
            "textStore": "nostore",
        },
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    m = Message.objects.get(pk=mid)
    assert m.status == st.DELIVERED_TO_HANDSET
    assert (m.body, m.html, m.subject) == ("", "", "")
    outbox = SandboxOutboxEntry.objects.get()
    assert (outbox.body, outbox.html, outbox.payload["textStore"]) == ("", "", "nostore")


def test_text_store_applies_when_the_message_fails_for_good(client, sandbox, run_tasks):
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Your code is 1234", "to": ["+14155550001"]}], "textStore": "sha256"},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    got = detail(client, mid)
    assert got["status"]["name"] == "REJECTED_DESTINATION"
    assert got["body"] == hashlib.sha256(b"Your code is 1234").hexdigest()


def test_priority_high_is_sent_first(client, sandbox, run_tasks):
    low = accept(client, ["+14155550100"], priority="low")
    high = accept(client, ["+14155550101"], priority="high")
    run_tasks(dispatch_chunk, message_ids=low + high)
    order = list(
        SandboxOutboxEntry.objects.order_by("created_at", "id").values_list("message_id", flat=True)
    )
    assert [str(i) for i in order] == high + low


def test_a_final_message_keeps_no_claim(client, sandbox, run_tasks):
    ids = accept(client, ["+14155550001", "+14155550100"])
    run_tasks(dispatch_chunk, message_ids=ids)
    for m in Message.objects.filter(pk__in=ids):
        assert m.status in (st.REJECTED_DESTINATION, st.DELIVERED_TO_HANDSET)
        assert (m.claim_token, m.claimed_until, m.next_attempt_at) == (None, None, None)
        assert m.final_at is not None


def test_a_scheduled_message_is_not_sent_before_its_time(client, sandbox, run_tasks):
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "later", "to": ["+14155550100"]}], "scheduledAt": when},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    assert run_tasks(dispatch_chunk, message_ids=[mid])["claimed"] == 0
    assert detail(client, mid)["status"]["name"] == "PENDING_SCHEDULED"
    assert not SandboxOutboxEntry.objects.exists()


def test_cancelling_a_nostore_message_drops_its_text(client, sandbox, run_tasks):
    [mid] = accept(client, ["+14155550100"], textStore="nostore")
    assert client.delete(f"/api/v1/messages/{mid}").status_code == 202
    got = detail(client, mid)
    assert got["status"]["name"] == "CANCELLED_BY_CLIENT"
    assert got["body"] == ""
    assert run_tasks(dispatch_chunk, message_ids=[mid])["claimed"] == 0
