"""Reads for the admin dashboard: what was sent, how it fared and how fast, per tenant scope.

Every function takes `tenant_ids`: the tenants to count, or None for every tenant (a
superuser's unfiltered view). The queries group in the database and return small results;
the latency percentiles are computed in Python over a bounded sample of recent deliveries,
which works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from core import status as st

from .models import Message, MessageEvent

DASHBOARD_DAYS = 14
LATENCY_SAMPLE = 5000
TOP_ERRORS = 10

DELIVERED_STATUSES = tuple(n for n, s in st.STATUSES.items() if s.group == st.DELIVERED)
FAILED_STATUSES = tuple(
    n for n, s in st.STATUSES.items() if s.group in (st.UNDELIVERABLE, st.EXPIRED, st.REJECTED)
)
# A cancelled message never reached a provider: it counts for no provider's delivery rate.
RATED_STATUSES = DELIVERED_STATUSES + FAILED_STATUSES


def window_start(*, days: int = DASHBOARD_DAYS, now: datetime | None = None) -> datetime:
    """Midnight (current time zone) of the first of the last `days` days, today included."""
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first, datetime.min.time()))


def _messages(tenant_ids: Collection[int] | None, since: datetime) -> QuerySet[Message]:
    qs = Message.objects.filter(created_at__gte=since)
    return qs if tenant_ids is None else qs.filter(tenant_id__in=tenant_ids)


@dataclass
class DailyVolume:
    days: list[date]
    channels: list[str]
    # counts[channel][i] is the number of messages of `channel` accepted on days[i]
    counts: dict[str, list[int]]

    @property
    def totals(self) -> list[int]:
        return [sum(c[i] for c in self.counts.values()) for i in range(len(self.days))]

    def rows(self) -> list[tuple[date, list[int], int]]:
        """One row per day: the day, its count per channel (in `channels` order), the total."""
        return [
            (day, [self.counts[c][i] for c in self.channels], total)
            for i, (day, total) in enumerate(zip(self.days, self.totals, strict=True))
        ]


def messages_per_day(
    *, tenant_ids: Collection[int] | None, days: int = DASHBOARD_DAYS, now: datetime | None = None
) -> DailyVolume:
    since = window_start(days=days, now=now)
    first = timezone.localdate(since)
    day_list = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}
    rows = (
        _messages(tenant_ids, since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, list[int]] = {}
    for row in rows:
        if row["day"] in index:
            counts.setdefault(row["channel"], [0] * days)[index[row["day"]]] += row["n"]
    channels = sorted(counts, key=lambda c: -sum(counts[c]))
    return DailyVolume(days=day_list, channels=channels, counts=counts)


@dataclass(frozen=True)
class StatusTotals:
    total: int
    delivered: int
    failed: int
    pending: int
    cancelled: int

    @property
    def delivery_rate(self) -> float | None:
        final = self.delivered + self.failed
        return self.delivered / final if final else None


def status_totals(*, tenant_ids: Collection[int] | None, since: datetime) -> StatusTotals:
    agg = _messages(tenant_ids, since).aggregate(
        total=Count("id"),
        delivered=Count("id", filter=Q(status__in=DELIVERED_STATUSES)),
        failed=Count("id", filter=Q(status__in=FAILED_STATUSES)),
        cancelled=Count("id", filter=Q(status=st.CANCELLED_BY_CLIENT)),
    )
    pending = agg["total"] - agg["delivered"] - agg["failed"] - agg["cancelled"]
    return StatusTotals(pending=pending, **agg)


@dataclass(frozen=True)
class ProviderRate:
    provider_id: int
    name: str
    tenant: str
    delivered: int
    final: int

    @property
    def failed(self) -> int:
        return self.final - self.delivered

    @property
    def rate(self) -> float:
        return self.delivered / self.final if self.final else 0.0


def delivery_by_provider(
    *, tenant_ids: Collection[int] | None, since: datetime
) -> list[ProviderRate]:
    """Delivered / final (delivered, undeliverable, expired, rejected) per provider."""
    rows = (
        _messages(tenant_ids, since)
        .filter(status__in=RATED_STATUSES)
        .values("provider_id", "provider__name", "provider__tenant__name")
        .annotate(final=Count("id"), delivered=Count("id", filter=Q(status__in=DELIVERED_STATUSES)))
        .order_by()
    )
    rates = [
        ProviderRate(
            provider_id=r["provider_id"],
            name=r["provider__name"],
            tenant=r["provider__tenant__name"],
            delivered=r["delivered"],
            final=r["final"],
        )
        for r in rows
    ]
    return sorted(rates, key=lambda r: (-r.final, r.name))


@dataclass(frozen=True)
class ErrorCount:
    code: str
    messages: int
    failed: int
    retrying: int
    description: str
    last_seen: datetime


def top_errors(
    *, tenant_ids: Collection[int] | None, since: datetime, limit: int = TOP_ERRORS
) -> list[ErrorCount]:
    """The commonest error codes: of failed messages and of those waiting for a retry."""
    rows = (
        _messages(tenant_ids, since)
        .exclude(error_code="")
        .values("error_code")
        .annotate(
            n=Count("id"),
            failed=Count("id", filter=Q(status__in=FAILED_STATUSES)),
            retrying=Count("id", filter=Q(status=st.PENDING_WAITING_RETRY)),
            description=Max("error_description"),
            last_seen=Max("created_at"),
        )
        .order_by("-n", "error_code")[:limit]
    )
    return [
        ErrorCount(
            code=r["error_code"],
            messages=r["n"],
            failed=r["failed"],
            retrying=r["retrying"],
            description=r["description"] or "",
            last_seen=r["last_seen"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Latency:
    label: str
    count: int
    median: float | None  # seconds
    p95: float | None


@dataclass
class LatencyReport:
    overall: Latency
    by_channel: list[Latency] = field(default_factory=list)
    sample_limit: int = LATENCY_SAMPLE

    @property
    def sampled(self) -> bool:
        return self.overall.count >= self.sample_limit


def percentile(sorted_values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (p in 0..100) of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _latency(label: str, seconds: list[float]) -> Latency:
    seconds = sorted(seconds)
    return Latency(
        label=label,
        count=len(seconds),
        median=median(seconds) if seconds else None,
        p95=percentile(seconds, 95),
    )


def delivery_latency(
    *, tenant_ids: Collection[int] | None, since: datetime, sample: int = LATENCY_SAMPLE
) -> LatencyReport:
    """Time from accepted (the message's created_at) to its first DELIVERED_* event, over the
    `sample` most recently accepted delivered messages."""
    events = MessageEvent.objects.filter(
        status__in=DELIVERED_STATUSES, message__created_at__gte=since
    )
    if tenant_ids is not None:
        events = events.filter(message__tenant_id__in=tenant_ids)
    rows = (
        events.values("message_id", "message__channel")
        .annotate(accepted=Min("message__created_at"), delivered=Min("created_at"))
        .order_by("-accepted")[:sample]
    )
    by_channel: dict[str, list[float]] = {}
    for r in rows:
        elapsed = max(0.0, (r["delivered"] - r["accepted"]).total_seconds())
        by_channel.setdefault(r["message__channel"], []).append(elapsed)
    everything = [s for values in by_channel.values() for s in values]
    return LatencyReport(
        overall=_latency("All channels", everything),
        by_channel=[_latency(c, by_channel[c]) for c in sorted(by_channel)],
        sample_limit=sample,
    )


def inbound_count(*, tenant_ids: Collection[int] | None, since: datetime) -> int:
    from providers.models import InboundMessage

    qs = InboundMessage.objects.filter(received_at__gte=since)
    if tenant_ids is not None:
        qs = qs.filter(tenant_id__in=tenant_ids)
    return qs.count()


# --- operations (superusers): django-q2's queue, failures and the sweep's schedule ---------


@dataclass(frozen=True)
class Operations:
    broker: str
    queued: int | None  # None: the broker could not be asked
    in_progress: int | None
    failures_24h: int
    successes_24h: int
    last_failure: object | None  # django_q Failure
    sweep: object | None  # django_q Schedule
    sweep_last_ok: bool | None
    # The schedule's next run is well past: no cluster is running schedules.
    sweep_overdue: bool = False
    broker_error: str = ""


SWEEP_SCHEDULE = "messaging-sweep"
SWEEP_GRACE = timedelta(minutes=2)


def operations_summary(*, now: datetime | None = None) -> Operations:
    from django_q.brokers import get_broker
    from django_q.models import Failure, Schedule, Success, Task

    now = now or timezone.now()
    since = now - timedelta(hours=24)
    queued = in_progress = None
    error = ""
    broker = get_broker()
    info = type(broker).__name__
    try:
        info = broker.info()
        queued = broker.queue_size()
        in_progress = broker.lock_size()
    except Exception as exc:  # a broker that is down must not take the dashboard with it
        error = f"{type(exc).__name__}: {exc}"
    sweep = Schedule.objects.filter(name=SWEEP_SCHEDULE).first()
    last_ok = None
    if sweep is not None and sweep.task:
        last_ok = Task.objects.filter(id=sweep.task).values_list("success", flat=True).first()
    return Operations(
        broker=info,
        queued=queued,
        in_progress=in_progress,
        failures_24h=Failure.objects.filter(stopped__gte=since).count(),
        successes_24h=Success.objects.filter(stopped__gte=since).count(),
        last_failure=Failure.objects.order_by("-stopped").first(),
        sweep=sweep,
        sweep_last_ok=last_ok,
        sweep_overdue=bool(sweep and sweep.next_run and sweep.next_run < now - SWEEP_GRACE),
        broker_error=error,
    )
