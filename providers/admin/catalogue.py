"""WhatsApp templates as each provider last listed them: read-only (the provider is the
truth; "Refresh templates" on the provider's page syncs them again)."""

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from tenants.models import Role
from tenants.scoping import TenantScopedAdmin

from ..models import ProviderTemplate

# Developers name these templates in their sends: they see them too.
EVERYONE = frozenset({Role.TENANT_ADMIN, Role.SUPPORT, Role.DEVELOPER})


@admin.register(ProviderTemplate)
class ProviderTemplateAdmin(TenantScopedAdmin):
    tenant_path = "provider__tenant"
    view_roles = EVERYONE
    add_roles = change_roles = delete_roles = frozenset()
    list_display = (
        "name",
        "label",
        "language",
        "status_badge",
        "category",
        "provider",
        "synced_at",
    )
    list_filter = ("status", "category", "language", "provider")
    search_fields = ("name", "label")
    list_select_related = ("provider",)
    fields = (
        "provider", "name", "label", "language", "status", "provider_status", "category",
        "provider_template_id", "components_readable", "synced_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: ProviderTemplate) -> str:
        return (
            obj.status
            if obj.status == obj.provider_status or not obj.provider_status
            else (f"{obj.status} ({obj.provider_status})")
        )

    @admin.display(description="Components")
    def components_readable(self, obj: ProviderTemplate) -> str:
        return format_html(
            '<pre class="template-components">{}</pre>',
            json.dumps(obj.components, indent=2, ensure_ascii=False, sort_keys=True),
        )

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
