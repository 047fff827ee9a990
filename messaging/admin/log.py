"""The message log: what was sent, its timeline, attempts and callbacks. Read-only.

Tenant admins and support staff look; only tenant admins may resend or cancel. It is built
for a million messages: every filter has an index that ends in created_at (models.py), the
search is exact matches on indexed columns (no LIKE), filter choices come from the small
tables rather than from the messages, and the list is never counted past COUNT_CAP.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from functools import cached_property, reduce
from operator import or_
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Prefetch, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rangefilter.filters import DateRangeFilter

from core import status as st
from core.sms import sms_info
from providers.admin.base import ReadOnly
from providers.models import Provider
from tenants.scoping import ADMIN_ONLY, tenant_ids, user_tenants

from ..api.errors import ApiError
from ..models import (
    CallbackAttempt,
    CallbackDelivery,
    EarlyReport,
    IdempotencyRecord,
    Message,
    MessageAttempt,
    MessageEvent,
    MessageRequest,
    TextStore,
)
from ..services.accept import email_normalize, phone_normalize
from ..services.callbacks import webhook_redeliver
from ..services.cancel import message_cancel
from ..services.resend import NOT_YET_SENT, ResendRefused, message_resend
from ..services.status import TEXT_WHOLE
from .compose import compose_view, may_compose

# Rows counted at most; past it the list says "about N" (PostgreSQL's estimate) or "more
# than N", and pages stop at COUNT_CAP / list_per_page (an OFFSET stays cheap).
COUNT_CAP = 10_000
# Messages one action may touch: a slip of "select all" must not resend a million.
ACTION_LIMIT = 100
PHONE_LIKE = re.compile(r"[\d\s()+.\-/]{3,40}")


# --- counting --------------------------------------------------------------------------------


class CappedCountPaginator(Paginator):
    """A paginator that never counts more than COUNT_CAP rows.

    `count` is exact up to the cap (SELECT COUNT(*) over a LIMIT subquery); beyond it,
    `count` is the cap (so pages stop there) and `count_label` says how many there are:
    PostgreSQL's planner estimate when it has one, else "more than 10,000"."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        counted = self.object_list.order_by()[: self.cap + 1].count()
        self.exact = counted <= self.cap
        self.estimate = counted if self.exact else planner_estimate(self.object_list)
        return min(counted, self.cap)

    @property
    def count_label(self) -> str:
        count = self.count
        if self.exact:
            return f"{count:,}"
        if self.estimate and self.estimate > self.cap:
            return f"about {_round(self.estimate):,}"
        return f"more than {self.cap:,}"


def _round(n: int) -> int:
    """Two significant figures: an estimate must not look exact."""
    digits = len(str(n))
    return round(n, -(digits - 2)) if digits > 2 else n


def planner_estimate(queryset: QuerySet) -> int | None:
    """The rows PostgreSQL's planner expects `queryset` to return (no rows are read)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.get_compiler(queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# --- filters ---------------------------------------------------------------------------------


class StatusGroupFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status_group"

    UNKNOWN = "UNKNOWN"

    def lookups(self, request, model_admin):
        # Sends a crashed worker left unknown, held or about to be resent: found in one click.
        return [(group, group.title()) for group in st.GROUPS] + [(self.UNKNOWN, "Outcome unknown")]

    def queryset(self, request, queryset):
        if self.value() == self.UNKNOWN:
            return queryset.filter(status=st.PENDING_UNKNOWN)
        if self.value() in st.GROUPS:
            names = [s.name for s in st.STATUSES.values() if s.group == self.value()]
            return queryset.filter(status__in=names)
        return queryset


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """Choices from the related table, limited to the user's tenants. (Django's
    RelatedOnlyFieldListFilter would read DISTINCT provider_id over every message.)"""

    def field_choices(self, field, request, model_admin):
        related = field.related_model._default_manager.select_related("tenant")
        if not request.user.is_superuser:
            related = related.filter(tenant__in=tenant_ids(request, model_admin.view_roles))
        several = request.user.is_superuser or len(tenant_ids(request, model_admin.view_roles)) > 1
        return [
            (obj.pk, f"{obj.tenant.slug}/{obj.name}" if several else obj.name)
            for obj in related.order_by("tenant__slug", "name")
        ]


# --- the log ---------------------------------------------------------------------------------


@admin.register(Message)
class MessageAdmin(ReadOnly):
    # Few columns, so the list fits beside the filters at 1280 px; the rest is on the page.
    list_display = ("created", "recipient", "channel", "status_badge", "provider_name")
    list_display_links = ("recipient",)
    list_filter = (
        StatusGroupFilter,
        "channel",
        ("provider", ScopedRelatedFilter),
        ("app", ScopedRelatedFilter),
        ("created_at", DateRangeFilter),
    )
    # The search box; get_search_results decides what a term matches.
    search_fields = ("=to",)
    search_help_text = (
        "A recipient in any format (0412 345 678, +61 412 345 678, ann@example.com), "
        "a message id, a request id or a provider's message id. Exact matches."
    )
    list_select_related = ("provider", "tenant")
    ordering = ("-created_at",)
    sortable_by = ("created",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 100
    actions = ["export_csv", "resend_selected", "cancel_selected"]

    class Media:
        css = {"all": ("message_log/message_log.css",)}

    # --- columns ---------------------------------------------------------------------------
    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: Message) -> str:
        # Django's markup, without a form widget's template render per row (a third of the
        # page's time at 100 rows).
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            str(obj),
        )

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if request.user.is_superuser or len(tenant_ids(request, self.view_roles)) > 1:
            columns.insert(1, "tenant")
        return columns

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Message) -> str:
        # The one format, in two halves that wrap apart when the row is tight.
        day, _, time = when(obj.created_at).partition(" ")
        return format_html("<span>{}</span> <span>{}</span>", day, time)

    @admin.display(description="recipient")
    def recipient(self, obj: Message) -> str:
        return obj.to

    @admin.display(description="status")
    def status_badge(self, obj: Message) -> str:
        if not obj.error_code:
            return status_badge(obj.status)
        return format_html(
            '{}<br><span class="msglog-quiet">{}</span>', status_badge(obj.status), obj.error_code
        )

    @admin.display(description="provider")
    def provider_name(self, obj: Message) -> str:
        return obj.provider.name

    def get_rangefilter_created_at_title(self, request, field_path) -> str:
        return "date created"

    # --- search: exact matches on indexed columns ------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = self.search_conditions(request, term)
        return (queryset.filter(reduce(or_, matches)) if matches else queryset.none()), False

    def search_conditions(self, request: HttpRequest, term: str) -> list[Q]:
        conditions = []
        as_uuid = _uuid(term)
        if as_uuid is not None:
            conditions += [Q(pk=as_uuid), Q(request_id=as_uuid)]
        recipients = self.recipient_forms(request, term)
        if recipients:
            conditions.append(Q(to__in=sorted(recipients)))
        if len(term) <= 128:
            # (provider, provider_message_id) is the index: name the user's providers.
            providers = Provider.objects.all()
            if not request.user.is_superuser:
                providers = providers.filter(tenant__in=tenant_ids(request, self.view_roles))
            conditions.append(
                Q(
                    provider_message_id=term,
                    provider__in=list(providers.values_list("pk", flat=True)),
                )
            )
        return conditions

    def recipient_forms(self, request: HttpRequest, term: str) -> set[str]:
        """`term` as the recipient column stores it: E.164 read with each of the user's
        tenants' countries, or a normalized email address."""
        if len(term) > 320:
            return set()
        forms = {term}
        if "@" in term:
            try:
                address = email_normalize(term)
            except ValueError:
                return forms
            return forms | {address, address.lower()}
        if PHONE_LIKE.fullmatch(term):
            tenants = user_tenants(request, self.view_roles).order_by()
            countries = set(tenants.values_list("default_country", flat=True).distinct())
            for country in sorted(countries or {"US"}):
                try:
                    forms.add(phone_normalize(term, country))
                except ValueError:
                    continue
        return forms

    # --- the detail page -------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404("No such message.")
        context = {**detail_context(message), **(extra_context or {})}
        context["title"] = f"{message.get_channel_display()} to {message.to}"
        context["subtitle"] = None  # the title says it; the status has its own badge
        context["may_operate"] = self._may_operate(request, message)
        context["show_tenant"] = "tenant" in self.get_list_display(request)
        return super().change_view(request, object_id, form_url, context)

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if may_compose(request):
            extra_context["compose_url"] = reverse("admin:messaging_message_compose")
        return super().changelist_view(request, extra_context)

    def status_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """The message's status and timeline as JSON, for pages that follow it live."""
        message = self.get_object(request, unquote(object_id))
        if message is None:
            return JsonResponse({"error": "No such message."}, status=404)
        return JsonResponse(live_status(message))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "compose/",
                view(lambda request: compose_view(self, request)),
                name="{}_{}_compose".format(*info),
            ),
            path(
                "<path:object_id>/status/",
                view(self.status_view),
                name="{}_{}_status".format(*info),
            ),
            path(
                "<path:object_id>/resend/",
                view(self.resend_view),
                name="{}_{}_resend".format(*info),
            ),
            path(
                "<path:object_id>/cancel/",
                view(self.cancel_view),
                name="{}_{}_cancel".format(*info),
            ),
            *super().get_urls(),
        ]

    def _operable_object(self, request: HttpRequest, object_id: str) -> Message:
        """The message behind a button: another tenant's is a 404, a support user's a 403."""
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404("No such message.")
        if not self._may_operate(request, message):
            raise PermissionDenied
        return message

    def resend_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        message = self._operable_object(request, object_id)
        try:
            copy = message_resend(message=message, user=request.user)
        except ResendRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(_change_url(message))
        self.message_user(
            request,
            format_html("Resent as a new message, {}.", _message_link(copy)),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(_change_url(copy))

    def cancel_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        message = self._operable_object(request, object_id)
        self._cancel(request, [message])
        return HttpResponseRedirect(_change_url(message))

    # --- actions: tenant admins only -------------------------------------------------------
    def has_operate_permission(self, request: HttpRequest) -> bool:
        return self._in_scope(request, None, ADMIN_ONLY)

    def _may_operate(self, request: HttpRequest, message: Message) -> bool:
        return self._in_scope(request, message, ADMIN_ONLY)

    def _operable(self, request: HttpRequest, queryset: QuerySet) -> list[Message] | None:
        """The selected messages of tenants the user administers, at most ACTION_LIMIT."""
        if not request.user.is_superuser:
            queryset = queryset.filter(tenant__in=tenant_ids(request, ADMIN_ONLY))
        chosen = list(queryset.select_related("provider", "request")[: ACTION_LIMIT + 1])
        if len(chosen) > ACTION_LIMIT:
            self.message_user(
                request,
                f"Select at most {ACTION_LIMIT} messages at a time; nothing was done.",
                messages.ERROR,
            )
            return None
        return chosen

    @admin.action(description="Resend the selected messages", permissions=["operate"])
    def resend_selected(self, request, queryset):
        chosen = self._operable(request, queryset)
        if chosen is None:
            return
        copies, refused = [], []
        for message in chosen:
            try:
                copies.append(message_resend(message=message, user=request.user))
            except ResendRefused as exc:
                refused.append(str(exc))
        if copies:
            self.message_user(
                request,
                format_html(
                    "Resent {} message{}: {}.",
                    len(copies),
                    "" if len(copies) == 1 else "s",
                    format_html_join(", ", "{}", ((_message_link(c),) for c in copies)),
                ),
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(description="Cancel the selected scheduled messages", permissions=["operate"])
    def cancel_selected(self, request, queryset):
        chosen = self._operable(request, queryset)
        if chosen is not None:
            self._cancel(request, chosen)

    def _cancel(self, request: HttpRequest, chosen: list[Message]) -> None:
        cancelled, kept = 0, []
        for message in chosen:
            try:
                message_cancel(
                    message=message,
                    source="admin",
                    description=f"Cancelled in the admin by {request.user.get_username()}.",
                )
            except ApiError:  # already sent, or final: message_cancel re-read its status
                kept.append(message)
            else:
                cancelled += 1
        if cancelled:
            self.message_user(
                request,
                f"Cancelled {cancelled} message{'' if cancelled == 1 else 's'}.",
                messages.SUCCESS,
            )
        if kept:
            self.message_user(
                request,
                format_html(
                    "{} could not be cancelled, as {} already left or ended: {}.",
                    f"{len(kept)} message{'' if len(kept) == 1 else 's'}",
                    "it has" if len(kept) == 1 else "they have",
                    format_html_join(
                        "; ",
                        "{} ({})",
                        ((_message_link(m), m.status) for m in kept),
                    ),
                ),
                messages.WARNING,
            )


def _uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def _change_url(message: Message) -> str:
    return reverse("admin:messaging_message_change", args=[message.pk])


def _message_link(message: Message) -> str:
    return format_html('<a href="{}">{} to {}</a>', _change_url(message), message.id, message.to)


def when(moment) -> str:
    """A date-time as the whole admin shows it: "2026-12-02 16:07:04 UTC"."""
    if moment is None:
        return ""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def is_settled(status: str) -> bool:
    """Final, and not about to change: a report "delivered to the operator" is often
    followed by "delivered to the handset"."""
    info = st.STATUSES.get(status)
    return bool(info and info.is_final and status != st.DELIVERED_TO_OPERATOR)


def live_status(message: Message) -> dict[str, Any]:
    """What a page following a message shows: its status, error and timeline."""
    info = st.STATUSES.get(message.status)
    events = MessageEvent.objects.filter(message=message).order_by("created_at", "id")
    return {
        "id": str(message.id),
        "status": message.status,
        "group": info.group if info else "UNKNOWN",
        "description": info.description if info else "",
        "final": is_settled(message.status),
        "error": message.error,
        "updatedAt": when(message.updated_at),
        "url": _change_url(message),
        "timeline": [
            {
                "at": when(e.created_at),
                "status": e.status,
                "group": st.STATUSES[e.status].group if e.status in st.STATUSES else "UNKNOWN",
                "source": e.source,
                "errorCode": e.error_code,
                "description": e.description,
            }
            for e in events[:200]
        ],
    }


def status_badge(name: str) -> str:
    info = st.STATUSES.get(name)
    group = info.group if info else "UNKNOWN"
    return format_html(
        '<span class="msglog-status msglog-{}" title="{}">{}</span>',
        group.lower(),
        info.description if info else "",
        name,
    )


def detail_context(message: Message) -> dict[str, Any]:
    """What the detail page shows of one message: content, timeline, attempts, callbacks."""
    events = list(MessageEvent.objects.filter(message=message).order_by("created_at", "id"))
    for event in events:
        event.badge = status_badge(event.status)
        event.raw_json = json.dumps(event.raw, indent=2, default=str) if event.raw else ""
    attempts = list(MessageAttempt.objects.filter(message=message).order_by("number", "id"))
    for attempt in attempts:
        response = attempt.provider_response
        attempt.response_text = (
            ""
            if response is None
            else response
            if isinstance(response, str)
            else json.dumps(response, indent=2, default=str)
        )
    callbacks = list(
        CallbackDelivery.objects.filter(message=message)
        .prefetch_related(Prefetch("tries", queryset=CallbackAttempt.objects.order_by("number")))
        .order_by("created_at", "id")
    )
    for callback in callbacks:
        callback.status_name = (callback.payload or {}).get("status", {}).get("name", "")
    info = st.STATUSES.get(message.status)
    stored = message.text_store == TextStore.PLAINTEXT
    context: dict[str, Any] = {
        "message": message,
        "status": info,
        "status_html": status_badge(message.status),
        "content_stored": stored,
        "events": events,
        "send_attempts": attempts,
        "callbacks": callbacks,
        "request_url": reverse("admin:messaging_messagerequest_change", args=[message.request_id]),
        "request_messages_url": (
            reverse("admin:messaging_message_changelist") + f"?q={message.request_id}"
        ),
        "resent_from": message.resent_from,
        "resends": list(Message.objects.filter(resent_from=message).order_by("created_at")),
        "can_cancel": message.status in st.CANCELLABLE,
        "can_resend": stored and message.status not in NOT_YET_SENT,
        "extras": json.dumps(message.content, indent=2) if message.content else "",
        "email_recipients": message.recipients or {},
    }
    if not stored:
        context["text_digest"] = _text_digest(message)
        context["subject_digest"] = _text_digest(message, "subject")
    elif message.channel == "sms" and message.body:
        context["sms"] = sms_info(message.body)
    return context


def _text_digest(message: Message, field: str = "body") -> str:
    """The SHA-256 of the text (or of the subject) under textStore sha256: what the field
    holds once sent."""
    value = getattr(message, field)
    if message.text_store != TextStore.SHA256 or not value:
        return ""
    if message.status in TEXT_WHOLE:  # not replaced yet: the field is still the text
        return hashlib.sha256(value.encode()).hexdigest()
    return value


# --- the other logs --------------------------------------------------------------------------


class DetailLog(ReadOnly):
    """A log whose rows are shown on the message's page: reachable, but not in the menu
    of tenant users, so it stays short (superusers see everything)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


class UuidSearch:
    """Search by an id pasted whole (exact match on indexed uuid columns, never LIKE);
    anything that is not a uuid finds nothing instead of an error."""

    uuid_search: tuple[str, ...] = ()
    search_fields = ("=pk",)  # shows the box; get_search_results decides what matches

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        as_uuid = _uuid(term)
        if as_uuid is None:
            return queryset.none(), False
        return queryset.filter(reduce(or_, (Q(**{f: as_uuid}) for f in self.uuid_search))), False


class SourceFilter(admin.SimpleListFilter):
    """Who wrote a timeline event; fixed choices (a DISTINCT over every event is slow)."""

    title = "source"
    parameter_name = "source"
    SOURCES = ("api", "dispatch", "provider", "sweep", "client", "admin")

    def lookups(self, request, model_admin):
        return [(s, s) for s in self.SOURCES]

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


@admin.register(MessageRequest)
class MessageRequestAdmin(UuidSearch, ReadOnly):
    list_display = ("id", "tenant", "app", "message_count", "created_at")
    list_filter = (("app", ScopedRelatedFilter), ("created_at", DateRangeFilter))
    list_select_related = ("tenant", "app__tenant")
    uuid_search = ("pk",)
    search_help_text = "A request id, whole."
    readonly_fields = ("its_messages",)
    ordering = ("-created_at",)
    show_full_result_count = False
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # Django 6's default

    @admin.display(description="messages")
    def its_messages(self, obj: MessageRequest) -> str:
        url = reverse("admin:messaging_message_changelist") + f"?q={obj.pk}"
        return format_html(
            '<a href="{}">The {} messages of this request</a>', url, obj.message_count
        )


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(UuidSearch, ReadOnly):
    """Every webhook POST to an app (callbacks and the other events), with "Redeliver"."""

    tenant_path = "app__tenant"
    list_display = (
        "event", "message", "url", "state", "attempts", "next_attempt_at", "delivered_at",
    )  # fmt: skip
    list_filter = ("state", "event", ("created_at", DateRangeFilter))
    list_select_related = ("message", "app")
    actions = ["export_csv", "redeliver"]
    uuid_search = ("message_id",)
    search_help_text = "A message id, whole."
    export_exclude = ("payload", "secret_encrypted")
    ordering = ("-created_at",)
    show_full_result_count = False

    @admin.action(description="Redeliver the selected webhooks", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not request.user.is_superuser:
            queryset = queryset.filter(app__tenant__in=tenant_ids(request, ADMIN_ONLY))
        count = webhook_redeliver(queryset)
        self.message_user(request, f"{count} webhook(s) queued for delivery again.")

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return self._in_scope(request, None, ADMIN_ONLY)  # tenant admins; support looks


@admin.register(CallbackAttempt)
class CallbackAttemptAdmin(UuidSearch, DetailLog):
    tenant_path = "delivery__app__tenant"
    list_display = ("delivery", "number", "response_status", "error", "duration_ms", "created_at")
    list_filter = ("response_status", ("created_at", DateRangeFilter))
    uuid_search = ("delivery__message_id",)
    search_help_text = "A message id, whole."
    ordering = ("-created_at",)
    show_full_result_count = False


@admin.register(MessageEvent)
class MessageEventAdmin(UuidSearch, DetailLog):
    tenant_path = "message__tenant"
    list_display = ("message", "status", "source", "error_code", "created_at")
    list_filter = (StatusGroupFilter, SourceFilter, ("created_at", DateRangeFilter))
    list_select_related = ("message",)
    uuid_search = ("message_id",)
    search_help_text = "A message id, whole."
    ordering = ("-created_at",)
    show_full_result_count = False


@admin.register(MessageAttempt)
class MessageAttemptAdmin(UuidSearch, DetailLog):
    tenant_path = "message__tenant"
    list_display = ("message", "number", "outcome", "error_code", "duration_ms", "started_at")
    list_filter = ("outcome", ("started_at", DateRangeFilter))
    list_select_related = ("message",)
    uuid_search = ("message_id",)
    search_help_text = "A message id, whole."
    ordering = ("-started_at",)
    show_full_result_count = False


@admin.register(EarlyReport)
class EarlyReportAdmin(DetailLog):
    """Provider reports that arrived before their send was recorded (applied, then dropped)."""

    tenant_path = "provider__tenant"
    view_roles = ADMIN_ONLY
    list_display = ("provider_message_id", "provider", "message_ref", "received_at")
    list_filter = (("provider", ScopedRelatedFilter), ("received_at", DateRangeFilter))
    list_select_related = ("provider",)
    search_fields = ("=provider_message_id", "=message_ref")
    ordering = ("-received_at",)
    show_full_result_count = False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(DetailLog):
    tenant_path = "app__tenant"
    view_roles = ADMIN_ONLY
    list_display = ("app", "key", "response_status", "created_at")
    list_filter = (("app", ScopedRelatedFilter), "response_status", ("created_at", DateRangeFilter))
    list_select_related = ("app",)
    search_fields = ("=key",)
    search_help_text = "An Idempotency-Key, exactly."
    export_exclude = ("response_body", "request_hash")
    ordering = ("-created_at",)
    show_full_result_count = False
