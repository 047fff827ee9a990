"""Shared admin bases for read-only, tenant-scoped logs."""

from django.http import HttpRequest

from tenants.models import Role
from tenants.scoping import TenantScopedAdmin

from .export import ExportCsvMixin

SUPPORT = frozenset({Role.TENANT_ADMIN, Role.SUPPORT})


class ReadOnly(ExportCsvMixin, TenantScopedAdmin):
    """A log: tenant admins and support staff look (and export); nobody adds, changes or
    deletes, superusers included: a log written by hand (a forged status event, an edited
    send attempt) would be a lie the service then acts on."""

    view_roles = SUPPORT
    add_roles = change_roles = delete_roles = frozenset()
    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
