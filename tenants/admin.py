from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from core.addresses import region_choices
from core.zones import zone_problem

from .models import (
    QUIET_CHANNEL_CHOICES,
    WEEKDAYS,
    ApiKey,
    App,
    Membership,
    Role,
    Tenant,
    networks_of,
)
from .scoping import ADMIN_ONLY, TenantScopedAdmin, tenant_ids

DEVELOPERS = frozenset({Role.TENANT_ADMIN, Role.DEVELOPER})


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


class TenantForm(forms.ModelForm):
    """Quiet hours as checkboxes (days, channels) and a time zone that must exist."""

    quiet_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Quiet days",
        help_text="The windows that open on these days apply (Friday 21:00–Saturday 08:00 "
        "is Friday's).",
    )
    quiet_channels = forms.MultipleChoiceField(
        choices=[(c, c) for c in QUIET_CHANNEL_CHOICES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Email is left out by default: it waits in an inbox without waking anyone.",
    )
    sms_countries = forms.MultipleChoiceField(
        choices=region_choices,
        required=False,
        widget=FilteredSelectMultiple("countries", is_stacked=False),
        label="SMS countries",
        help_text="SMS go only to numbers of these countries; a recipient elsewhere ends "
        "REJECTED_DESTINATION (country_not_allowed) while the rest of its request goes on. "
        "None chosen: every country (the default).",
        error_messages={
            "invalid_choice": "%(value)s is not a country code phonenumbers knows: give "
            "ISO 3166-1 alpha-2 codes such as US or DE."
        },
    )

    class Meta:
        model = Tenant
        fields = (
            "slug", "name", "default_country", "placeholders", "unknown_outcome_policy",
            "time_zone", "quiet_hours_enabled", "quiet_start", "quiet_end", "quiet_days",
            "quiet_channels", "sms_countries",
        )  # fmt: skip
        widgets = {
            "quiet_start": forms.TimeInput(format="%H:%M"),
            "quiet_end": forms.TimeInput(format="%H:%M"),
        }

    def clean_time_zone(self) -> str:
        name = (self.cleaned_data.get("time_zone") or "").strip()
        if problem := zone_problem(name):
            raise forms.ValidationError(problem)
        return name

    def clean_sms_countries(self) -> list[str]:
        return sorted(set(self.cleaned_data.get("sms_countries") or []))

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if data.get("quiet_hours_enabled") and start is not None and start == end:
            self.add_error("quiet_end", "The window closes when it opens: give another time.")
        return data


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Superusers create tenants; a tenant admin edits their own tenant's settings."""

    form = TenantForm
    list_display = ("slug", "name", "default_country", "time_zone", "quiet_shown", "created_at")
    search_fields = ("slug", "name")
    fieldsets = (
        (None, {"fields": ("slug", "name", "default_country", "placeholders")}),
        ("Delivery", {"fields": ("unknown_outcome_policy",)}),
        (
            "Abuse guards",
            {
                "fields": ("sms_countries",),
                "description": "Against SMS pumping fraud (traffic run up to premium "
                "destinations): allow only the countries you send SMS to.",
            },
        ),
        (
            "Quiet hours",
            {
                "fields": (
                    "time_zone", "quiet_hours_enabled", ("quiet_start", "quiet_end"),
                    "quiet_days", "quiet_channels",
                ),
                "description": "Messages of normal and low priority due inside the window, "
                "in the recipient's time zone, wait for its end; high priority passes. The "
                "zone: the contact's, else the phone number's when it has one, else the one "
                "here. A contact may have hours of its own, or none.",
            },
        ),
    )  # fmt: skip
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

    @admin.display(description="quiet hours")
    def quiet_shown(self, obj: Tenant) -> str:
        if not obj.quiet_hours_enabled:
            return "off"
        return f"{obj.quiet_start:%H:%M}–{obj.quiet_end:%H:%M}"


class AppForm(forms.ModelForm):
    allowed_ips = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Allowed source IPs",
        help_text="One address or CIDR range per line (203.0.113.0/24, 2001:db8::/32); API "
        "calls from elsewhere get 403 ip_not_allowed. Empty: from anywhere.",
    )

    class Meta:
        model = App
        fields = ("tenant", "name", "placeholders", "is_active", "allowed_ips")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["allowed_ips"] = "\n".join(self.instance.allowed_ips or [])

    def clean_allowed_ips(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["allowed_ips"].splitlines()]
        values = [line for line in lines if line]
        try:
            networks = networks_of(values)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return [str(n) for n in networks]


@admin.register(App)
class AppAdmin(TenantScopedAdmin):
    form = AppForm
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
            show_key_once(self, request, app, raw)


def show_key_once(model_admin: admin.ModelAdmin, request: HttpRequest, app: App, raw: str) -> None:
    """Put a new key on the next page. Messages are kept in the session (settings'
    MESSAGE_STORAGE), server-side, and dropped once shown: the key never rides in a cookie."""
    model_admin.message_user(
        request,
        f"New API key for {app}: {raw} (copy it now: it is not shown again)",
        messages.WARNING,
    )


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Keys are issued (Add: pick the app, name it; the key is shown once) and revoked;
    a key's value is never stored, so it cannot be typed in or shown again."""

    tenant_path = "app__tenant"
    list_display = ("prefix", "app", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("app",)
    search_fields = ("name", "=prefix")
    readonly_fields = ("app", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    view_roles = add_roles = change_roles = DEVELOPERS
    delete_roles = frozenset()  # revoke instead: the key's use stays on record
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        if obj is None:
            return ("app", "name")
        return ("app", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The one way keys are made (ApiKey.issue, as `make run` and the App action do).
        key, raw = ApiKey.issue(obj.app, name=obj.name)
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        obj._state.adding = False
        request._issued_key = raw

    def response_add(self, request, obj: ApiKey, post_url_continue=None):
        # Instead of Django's "added successfully" (and its Save and add another): the key,
        # once, on the key's own page.
        show_key_once(self, request, obj.app, request._issued_key)
        return HttpResponseRedirect(reverse("admin:tenants_apikey_change", args=[obj.pk]))

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
