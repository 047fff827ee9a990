"""The sandbox provider's outbox: what it "sent"."""

from django.contrib import admin

from tenants.scoping import ADMIN_ONLY

from ..models import SandboxOutboxEntry
from .base import ReadOnly


@admin.register(SandboxOutboxEntry)
class SandboxOutboxAdmin(ReadOnly):
    tenant_path = "provider__tenant"
    view_roles = ADMIN_ONLY
    list_display = ("created_at", "channel", "to", "subject", "provider")
    list_filter = ("channel",)
    search_fields = ("to", "message_id", "provider_message_id")
