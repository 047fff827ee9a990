"""Inbound messages: what recipients sent us. Also mounts the dashboard (admin:dashboard):
the admin site has no URL hook of its own short of replacing it."""

from django.contrib import admin
from django.urls import path

# The dashboard module also limits django-q2's admin to superusers, at import: it must be
# loaded during admin autodiscovery, not later while the URLs are being built.
from messaging.admin.dashboard import dashboard_view

from ..models import InboundMessage
from .base import ReadOnly


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnly):
    list_display = ("received_at", "channel", "sender", "recipient", "text", "provider")
    list_filter = ("channel", "provider")
    search_fields = ("sender", "text")
    list_select_related = ("provider",)
    date_hierarchy = "received_at"

    def get_urls(self):
        dashboard = path("dashboard/", self.admin_site.admin_view(dashboard_view), name="dashboard")
        return [dashboard, *super().get_urls()]
