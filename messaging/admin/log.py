"""The message log: what was sent, its timeline, its callbacks. Read-only."""

from django.contrib import admin

from providers.admin.base import ReadOnly
from tenants.scoping import ADMIN_ONLY

from ..models import (
    CallbackAttempt,
    CallbackDelivery,
    IdempotencyRecord,
    Message,
    MessageEvent,
    MessageRequest,
)


class EventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "status", "source", "error_code", "description")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnly):
    list_display = ("created_at", "channel", "to", "status", "provider", "attempts")
    list_filter = ("channel", "status", "provider")
    search_fields = ("=to", "=provider_message_id")
    list_select_related = ("provider",)
    show_full_result_count = False
    inlines = [EventInline]


@admin.register(MessageRequest)
class MessageRequestAdmin(ReadOnly):
    list_display = ("id", "tenant", "app", "message_count", "created_at")


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnly):
    tenant_path = "message__tenant"
    list_display = ("message", "url", "state", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("state",)


@admin.register(CallbackAttempt)
class CallbackAttemptAdmin(ReadOnly):
    tenant_path = "delivery__message__tenant"
    list_display = ("delivery", "number", "response_status", "error", "duration_ms", "created_at")


@admin.register(MessageEvent)
class MessageEventAdmin(ReadOnly):
    tenant_path = "message__tenant"
    list_display = ("message", "status", "source", "created_at")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnly):
    tenant_path = "app__tenant"
    view_roles = ADMIN_ONLY
    list_display = ("app", "key", "response_status", "created_at")
