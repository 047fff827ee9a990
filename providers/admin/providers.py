"""Providers in the admin."""

from django.contrib import admin

from tenants.scoping import TenantScopedAdmin

from ..models import Provider


@admin.register(Provider)
class ProviderAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant", "provider_type", "channels", "is_active", "is_tenant_default")
    list_filter = ("provider_type", "is_active", "tenant")
    search_fields = ("name",)
    readonly_fields = ("status_webhook_url", "inbound_webhook_url", "created_at", "updated_at")
    exclude = ("credentials_encrypted",)
