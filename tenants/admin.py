from django.contrib import admin

from .models import ApiKey, App, Tenant


class AppInline(admin.TabularInline):
    model = App
    extra = 0
    fields = ("name", "is_active", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "default_country", "created_at")
    search_fields = ("slug", "name")
    inlines = [AppInline]


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "is_active", "created_at")
    list_filter = ("tenant", "is_active")
    search_fields = ("name",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "app", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("app__tenant",)
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are issued with create_tenant or the API, and shown once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            key.revoke()
