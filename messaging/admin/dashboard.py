"""The dashboard: what was sent in the last 14 days, how it fared and how fast, scoped to the
user's tenants (superusers: every tenant, or one they pick); and, for superusers, the
operations summary (django-q2's queue, failures and the sweep's schedule).

Mounted by the admin site (config.admin) as `admin:dashboard`, linked from the admin's header
and index."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from providers.admin.base import SUPPORT
from providers.models import channel_label
from tenants.models import Tenant
from tenants.scoping import tenant_ids, user_tenants

from .. import selectors

# A chart colour per channel, the same on every visit.
CHANNEL_COLOURS = {
    "sms": "#2f6fb0",
    "email": "#e08a1e",
    "whatsapp": "#25a35a",
    "viber": "#7b519d",
    "rcs": "#1a9aa0",
    "push": "#8a8f98",
}


def duration(seconds: float | None) -> str:
    """A duration for people: 850 ms, 4.2 s, 3 min 20 s, 2 h 5 min."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _latency_rows(report: selectors.LatencyReport) -> list[tuple[str, int, str, str]]:
    """All channels first, then each channel: label, delivered count, median, p95."""
    rows = [(report.overall.label, report.overall)]
    rows += [(channel_label(x.label), x) for x in report.by_channel]
    return [(label, x.count, duration(x.median), duration(x.p95)) for label, x in rows]


def _admin_url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:  # a model not registered (e.g. OrmQ with the Redis broker)
        return None


def _scope(request: HttpRequest) -> tuple[list[Tenant], Tenant | None, list[int] | None]:
    """The tenants the user may pick from, the one picked, and the tenant ids to count."""
    tenants = list(user_tenants(request).order_by("name"))
    picked = None
    raw = request.GET.get("tenant", "")
    if raw:
        picked = next((t for t in tenants if str(t.pk) == raw), None)
        if picked is None:
            raise Http404("No such tenant.")
    if picked is not None:
        return tenants, picked, [picked.pk]
    if request.user.is_superuser:
        return tenants, None, None
    return tenants, None, [t.pk for t in tenants]


def dashboard_view(request: HttpRequest) -> HttpResponse:
    tenants, picked, ids = _scope(request)
    now = timezone.now()
    since = selectors.window_start(now=now)
    volume = selectors.messages_per_day(tenant_ids=ids, now=now)
    totals = selectors.status_totals(tenant_ids=ids, since=since)
    rates = selectors.delivery_by_provider(tenant_ids=ids, since=since)
    latency = selectors.delivery_latency(tenant_ids=ids, since=since)
    many_tenants = picked is None and len(tenants) > 1
    chart = {
        "days": [f"{d:%Y-%m-%d}" for d in volume.days],
        "channels": [
            {
                "label": channel_label(c),
                "colour": CHANNEL_COLOURS.get(c, "#666"),
                "data": volume.counts[c],
            }
            for c in volume.channels
        ],
        "providers": [
            {
                "label": f"{r.name} ({r.tenant})" if many_tenants else r.name,
                "rate": round(r.rate * 100, 1),
            }
            for r in rates
        ],
    }
    can_see_log = request.user.is_superuser or bool(tenant_ids(request, SUPPORT))
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "subtitle": picked.name if picked else None,
        "tenants": tenants,
        "picked": picked,
        "show_tenant_filter": request.user.is_superuser or len(tenants) > 1,
        "has_tenants": bool(tenants),
        "many_tenants": many_tenants,
        "since": since,
        "days": len(volume.days),
        "volume": volume,
        "volume_rows": volume.rows(),
        "channel_labels": [channel_label(c) for c in volume.channels],
        "totals": totals,
        "delivery_rate": percent(totals.delivery_rate),
        "inbound": selectors.inbound_count(tenant_ids=ids, since=since),
        "rates": [(r, percent(r.rate)) for r in rates],
        "errors": selectors.top_errors(tenant_ids=ids, since=since),
        "latency": latency,
        "latency_rows": _latency_rows(latency),
        "chart": chart,
        "message_log_url": _admin_url("admin:messaging_message_changelist")
        if can_see_log
        else None,
    }
    if request.user.is_superuser:
        context["ops"] = selectors.operations_summary(now=now)
        context["ops_links"] = {
            "queue": _admin_url("admin:django_q_ormq_changelist"),
            "failures": _admin_url("admin:django_q_failure_changelist"),
            "successes": _admin_url("admin:django_q_success_changelist"),
            "schedules": _admin_url("admin:django_q_schedule_changelist"),
        }
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/dashboard/index.html", context)
