"""Conversations (a read-only log with its events) and the apps' inbound webhooks (editable),
both scoped to the user's tenants."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.errors import ApiError
from messaging.services.accept import phone_normalize, url_check
from providers.admin.base import ReadOnly
from tenants.scoping import TenantScopedAdmin

from .models import Conversation, ConversationEvent, ConversationMessage, InboundRoute


class ConversationEventInline(admin.TabularInline):
    model = ConversationEvent
    fields = ("at", "kind", "inbound", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Whoever may see the conversation (the parent admin's tenant scoping) sees these.
        return True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ConversationMessageInline(ConversationEventInline):
    model = ConversationMessage
    fields = ("role", "message")
    readonly_fields = fields
    ordering = ("id",)


@admin.register(Conversation)
class ConversationAdmin(ReadOnly):
    list_display = ("created_at", "recipient", "sender", "state", "app", "provider", "expires_at")
    list_filter = ("state", "app", "provider")
    search_fields = ("recipient", "sender", "id")
    list_select_related = ("app", "provider")
    date_hierarchy = "created_at"
    inlines = [ConversationMessageInline, ConversationEventInline]
    # Never the secrets (secrets_encrypted is not editable, so not shown).
    exclude = ("secrets_encrypted",)


class InboundRouteForm(forms.ModelForm):
    url = forms.CharField(max_length=2000, help_text="http(s); checked like a callback URL.")
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs this webhook's POSTs. Leave blank to keep the current one.",
    )

    class Meta:
        model = InboundRoute
        fields = ("app", "provider", "number", "url")

    def clean_url(self) -> str:
        try:
            return url_check(self.cleaned_data.get("url"), "url")
        except ApiError as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_number(self) -> str:
        number = (self.cleaned_data.get("number") or "").strip()
        app = self.cleaned_data.get("app")
        if not number:
            return ""
        try:
            return phone_normalize(number, app.tenant.default_country if app else "US")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        app, provider = data.get("app"), data.get("provider")
        if app and provider and provider.tenant_id != app.tenant_id:
            self.add_error("provider", "The provider belongs to another tenant than the app.")
        if not data.get("secret") and not self.instance.secret_encrypted:
            self.add_error("secret", "Every inbound webhook needs its own secret.")
        return data

    def save(self, commit: bool = True):
        route = super().save(commit=False)
        route.tenant_id = route.app.tenant_id
        if self.cleaned_data.get("secret"):
            route.secret = self.cleaned_data["secret"]
        if commit:
            route.save()
        return route


@admin.register(InboundRoute)
class InboundRouteAdmin(TenantScopedAdmin):
    form = InboundRouteForm
    list_display = ("app", "provider", "number", "url", "created_at")
    list_filter = ("app", "provider")
    list_select_related = ("app", "provider")
