"""Timers: scheduled releases, due retries, validity expiry and crashed claims, to the second.

`tick()` runs every DISPATCH_TICK seconds in the ticker of every `qcluster` (see
messaging/workers), and once a minute in the sweep as the safety net. Every step is a
guarded bulk statement, so several tickers at once do no harm: each row moves once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import bulk
from core import status as st
from tenants.models import Tenant

from ..models import EarlyReport, Message, MessageEvent
from ..queue import wake_dispatchers
from ..signals import ticked
from .status import (
    Change,
    early_reports_apply,
    messages_transition_bulk,
    settled_updates,
    stored_text,
)

logger = logging.getLogger(__name__)

RELEASE_BATCH = 5000
SETTLE_BATCH = 1000


def release_scheduled(now: datetime, *, budget: float = 2.0) -> int:
    """Every scheduled message whose time has come goes to the backlog: batches of 5,000
    (one UPDATE and one INSERT of events each) until none is left or the budget is spent."""
    qn = connection.ops.quote_name
    table = qn(Message._meta.db_table)
    events = qn(MessageEvent._meta.db_table)
    at = Message._meta.get_field("updated_at").get_db_prep_value(now, connection)
    started = time.monotonic()
    released = 0
    while time.monotonic() - started < budget:
        with transaction.atomic(), connection.cursor() as cursor:
            # The guarded UPDATE leaves alone a message cancelled meanwhile.
            cursor.execute(
                f"UPDATE {table} SET status = %s, updated_at = %s WHERE status = %s AND id IN ("
                f"SELECT id FROM {table} WHERE status = %s AND scheduled_at <= %s"
                f" ORDER BY scheduled_at LIMIT %s) RETURNING id",
                [
                    st.PENDING_ACCEPTED,
                    at,
                    st.PENDING_SCHEDULED,
                    st.PENDING_SCHEDULED,
                    at,
                    RELEASE_BATCH,
                ],  # fmt: skip
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            cursor.execute(
                f"INSERT INTO {events} (message_id, status, source, error_code, description,"
                f" provider_event_id, raw, created_at) SELECT id, %s, %s, '', %s, '', NULL, %s"
                f" FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})",
                [st.PENDING_ACCEPTED, "timer", "Its scheduled time has come.", at, *ids],
            )
        released += len(ids)
        if len(ids) < RELEASE_BATCH:
            break
    return released


def expire_waiting(now: datetime) -> int:
    """Messages still waiting to be sent when their validity passes end EXPIRED."""
    waiting = [st.PENDING_ACCEPTED, st.PENDING_WAITING_RETRY]
    messages = list(
        Message.objects.filter(status__in=waiting, expires_at__lte=now).select_related("request")[
            :SETTLE_BATCH
        ]
    )
    if not messages:
        return 0
    changes = [
        Change(
            m,
            st.EXPIRED_EXPIRED,
            stored_text(m),
            error=("VALIDITY_PASSED", "Its validity passed before it could be sent.", True),
        )
        for m in messages
    ]
    with transaction.atomic():
        return len(messages_transition_bulk(changes=changes, source="timer", expect=waiting))


def expire_sent(now: datetime) -> int:
    """Messages sent but never reported final when their validity (and a grace period for a
    provider's late report) has passed end EXPIRED: no message waits forever for a delivery
    report that never comes. PENDING_UNKNOWN is not among them: its outcome is reconciled by
    its own policy, never guessed."""
    cutoff = now - timedelta(seconds=settings.SENT_EXPIRY_GRACE)
    messages = list(
        Message.objects.filter(status=st.PENDING_ENROUTE, expires_at__lte=cutoff).select_related(
            "request"
        )[:SETTLE_BATCH]
    )
    if not messages:
        return 0
    changes = [
        Change(
            m,
            st.EXPIRED_EXPIRED,
            error=(
                "VALIDITY_PASSED",
                "Its validity passed without a final report from the provider.",
                True,
            ),
        )
        for m in messages
    ]
    with transaction.atomic():
        moved = messages_transition_bulk(
            changes=changes, source="timer", expect=[st.PENDING_ENROUTE]
        )
        return len(moved)


def leases_settle(now: datetime) -> dict[str, int]:
    """Claims whose lease ran out (their worker died): never handed over → back to the
    backlog at once; handed over → settled by a report that came meanwhile, else
    PENDING_UNKNOWN for a grace period in which a late report may still settle it."""
    expired = list(
        Message.objects.filter(status=st.PENDING_PROCESSING, claimed_until__lt=now)
        .select_related("request", "provider")
        .order_by("claimed_until")[:SETTLE_BATCH]
    )
    counts = {"returned": 0, "settled": 0, "unknown": 0}
    if not expired:
        return counts
    handed = [m for m in expired if m.handed_over_at is not None]
    early = dict(
        EarlyReport.objects.filter(message_ref__in=[str(m.pk) for m in handed])
        .order_by("received_at")
        .values_list("message_ref", "provider_message_id")
    )
    grace = now + timedelta(seconds=settings.DISPATCH_UNKNOWN_GRACE)
    changes, settled = [], []
    for m in expired:
        clear = {"claim_token": None, "claimed_until": None}
        if m.handed_over_at is None:
            attempts = m.attempts - 1  # never sent: the attempt did not happen
            changes.append(
                Change(
                    m,
                    st.PENDING_WAITING_RETRY if attempts else st.PENDING_ACCEPTED,
                    {**clear, "attempts": attempts, "next_attempt_at": now if attempts else None},
                    description="Its worker stopped before sending it; it goes out again.",
                )
            )
            counts["returned"] += 1
        elif str(m.pk) in early:
            ref = early[str(m.pk)]
            changes.append(_settled_change(m, ref, "a report that came while it was unrecorded"))
            settled.append((m.provider, ref))
            counts["settled"] += 1
        else:
            changes.append(
                Change(
                    m,
                    st.PENDING_UNKNOWN,
                    {**clear, "claimed_until": grace},
                    error=(
                        "OUTCOME_UNKNOWN",
                        "Its worker stopped after handing it to the provider and before "
                        "recording the answer.",
                        False,
                    ),
                )
            )
            counts["unknown"] += 1
    with transaction.atomic():
        applied = messages_transition_bulk(
            changes=changes,
            source="timer",
            expect=[st.PENDING_PROCESSING],
            guard="{table}.claimed_until < %s",
            guard_params=[bulk.converter_for(Message, "claimed_until")(now)],
        )
    moved = {c.message.pk for c in applied}
    for provider, ref in settled:
        early_reports_apply(provider=provider, provider_message_id=ref)
    if len(moved) < len(changes):
        logger.info(
            "%d expired claims were renewed or settled meanwhile", len(changes) - len(moved)
        )
    return counts


def _settled_change(message: Message, ref: str, how: str) -> Change:
    return Change(
        message,
        st.PENDING_ENROUTE,
        settled_updates(message, ref),
        description=f"Sent as {ref}: settled by {how} (its worker stopped before recording it).",
    )


def unknowns_settle(now: datetime, *, budget: float = 5.0) -> dict[str, int]:
    """PENDING_UNKNOWN past its grace period: the provider's look-up where it has one, else
    the tenant's policy: `resend` sends it again (at-least-once), `hold` keeps it for a
    person to resend or close from the admin."""
    due = list(
        Message.objects.filter(status=st.PENDING_UNKNOWN, claimed_until__lt=now)
        .select_related("request", "provider", "tenant")
        .order_by("claimed_until")[:SETTLE_BATCH]
    )
    counts = {"found": 0, "resent": 0, "held": 0, "gave_up": 0}
    if not due:
        return counts
    from .dispatch import outbound_for

    started = time.monotonic()
    changes = []
    for m in due:
        backend_class = m.provider.backend_class()
        found = "unknown"
        if backend_class.can_lookup() and time.monotonic() - started < budget:
            try:
                result = m.provider.backend().lookup(outbound_for(m))
                found = "no" if result is None else result.provider_message_id
            except NotImplementedError:
                pass  # not for this channel (Infobip looks up SMS only)
            except Exception as exc:  # a look-up that fails leaves it to the policy
                logger.warning("Look-up of %s at %s failed: %s", m.pk, m.provider.name, exc)
        if found not in ("unknown", "no"):
            changes.append(_settled_change(m, found, f"{m.provider.name}'s look-up"))
            counts["found"] += 1
            continue
        resend = found == "no" or m.tenant.unknown_outcome_policy == Tenant.UnknownPolicy.RESEND
        if not resend:
            changes.append(
                Change(
                    m,
                    st.PENDING_UNKNOWN,
                    {"claimed_until": None},
                    description="Held for review by the tenant's policy: resend it from the "
                    "message log if the recipient did not get it.",
                )
            )
            counts["held"] += 1
        elif m.attempts >= settings.DISPATCH_MAX_ATTEMPTS:
            changes.append(
                Change(
                    m,
                    st.UNDELIVERABLE_NOT_DELIVERED,
                    stored_text(m),
                    error=(
                        "WORKER_LOST",
                        f"Its worker stopped on attempt {m.attempts}, the last.",
                        False,
                    ),
                )
            )
            counts["gave_up"] += 1
        else:
            why = (
                f"{m.provider.name} has no record of it"
                if found == "no"
                else "its outcome stayed unknown; the tenant's policy resends "
                "(at-least-once: the provider may get it twice)"
            )
            changes.append(
                Change(
                    m,
                    st.PENDING_WAITING_RETRY,
                    {"claimed_until": None, "next_attempt_at": now},
                    description=f"Sent again: {why}.",
                )
            )
            counts["resent"] += 1
    with transaction.atomic():
        messages_transition_bulk(
            changes=changes,
            source="timer",
            expect=[st.PENDING_UNKNOWN],
            guard="{table}.claimed_until < %s",
            guard_params=[bulk.converter_for(Message, "claimed_until")(now)],
        )
    return counts


def backlog_due(now: datetime) -> bool:
    return Message.objects.filter(
        Q(status=st.PENDING_ACCEPTED) | Q(status=st.PENDING_WAITING_RETRY, next_attempt_at__lte=now)
    ).exists()


def tick(now: datetime | None = None) -> dict[str, int]:
    """One pass of every timer; wakes the dispatchers when anything is due."""
    now = now or timezone.now()
    counts: dict[str, int] = {
        "released": release_scheduled(now),
        "expired": expire_waiting(now) + expire_sent(now),
    }
    # The layers above (omnichannel: a step's validity) keep their own timers here.
    for _receiver, result in ticked.send(sender=None, now=now):
        for key, value in (result or {}).items():
            counts[key] = counts.get(key, 0) + value
    counts.update(leases_settle(now))
    counts.update(unknowns_settle(now))
    if backlog_due(now):
        counts["woke"] = int(wake_dispatchers())
    return counts


def ticker_loop(*, should_stop: Callable[[], bool], interval: float | None = None) -> None:
    """The ticker of a qcluster: tick() every DISPATCH_TICK seconds until told to stop. A
    database that is away is waited for, never a reason to stop."""
    from django.db import close_old_connections

    interval = settings.DISPATCH_TICK if interval is None else interval
    ident = uuid.uuid4().hex[:8]
    logger.info("Ticker %s running every %.1f s", ident, interval)
    while not should_stop():
        started = time.monotonic()
        try:
            tick()
        except OperationalError as exc:
            logger.warning("Ticker %s: database unavailable (%s); retrying", ident, exc)
            connection.close()
            time.sleep(1)
        except Exception:
            logger.exception("Ticker %s: tick failed", ident)
        close_old_connections()
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
