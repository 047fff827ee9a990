"""The windowed core: statements per message, lanes, concurrency, coalesced wake-ups, timers,
and what a crash between hand-over and record leaves behind."""

import threading
import time
from datetime import timedelta

import pytest
import responses
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import status as st
from messaging import queue
from messaging.models import EarlyReport, Message, MessageEvent
from messaging.services import dispatch, timers
from messaging.services.dispatch import dispatch_window
from messaging.services.status import message_reports_apply
from providers.backends import StatusReport
from providers.models import SandboxOutboxEntry
from tenants.models import Tenant
from tests.factories import ProviderFactory


def accept(client, numbers, **options):
    """Accept without running tasks: the backlog waits for dispatch."""
    body = {"sms": [{"body": "Your code is 1234", "to": list(numbers)}], **options}
    r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return [m["messageId"] for m in r.json()["messages"]]


def numbers(n, start=0):
    """Distinct plain recipients (never a sandbox magic ending 0001-0004)."""
    return [f"+1415{(start + i) // 9000:03d}{1000 + (start + i) % 9000:04d}" for i in range(n)]


def statuses(ids):
    return {str(m.pk): m.status for m in Message.objects.filter(pk__in=ids)}


# --- statements per message -----------------------------------------------------------------


@pytest.mark.parametrize("size", [50, 100, 200])
def test_a_window_costs_the_same_statements_whatever_its_size(client, sandbox, settings, size):
    settings.DISPATCH_WINDOW_SIZE = size
    ids = accept(client, numbers(size))
    with CaptureQueriesContext(connection) as queries:
        counts = dispatch_window()
    assert counts["claimed"] == counts["sent"] == size
    assert set(statuses(ids).values()) == {st.PENDING_ENROUTE}
    assert SandboxOutboxEntry.objects.count() == size
    # Claim (2), record (owned rows, messages, events, attempts, outbox), early reports: and
    # one queue write after commit for the window's sandbox reports (not run here).
    sql = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]  # the test's transaction
    statements = len(sql) + 1
    assert statements <= 10, [q[:90] for q in sql]
    if size >= 100:
        assert statements / size <= 0.1


def test_window_statement_count_is_constant(client, sandbox, settings):
    seen = set()
    for size in (20, 80):
        settings.DISPATCH_WINDOW_SIZE = size
        accept(client, numbers(size, start=size * 1000))
        with CaptureQueriesContext(connection) as queries:
            assert dispatch_window()["sent"] == size
        seen.add(len([q for q in queries if "SAVEPOINT" not in q["sql"]]))
    assert len(seen) == 1, seen


# --- lanes ------------------------------------------------------------------------------------


def test_a_high_message_overtakes_a_low_backlog(client, sandbox, settings):
    low = accept(client, numbers(2000), priority="low")
    assert dispatch_window()["sent"] == settings.DISPATCH_LOW_WINDOW  # one worker at work
    [high] = accept(client, ["+14155559999"], priority="high")
    while Message.objects.get(pk=high).status == st.PENDING_ACCEPTED:
        dispatch_window()
    order = [
        str(i)
        for i in SandboxOutboxEntry.objects.order_by("id").values_list("message_id", flat=True)
    ]
    low_sent_after_high_accepted = order.index(high) - settings.DISPATCH_LOW_WINDOW
    assert low_sent_after_high_accepted < 50
    assert low_sent_after_high_accepted == 0
    assert set(order) - {high} <= set(low)


def test_lanes_order_high_normal_low_across_requests(client, sandbox):
    low = accept(client, numbers(3), priority="low")
    normal = accept(client, numbers(3, start=100))
    high = accept(client, numbers(3, start=200), priority="high")
    dispatch_window()
    order = [
        str(i)
        for i in SandboxOutboxEntry.objects.order_by("id").values_list("message_id", flat=True)
    ]
    # Within one request the messages are of the same age: any order among them.
    assert [set(order[:3]), set(order[3:6]), set(order[6:])] == [set(high), set(normal), set(low)]


# --- concurrency ------------------------------------------------------------------------------

TWILIO = "https://api.twilio.test"
SID = "AC" + "0" * 32


@pytest.fixture
def twilio(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="tw",
        provider_type="twilio",
        channels=["sms"],
        is_tenant_default=True,
        default_sender="+15005550006",
        credentials={"accountSid": SID, "authToken": "t" * 32, "apiBaseUrl": TWILIO},
    )


def test_sends_to_one_provider_go_concurrently_and_each_once(client, twilio, settings):
    settings.DISPATCH_PROVIDER_CONCURRENCY = 8
    in_flight, peak, bodies = [0], [0], []
    lock = threading.Lock()

    def answer(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            bodies.append(request.body)
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return 201, {}, f'{{"sid": "SM{len(bodies):032d}", "status": "queued"}}'

    ids = accept(client, numbers(24))
    with responses.RequestsMock() as rsps:
        rsps.add_callback(
            responses.POST, f"{TWILIO}/2010-04-01/Accounts/{SID}/Messages.json", answer
        )
        counts = dispatch_window()
    assert counts["sent"] == 24
    assert len(bodies) == 24 and len(set(bodies)) == 24
    assert 4 <= peak[0] <= 8  # concurrent, and within the provider's limit
    assert set(statuses(ids).values()) == {st.PENDING_ENROUTE}
    assert Message.objects.filter(handed_over_at__isnull=False).count() == 0  # cleared


# --- coalesced wake-ups ------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Not sync: record what would be enqueued."""
    tasks = []
    cache.delete(queue.WAKE_KEY)  # Redis outlives a test
    monkeypatch.setattr(queue.Conf, "SYNC", False)
    monkeypatch.setattr(queue, "async_task", lambda func, *a, **k: tasks.append(func))
    return tasks


def test_many_requests_buy_one_dispatch_run(client, sandbox, run_tasks, queued):
    for i in range(30):
        run_tasks(accept, client, [f"+1415555{i:04d}"])
    assert queued == [queue.DISPATCH_RUN]
    queue.wake_clear()  # the run starts: the next request queues the next run
    run_tasks(accept, client, ["+14155550999"])
    assert queued == [queue.DISPATCH_RUN] * 2


def test_a_stale_wake_mark_does_not_block_wake_ups(client, sandbox, run_tasks, queued):
    from messaging.models import DispatchWake

    run_tasks(accept, client, ["+14155550100"])
    # Its run was lost with a killed cluster: the mark goes stale (Redis: the key expires).
    DispatchWake.objects.update(pending_since=timezone.now() - timedelta(seconds=60))
    cache.delete(queue.WAKE_KEY)
    run_tasks(accept, client, ["+14155550101"])
    assert queued == [queue.DISPATCH_RUN] * 2


# --- timers -------------------------------------------------------------------------------------


def test_a_scheduled_batch_of_20000_is_released_at_once(client, sandbox):
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    for start in (0, 10_000):
        accept(client, numbers(10_000, start=start), scheduledAt=when)
    Message.objects.update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert timers.release_scheduled(timezone.now(), budget=60) == 20_000
    assert Message.objects.filter(status=st.PENDING_ACCEPTED).count() == 20_000
    assert MessageEvent.objects.filter(status=st.PENDING_ACCEPTED, source="timer").count() == 20_000


@pytest.mark.django_db(transaction=True)
def test_a_retry_due_in_5_s_is_sent_within_7_s(client, sandbox, monkeypatch):
    monkeypatch.setattr("messaging.services.accept.wake_on_commit", lambda: None)
    [mid] = accept(client, ["+14155550100"])
    due = timezone.now() + timedelta(seconds=5)
    Message.objects.filter(pk=mid).update(
        status=st.PENDING_WAITING_RETRY, attempts=1, next_attempt_at=due
    )
    stop = threading.Event()
    ticker = threading.Thread(
        target=timers.ticker_loop, kwargs={"should_stop": stop.is_set, "interval": 0.5}
    )
    ticker.start()
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            m = Message.objects.get(pk=mid)
            if m.sent_at:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        ticker.join(10)
    m = Message.objects.get(pk=mid)
    assert m.sent_at is not None, m.status
    assert due <= m.sent_at <= due + timedelta(seconds=2)


# --- a crash between hand-over and record ------------------------------------------------------


class Killed(BaseException):
    """The worker dies: nothing after this line runs (not an Exception: nothing catches it)."""


@pytest.fixture
def die_before_record(monkeypatch):
    def die(**kwargs):
        raise Killed

    monkeypatch.setattr(dispatch, "messages_transition_bulk", die)


def crash_after_send(client, twilio, n=1):
    ids = accept(client, numbers(n))
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{TWILIO}/2010-04-01/Accounts/{SID}/Messages.json",
            json={"sid": "SM" + "1" * 32, "status": "queued"},
            status=201,
        )
        with pytest.raises(Killed):
            dispatch_window()
    return ids


def expire_leases():
    Message.objects.filter(status=st.PENDING_PROCESSING).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )


def late_report(provider, mid, status=st.DELIVERED_TO_HANDSET):
    return message_reports_apply(
        provider=provider,
        reports=[StatusReport(provider_message_id="SM" + "1" * 32, status=status, message_ref=mid)],
    )


def test_a_late_report_settles_a_send_a_crash_left_unrecorded(client, twilio, die_before_record):
    [mid] = crash_after_send(client, twilio)
    m = Message.objects.get(pk=mid)
    assert m.status == st.PENDING_PROCESSING and m.handed_over_at is not None
    expire_leases()
    assert late_report(twilio, mid) == 1
    m.refresh_from_db()
    assert (m.status, m.provider_message_id, m.attempts) == (
        st.DELIVERED_TO_HANDSET,
        "SM" + "1" * 32,
        1,
    )
    assert m.claim_token is None
    assert "settled by the provider's report" in m.events.get(status=st.PENDING_ENROUTE).description
    assert timers.leases_settle(timezone.now()) == {"returned": 0, "settled": 0, "unknown": 0}


def test_a_report_during_a_live_lease_waits_then_settles(client, twilio, die_before_record):
    [mid] = crash_after_send(client, twilio)
    assert late_report(twilio, mid) == 0  # the worker may still record it: the report waits
    assert EarlyReport.objects.get().message_ref == mid
    expire_leases()
    assert timers.leases_settle(timezone.now())["settled"] == 1
    m = Message.objects.get(pk=mid)
    assert (m.status, m.provider_message_id) == (st.DELIVERED_TO_HANDSET, "SM" + "1" * 32)
    assert not EarlyReport.objects.exists()


def test_never_handed_over_goes_back_and_unknown_waits(client, twilio, monkeypatch, settings):
    settings.DISPATCH_WAVE_SIZE = 2
    settings.DISPATCH_PROVIDER_CONCURRENCY = 1
    sent = []

    def die_on_second_wave(token, wave):
        if sent:
            raise Killed
        sent.append(wave)
        real_mark(token, wave)

    real_mark = dispatch._mark_handed_over
    monkeypatch.setattr(dispatch, "_mark_handed_over", die_on_second_wave)
    ids = accept(client, numbers(4))
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{TWILIO}/2010-04-01/Accounts/{SID}/Messages.json",
            json={"sid": "SM" + "1" * 32, "status": "queued"},
            status=201,
        )
        with pytest.raises(Killed):
            dispatch_window()
    expire_leases()
    assert timers.leases_settle(timezone.now()) == {"returned": 2, "settled": 0, "unknown": 2}
    got = statuses(ids)
    assert sorted(got.values()) == sorted([st.PENDING_ACCEPTED] * 2 + [st.PENDING_UNKNOWN] * 2)
    assert set(
        Message.objects.filter(status=st.PENDING_ACCEPTED).values_list("attempts", flat=True)
    ) == {0}


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_an_unknown_follows_the_tenant_policy(
    client, twilio, tenant, die_before_record, settings, monkeypatch, policy
):
    Tenant.objects.filter(pk=tenant.pk).update(unknown_outcome_policy=policy)
    [mid] = crash_after_send(client, twilio)
    expire_leases()
    assert timers.leases_settle(timezone.now())["unknown"] == 1
    assert Message.objects.get(pk=mid).status == st.PENDING_UNKNOWN
    # Within the grace period nothing happens; after it, the policy.
    assert timers.unknowns_settle(timezone.now())["resent"] == 0
    Message.objects.filter(pk=mid).update(claimed_until=timezone.now() - timedelta(seconds=1))
    counts = timers.unknowns_settle(timezone.now())
    m = Message.objects.get(pk=mid)
    if policy == "resend":
        assert counts["resent"] == 1
        assert m.status == st.PENDING_WAITING_RETRY and m.next_attempt_at <= timezone.now()
    else:
        assert counts["held"] == 1
        assert (m.status, m.claimed_until) == (st.PENDING_UNKNOWN, None)
        assert timers.unknowns_settle(timezone.now()) == {
            "found": 0, "resent": 0, "held": 0, "gave_up": 0,
        }  # fmt: skip
        assert "Held for review" in m.events.order_by("-id")[0].description


def test_a_resend_after_unknown_shows_the_duplicate(client, twilio, die_before_record, monkeypatch):
    [mid] = crash_after_send(client, twilio)
    expire_leases()
    timers.leases_settle(timezone.now())
    Message.objects.filter(pk=mid).update(claimed_until=timezone.now() - timedelta(seconds=1))
    timers.unknowns_settle(timezone.now())
    monkeypatch.undo()  # the next worker lives
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{TWILIO}/2010-04-01/Accounts/{SID}/Messages.json",
            json={"sid": "SM" + "2" * 32, "status": "queued"},
            status=201,
        )
        assert dispatch_window()["sent"] == 1
    late_report(twilio, mid)  # the first send's report, late
    m = Message.objects.get(pk=mid)
    assert (m.status, m.provider_message_id, m.attempts) == (
        st.PENDING_ENROUTE,
        "SM" + "2" * 32,
        2,
    )
    assert m.events.filter(error_code="SENT_TWICE").count() == 1


def test_wake_ups_work_without_the_wake_row(client, sandbox, run_tasks, queued):
    from messaging.models import DispatchWake

    DispatchWake.objects.all().delete()  # a flushed database
    run_tasks(accept, client, ["+14155550100"])
    run_tasks(accept, client, ["+14155550101"])
    assert queued == [queue.DISPATCH_RUN]


# --- a send that got no answer ---------------------------------------------------------------


def _timed_out_send(client, twilio, exc):
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(f"{TWILIO}/2010-04-01/Accounts/{SID}/Messages.json", body=exc)
        counts = dispatch_window()
    return mid, counts


def test_a_read_timeout_is_unknown_and_its_late_report_settles_it(client, twilio):
    import requests

    mid, counts = _timed_out_send(client, twilio, requests.ReadTimeout("read timed out"))
    assert counts["unknown"] == 1 and counts["retry"] == 0
    m = Message.objects.get(pk=mid)
    assert m.status == st.PENDING_UNKNOWN and m.claimed_until > timezone.now()
    assert m.send_attempts.get().outcome == "unknown"
    assert "it may have the message" in m.events.get(status=st.PENDING_UNKNOWN).description
    # Nothing resends it during the grace period; the provider's report settles it.
    assert dispatch_window()["claimed"] == 0
    assert late_report(twilio, mid) == 1
    m.refresh_from_db()
    assert (m.status, m.provider_message_id, m.attempts) == (
        st.DELIVERED_TO_HANDSET, "SM" + "1" * 32, 1,
    )  # fmt: skip


def test_a_refused_connection_is_retried_as_usual(client, twilio):
    import requests

    mid, counts = _timed_out_send(client, twilio, requests.ConnectionError("refused"))
    assert counts["retry"] == 1 and counts["unknown"] == 0
    assert Message.objects.get(pk=mid).status == st.PENDING_WAITING_RETRY


# --- a run stays a moment: a trickle of requests does not buy a task each -----------------------


def test_an_idle_run_looks_again_before_it_ends(client, sandbox, monkeypatch, settings):
    from django_q.conf import Conf

    settings.DISPATCH_IDLE_LINGER, settings.DISPATCH_IDLE_POLL = 0.3, 0.05
    monkeypatch.setattr(Conf, "SYNC", False)
    arrivals = []
    real_sleep = time.sleep

    def sleep(seconds):
        if not arrivals:  # a request arrives while the run waits
            arrivals.append(accept(client, numbers(1, start=500)))
        real_sleep(seconds)

    monkeypatch.setattr(dispatch.time, "sleep", sleep)
    accept(client, numbers(2))
    started = time.monotonic()
    totals = dispatch.dispatch_run()
    assert totals["claimed"] == 3 and totals["sent"] == 3  # the late one too, in this run
    assert 0.3 <= time.monotonic() - started < 2.0  # then it ended, once idle for the linger
    assert statuses(arrivals[0]) == {arrivals[0][0]: st.PENDING_ENROUTE}  # sent; report queued
