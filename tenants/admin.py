from django.contrib import admin, messages
from django.http import HttpRequest

from .models import ApiKey, App, Membership, Role, Tenant
from .scoping import ADMIN_ONLY, TenantScopedAdmin, tenant_ids

DEVELOPERS = frozenset({Role.TENANT_ADMIN, Role.DEVELOPER})


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Superusers create tenants; a tenant admin edits their own tenant's settings."""

    list_display = ("slug", "name", "default_country", "created_at")
    search_fields = ("slug", "name")
    inlines = [MembershipInline]
    add_roles = delete_roles = frozenset()

    def get_queryset(self, request: HttpRequest):
        qs = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return qs
        return qs.filter(pk__in=tenant_ids(request, self.view_roles))

    def _tenant_id_of(self, obj: Tenant) -> int:
        return obj.pk

    def get_readonly_fields(self, request, obj=None):
        return () if request.user.is_superuser else ("slug",)


@admin.register(App)
class AppAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant", "is_active", "created_at")
    list_filter = ("tenant", "is_active")
    search_fields = ("name",)
    readonly_fields = ("webhook_secret", "created_at")
    view_roles = add_roles = change_roles = delete_roles = DEVELOPERS
    actions = ["issue_key"]

    @admin.action(description="Issue a new API key (shown once)")
    def issue_key(self, request, queryset) -> None:
        for app in queryset:
            _, raw = ApiKey.issue(app, name=f"issued by {request.user}")
            self.message_user(
                request,
                f"New API key for {app}: {raw} (copy it now: it is not shown again)",
                messages.WARNING,
            )


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    tenant_path = "app__tenant"
    list_display = ("prefix", "app", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("app",)
    readonly_fields = ("app", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    view_roles = change_roles = DEVELOPERS
    add_roles = delete_roles = frozenset()
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            key.revoke()
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "user__email")
    autocomplete_fields = ("user",)
    view_roles = ADMIN_ONLY
    add_roles = change_roles = delete_roles = frozenset()  # superusers manage memberships
