from django.contrib import admin

from .models import InboundMessage, Provider, SandboxOutboxEntry


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "provider_type", "channels", "is_active", "is_tenant_default")
    list_filter = ("provider_type", "is_active", "tenant")
    search_fields = ("name",)
    readonly_fields = ("status_webhook_url", "inbound_webhook_url", "created_at", "updated_at")
    exclude = ("credentials_encrypted",)


@admin.register(SandboxOutboxEntry)
class SandboxOutboxAdmin(admin.ModelAdmin):
    list_display = ("created_at", "channel", "to", "subject", "provider")
    list_filter = ("channel",)
    search_fields = ("to", "message_id", "provider_message_id")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("received_at", "channel", "sender", "recipient", "text", "provider")
    list_filter = ("channel",)
    search_fields = ("sender", "text")

    def has_add_permission(self, request) -> bool:
        return False
