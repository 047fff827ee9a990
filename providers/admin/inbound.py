"""Inbound messages: what recipients sent us."""

from django.contrib import admin

from ..models import InboundMessage
from .base import ReadOnly


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnly):
    list_display = ("received_at", "channel", "sender", "contact", "recipient", "text", "provider")
    list_filter = ("channel", "provider")
    search_fields = ("sender", "text")
    list_select_related = ("provider", "contact")
    date_hierarchy = "received_at"
