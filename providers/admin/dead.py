"""Recipients a provider reported gone: shown so an admin can see why messages to them are
refused, and deleted to allow sending to them again."""

from django.contrib import admin
from django.http import HttpRequest

from tenants.scoping import ADMIN_ONLY, TenantScopedAdmin

from ..models import DeadRecipient


@admin.register(DeadRecipient)
class DeadRecipientAdmin(TenantScopedAdmin):
    tenant_path = "provider__tenant"
    view_roles = delete_roles = ADMIN_ONLY
    add_roles = change_roles = frozenset()
    list_display = ("recipient", "provider", "code", "created_at")
    list_filter = ("code",)
    search_fields = ("=recipient",)
    readonly_fields = ("provider", "recipient", "code", "description", "created_at")
    exclude = ("recipient_hash",)

    # Only a provider's report makes a dead recipient (there is nothing to type in: the
    # hash is derived, the code is the provider's), and it is never edited: no Add, no
    # change, for superusers too. Deleting one is the real operation: send to it again.
    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
