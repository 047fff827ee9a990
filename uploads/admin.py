"""Uploaded media for tenant admins: a read-only list with a download link for each file.

Rows come from the API only (POST /api/v1/media): a file is sniffed and checked there, so
the admin neither adds, changes nor deletes one; another tenant's file is a 404 (TenantScopedAdmin).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from tenants.scoping import TenantScopedAdmin

from . import services
from .models import Media


@admin.register(Media)
class MediaAdmin(TenantScopedAdmin):
    list_display = ("filename", "kind", "content_type", "size_shown", "app", "created_at")
    list_filter = ("kind", "content_type", "created_at")
    search_fields = ("id", "filename", "sha256")
    date_hierarchy = "created_at"
    fields = (
        "id", "tenant", "app", "filename", "kind", "content_type", "size_shown", "sha256",
        "download", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    list_select_related = ("app",)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a message waiting to be sent may still link to the file

    @admin.display(description="size", ordering="size")
    def size_shown(self, obj: Media) -> str:
        return filesizeformat(obj.size)

    @admin.display(description="download")
    def download(self, obj: Media) -> str:
        url, _ = services.download_link(obj, max_age=timedelta(seconds=settings.MEDIA_URL_MAX_AGE))
        return format_html('<a href="{}" rel="noopener">{}</a>', url, obj.filename)
