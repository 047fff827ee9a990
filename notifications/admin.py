"""The review queue: tenant admins read each channel's template rendered with sample data and
enable or disable notifications (one or many) with a reason; support and developers look.

Notifications are registered by apps through the API, so the admin has no Add, nothing to
edit and no Delete (a disabled notification keeps its audit trail). Every decision is a row
of NotificationReview, shown read-only under the notification.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from messaging.admin.outbox import EMAIL_CSP
from messaging.admin.templates import DATA_FORM_FIELDS, template_editor_preview
from tenants.models import Role
from tenants.scoping import ADMIN_ONLY, TenantScopedAdmin, tenant_ids

from .models import Notification, NotificationReview, NotificationTemplate, Status
from .services import MAX_DESCRIPTION, notification_review

ACTION_LIMIT = 500
REVIEW_TEMPLATE = "admin/notifications/notification/review.html"


class ReviewForm(forms.Form):
    comment = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=MAX_DESCRIPTION,
        help_text="Kept in the audit trail and shown to the app (reviewComment).",
    )


def channel_preview(row: NotificationTemplate, app_placeholders: dict[str, Any]) -> dict[str, Any]:
    """One channel's template rendered as the template editor renders it: the tenant's and the
    app's placeholders as sample data, and what each send must give shown as written."""
    template = row.template
    out: dict[str, Any] = {"channel": row.channel, "template": template}
    if template is None:
        return out
    data = template.data or {}
    values = {form: data[key] for key, form in DATA_FORM_FIELDS.items() if key in data}
    sample = {
        k: str(v) for k, v in (app_placeholders or {}).items() if isinstance(v, str | int | float)
    }
    result = template_editor_preview(
        tenant=template.tenant, mode=template.mode, values=values, sample=sample
    )
    preview = result.get("preview") or {}
    out.update(
        placeholders=result["placeholders"],
        missing=result["missing"],
        problem=result["problem"] if not result["missing"] else None,
        preview=preview,
        srcdoc=EMAIL_CSP + preview["html"] if preview.get("html") else "",
        template_url=reverse("admin:messaging_template_change", args=[template.pk]),
    )
    return out


class NotificationReviewInline(admin.TabularInline):
    model = NotificationReview
    verbose_name = "review"
    verbose_name_plural = "Audit trail"
    fields = ("at", "action", "actor_name", "status", "comment", "templates_used")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-at", "-id")

    @admin.display(description="Templates")
    def templates_used(self, obj: NotificationReview) -> str:
        return ", ".join(
            f"{channel}: {(snap or {}).get('template') or '(deleted)'}"
            for channel, snap in sorted((obj.templates or {}).items())
        )

    # The notification's page has already checked who may see it; nobody writes here.
    def has_view_permission(self, request, obj=None) -> bool:
        return True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(TenantScopedAdmin):
    tenant_path = "app__tenant"
    view_roles = frozenset({Role.TENANT_ADMIN, Role.SUPPORT, Role.DEVELOPER})
    change_roles = frozenset()
    list_display = (
        "name",
        "status_badge",
        "app",
        "tenant",
        "channels",
        "created_at",
        "reviewed_by",
        "reviewed_at",
    )
    list_filter = ("status", "app")
    search_fields = ("name", "description")
    list_select_related = ("app__tenant", "reviewed_by")
    fields = (
        "name",
        "app",
        "description",
        "status",
        "reviewed_by",
        "reviewed_at",
        "review_comment",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [NotificationReviewInline]
    actions = ["enable_selected", "disable_selected"]
    change_form_template = "admin/notifications/notification/change_form.html"

    class Media:
        css = {"all": ("notifications/review.css",)}

    # --- the queue: pending first, the oldest first ------------------------------------------
    def get_ordering(self, request: HttpRequest):
        pending_first = Case(
            When(status=Status.PENDING_REVIEW, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        return [pending_first.asc(), "created_at", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "templates",
                    queryset=NotificationTemplate.objects.select_related("template"),
                )
            )
        )

    @admin.display(description="Tenant", ordering="app__tenant__slug")
    def tenant(self, obj: Notification) -> str:
        return obj.app.tenant.slug

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Notification) -> str:
        return format_html(
            '<span class="notification-status notification-status--{}">{}</span>',
            obj.status.lower(),
            obj.get_status_display(),
        )

    @admin.display(description="Templates")
    def channels(self, obj: Notification) -> str:
        return format_html_join(
            ", ",
            "{}: {}",
            (
                (row.channel, row.template.name if row.template else "(deleted)")
                for row in obj.templates.all()
            ),
        )

    # --- nothing to add, edit or delete: apps register, reviewers use the actions -----------
    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return self._in_scope(request, obj, ADMIN_ONLY)

    # --- the change page: each channel rendered, and the review buttons ----------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require(request, object_id)
        obj = self.get_object(request, object_id)
        previews = [channel_preview(row, obj.app.placeholders) for row in obj.templates.all()]
        context = {
            "channel_previews": previews,
            "may_review": self.has_review_permission(request, obj),
            "changelist_url": reverse("admin:notifications_notification_changelist"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    # --- enable / disable, with a reason -----------------------------------------------------
    @admin.action(description="Enable the selected notifications…", permissions=["review"])
    def enable_selected(self, request, queryset):
        return self._review(request, queryset, enable=True)

    @admin.action(description="Disable the selected notifications…", permissions=["review"])
    def disable_selected(self, request, queryset):
        return self._review(request, queryset, enable=False)

    def _review(self, request: HttpRequest, queryset: QuerySet, *, enable: bool):
        if not request.user.is_superuser:
            # A support role in one tenant and admin in another: only the latter's count.
            queryset = queryset.filter(app__tenant__in=tenant_ids(request, ADMIN_ONLY))
        chosen = list(queryset.select_related("app__tenant")[: ACTION_LIMIT + 1])
        if len(chosen) > ACTION_LIMIT:
            self.message_user(
                request,
                f"Select at most {ACTION_LIMIT} notifications at a time; nothing was done.",
                messages.ERROR,
            )
            return None
        if not chosen:
            self.message_user(request, "None of the selected notifications can be reviewed by you.")
            return None
        verb = "enable" if enable else "disable"
        form = ReviewForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = [
                n
                for n in chosen
                if notification_review(
                    notification=n,
                    enable=enable,
                    user=request.user,
                    comment=form.cleaned_data["comment"],
                )
            ]
            if done:
                self.message_user(
                    request,
                    f"{verb.capitalize()}d {len(done)} notification"
                    f"{'' if len(done) == 1 else 's'}: {', '.join(n.name for n in done)}.",
                    messages.SUCCESS,
                )
            same = len(chosen) - len(done)
            if same:
                self.message_user(
                    request,
                    f"{same} {'was' if same == 1 else 'were'} already {verb}d: left as "
                    f"{'it was' if same == 1 else 'they were'}.",
                    messages.WARNING,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb.capitalize()} notifications",
            "opts": self.model._meta,
            "verb": verb,
            "action": f"{verb}_selected",
            "form": form,
            "notifications": chosen,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:notifications_notification_changelist"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, REVIEW_TEMPLATE, context)
