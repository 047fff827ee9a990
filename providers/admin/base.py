"""Shared admin bases for read-only, tenant-scoped logs."""

from tenants.models import Role
from tenants.scoping import TenantScopedAdmin

SUPPORT = frozenset({Role.TENANT_ADMIN, Role.SUPPORT})


class ReadOnly(TenantScopedAdmin):
    """A log: tenant admins and support staff look; nobody adds or changes."""

    view_roles = SUPPORT
    add_roles = change_roles = delete_roles = frozenset()
