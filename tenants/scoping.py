"""Tenant scoping for the admin: a user sees and touches only their tenants' rows.

Every ModelAdmin of a tenant-owned model derives from TenantScopedAdmin, which limits the
changelist, the object URLs (another tenant's object is a 404, never a redirect that tells
it exists), foreign-key choices, autocomplete, filters and actions to the user's tenants,
and grants each action by role. Superusers see every tenant.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from .models import Membership, Role, Tenant

ALL_ROLES = frozenset(Role.values)
ADMIN_ONLY = frozenset({Role.TENANT_ADMIN})


def tenant_ids(request: HttpRequest, roles: Iterable[str] = ALL_ROLES) -> set[int]:
    """The ids of the tenants where the user holds one of `roles` (cached per request)."""
    cache = getattr(request, "_tenant_roles", None)
    if cache is None:
        cache = {}
        if request.user.is_authenticated:
            for tenant_id, role in Membership.objects.filter(user=request.user).values_list(
                "tenant_id", "role"
            ):
                cache.setdefault(role, set()).add(tenant_id)
        request._tenant_roles = cache
    return set().union(*(cache.get(r, set()) for r in roles))


def user_tenants(request: HttpRequest, roles: Iterable[str] = ALL_ROLES) -> QuerySet[Tenant]:
    if request.user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(pk__in=tenant_ids(request, roles))


class TenantScopedAdmin(admin.ModelAdmin):
    """Scope by `tenant_path` (the lookup from this model to its Tenant) and grant by role."""

    tenant_path = "tenant"
    view_roles: frozenset[str] = ADMIN_ONLY
    add_roles: frozenset[str] = ADMIN_ONLY
    change_roles: frozenset[str] = ADMIN_ONLY
    delete_roles: frozenset[str] = ADMIN_ONLY

    # --- what the user may see -------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.tenant_path}__in": tenant_ids(request, self.view_roles)})

    def _in_scope(self, request: HttpRequest, obj: Model | None, roles: Iterable[str]) -> bool:
        if request.user.is_superuser:
            return True
        allowed = tenant_ids(request, roles)
        if obj is None:
            return bool(allowed)
        return self._tenant_id_of(obj) in allowed

    def _tenant_id_of(self, obj: Model) -> int | None:
        value = obj
        for part in self.tenant_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value.pk

    # --- permissions by role ---------------------------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and self._in_scope(request, None, self.view_roles)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._in_scope(request, obj, self.view_roles | self.change_roles)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return self._in_scope(request, None, self.add_roles)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._in_scope(request, obj, self.change_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._in_scope(request, obj, self.delete_roles)

    # --- another tenant's object is a 404 --------------------------------------------------
    def _require(self, request: HttpRequest, object_id: str | None) -> None:
        # The URL holds the admin's quoted pk ("_" is "_5F"), as Django's own views unquote it.
        if object_id is not None and self.get_object(request, unquote(object_id)) is None:
            raise Http404("No such object.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._require(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._require(request, object_id)
        return super().history_view(request, object_id, extra_context)

    # --- choices limited to the user's tenants ---------------------------------------------
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and not request.user.is_superuser:
            related = db_field.related_model
            if related is Tenant:
                field.queryset = user_tenants(request, self.add_roles | self.change_roles)
                if field.queryset.count() == 1:
                    # One tenant: nothing to choose, so the field is set and not shown.
                    field.initial = field.queryset.first().pk
                    field.widget = forms.HiddenInput()
            elif any(f.name == "tenant" for f in related._meta.fields):
                field.queryset = field.queryset.filter(
                    tenant__in=tenant_ids(request, self.add_roles | self.change_roles)
                )
        return field

    def get_list_filter(self, request):
        # Related-object filters list only what the scoped queryset refers to.
        filters = []
        for f in super().get_list_filter(request):
            if isinstance(f, str) and self._is_relation(f):
                filters.append((f, admin.RelatedOnlyFieldListFilter))
            else:
                filters.append(f)
        return filters

    def _is_relation(self, path: str) -> bool:
        model = self.model
        field = None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:
                return False
            model = field.related_model
            if model is None:
                break
        return bool(field is not None and field.is_relation)
