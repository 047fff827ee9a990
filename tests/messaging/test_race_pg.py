"""Two workers dispatch the same chunk at the same moment: each message is sent once.

Real concurrency needs real transactions and a database that lets two writers in at once,
so this runs on PostgreSQL only (DATABASE_URL=postgres://...).
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from core import status as st
from messaging.models import Message
from messaging.services.dispatch import dispatch_chunk
from providers.models import SandboxOutboxEntry

N = 200

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL for concurrent writers (the database is {connection.vendor}); "
            "run with DATABASE_URL=postgres://..."
        )


def accept_many(client, n):
    numbers = [f"+1415556{i:04d}" for i in range(100, 100 + n)]
    r = client.post("/api/v1/messages", {"sms": [{"body": "race", "to": numbers}]}, format="json")
    assert r.status_code == 202, r.content
    return [m["messageId"] for m in r.json()["messages"]]


def run_in_threads(n_threads, fn):
    barrier = threading.Barrier(n_threads)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_two_workers_same_chunk_send_each_message_once(client, sandbox, monkeypatch):
    # Hold every enqueue: the threads are the workers here.
    monkeypatch.setattr("messaging.queue.async_task", lambda *a, **k: None)
    ids = accept_many(client, N)
    assert Message.objects.filter(status=st.PENDING_ACCEPTED).count() == N
    assert not SandboxOutboxEntry.objects.exists()

    results, errors = run_in_threads(2, lambda: dispatch_chunk(message_ids=ids))

    assert errors == []
    assert sum(r["sent"] for r in results) == N
    assert sorted(r["claimed"] for r in results) == sorted(r["sent"] for r in results)
    sent = Counter(str(i) for i in SandboxOutboxEntry.objects.values_list("message_id", flat=True))
    assert len(sent) == N and set(sent) == set(ids)
    assert set(sent.values()) == {1}
    statuses = Counter(Message.objects.values_list("status", flat=True))
    assert set(statuses) <= {st.PENDING_ENROUTE, st.DELIVERED_TO_HANDSET}
    assert sum(statuses.values()) == N
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}


def test_many_workers_overlapping_chunks(client, sandbox, monkeypatch):
    monkeypatch.setattr("messaging.queue.async_task", lambda *a, **k: None)
    ids = accept_many(client, N)
    # Four workers, each with an overlapping slice, in opposite orders.
    slices = [ids[:150], ids[50:][::-1], ids[::-1], ids[25:175]]
    lock = threading.Lock()
    order = iter(slices)

    def work():
        with lock:
            chunk = next(order)
        return dispatch_chunk(message_ids=chunk)

    results, errors = run_in_threads(4, work)
    assert errors == []
    assert sum(r["sent"] for r in results) == N
    sent = Counter(str(i) for i in SandboxOutboxEntry.objects.values_list("message_id", flat=True))
    assert set(sent) == set(ids) and set(sent.values()) == {1}


def test_a_provider_retrying_an_inbound_at_once_stores_it_once(sandbox):
    from rest_framework.test import APIClient

    from providers.models import InboundMessage

    url = f"/webhooks/providers/{sandbox.webhook_token}/inbound"
    body = {"from": "+14155550123", "to": "+18005550000", "text": "YES", "messageId": "in-race"}
    results, errors = run_in_threads(
        4, lambda: APIClient().post(url, body, format="json").status_code
    )
    assert errors == []
    assert results == [200] * 4
    assert InboundMessage.objects.filter(provider_message_id="in-race").count() == 1


def test_concurrent_status_reports_apply_once_and_only_forward(client, sandbox, monkeypatch):
    from rest_framework.test import APIClient

    from messaging.models import CallbackDelivery, MessageEvent

    monkeypatch.setattr("messaging.queue.async_task", lambda *a, **k: None)
    r = client.post(
        "/api/v1/messages",
        {
            "sms": [{"body": "hi", "to": ["+14155550100", "+14155550101"]}],
            "callback": {"url": "http://127.0.0.1:8765/hooks"},
        },
        format="json",
    )
    ids = [m["messageId"] for m in r.json()["messages"]]
    dispatch_chunk(message_ids=ids)
    first, second = Message.objects.filter(pk__in=ids).order_by("to")
    url = f"/webhooks/providers/{sandbox.webhook_token}/status"
    reports = iter(
        [{"messageId": first.provider_message_id, "status": "DELIVERED"}] * 4
        + [{"messageId": second.provider_message_id, "status": s} for s in ("DELIVERED", "READ")]
        * 2
    )
    lock = threading.Lock()

    def post():
        with lock:
            body = next(reports)
        return APIClient().post(url, body, format="json").json()["accepted"]

    results, errors = run_in_threads(8, post)
    assert errors == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == st.DELIVERED_TO_HANDSET
    assert second.status == st.DELIVERED_READ
    assert MessageEvent.objects.filter(message=first, status=st.DELIVERED_TO_HANDSET).count() == 1
    assert MessageEvent.objects.filter(message=second, status=st.DELIVERED_READ).count() == 1
    assert MessageEvent.objects.filter(message=second, status=st.DELIVERED_TO_HANDSET).count() <= 1
    assert CallbackDelivery.objects.filter(message=first).count() == 2  # enroute, delivered
    assert (
        sum(results) == 1 + MessageEvent.objects.filter(message=second, source="provider").count()
    )


def test_racing_dispatchers_claim_disjoint_windows(client, sandbox, monkeypatch, settings):
    """Four workers draining one backlog window by window (SKIP LOCKED): each message once."""
    from messaging.services.dispatch import dispatch_backlog

    monkeypatch.setattr("messaging.queue.async_task", lambda *a, **k: None)
    settings.DISPATCH_WINDOW_SIZE = 20
    ids = accept_many(client, N)
    results, errors = run_in_threads(4, dispatch_backlog)
    assert errors == []
    assert sum(r["sent"] for r in results) == N
    assert sum(r["claimed"] for r in results) == N  # no window claimed a row twice
    assert sum(1 for r in results if r["sent"]) >= 2  # they really worked side by side
    sent = Counter(str(i) for i in SandboxOutboxEntry.objects.values_list("message_id", flat=True))
    assert set(sent) == set(ids) and set(sent.values()) == {1}
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
