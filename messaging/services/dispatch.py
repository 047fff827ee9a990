"""Dispatch in windows: claim a window of the backlog, send it concurrently, record it at once.

1. **Claim** the next window of sendable messages, highest lane first (high, normal, low),
   then oldest, in one statement: an UPDATE of the chosen rows that stamps a fresh claim
   token and a lease (`SELECT … FOR UPDATE SKIP LOCKED` chooses them on PostgreSQL, so
   racing workers take disjoint windows; SQLite has one writer at a time). A redelivered
   task, or a worker racing this one, finds nothing of this window left to claim.
2. **Send** the window in waves. Before a wave leaves, one UPDATE marks its messages handed
   over; a claim without that mark was certainly never sent, so after a crash it goes back
   at once, and only marked ones are "unknown". Within a wave each provider gets up to its
   concurrency limit of lanes on a shared thread pool, each lane one pooled connection
   (keep-alive HTTP, one SMTP session).
3. **Record** every outcome of the window in one transaction of bulk statements: the
   messages (one UPDATE … FROM VALUES), their events, their attempts, their callbacks; then,
   after commit, one wake-up for the window's callbacks and one for the sandbox's reports.

A transient failure waits for its backoff time (the ticker wakes dispatch when it is due);
a permanent one, or a validity that passes, is final. A provider that is down (its circuit
breaker, providers.circuit) is not called: its messages go to its backup or wait
(services.failover).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from contacts import services as contact_services
from contacts.services import suppression_key
from core import bulk
from core import status as st
from core.http import BlockedAddress, describe_error
from providers.backends import OutboundMessage, SendError, SendResult
from providers.circuit import HALF_OPEN, OPEN, circuit_failures, circuit_record, circuit_state
from providers.circuit import circuit_probe_take as _probe_take
from providers.models import DeadRecipient, Provider

from ..models import (
    EarlyReport,
    Message,
    MessageAttempt,
    MessagePart,
    MessageRequest,
    Priority,
)
from ..queue import SANDBOX_REPORTS, enqueue, wake_dispatchers, wake_on_commit
from .failover import failover_moves_apply, failover_plan
from .status import (
    Change,
    early_reports_apply,
    messages_transition_bulk,
    next_attempt,
    retry_delay,  # noqa: F401  (the backoff, shared with reports; imported from here too)
    stored_text,
    text_scrub,
)

logger = logging.getLogger(__name__)

# How much of a provider's raw answer an attempt keeps: enough to read, bounded per row.
RESPONSE_EXCERPT_CHARS = 4000
ATTEMPT_COLUMNS = [
    "message_id", "number", "started_at", "duration_ms", "outcome", "provider_message_id",
    "error_code", "error_description", "provider_response", "provider_id",
]  # fmt: skip


def lease_seconds() -> float:
    """What a window can really hold: its time budget, then one send's timeouts (the wave in
    flight when the budget runs out), and a margin."""
    return settings.DISPATCH_WINDOW_BUDGET + settings.DISPATCH_SEND_TIMEOUT + 5


# --- the claim ------------------------------------------------------------------------------


def _claim(token: uuid.UUID, limit: int, only_ids: list[str] | None = None) -> list[Message]:
    """Claim up to `limit` messages in one statement, then read them (with provider and
    request) in one more. Low-priority messages take at most DISPATCH_LOW_WINDOW of a window,
    so a high one accepted meanwhile waits behind a few low ones, not a whole window."""
    now = timezone.now()
    qn = connection.ops.quote_name
    table = qn(Message._meta.db_table)
    restrict, restrict_params = "", []
    if only_ids is not None:
        if not only_ids:
            return []
        restrict = f" AND id IN ({', '.join(['%s'] * len(only_ids))})"
        pk = Message._meta.pk
        restrict_params = [pk.get_db_prep_value(uuid.UUID(str(i)), connection) for i in only_ids]
    low_limit = min(limit, settings.DISPATCH_LOW_WINDOW)
    pg = connection.vendor == "postgresql"
    # Each candidate set is one walk of an index: the accepted lanes (msg_accepted_lane, a
    # partial index: hence the statuses as literals) and the due retries (msg_status_due);
    # the outer query looks the candidates up by id, orders them and takes the window.
    # On PostgreSQL each walk skips rows a racing worker has locked, so that worker's window
    # does not hide the rest of the backlog from this one; SQLite has one writer at a time
    # and is told which index to walk (without statistics it may sort the whole backlog).
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
    lane_index = "" if pg else " INDEXED BY msg_accepted_lane"
    due_index = "" if pg else " INDEXED BY msg_status_due"
    accepted, retry = f"'{st.PENDING_ACCEPTED}'", f"'{st.PENDING_WAITING_RETRY}'"
    low = int(Priority.LOW)
    cols = "id, priority, created_at"
    candidates = (
        f"SELECT {cols} FROM (SELECT {cols} FROM {table}{lane_index} WHERE status = {accepted}"
        f" AND priority < {low}{restrict} ORDER BY priority, created_at LIMIT %s{lock}) AS lanes"
        f" UNION ALL SELECT {cols} FROM (SELECT {cols} FROM {table}{lane_index}"
        f" WHERE status = {accepted} AND priority = {low}{restrict}"
        f" ORDER BY priority, created_at LIMIT %s{lock}) AS low"
        f" UNION ALL SELECT {cols} FROM (SELECT {cols} FROM {table}{due_index}"
        f" WHERE status = {retry} AND next_attempt_at <= %s{restrict}"
        f" ORDER BY next_attempt_at LIMIT %s{lock}) AS due"
    )
    params: list[Any] = [
        *restrict_params, limit, *restrict_params, low_limit, now, *restrict_params, limit,
    ]  # fmt: skip
    # The window is the best `limit` of the candidates. Each walk already checked the status
    # on the rows it returned: on PostgreSQL after locking them (a row a racing claim took no
    # longer matches and is skipped), and SQLite runs one writer's statement at a time. Taking
    # the candidates as they are, not looked up again by id, keeps PostgreSQL from planning a
    # scan of the whole backlog against them.
    pick = f"SELECT id FROM ({candidates}) AS candidates ORDER BY priority, created_at LIMIT %s"
    params += [limit]
    sql = (
        f"UPDATE {table} SET status = %s, claim_token = %s, claimed_until = %s,"
        f" attempts = attempts + 1, updated_at = %s, handed_over_at = NULL"
        f" WHERE id IN ({pick})"
    )
    until = now + timedelta(seconds=lease_seconds())
    field_ = Message._meta.get_field
    head = [
        st.PENDING_PROCESSING,
        field_("claim_token").get_db_prep_value(token, connection),
        field_("claimed_until").get_db_prep_value(until, connection),
        field_("updated_at").get_db_prep_value(now, connection),
    ]
    columns = ", ".join(qn(f.column) for f in Message._meta.concrete_fields)
    # The claimed rows come back from the UPDATE itself (RETURNING), as model instances.
    claimed = list(Message.objects.raw(f"{sql} RETURNING {columns}", head + params))
    if not claimed:
        return []
    # With their circuits (a join, not a statement more): dispatch does not call one that is open.
    providers = {
        p.pk: p
        for p in Provider.objects.filter(pk__in={m.provider_id for m in claimed}).select_related(
            "circuit"
        )
    }
    requests_ = {
        r.pk: r for r in MessageRequest.objects.filter(pk__in={m.request_id for m in claimed})
    }
    for m in claimed:
        m.provider = providers[m.provider_id]
        m.request = requests_[m.request_id]
    claimed.sort(key=lambda m: (m.priority, m.created_at, str(m.pk)))
    return claimed


_PRIORITY_NAMES = {int(p): p.label for p in Priority}


def outbound_for(message: Message) -> OutboundMessage:
    recipients = message.recipients or {}
    return OutboundMessage(
        id=str(message.id),
        channel=message.channel,
        to=message.to,
        body=message.body,
        sender=message.sender,
        subject=message.subject,
        html=message.html,
        cc=recipients.get("cc", []),
        bcc=recipients.get("bcc", []),
        payload={**(message.content or {}), "to": recipients.get("to", [])}
        if recipients
        else dict(message.content or {}),
        attempt=message.attempts,
        status_webhook_url=message.provider.status_webhook_url,
        expires_at=message.expires_at,
        priority=_PRIORITY_NAMES.get(message.priority, "normal"),
        text_store=message.text_store,
    )


# --- sending ------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    """One pool per worker process (made after fork), bounded by DISPATCH_CONCURRENCY."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(
                max_workers=settings.DISPATCH_CONCURRENCY, thread_name_prefix="dispatch"
            )
            _pool_pid = os.getpid()
        return _pool


@dataclass
class _Send:
    """One message's trip to its provider and what came back."""

    message: Message
    outbound: OutboundMessage
    started_at: datetime | None = None
    duration_ms: int = 0
    result: SendResult | None = None
    error: SendError | None = None
    sender: str = ""
    # The request left but no answer came (a read timeout, a connection dropped after
    # sending): the provider may have the message, so it is reconciled, not resent blindly.
    unknown: str = ""
    breaker: _Breaker | None = None
    # Not sent: its provider's circuit opened during the window (failures before it).
    held: bool = False


class _Breaker:
    """A provider's circuit within one window (threads share it): after the failures in a
    row that open the circuit, the window's remaining sends to it are held, not waited out
    in timeouts; what it counted is written to the shared circuit once, after the record."""

    def __init__(self, provider: Provider, failures: int) -> None:
        self.provider = provider
        self.lock = threading.Lock()
        self.in_a_row = failures
        self.failures = 0  # outage-class, this window
        self.answers = 0  # successes and refusals: the provider is up
        self.last_error = ""

    @property
    def tripped(self) -> bool:
        return self.in_a_row >= settings.PROVIDER_CIRCUIT_FAILURES

    def note(self, item: _Send) -> None:
        with self.lock:
            if item.unknown or (item.error is not None and item.error.outage):
                self.failures += 1
                self.in_a_row += 1
                self.last_error = item.unknown or f"{item.error.code}: {item.error.description}"
            else:
                self.answers += 1
                self.in_a_row = 0


def _maybe_sent(exc: requests.RequestException) -> bool:
    """Whether a failed HTTP call may have reached the provider: a read timeout or a
    connection dropped mid-exchange may; a refused connection or a connect timeout did not."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ReadTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", None) or reason  # urllib3's MaxRetryError wraps it
        return isinstance(reason, urllib3.exceptions.ProtocolError)
    return False


def _send_one(backend, send, item: _Send) -> None:
    if item.breaker is not None and item.breaker.tripped:
        item.held = True
        return
    item.started_at = timezone.now()
    clock = time.monotonic()
    try:
        item.result = send(item.outbound)
        item.sender = backend.sender_for(item.outbound)
    except SendError as exc:
        item.error = exc
    except BlockedAddress as exc:  # refused before connecting: nothing left, never will
        item.error = SendError("PRIVATE_URL", describe_error(exc), permanent=True)
    except requests.RequestException as exc:
        item.error = SendError(
            "NETWORK_ERROR", f"{type(exc).__name__}: {exc}", permanent=False, outage=True
        )
        if _maybe_sent(exc):
            item.unknown = f"{type(exc).__name__}: {exc}"[:500]
    except Exception as exc:  # a bug in an adapter must not strand the rest of the window
        logger.exception(
            "Adapter %s failed on message %s", item.message.provider.provider_type, item.message.id
        )
        item.error = SendError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", permanent=False)
    item.duration_ms = int((time.monotonic() - clock) * 1000)
    _outcome_scrub(item)
    if item.breaker is not None:
        item.breaker.note(item)


def _outcome_scrub(item: _Send) -> None:
    """Under textStore sha256/nostore, the provider's answer and error text lose the message's
    text before anything records them (attempt, event, error, dead recipient)."""
    message = item.message
    if item.result is not None:
        item.result.raw = text_scrub(message, item.result.raw)
        # It travels in a task's arguments (SANDBOX_REPORTS), pickled in the queue's rows.
        item.result.follow_up_report = text_scrub(message, item.result.follow_up_report)
    if item.error is not None:
        item.error.description = text_scrub(message, item.error.description)
        item.error.raw = text_scrub(message, item.error.raw)
    item.unknown = text_scrub(message, item.unknown)


class _Lanes:
    """A provider's open lanes (connections) for one window: opened as waves need them, kept
    from wave to wave (one SMTP session per lane for the whole window), closed at its end."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.free: SimpleQueue = SimpleQueue()
        self.opened: list = []
        self.lock = threading.Lock()

    def take(self):
        try:
            return self.free.get_nowait()
        except Empty:
            lane = self.backend.lane()
            send = lane.__enter__()
            with self.lock:
                self.opened.append(lane)
            return send

    def close(self) -> None:
        for lane in self.opened:
            try:
                lane.__exit__(None, None, None)
            except Exception:  # closing a connection must not lose the window's record
                logger.exception("Closing a %s lane failed", self.backend.provider_type)
        self.opened = []


class _Feed:
    """The window's sends to providers with several lanes: lane threads take messages as the
    dispatcher hands each wave over, so the next wave is marked while this one is in flight
    (no barrier between waves), and at most about two waves are handed over but unsent."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queues: dict[int, deque] = {}
        self.waiting = 0
        self.closed = False

    def put(self, provider_id: int, items: list[_Send]) -> None:
        with self.cond:
            self.queues.setdefault(provider_id, deque()).extend(items)
            self.waiting += len(items)
            self.cond.notify_all()

    def take(self, provider_id: int) -> _Send | None:
        with self.cond:
            while True:
                queue = self.queues.get(provider_id)
                if queue:
                    self.waiting -= 1
                    self.cond.notify_all()
                    return queue.popleft()
                if self.closed:
                    return None
                self.cond.wait()

    def wait_below(self, n: int, every: Callable[[], None]) -> None:
        with self.cond:
            while self.waiting >= n:
                if not self.cond.wait(timeout=1.0):
                    every()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def _lane_run(lanes: _Lanes, feed: _Feed, provider_id: int) -> None:
    """One lane (a thread, one connection): the provider's next message until none is left."""
    send = lanes.take()
    try:
        while (item := feed.take(provider_id)) is not None:
            _send_one(lanes.backend, send, item)
    finally:
        lanes.free.put(send)


def _lanes_wanted(backend, count: int) -> int:
    if settings.DISPATCH_CONCURRENCY <= 1:
        return 1
    return min(backend.max_concurrency, settings.DISPATCH_PROVIDER_CONCURRENCY, count)


def _mark_handed_over(token: uuid.UUID, items: list[_Send]) -> None:
    """One UPDATE before a wave leaves: these are now possibly at the provider."""
    ids = [
        i.message.pk
        for i in items
        if not i.message.provider.backend_class().send_commits_with_record
    ]
    if ids:
        Message.objects.filter(pk__in=ids, claim_token=token).update(handed_over_at=timezone.now())


def _gate(provider: Provider, now: datetime) -> str:
    """Whether the window sends to `provider`: closed circuit, yes; open, no; half-open, one
    message if this worker takes the probe."""
    state = circuit_state(provider, now)
    if state == OPEN:
        return "hold"
    if state == HALF_OPEN:
        return "probe" if _probe_take(provider, now) else "hold"
    return "send"


def _renew_lease(token: uuid.UUID) -> None:
    Message.objects.filter(claim_token=token, status=st.PENDING_PROCESSING).update(
        claimed_until=timezone.now() + timedelta(seconds=lease_seconds())
    )


def _release(token: uuid.UUID, rest: list[Message]) -> int:
    """Out of time: the unsent rest goes back to the backlog at once (never handed over, so
    the attempt did not count) for the next window to take."""
    ids = [m.pk for m in rest]
    n = 0
    for status, has_attempts in ((st.PENDING_ACCEPTED, False), (st.PENDING_WAITING_RETRY, True)):
        group = [m.pk for m in rest if (m.attempts > 1) == has_attempts]
        if group:
            n += Message.objects.filter(
                pk__in=group, claim_token=token, status=st.PENDING_PROCESSING
            ).update(
                status=status,
                claim_token=None,
                claimed_until=None,
                handed_over_at=None,
                next_attempt_at=timezone.now() if has_attempts else None,
                attempts=F("attempts") - 1,
            )
    if ids:
        wake_on_commit()
    return n


# --- the window ---------------------------------------------------------------------------


def dispatch_window(*, limit: int | None = None, only_ids: list[str] | None = None) -> dict:
    """Claim, send and record one window; returns counts by outcome."""
    limit = limit or settings.DISPATCH_WINDOW_SIZE
    token = uuid.uuid4()
    with transaction.atomic():
        messages = _claim(token, limit, only_ids)
    counts = {
        "claimed": len(messages),
        "sent": 0,
        "failed": 0,
        "retry": 0,
        "released": 0,
        "unknown": 0,
    }
    if not messages:
        return counts
    started = time.monotonic()
    now = timezone.now()
    backends: dict[int, Any] = {}
    changes: list[Change] = []
    attempts: list[tuple] = []
    dead_new: list[DeadRecipient] = []
    reports: dict[str, list[dict]] = {}
    split: dict[Message, tuple[str, ...]] = {}  # sends the provider split into parts
    dead = _dead_recipients(messages)
    # An opt-out that came after accept (a STOP while the message waited for its time or a
    # retry) still holds: checked again here for the messages that waited, one query for the
    # window. A fresh message was checked at accept a moment ago (no query for its window).
    suppressed = contact_services.suppressed_triples(
        (m.tenant_id, m.channel, m.to) for m in messages if m.scheduled_at or m.attempts > 1
    )
    sends: list[_Send] = []
    held: list[Message] = []  # not sent: their provider's circuit is open
    gates: dict[int, str] = {}  # per provider: "send", "probe" (one send), or "hold"
    breakers: dict[int, _Breaker] = {}
    for message in messages:
        if now >= message.expires_at:
            changes.append(
                Change(
                    message,
                    st.EXPIRED_EXPIRED,
                    stored_text(message),
                    error=("VALIDITY_PASSED", "Its validity passed before it could be sent.", True),
                )
            )
            counts["failed"] += 1
            continue
        reason = dead.get((message.provider_id, DeadRecipient.hash(message.to)))
        if reason is not None:  # the provider said this recipient is gone: don't send again
            error = SendError(
                "RECIPIENT_DEAD",
                f"{message.provider.name} reported this recipient gone ({reason}); not sent.",
                permanent=True,
                status=st.REJECTED_DESTINATION,
            )
            changes.append(_failure_change(message, error)[0])
            counts["failed"] += 1
            continue
        key = (message.tenant_id, message.channel, suppression_key(message.channel, message.to))
        if key in suppressed:
            changes.append(
                Change(
                    message,
                    st.REJECTED_SUPPRESSED,
                    stored_text(message),
                    error=(
                        "suppressed",
                        f"{message.to} opted out of {message.channel} (suppression list); "
                        "not sent.",
                        True,
                    ),
                )
            )
            counts["failed"] += 1
            continue
        gate = gates.get(message.provider_id)
        if gate is None:
            gate = gates[message.provider_id] = _gate(message.provider, now)
        if gate == "hold":
            held.append(message)
            continue
        if gate == "probe":  # a half-open circuit: this one message tries the provider
            gates[message.provider_id] = "hold"
        if message.provider_id not in backends:
            backends[message.provider_id] = message.provider.backend()
            # A probe is the provider's one send: its count starts afresh, or it would be held.
            failures = 0 if gate == "probe" else circuit_failures(message.provider)
            breakers[message.provider_id] = _Breaker(message.provider, failures)
        sends.append(_Send(message, outbound_for(message), breaker=breakers[message.provider_id]))

    lanes_of = {provider_id: _Lanes(backend) for provider_id, backend in backends.items()}
    for backend in backends.values():
        backend.window_begin()
    wave_size = max(settings.DISPATCH_WAVE_SIZE, settings.DISPATCH_PROVIDER_CONCURRENCY)
    per_provider: dict[int, int] = {}
    for item in sends:
        per_provider[item.message.provider_id] = per_provider.get(item.message.provider_id, 0) + 1
    lanes_n = {pid: _lanes_wanted(backends[pid], n) for pid, n in per_provider.items()}
    feed = _Feed()
    futures: list = []
    done: list[_Send] = []
    position = 0
    last_renewal = [started]

    def renew_if_due() -> None:
        if time.monotonic() - last_renewal[0] > lease_seconds() / 3:
            _renew_lease(token)
            last_renewal[0] = time.monotonic()

    try:
        try:
            while position < len(sends):
                # Out of time: hand the rest back, but only after sending one wave, or a
                # budget smaller than one send would pass the window on forever.
                if position and time.monotonic() - started > settings.DISPATCH_WINDOW_BUDGET:
                    break
                renew_if_due()
                wave = sends[position : position + wave_size]
                position += len(wave)
                _mark_handed_over(token, wave)
                inline: dict[int, list[_Send]] = {}
                by_provider: dict[int, list[_Send]] = {}
                for item in wave:
                    by_provider.setdefault(item.message.provider_id, []).append(item)
                for pid, items in by_provider.items():
                    if lanes_n[pid] <= 1:
                        inline[pid] = items  # one lane: no thread to pay for (the sandbox)
                        continue
                    if not any(f[0] == pid for f in futures):
                        futures += [
                            (pid, _thread_pool().submit(_lane_run, lanes_of[pid], feed, pid))
                            for _ in range(lanes_n[pid])
                        ]
                    feed.put(pid, items)
                for pid, items in inline.items():
                    lanes = lanes_of[pid]
                    send = lanes.take()
                    try:
                        for item in items:
                            _send_one(lanes.backend, send, item)
                    finally:
                        lanes.free.put(send)
                done += wave
                # Mark the next wave only once the lanes have taken most of this one.
                feed.wait_below(wave_size, renew_if_due)
        finally:
            feed.close()
            pending = {f for _, f in futures}
            while pending:  # the last sends may wait out their timeouts: keep the lease
                done_now, pending = wait(pending, timeout=1.0)
                for future in done_now:
                    future.result()
                renew_if_due()
        rest = [s.message for s in sends[position:]]

        outages: list[tuple[Message, SendError]] = []
        for item in done:
            message = item.message
            if item.held:
                held.append(message)
                continue
            if item.unknown:
                changes.append(_unknown_change(message, item))
                attempts.append(_attempt(item))
                counts["unknown"] += 1
                continue
            if item.error is not None and item.error.outage and message.provider.backups:
                attempts.append(_attempt(item))  # with the provider it went to
                outages.append((message, item.error))  # fail over, or retry: decided below
                continue
            if item.error is not None:
                change, final = _failure_change(message, item.error)
                changes.append(change)
                counts["failed" if final else "retry"] += 1
                attempts.append(_attempt(item))
                if item.error.recipient_dead:
                    dead_new.append(_dead_row(message, item.error))
                continue
            result = item.result
            changes.append(_success_change(message, result, item.sender))
            if len(result.part_ids) > 1:
                split[message] = result.part_ids
            attempts.append(_attempt(item))
            counts["sent"] += 1
            if result.follow_up_report is not None:
                reports.setdefault(message.provider.webhook_token, []).append(
                    result.follow_up_report
                )

        plan = None
        if held or outages:
            plan, decided = failover_plan(
                held=held,
                failed=outages,
                failure_change=_failure_change,
                now=now,
                tripped={pid for pid, b in breakers.items() if b.tripped},
            )
            changes += plan.changes
            counts["retry"] += decided["failover"] + decided["held"] + decided["retry"]
            counts["failed"] += decided["failed"]

        with transaction.atomic():
            for backend in backends.values():
                backend.window_end()  # the sandbox writes its outbox here, with the record
            if plan is not None and plan.moves:
                failover_moves_apply(plan, token)
                wake_on_commit()  # due now, through the backup
            applied = messages_transition_bulk(
                changes=changes,
                source="dispatch",
                expect=[st.PENDING_PROCESSING],
                claim_token=token,
            )
            moved = {c.message.pk for c in applied}
            bulk.rows_insert(
                MessageAttempt, ATTEMPT_COLUMNS, (a for a in attempts if a[0] in moved)
            )
            if dead_new:
                DeadRecipient.objects.bulk_create(dead_new, ignore_conflicts=True)
            parts = [
                MessagePart(message=m, provider_id=m.provider_id, number=k,
                            provider_message_id=ref[:128], status=st.PENDING_ENROUTE,
                            updated_at=m.updated_at)
                for m, ids in split.items() if m.pk in moved
                for k, ref in enumerate(ids, 1)
            ]  # fmt: skip
            if parts:  # a resend's parts replace the last attempt's
                MessagePart.objects.filter(message__in=[p.message for p in parts]).delete()
                MessagePart.objects.bulk_create(parts)
            if rest:
                counts["released"] = _release(token, rest)
            sent_refs = [
                c.message.provider_message_id
                for c in applied
                if c.message.provider_message_id and st.get(c.status).group != st.REJECTED
            ]
            early = _early_refs(messages, sent_refs)
            if reports:
                batch = list(reports.items())
                transaction.on_commit(lambda: enqueue(SANDBOX_REPORTS, batch))
    finally:
        for lanes in lanes_of.values():
            lanes.close()
        for backend in backends.values():
            backend.window_close()
    # What the window learnt of its providers, for every worker to see (nothing to write
    # when nothing failed and no circuit was open).
    for breaker in breakers.values():
        circuit_record(
            breaker.provider,
            failures=breaker.failures,
            successes=breaker.answers,
            error=breaker.last_error,
            now=timezone.now(),
        )
    for provider, ref in early:
        early_reports_apply(provider=provider, provider_message_id=ref)
    return counts


def dispatch_chunk(*, message_ids: list[str]) -> dict[str, int]:
    """Send the claimable messages among `message_ids` (windows restricted to them)."""
    totals = {"claimed": 0, "sent": 0, "failed": 0, "retry": 0, "released": 0, "unknown": 0}
    ids = [str(i) for i in message_ids]
    while True:
        counts = dispatch_window(only_ids=ids)
        for key, value in counts.items():
            totals[key] += value
        if not counts["claimed"]:
            return totals


def dispatch_run(*, budget: float | None = None) -> dict[str, int]:
    """A worker's dispatch task: windows until the backlog is empty or the budget is spent.

    Clears the wake-up mark first (so a request committed from now on queues the next run),
    wakes another worker to join while windows come back full, and queues its own
    successor when it stops with work left."""
    from django_q.conf import Conf

    from ..queue import wake_clear

    wake_clear()
    budget = settings.DISPATCH_RUN_BUDGET if budget is None else budget
    started = time.monotonic()
    totals = {
        "windows": 0,
        "claimed": 0,
        "sent": 0,
        "failed": 0,
        "retry": 0,
        "released": 0,
        "unknown": 0,
    }
    idle_since: float | None = None
    while True:
        counts = dispatch_window()
        totals["windows"] += 1
        for key, value in counts.items():
            totals[key] += value
        if Conf.SYNC:
            if not counts["claimed"]:
                break
            continue  # tests: the loop itself drains the backlog
        now = time.monotonic()
        if now - started > budget:
            if counts["claimed"]:
                wake_dispatchers()
            break
        if not counts["claimed"]:
            # A steady trickle of small requests would otherwise pay a whole task (its
            # queueing, pickling and result row) every few messages: the run stays a moment
            # and looks again, so the next requests find it already running.
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= settings.DISPATCH_IDLE_LINGER:
                break
            time.sleep(settings.DISPATCH_IDLE_POLL)
            continue
        idle_since = None
        if counts["claimed"] >= settings.DISPATCH_WINDOW_SIZE:
            wake_dispatchers()  # a full window: there is more; let an idle worker join
        elif counts["claimed"] < settings.DISPATCH_WINDOW_SIZE // 10:
            # A thin window: a few milliseconds let the next one gather more messages, so
            # its fixed cost (a claim, a record, a commit) is shared by more of them.
            time.sleep(settings.DISPATCH_GATHER)
    return totals


def dispatch_backlog() -> dict[str, int]:
    """Dispatch until nothing is sendable (benchmarks, management commands)."""
    totals: dict[str, int] = {}
    while True:
        counts = dispatch_window()
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if not counts["claimed"]:
            return totals


def dispatch_request(*, request_id: str) -> int:
    """Kept for tasks queued before the windowed core: the backlog holds the request's
    messages, so a wake-up is all it takes."""
    wake_dispatchers()
    return 1


# --- outcomes -----------------------------------------------------------------------------


def _dead_recipients(messages: list[Message]) -> dict[tuple[int, str], str]:
    """The window's recipients that their provider reported gone, in one query (only for
    provider types that can report a recipient gone)."""
    relevant = [m for m in messages if m.provider.backend_class().reports_dead_recipients]
    if not relevant:
        return {}
    rows = DeadRecipient.objects.filter(
        provider_id__in={m.provider_id for m in relevant},
        recipient_hash__in={DeadRecipient.hash(m.to) for m in relevant},
    ).values_list("provider_id", "recipient_hash", "code")
    return {(provider_id, digest): code for provider_id, digest, code in rows}


def _dead_row(message: Message, error: SendError) -> DeadRecipient:
    return DeadRecipient(
        provider_id=message.provider_id,
        recipient_hash=DeadRecipient.hash(message.to),
        recipient=message.to,
        code=error.code,
        description=error.description[:1000],
    )


def _early_refs(messages: list[Message], refs: list[str]) -> list[tuple[Any, str]]:
    """The sends of this window whose report came before their record (one query)."""
    if not refs:
        return []
    providers = {m.provider_id: m.provider for m in messages}
    found = EarlyReport.objects.filter(
        provider_id__in=list(providers), provider_message_id__in=refs
    ).values_list("provider_id", "provider_message_id")
    return [(providers[p], ref) for p, ref in set(found)]


def _attempt(item: _Send) -> tuple:
    """The attempt's row, in ATTEMPT_COLUMNS order."""
    message, error = item.message, item.error
    if error is not None:
        outcome = (
            MessageAttempt.Outcome.UNKNOWN
            if item.unknown
            else MessageAttempt.Outcome.PERMANENT
            if error.permanent
            else MessageAttempt.Outcome.TRANSIENT
        )
        return (
            message.pk, message.attempts, item.started_at, item.duration_ms, outcome, "",
            error.code, error.description, response_excerpt(error.raw), message.provider_id,
        )  # fmt: skip
    return (
        message.pk, message.attempts, item.started_at, item.duration_ms,
        MessageAttempt.Outcome.SENT, item.result.provider_message_id[:128], "", "",
        response_excerpt(item.result.raw), message.provider_id,
    )  # fmt: skip


def response_excerpt(raw: Any) -> Any:
    """A provider's raw answer as JSON of bounded size: as it is when small, else the start
    of its text marked as cut."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = json.dumps(raw)
            plain = True
        except (TypeError, ValueError):  # Decimal, datetime...: kept as their text
            try:
                text, plain = json.dumps(raw, default=str), False
            except (TypeError, ValueError):
                text, plain = repr(raw), False
    if len(text) <= RESPONSE_EXCERPT_CHARS:
        if isinstance(raw, str) or plain:
            return raw
        return json.loads(text)
    return f"{text[:RESPONSE_EXCERPT_CHARS]}… [cut: {len(text)} characters in all]"


def _success_change(message: Message, result: SendResult, backend_sender: str = "") -> Change:
    updates: dict[str, Any] = {
        "provider_message_id": result.provider_message_id[:128],
        "sent_at": timezone.now(),
        # The sender actually used, also when it came from the provider's default.
        "sender": (message.sender or backend_sender or "")[:100],
        "claim_token": None,
        "claimed_until": None,
        "handed_over_at": None,
        "next_attempt_at": None,
        "error_code": "",
        "error_description": "",
        "error_permanent": None,
        **stored_text(message),
    }
    if result.price is not None:
        updates["price"], updates["currency"] = result.price, result.currency
    return Change(
        message,
        result.status,
        updates,
        description=f"Accepted by {message.provider.name} as {result.provider_message_id}.",
    )


def _unknown_change(message: Message, item: _Send) -> Change:
    """A send that may have reached the provider: PENDING_UNKNOWN for the grace period, in
    which the provider's report (naming our id) settles it; then its look-up or the tenant's
    policy (timers.unknowns_settle), as for a send a crash left unrecorded."""
    grace = timezone.now() + timedelta(seconds=settings.DISPATCH_UNKNOWN_GRACE)
    return Change(
        message,
        st.PENDING_UNKNOWN,
        {"claim_token": None, "claimed_until": grace, "handed_over_at": item.started_at,
         "next_attempt_at": None},
        error=("OUTCOME_UNKNOWN", item.unknown, False),
        description=f"No answer from {message.provider.name} ({item.unknown}); it may have "
        "the message: settled by its report or look-up, else by the tenant's policy.",
    )  # fmt: skip


def _failure_change(message: Message, exc: SendError) -> tuple[Change, bool]:
    """The move of a message whose attempt failed, and whether it is now final."""
    exc.code = str(exc.code)[:64]  # one odd row must not fail the window's record
    error = (exc.code, exc.description, exc.permanent)
    if exc.permanent:
        return Change(message, exc.status, stored_text(message), error=error), True
    nxt = next_attempt(message, exc.retry_after)
    if nxt.at is None:
        final = st.EXPIRED_EXPIRED if nxt.expired else st.UNDELIVERABLE_NOT_DELIVERED
        return Change(
            message,
            final,
            stored_text(message),
            error=error,
            description=f"Gave up after {message.attempts} attempts: {exc.description}",
        ), True
    return Change(
        message,
        st.PENDING_WAITING_RETRY,
        nxt.updates,
        error=error,
        description=f"Attempt {message.attempts} failed; retrying in {int(nxt.delay)} s.",
    ), False  # fmt: skip
