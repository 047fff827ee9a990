"""Templates in the admin."""

from django.contrib import admin

from tenants.scoping import TenantScopedAdmin

from ..models import Template


@admin.register(Template)
class TemplateAdmin(TenantScopedAdmin):
    list_display = ("name", "mode", "tenant", "is_active", "updated_at")
    list_filter = ("mode", "is_active", "tenant")
    search_fields = ("name",)
