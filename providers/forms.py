"""Admin forms for providers: the credential fields of the chosen type, and the test message.

Both validate through the rules the API applies (providers.services, the backend's
clean_credentials, message_accept), so the admin cannot store what the API would refuse.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django import forms
from django.utils.html import format_html

from core.channels import CHANNEL_KEYS
from core.errors import ApiError, ApiErrors
from core.validation import check_name
from tenants.models import Tenant

from .backends import backend_types
from .backends.base import CredentialField
from .models import CHANNEL_LABELS, Provider
from .services import (
    provider_backup_names,
    provider_backups_clean,
    provider_channels_check,
    provider_credentials_clean,
    provider_default_check,
)

CREDENTIAL_PREFIX = "credential_"
BACKUP_PREFIX = "backup_"
CHOOSE_TYPE = "_choose_type"
MASK = "••••••"
ACRONYMS = {"api", "id", "url", "sid", "smtp", "ssl", "tls", "ip", "sms", "waba"}


def credential_label(name: str) -> str:
    """`apiKey` → "API key", `accountSid` → "Account SID"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[_-]+", " ", name).lower().split()
    words = [w.upper() if w in ACRONYMS else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def type_choices() -> list[tuple[str, str]]:
    types = sorted(backend_types().items(), key=lambda item: item[1].label.lower())
    return [("", "— choose a provider type —"), *((name, cls.label) for name, cls in types)]


class TypeSelect(forms.Select):
    """The type select, followed by a button that reloads the form for the picked type
    (the script presses it on change; without a script the user does)."""

    def render(self, name, value, attrs=None, renderer=None):
        select = super().render(name, value, attrs, renderer)
        return format_html(
            '<span class="provider-type-picker">{}<button type="submit" name="{}" value="1" '
            'class="button" formnovalidate data-choose-type>Show its settings</button></span>',
            select,
            CHOOSE_TYPE,
        )


def _credential_field(spec: CredentialField) -> forms.Field:
    common = {"label": credential_label(spec.name), "help_text": spec.help}
    if spec.kind is bool:
        return forms.BooleanField(required=False, initial=bool(spec.default), **common)
    if spec.kind is int:
        return forms.IntegerField(required=spec.required, initial=spec.default, **common)
    if spec.secret:
        return forms.CharField(
            required=spec.required,
            widget=forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
            ),
            **common,
        )
    return forms.CharField(required=spec.required, initial=spec.default, **common)


class ProviderForm(forms.ModelForm):
    """Base of the per-type forms that `provider_form_class` builds."""

    provider_type_name: ClassVar[str | None] = None
    credential_specs: ClassVar[tuple[CredentialField, ...]] = ()
    fixed_tenant: ClassVar[Tenant | None] = None

    class Meta:
        model = Provider
        fields = ["name"]
        help_texts = {
            "name": 'How requests name this provider ("provider": "…"); unique in the tenant.',
            "default_sender": "Sender ID, number or address used when a message names none.",
            "is_active": "An inactive provider sends nothing; requests naming it are refused.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.fixed_tenant is not None and not self.instance.pk:
            self.instance.tenant = self.fixed_tenant
        try:
            self.stored = self.instance.credentials if self.instance.pk else {}
        except ValueError:  # stored under a key no longer configured: re-enter them
            self.stored = {}
        self.credentials: dict[str, Any] = {}
        for spec in self.credential_specs:
            field = self.fields.get(CREDENTIAL_PREFIX + spec.name)
            if field is None:
                continue
            if spec.secret and spec.kind is str:
                if self.stored.get(spec.name):
                    # Write-only: the value is never sent back; blank keeps it.
                    field.required = False
                    field.widget.attrs["placeholder"] = f"{MASK} set"
                    field.help_text = format_html(
                        '<span class="secret-set">{} set</span> — leave blank to keep it, '
                        "or type a new value to replace it.{}",
                        MASK,
                        format_html(" {}", spec.help) if spec.help else "",
                    )
                elif spec.help:
                    field.help_text = f"{spec.help} Write-only: never shown again after saving."
                else:
                    field.help_text = "Write-only: never shown again after saving."
            elif self.instance.pk and spec.name in self.stored:
                self.initial[CREDENTIAL_PREFIX + spec.name] = self.stored[spec.name]
        self.backups: dict[str, str | None] = {}
        self._backup_fields()

    def _backup_fields(self) -> None:
        """A backup per channel: the tenant's other providers serving it (a name to type when
        the tenant is still to be chosen)."""
        tenant = self.instance.tenant if self.instance.tenant_id else self.fixed_tenant
        current = provider_backup_names(self.instance) if self.instance.pk else {}
        others = (
            list(Provider.objects.filter(tenant=tenant).exclude(pk=self.instance.pk))
            if tenant is not None
            else None
        )
        for key in [k for k in self.fields if k.startswith(BACKUP_PREFIX)]:
            channel = key[len(BACKUP_PREFIX) :]
            field = self.fields[key]
            if others is None:
                self.fields[key] = forms.CharField(
                    required=False, label=field.label, help_text=field.help_text
                )
            else:
                field.choices = [
                    ("", "— none —"),
                    *((p.name, str(p)) for p in others if channel in p.channels),
                ]
            if channel in current:
                self.initial[key] = current[channel]

    # --- validation: the API's rules --------------------------------------------------------
    def _tenant(self) -> Tenant | None:
        if "tenant" in self.fields:
            return self.cleaned_data.get("tenant")
        if self.instance.tenant_id:
            return self.instance.tenant
        return self.fixed_tenant

    def _add_api_errors(self, exc: ApiError | ApiErrors, field_for) -> None:
        for error in exc.errors if isinstance(exc, ApiErrors) else [exc]:
            field = field_for(error.source)
            self.add_error(field if field in self.fields else None, error.detail)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ptype = self.provider_type_name
        if ptype is None:
            return data
        if ptype not in backend_types():
            try:
                provider_channels_check(ptype, None)
            except ApiError as exc:
                self.add_error(None, exc.detail)
            return data
        tenant = self._tenant()
        name = data.get("name")
        if name is not None and "name" not in self.errors:
            try:
                data["name"] = name = check_name(name)
            except ApiError as exc:
                self.add_error("name", exc.detail)
            else:
                taken = Provider.objects.filter(tenant=tenant, name=name).exclude(
                    pk=self.instance.pk
                )
                if tenant is not None and taken.exists():
                    self.add_error("name", f"A provider named '{name}' exists.")
        channels = data.get("channels")
        if channels:
            try:
                data["channels"] = channels = provider_channels_check(ptype, channels)
            except (ApiError, ApiErrors) as exc:
                self._add_api_errors(exc, lambda source: "channels")
        credentials = self._credentials_entered()
        if credentials is not None:
            try:
                self.credentials = provider_credentials_clean(ptype, credentials)
            except ApiErrors as exc:
                self._add_api_errors(
                    exc, lambda source: CREDENTIAL_PREFIX + (source or "").split(".", 1)[-1]
                )
        if data.get("is_tenant_default") and tenant is not None and channels:
            try:
                provider_default_check(tenant, channels, self.instance.pk)
            except ApiError as exc:
                self.add_error("is_tenant_default", exc.detail)
        self._clean_backups(tenant, name, channels or [])
        return data

    def _clean_backups(self, tenant: Tenant | None, name: str | None, channels: list[str]):
        """The API's rules for backups (providers.services.provider_backups_clean)."""
        backups = {
            key[len(BACKUP_PREFIX) :]: (self.cleaned_data.get(key) or None)
            for key in self.fields
            if key.startswith(BACKUP_PREFIX)
        }
        # A channel left unticked takes no backup (its field is then ignored).
        backups = {ch: v for ch, v in backups.items() if ch in channels}
        if tenant is None or not name or not backups:
            self.backups = backups
            return
        try:
            provider_backups_clean(
                tenant=tenant, name=name, channels=channels, backups=backups,
                pk=self.instance.pk,
            )  # fmt: skip
        except ApiErrors as exc:
            self._add_api_errors(
                exc, lambda source: BACKUP_PREFIX + (source or "").split(".", 1)[-1]
            )
        self.backups = backups

    def _credentials_entered(self) -> dict[str, Any] | None:
        """What to store: entered values, stored secrets where left blank. None when a
        credential field already has an error of its own."""
        credentials: dict[str, Any] = {}
        for spec in self.credential_specs:
            key = CREDENTIAL_PREFIX + spec.name
            if key in self.errors:
                return None
            value = self.cleaned_data.get(key)
            if spec.kind is bool:
                credentials[spec.name] = bool(value)
            elif value not in (None, ""):
                credentials[spec.name] = value
            elif spec.secret and spec.name in self.stored:
                credentials[spec.name] = self.stored[spec.name]
        return credentials


def provider_form_class(
    provider_type: str | None, *, adding: bool, fixed_tenant: Tenant | None
) -> type[ProviderForm]:
    """A form for one provider type: its credentials as fields, its channels as choices."""
    attrs: dict[str, Any] = {"fixed_tenant": fixed_tenant, "provider_type_name": provider_type}
    if adding:
        attrs["provider_type"] = forms.ChoiceField(
            label="Provider type",
            choices=type_choices,
            widget=TypeSelect(attrs={"data-provider-type": ""}),
            help_text="Changing it shows the settings of that type.",
        )
    if provider_type is not None:
        # A type no longer installed keeps its form (its channels, no credentials); saving
        # then fails on the type, as the API's would.
        backend = backend_types().get(provider_type)
        served = backend.channels if backend else tuple(CHANNEL_LABELS)
        attrs["credential_specs"] = backend.credential_fields if backend else ()
        attrs["channels"] = forms.MultipleChoiceField(
            choices=[(c, CHANNEL_LABELS.get(c, c)) for c in served],
            widget=forms.CheckboxSelectMultiple(attrs={"class": "channel-choices"}),
            initial=list(served),
            error_messages={"required": "Pick at least one channel."},
            help_text="The channels this provider sends on; only what the type serves.",
        )
        for spec in attrs["credential_specs"]:
            attrs[CREDENTIAL_PREFIX + spec.name] = _credential_field(spec)
        for channel in served:
            attrs[BACKUP_PREFIX + channel] = forms.ChoiceField(
                required=False,
                label=f"Backup for {CHANNEL_LABELS.get(channel, channel)}",
                help_text="Where its messages on this channel go when this provider is down "
                "(timeouts, 5xx, 429 after retries, an open circuit).",
            )
    name = f"ProviderForm_{provider_type or 'untyped'}"
    return type(name, (ProviderForm,), attrs)


def backup_field_names(provider_type: str | None) -> list[str]:
    backend = backend_types().get(provider_type or "")
    return [BACKUP_PREFIX + c for c in backend.channels] if backend else []


def credential_field_names(provider_type: str | None) -> list[str]:
    backend = backend_types().get(provider_type or "")
    return [CREDENTIAL_PREFIX + s.name for s in backend.credential_fields] if backend else []


# --- the test message ------------------------------------------------------------------------

# An API source's first key after the entry (`sms[0].to[0]` → `to`) and the form field for it.
TEST_FIELD_FOR = {"to": "recipient", "body": "text", "subject": "subject", "title": "subject"}


class TestMessageForm(forms.Form):
    """A message to an address the admin types, through one provider."""

    channel = forms.ChoiceField(widget=forms.Select(attrs={"data-test-channel": ""}))
    recipient = forms.CharField(
        max_length=2048,
        help_text="A phone number for SMS, WhatsApp, Viber and RCS (international, or national "
        "for the tenant's country), an email address for email; for push, an app's "
        'registration token or a Web Push subscription (its JSON, {"endpoint", "keys"}).',
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    subject = forms.CharField(
        max_length=998, required=False, label="Subject (email) or title (push)"
    )
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000)

    def __init__(self, *args, provider: Provider, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        tenant = provider.tenant
        channels = [c for c in provider.channels if c in CHANNEL_KEYS]
        self.fields["channel"].choices = [(c, CHANNEL_LABELS.get(c, c)) for c in channels]
        self.fields[
            "channel"
        ].help_text = f"The channels '{provider.name}' serves that the API sends on."
        greeting = f"Test message from {tenant.name or tenant.slug}"
        self.fields["text"].initial = greeting
        self.fields["subject"].initial = greeting
        if "email" not in channels and "push" not in channels:
            del self.fields["subject"]

    def send_body(self) -> dict[str, Any]:
        """The API request that sends this message."""
        data = self.cleaned_data
        entry: dict[str, Any] = {
            "provider": self.provider.name,
            "to": [data["recipient"].strip()],
            "body": data["text"],
        }
        if data["channel"] == "email":
            entry["subject"] = data.get("subject") or self.fields["subject"].initial
        if data["channel"] == "push":
            entry["title"] = data.get("subject") or self.fields["subject"].initial
        return {data["channel"]: [entry]}

    def add_api_errors(self, exc: ApiError | ApiErrors) -> None:
        """Put the API's 400s on the fields they name (`sms[0].to[0]` → recipient)."""
        for error in exc.errors if isinstance(exc, ApiErrors) else [exc]:
            source = error.source or ""
            leaf = source.split("].", 1)[-1] if "]." in source else ""
            field = TEST_FIELD_FOR.get(re.split(r"[.\[]", leaf, maxsplit=1)[0])
            self.add_error(field if field in self.fields else None, error.detail)
