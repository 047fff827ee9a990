"""Admin of contacts (addresses inline, their suppressions and care window shown), the
suppression list (add and remove by hand) and each tenant's opt-out keywords."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html_join

from core.zones import zone, zone_problem
from tenants.models import Role
from tenants.scoping import TenantScopedAdmin

from . import quiet, services
from .models import (
    KIND_OF_CHANNEL,
    CareWindow,
    Contact,
    ContactAddress,
    OptOutSettings,
    Suppression,
)

SUPPORT = frozenset({Role.TENANT_ADMIN, Role.SUPPORT})


class ContactAddressForm(forms.ModelForm):
    class Meta:
        model = ContactAddress
        fields = ("channel", "address")

    def clean(self):
        data = super().clean()
        contact = getattr(self.instance, "contact", None)
        region = contact.tenant.default_country if contact and contact.tenant_id else "US"
        if data.get("channel") and data.get("address"):
            try:
                self.instance.normalized = services.address_normalize(
                    data["channel"], data["address"], region
                )
            except ValueError as exc:
                raise forms.ValidationError({"address": str(exc)}) from None
        return data


class ContactAddressInline(admin.TabularInline):
    model = ContactAddress
    form = ContactAddressForm
    fields = ("channel", "address", "normalized")
    readonly_fields = ("normalized",)
    extra = 1


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = (
            "tenant", "external_id", "name", "locale", "attributes", "time_zone", "quiet_hours",
            "quiet_start", "quiet_end",
        )  # fmt: skip
        widgets = {
            "quiet_start": forms.TimeInput(format="%H:%M"),
            "quiet_end": forms.TimeInput(format="%H:%M"),
        }

    def clean_time_zone(self) -> str:
        name = (self.cleaned_data.get("time_zone") or "").strip()
        if name and (problem := zone_problem(name)):
            raise forms.ValidationError(problem)
        return name

    def clean(self):
        data = super().clean()
        if data.get("quiet_hours") == Contact.QuietHours.OWN:
            start, end = data.get("quiet_start"), data.get("quiet_end")
            if start is None or end is None:
                self.add_error("quiet_start", "Hours of its own need a start and an end.")
            elif start == end:
                self.add_error("quiet_end", "The window closes when it opens: give another time.")
        return data


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    form = ContactForm
    list_display = ("__str__", "external_id", "locale", "addresses_shown", "created_at")
    list_filter = ("locale", "quiet_hours")
    search_fields = ("external_id", "name", "addresses__normalized")
    fieldsets = (
        (None, {"fields": ("tenant", "external_id", "name", "locale", "attributes")}),
        (
            "Quiet hours",
            {"fields": ("time_zone", "quiet_hours", ("quiet_start", "quiet_end"), "quiet_shown")},
        ),
        (
            None,
            {
                "fields": (
                    "suppressions_shown", "care_window_shown", "created_at", "updated_at",
                )
            },
        ),
    )  # fmt: skip
    readonly_fields = (
        "suppressions_shown", "care_window_shown", "quiet_shown", "created_at", "updated_at",
    )  # fmt: skip
    inlines = [ContactAddressInline]
    view_roles = SUPPORT

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("addresses")

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            if inline_form.instance.contact_id or inline_form.has_changed():
                inline_form.instance.tenant_id = form.instance.tenant_id
        super().save_formset(request, form, formset, change)

    @admin.display(description="addresses")
    def addresses_shown(self, obj: Contact) -> str:
        return ", ".join(a.normalized for a in obj.addresses.all())

    @admin.display(description="in effect")
    def quiet_shown(self, obj: Contact) -> str:
        """What quiet hours mean for this contact now: its window and the zone it is read in."""
        if obj.pk is None:
            return "Shown once saved."
        tenant = obj.tenant
        if obj.quiet_hours == Contact.QuietHours.OFF:
            return "None: its messages are never deferred."
        if obj.quiet_hours == Contact.QuietHours.OWN and obj.quiet_start and obj.quiet_end:
            policy = quiet.QuietPolicy(obj.quiet_start, obj.quiet_end)
        else:
            policy = quiet.tenant_policy(tenant)
        if policy is None:
            return "None: the tenant's quiet hours are off."
        phones = [a.normalized for a in obj.addresses.all() if a.channel == "phone"]
        if zone(obj.time_zone):
            where = f"{obj.time_zone} (its own)"
        elif phones and (found := quiet.phone_zone(phones[0])):
            where = f"{found.key} (from {phones[0]})"
        else:
            where = f"{tenant.time_zone} (the tenant's)"
        channels = ", ".join(sorted(quiet.quiet_channels(tenant))) or "no channel"
        return f"{policy.label()} in {where}, on {channels}."

    @admin.display(description="suppressed")
    def suppressions_shown(self, obj: Contact) -> str:
        pairs = [
            (channel, a.normalized)
            for a in obj.addresses.all()
            for channel, kind in KIND_OF_CHANNEL.items()
            if kind == a.channel
        ]
        rows = Suppression.objects.filter(
            tenant_id=obj.tenant_id, address__in={services.suppression_key(c, a) for c, a in pairs}
        )
        if not rows:
            return "Not suppressed on any channel."
        return format_html_join(
            ", ", "{} {} ({})", ((s.channel, s.address, s.get_reason_display()) for s in rows)
        )

    @admin.display(description="WhatsApp care window")
    def care_window_shown(self, obj: Contact) -> str:
        phones = [a.normalized for a in obj.addresses.all() if a.channel == "phone"]
        window = (
            CareWindow.objects.filter(
                tenant_id=obj.tenant_id, channel="whatsapp", address__in=phones
            )
            .order_by("-expires_at")
            .first()
        )
        if window is None:
            return "Never opened (no inbound WhatsApp message)."
        when = timezone.localtime(window.expires_at).strftime("%Y-%m-%d %H:%M %Z")
        if window.expires_at > timezone.now():
            return f"Open until {when}"
        return f"Closed since {when}"


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ("tenant", "channel", "address", "reason", "source")

    def clean(self):
        data = super().clean()
        tenant, channel, address = data.get("tenant"), data.get("channel"), data.get("address")
        if tenant and channel and address:
            kind = KIND_OF_CHANNEL.get(channel, "push")
            try:
                normalized = services.address_normalize(kind, address, tenant.default_country)
            except ValueError as exc:
                raise forms.ValidationError({"address": str(exc)}) from None
            data["address"] = services.suppression_key(channel, normalized)
            self.instance.address = data["address"]
        return data


@admin.register(Suppression)
class SuppressionAdmin(TenantScopedAdmin):
    form = SuppressionForm
    list_display = ("address", "channel", "reason", "source", "created_at")
    list_filter = ("channel", "reason")
    search_fields = ("address", "source")
    date_hierarchy = "created_at"
    view_roles = SUPPORT


@admin.register(OptOutSettings)
class OptOutSettingsAdmin(TenantScopedAdmin):
    list_display = ("tenant", "stop_keywords", "start_keywords")
    fields = ("tenant", "stop_keywords", "start_keywords")


@admin.register(CareWindow)
class CareWindowAdmin(TenantScopedAdmin):
    """Read-only: windows open and close with inbound messages only."""

    list_display = ("address", "channel", "our_number", "last_inbound_at", "expires_at")
    list_filter = ("channel",)
    search_fields = ("address",)
    view_roles = SUPPORT
    add_roles = change_roles = delete_roles = frozenset()

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
