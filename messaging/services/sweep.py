"""The sweep (every minute): whatever a lost or crashed task left behind is found here.

The database row is the truth and the queue only a wake-up call, so this re-finds work
from the rows: accepted messages never dispatched, retries that are due, scheduled
messages whose time has come, claims whose lease ran out, validity that passed, and
callbacks still owed.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from providers.models import Provider

from .. import status as st
from ..models import CallbackDelivery, EarlyReport, Message, MessageEvent
from ..queue import DELIVER_CALLBACK, DISPATCH_CHUNK, chunked, enqueue
from .status import early_reports_apply, message_transition, stored_text

BATCH = 5000
LOST_AFTER = timedelta(minutes=2)


def _release_scheduled(now) -> int:
    ids = list(
        Message.objects.filter(status=st.PENDING_SCHEDULED, scheduled_at__lte=now).values_list(
            "id", flat=True
        )[:BATCH]
    )
    released = []
    for chunk in chunked(ids, 500):
        with transaction.atomic():
            # The guarded UPDATE leaves alone a message cancelled meanwhile.
            Message.objects.filter(id__in=chunk, status=st.PENDING_SCHEDULED).update(
                status=st.PENDING_ACCEPTED, updated_at=now
            )
            moved = list(
                Message.objects.filter(
                    id__in=chunk, status=st.PENDING_ACCEPTED, updated_at=now
                ).values_list("id", flat=True)
            )
            MessageEvent.objects.bulk_create(
                MessageEvent(
                    message_id=i,
                    status=st.PENDING_ACCEPTED,
                    source="sweep",
                    description="Its scheduled time has come.",
                    created_at=now,
                )
                for i in moved
            )
        released += [str(i) for i in moved]
    for chunk in chunked(released, settings.DISPATCH_CHUNK_SIZE):
        enqueue(DISPATCH_CHUNK, chunk)
    return len(released)


def _settle_expired_leases(now) -> int:
    """A worker died mid-send: its outcome is unknown, so the message is tried again, unless
    it has had all its attempts (a message that keeps killing its worker must not loop).

    At-least-once: a provider that got the first attempt may see a second one. Losing the
    message instead would be worse, and the window is one message per dead worker."""
    n = 0
    for message in Message.objects.filter(
        status=st.PENDING_PROCESSING, claimed_until__lt=now
    ).select_related("request")[:BATCH]:
        common = {
            "message": message,
            "source": "sweep",
            "expect": [st.PENDING_PROCESSING],
            "claim_token": message.claim_token,
        }
        if message.attempts >= settings.DISPATCH_MAX_ATTEMPTS:
            n += message_transition(
                new_status=st.UNDELIVERABLE_NOT_DELIVERED,
                error=(
                    "WORKER_LOST",
                    f"The worker sending it stopped on attempt {message.attempts}, the last.",
                    False,
                ),
                updates=stored_text(message),
                **common,
            )
            continue
        n += message_transition(
            new_status=st.PENDING_WAITING_RETRY,
            description="The worker sending it stopped; its outcome is unknown, so it is retried.",
            updates={"claim_token": None, "claimed_until": None, "next_attempt_at": now},
            **common,
        )
    return n


def _expire(now) -> int:
    n = 0
    for message in Message.objects.filter(
        status__in=[st.PENDING_ACCEPTED, st.PENDING_WAITING_RETRY], expires_at__lte=now
    ).select_related("request")[:BATCH]:
        n += message_transition(
            message=message,
            new_status=st.EXPIRED_EXPIRED,
            source="sweep",
            expect=[st.PENDING_ACCEPTED, st.PENDING_WAITING_RETRY],
            error=("VALIDITY_PASSED", "Its validity passed before it could be sent.", True),
            updates=stored_text(message),
        )
    return n


def _redispatch(now) -> int:
    ids = list(
        Message.objects.filter(
            Q(status=st.PENDING_ACCEPTED, updated_at__lt=now - LOST_AFTER)
            | Q(status=st.PENDING_WAITING_RETRY, next_attempt_at__lte=now)
        )
        .order_by("priority", "created_at")
        .values_list("id", flat=True)[: BATCH * 2]
    )
    for chunk in chunked([str(i) for i in ids], settings.DISPATCH_CHUNK_SIZE):
        enqueue(DISPATCH_CHUNK, chunk)
    return len(ids)


def _callbacks(now) -> int:
    CallbackDelivery.objects.filter(
        state=CallbackDelivery.State.DELIVERING, claimed_until__lt=now
    ).update(state=CallbackDelivery.State.PENDING, claim_token=None, claimed_until=None)
    ids = list(
        CallbackDelivery.objects.filter(
            Q(attempts__gt=0) | Q(created_at__lt=now - timedelta(minutes=1)),
            state=CallbackDelivery.State.PENDING,
            next_attempt_at__lte=now,
        ).values_list("id", flat=True)[:BATCH]
    )
    for delivery_id in ids:
        enqueue(DELIVER_CALLBACK, delivery_id)
    return len(ids)


def _early_reports(now) -> int:
    """Apply early reports whose send has since been recorded; drop those a day old."""
    EarlyReport.objects.filter(received_at__lt=now - timedelta(days=1)).delete()
    pending = (
        EarlyReport.objects.filter(received_at__lt=now - timedelta(minutes=1))
        .values_list("provider_id", "provider_message_id")
        .distinct()[:BATCH]
    )
    applied = 0
    for provider_id, ref in pending:
        if Message.objects.filter(provider_id=provider_id, provider_message_id=ref).exists():
            applied += early_reports_apply(
                provider=Provider.objects.get(pk=provider_id), provider_message_id=ref
            )
    return applied


def sweep() -> dict[str, int]:
    now = timezone.now()
    return {
        "scheduled": _release_scheduled(now),
        "leases": _settle_expired_leases(now),
        "expired": _expire(now),
        "redispatched": _redispatch(now),
        "callbacks": _callbacks(now),
        "early_reports": _early_reports(now),
    }
