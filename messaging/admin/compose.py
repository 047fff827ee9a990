"""Compose: send a message from the admin, as one of the tenant's apps.

The form builds the API's request body and hands it to `message_accept`, the path a POST
to /api/v1/messages takes: the same validation, rendering, recipient normalization and
dispatch. The API's errors land on the form fields they name (`sms[0].to[1]` on the
recipients); nothing is stored when there is one. Tenant admins and superusers compose;
support staff only read the log.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from core.channels import CHANNEL_KEYS
from providers.models import Provider, channel_label
from tenants.models import App
from tenants.scoping import ADMIN_ONLY, tenant_ids

from ..api.errors import ApiError, ApiErrors
from ..models import Template
from ..services.accept import message_accept

CHANNELS = [(c, channel_label(c)) for c in CHANNEL_KEYS]
# An API source's first key after the entry (`sms[0].to[1]` → `to`) and the form field for it.
FIELD_FOR = {
    "to": "recipients",
    "cc": "recipients",
    "bcc": "recipients",
    "body": "text",
    "subject": "subject",
    "title": "subject",
    "template": "template",
    "data": "data",
    "provider": "app",
}
OPTION_FIELDS = {"scheduledAt": "scheduled_at"}


def may_compose(request: HttpRequest) -> bool:
    """Tenant admins of some tenant, and superusers."""
    user = request.user
    return user.is_active and (user.is_superuser or bool(tenant_ids(request, ADMIN_ONLY)))


def _apps(request: HttpRequest):
    apps = App.objects.filter(is_active=True).select_related("tenant")
    if not request.user.is_superuser:
        apps = apps.filter(tenant__in=tenant_ids(request, ADMIN_ONLY))
    return apps.order_by("tenant__slug", "name")


def _channels(apps) -> list[tuple[str, str]]:
    """The channels the apps' tenants have an active provider for, in the API's order; all of
    them when there is none, so that the API says what is missing."""
    served: set[str] = set()
    rows = Provider.objects.filter(tenant__in={a.tenant_id for a in apps}, is_active=True)
    for channels in rows.values_list("channels", flat=True):
        served.update(channels or [])
    return [(c, label) for c, label in CHANNELS if c in served] or CHANNELS


class LabelledChoice(forms.ModelChoiceField):
    """Choices named "tenant / name" when the user has several tenants."""

    def __init__(self, *args, several: bool, **kwargs) -> None:
        self.several = several
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj) -> str:
        if isinstance(obj, Template):
            label = f"{obj.name} ({obj.mode})"
        else:
            label = obj.name
        return f"{obj.tenant.slug} / {label}" if self.several else label


class ComposeForm(forms.Form):
    app = forms.ModelChoiceField(
        queryset=App.objects.none(),
        help_text="The message is sent as this app, like a request with its API key.",
    )
    channel = forms.ChoiceField(choices=CHANNELS)
    recipients = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off", "spellcheck": "false"}),
        max_length=20_000,
        help_text="One or more, a line or a comma apart: phone numbers (international, or "
        "national for the tenant's country) for SMS, WhatsApp, Viber and RCS, addresses for "
        "email; for push, one a line: an app's registration token or a Web Push subscription "
        '(its JSON, {"endpoint", "keys"}).',
    )
    template = forms.ModelChoiceField(
        queryset=Template.objects.none(), required=False, help_text="A template, or the text below."
    )
    data = forms.CharField(
        required=False,
        label="Template data (JSON)",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text='The template\'s placeholders, e.g. {"otp": "482913"}.',
    )
    subject = forms.CharField(
        max_length=998, required=False, label="Subject (email) or title (push)"
    )
    text = forms.CharField(
        required=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 5})
    )
    scheduled_at = forms.DateTimeField(
        required=False,
        label="Scheduled at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
        help_text="Empty: send now.",
    )

    def __init__(self, *args, request: HttpRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        apps = _apps(request)
        several = len({a.tenant_id for a in apps}) > 1
        self.fields["app"] = LabelledChoice(
            queryset=apps, several=several, help_text=self.fields["app"].help_text
        )
        templates = Template.objects.select_related("tenant").order_by("tenant__slug", "name")
        if not request.user.is_superuser:
            templates = templates.filter(tenant__in=tenant_ids(request, ADMIN_ONLY))
        self.fields["template"] = LabelledChoice(
            queryset=templates,
            several=several,
            required=False,
            help_text=self.fields["template"].help_text,
        )
        if len(apps) == 1:
            self.fields["app"].initial = apps[0].pk
        self.fields["channel"].choices = _channels(apps)

    def clean_data(self) -> dict | None:
        raw = self.cleaned_data.get("data", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Give an object, e.g. {"name": "Ann"}.')
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        app, template = data.get("app"), data.get("template")
        if app is not None and template is not None and template.tenant_id != app.tenant_id:
            self.add_error("template", f"“{template.name}” is not a template of {app.tenant}.")
        return data

    def recipient_list(self) -> list[str]:
        # A push subscription's JSON has commas of its own: push recipients are one a line.
        separators = r"\n" if self.cleaned_data.get("channel") == "push" else r"[,;\n]"
        return [
            r.strip() for r in re.split(separators, self.cleaned_data["recipients"]) if r.strip()
        ]

    def send_body(self) -> dict[str, Any]:
        """The API request this form stands for."""
        data = self.cleaned_data
        channel = data["channel"]
        entry: dict[str, Any] = {"to": self.recipient_list()}
        if data.get("template") is not None:
            entry["template"] = data["template"].name
        if data.get("data") is not None:
            entry["data"] = data["data"]
        if data.get("text"):
            entry["body"] = data["text"]
        if channel == "email" and data.get("subject"):
            entry["subject"] = data["subject"]
        if channel == "push" and data.get("subject"):
            entry["title"] = data["subject"]
        body: dict[str, Any] = {channel: [entry]}
        if data.get("scheduled_at") is not None:
            body["scheduledAt"] = (
                data["scheduled_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            )
        return body

    def add_api_errors(self, exc: ApiError | ApiErrors) -> None:
        """Each of the API's errors on the field its source names."""
        for error in exc.errors if isinstance(exc, ApiErrors) else [exc]:
            source = error.source or ""
            field = OPTION_FIELDS.get(source.split(".", 1)[0].split("[", 1)[0])
            if field is None and "]." in source:
                leaf = source.split("].", 1)[1]
                field = FIELD_FOR.get(re.split(r"[.\[]", leaf, maxsplit=1)[0])
            self.add_error(field if field in self.fields else None, error.detail)


def compose_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not may_compose(request):
        raise PermissionDenied
    form = ComposeForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # an error stores nothing
                message_request, accepted = message_accept(
                    app=form.cleaned_data["app"], body=form.send_body()
                )
        except (ApiError, ApiErrors) as exc:
            form.add_api_errors(exc)
        else:
            return _sent(model_admin, request, message_request, accepted)
    adminform = helpers.AdminForm(
        form, [(None, {"fields": list(form.fields)})], {}, model_admin=model_admin
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Compose a message",
        "subtitle": None,
        "opts": model_admin.opts,
        "adminform": adminform,
        "form": form,
        "errors": form.errors,
        "media": model_admin.media + form.media,
        "has_apps": form.fields["app"].queryset.exists(),
        "changelist_url": reverse("admin:messaging_message_changelist"),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/messaging/message/compose.html", context)


def _sent(model_admin, request, message_request, accepted) -> HttpResponseRedirect:
    count = len(accepted)
    model_admin.message_user(
        request,
        format_html(
            "Accepted {} message{} (request {}). Its status follows on its page.",
            count,
            "" if count == 1 else "s",
            message_request.pk,
        ),
        messages.SUCCESS,
    )
    if count == 1:
        return HttpResponseRedirect(
            reverse("admin:messaging_message_change", args=[accepted[0].id])
        )
    url = reverse("admin:messaging_message_changelist")
    return HttpResponseRedirect(f"{url}?q={message_request.pk}")
