"""The sweep (every minute): whatever a lost wake-up or a crashed task left behind.

The database row is the truth and the queue only a wake-up call, so this re-finds work
from the rows. The timers (scheduled releases, due retries, expiry, expired leases) run
every second in each qcluster's ticker; the sweep runs them once more as the safety net
(waking dispatch for any backlog), and re-finds callbacks still owed.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from providers.models import Provider

from ..models import CallbackDelivery, EarlyReport, Message
from ..queue import DELIVER_CALLBACK, enqueue
from . import timers
from .status import early_reports_apply

BATCH = 5000


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
    """The safety net: every timer once more (should no ticker run), a wake-up for a backlog
    nobody woke, the callbacks still owed, and early reports."""
    now = timezone.now()
    counts = timers.tick(now)
    counts["callbacks"] = _callbacks(now)
    counts["early_reports"] = _early_reports(now)
    return counts
