from django.contrib import admin

from tenants.models import Role
from tenants.scoping import ADMIN_ONLY, TenantScopedAdmin

from .models import InboundMessage, Provider, SandboxOutboxEntry

SUPPORT = frozenset({Role.TENANT_ADMIN, Role.SUPPORT})


@admin.register(Provider)
class ProviderAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant", "provider_type", "channels", "is_active", "is_tenant_default")
    list_filter = ("provider_type", "is_active", "tenant")
    search_fields = ("name",)
    readonly_fields = ("status_webhook_url", "inbound_webhook_url", "created_at", "updated_at")
    exclude = ("credentials_encrypted",)


class ReadOnly(TenantScopedAdmin):
    view_roles = SUPPORT
    add_roles = change_roles = delete_roles = frozenset()


@admin.register(SandboxOutboxEntry)
class SandboxOutboxAdmin(ReadOnly):
    tenant_path = "provider__tenant"
    view_roles = ADMIN_ONLY
    list_display = ("created_at", "channel", "to", "subject", "provider")
    list_filter = ("channel",)
    search_fields = ("to", "message_id", "provider_message_id")


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnly):
    list_display = ("received_at", "channel", "sender", "recipient", "text", "provider")
    list_filter = ("channel", "provider")
    search_fields = ("sender", "text")
