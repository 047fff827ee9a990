"""Templates in the admin: an editor with a live preview, and change history with restore.

The form edits the template's `data` as real fields; the preview endpoint renders what is
being typed (not a saved template, so it works while adding) through the same service the
API's preview uses; history is django-reversion's, kept to the user's tenants.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

import reversion
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.text import Truncator
from reversion.admin import VersionAdmin
from reversion.errors import RevertError
from reversion.models import Version

from core.sms import is_gsm7
from tenants.models import Tenant
from tenants.scoping import TenantScopedAdmin, tenant_ids, user_tenants

from ..api.errors import ApiError, ApiErrors
from ..locales import locale_normalize
from ..models import Template
from ..rendering import (
    MissingPlaceholder,
    TemplateSyntaxError,
    compile_template,
    placeholders_of,
)
from ..services.templates import (
    FORMATS,
    MODES,
    template_data_check,
    template_fields_check,
    template_locales_check,
    template_preview,
)

# The template's data keys and the form fields that edit them, in form order.
DATA_FORM_FIELDS = {
    "body": "body",
    "subject": "subject",
    "format": "format",
    "from": "sender",
    "originationNumber": "origination_number",
    "externalRef": "external_ref",
    "media": "media",
    "buttons": "buttons",
    "title": "title",
    "payload": "payload",
}
FORM_DATA_KEYS = {form: key for key, form in DATA_FORM_FIELDS.items()}
JSON_FIELDS = ("media", "buttons", "payload")
CHAT_MODES = ("whatsapp", "viber", "rcs")
# Which modes each form field applies to: the editor shows only these (the page without
# JavaScript shows all), and a save keeps only these in `data`.
FIELD_MODES: dict[str, tuple[str, ...]] = {
    "body": MODES,
    "subject": ("email",),
    "format": ("email",),
    "sender": ("sms", "email", *CHAT_MODES),
    "origination_number": ("sms",),
    "external_ref": MODES,
    "media": (*CHAT_MODES, "push"),
    "buttons": CHAT_MODES,
    "title": ("push",),
    "payload": ("push",),
}
FIELD_LABELS = {
    "name": "Name",
    "mode": "Mode",
    "is_active": "Active",
    "tags": "Tags",
    "body": "Body",
    "subject": "Subject",
    "format": "Format",
    "from": "From",
    "originationNumber": "Origination number",
    "externalRef": "External reference",
    "media": "Media",
    "buttons": "Buttons",
    "title": "Title",
    "payload": "Payload",
    "language": "Language",
    "translations": "Translations",
}
HISTORY_LIMIT = 100


def _text(value: Any) -> str:
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def template_data_from_fields(
    mode: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Build a template's `data` from the editor's fields (keyed by form field name).

    Keeps only the fields that apply to `mode` and are filled in; media and buttons are JSON.
    Returns the data and a list of (form field, message) for JSON that does not parse.
    """
    data: dict[str, Any] = {"body": _text(values.get("body"))}
    errors: list[tuple[str, str]] = []
    for key, name in DATA_FORM_FIELDS.items():
        if key == "body" or mode not in FIELD_MODES[name]:
            continue
        raw = values.get(name)
        if name in JSON_FIELDS:
            if isinstance(raw, dict | list):
                data[key] = raw
            elif isinstance(raw, str) and raw.strip():
                try:
                    data[key] = json.loads(raw)
                except ValueError as exc:
                    errors.append((name, f"This is not valid JSON: {exc}."))
        elif isinstance(raw, str) and raw.strip():
            data[key] = raw.strip()
    return data, errors


def _form_field_of(source: str | None) -> str | None:
    key = (source or "").partition(".")[2].partition(".")[0]
    return DATA_FORM_FIELDS.get(key)


def template_data_errors(mode: str, data: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """template_data_check's complaints as (form field, code, message)."""
    try:
        template_data_check(mode, data)
    except ApiErrors as exc:
        return [(_form_field_of(e.source), e.code, e.detail) for e in exc.errors]
    except ApiError as exc:
        return [(_form_field_of(exc.source), exc.code, exc.detail)]
    return []


def template_locales_errors(
    mode: str, data: dict[str, Any], language: Any, translations: Any
) -> tuple[str, dict[str, Any], list[tuple[str, str, str]]]:
    """template_locales_check's answer, or its complaints as (form field, code, message) with
    the locale they are about; the language and translations then as given, the valid ones."""
    try:
        language, checked = template_locales_check(mode, data, language, translations or {})
        return language, checked, []
    except ApiErrors as exc:
        problems = exc.errors
    out = []
    for e in problems:
        field = "language" if e.source == "language" else "translations"
        where = (e.source or "").partition(".")[2]
        out.append((field, e.code, f"{where}: {e.detail}" if where else e.detail))
    bad = {(e.source or "").split(".")[1] for e in problems if (e.source or "").count(".")}
    kept = {
        locale_normalize(k): v
        for k, v in (translations if isinstance(translations, dict) else {}).items()
        if k not in bad and locale_normalize(k) and isinstance(v, dict)
    }
    language = locale_normalize(language) or ""
    return language, {k: v for k, v in kept.items() if k != language}, out


def _placeholder_default(tenant: Tenant, name: str) -> Any:
    """The tenant's value for a placeholder, looked up the way a send would, or None."""
    try:
        return compile_template("{{" + name + "}}").render(tenant.placeholders or {})
    except (MissingPlaceholder, TemplateSyntaxError, TypeError):
        return None


def template_editor_preview(
    *,
    tenant: Tenant,
    mode: str,
    values: Mapping[str, Any],
    sample: Mapping[str, Any],
    locale: str | None = None,
) -> dict[str, Any]:
    """What the editor shows for the fields being typed: placeholders, problems, preview.

    Renders through template_preview, exactly as the API's preview does, with the tenant's
    placeholders under the sample data. A blank sample value counts as not given; a
    placeholder with no value at all is reported in `problem` and `missing`, and the preview
    shows it as written. `locale` previews the translation a message in it gets (fallback
    policy); the answer's `locales` are the languages the fields being typed give.
    """
    data, json_errors = template_data_from_fields(mode, values)
    errors = [{"field": f, "message": m} for f, m in json_errors]
    # "required" waits for the save: an empty new form is not an error while typing.
    errors += [
        {"field": f, "message": m}
        for f, code, m in template_data_errors(mode, data)
        if code != "required"
    ]
    translations: Any = {}
    raw = values.get("translations")
    if isinstance(raw, dict):
        translations = raw
    elif isinstance(raw, str) and raw.strip():
        try:
            translations = json.loads(raw)
        except ValueError as exc:
            errors.append({"field": "translations", "message": f"This is not valid JSON: {exc}."})
    language, translations, problems = template_locales_errors(
        mode, data, values.get("language"), translations
    )
    errors += [{"field": f, "message": m} for f, code, m in problems if code != "required"]
    names: list[str] = []
    for text in (data, *translations.values()):
        for key in {"email": ("subject", "body"), "push": ("title", "body")}.get(mode, ("body",)):
            try:
                names += placeholders_of(text.get(key) or "")
            except (TemplateSyntaxError, TypeError, AttributeError):
                pass
    names = list(dict.fromkeys(names))
    defaults = {}
    for name in names:
        value = _placeholder_default(tenant, name)
        if value is not None:
            defaults[name] = value
    given = {
        k: v for k, v in (sample or {}).items() if isinstance(k, str) and isinstance(v, str) and v
    }
    # Media or buttons of the wrong shape are reported above and left out of the preview.
    bad = {e["field"] for e in errors}
    shown = {k: v for k, v in data.items() if DATA_FORM_FIELDS[k] not in bad or k == "body"}
    result: dict[str, Any] = {
        "mode": mode,
        "placeholders": names,
        "defaults": defaults,
        "errors": errors,
        "preview": None,
        "problem": None,
        "missing": [],
        "locales": [*([language] if language else []), *translations],
    }
    template = Template(
        tenant=tenant, mode=mode, data=shown, language=language, translations=translations
    )
    # A placeholder without a value is named, and shown as written so the rest of the
    # preview stays readable; the loop ends as every round fills one more placeholder.
    markers: dict[str, str] = {}
    while True:
        try:
            preview = template_preview(
                template=template, data={**given, **markers}, locale=locale or None
            )
            break
        except ApiError as exc:
            name = (exc.source or "").partition(".")[2]
            if exc.code != "missing_placeholder" or not name or name in markers:
                result["problem"] = {"code": exc.code, "message": exc.detail}
                return result
            if result["problem"] is None:
                result["problem"] = {"code": exc.code, "message": exc.detail, "placeholder": name}
            markers[name] = "{{" + name + "}}"
    result["missing"] = list(markers)
    if mode == "sms":
        preview["nonGsm"] = list(dict.fromkeys(ch for ch in preview["body"] if not is_gsm7(ch)))
    result["preview"] = preview
    return result


def _word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) pieces, op being "eq", "del" or "ins", word by word."""
    tokenize = re.compile(r"\s+|\w+|[^\w\s]").findall
    a, b = tokenize(old), tokenize(new)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("eq", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("ins", "".join(b[j1:j2])))
    return pieces


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _snapshot(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The user-visible state of a template version, flattened: data keys beside name etc."""
    data = fields.get("data") or {}
    if isinstance(data, str):  # serialized JSON of an older reversion format
        data = json.loads(data)
    out = {
        "name": fields.get("name"),
        "mode": fields.get("mode"),
        "is_active": fields.get("is_active"),
        "tags": fields.get("tags") or [],
        "language": fields.get("language") or "",
        "translations": fields.get("translations") or {},
    }
    for key in DATA_FORM_FIELDS:
        out[key] = data.get(key)
    return out


def template_snapshot(template: Template) -> dict[str, Any]:
    return _snapshot(
        {
            "name": template.name,
            "mode": template.mode,
            "is_active": template.is_active,
            "tags": template.tags,
            "data": template.data,
            "language": template.language,
            "translations": template.translations,
        }
    )


def version_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed from `old` to `new` (both _snapshot()s); against nothing, what was set."""
    changes = []
    for key, label in FIELD_LABELS.items():
        before = None if old is None else old.get(key)
        after = new.get(key)
        if before == after or (old is None and after in (None, "", [])):
            continue
        change: dict[str, Any] = {"label": label}
        if key in ("body", "subject") and old is not None:
            change["diff"] = _word_diff(before or "", after or "")
        else:
            change["old"] = None if old is None else _shown(before)
            change["new"] = _shown(after)
        changes.append(change)
    return changes


class TemplateForm(forms.ModelForm):
    body = forms.CharField(
        label="Body",
        widget=forms.Textarea(attrs={"rows": 7, "spellcheck": "true"}),
        required=False,
        strip=False,
        help_text="Placeholders are written {{name}} (dotted for nested values: "
        "{{customer.name}}). A send without a value for one fails instead of sending a blank.",
    )
    subject = forms.CharField(
        label="Subject", required=False, max_length=998, help_text="Email only."
    )
    format = forms.ChoiceField(
        label="Format",
        choices=[("text/plain", "Plain text"), ("text/html", "HTML")],
        required=False,
        help_text="Email only. An HTML email gets a plain-text part made from it.",
    )
    sender = forms.CharField(
        label="From",
        required=False,
        max_length=320,
        help_text="Sender ID, number or address; the request's sender wins, the provider's "
        "default applies when neither is given.",
    )
    origination_number = forms.CharField(
        label="Origination number", required=False, max_length=32, help_text="SMS only."
    )
    external_ref = forms.CharField(label="External reference", required=False, max_length=200)
    media = forms.CharField(
        label="Media",
        widget=forms.Textarea(attrs={"rows": 3, "class": "tpl-json"}),
        required=False,
        help_text='JSON object, e.g. {"type": "image", "url": "https://example.com/p.jpg"} '
        'or {"type": "document", "url": "…", "filename": "invoice.pdf"}.',
    )
    buttons = forms.CharField(
        label="Buttons",
        widget=forms.Textarea(attrs={"rows": 3, "class": "tpl-json"}),
        required=False,
        help_text='JSON list, e.g. [{"type": "quick_reply", "text": "Yes"}, '
        '{"type": "url", "text": "Track", "url": "https://…"}].',
    )
    title = forms.CharField(
        label="Title",
        required=False,
        max_length=250,
        help_text="Push only: the notification's title.",
    )
    payload = forms.CharField(
        label="Payload",
        widget=forms.Textarea(attrs={"rows": 3, "class": "tpl-json"}),
        required=False,
        help_text='Push only: JSON object, the data for the app, e.g. {"screen": "orders"}.',
    )
    tags = forms.CharField(label="Tags", required=False, help_text="Comma-separated.")
    language = forms.CharField(
        label="Language",
        required=False,
        max_length=35,
        help_text="The language the fields above are written in, e.g. en. A message whose "
        "locale has no translation gets them.",
    )
    translations = forms.JSONField(
        label="Translations",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "tpl-json"}),
        help_text='JSON object by language tag, each giving the fields it changes, e.g. {"de": '
        '{"body": "Ihr Code ist {{otp}}"}, "de-AT": {"body": "…"}}. A message in de-AT gets '
        "de-AT, then de, then the fields above.",
    )

    class Meta:
        model = Template
        fields = ("tenant", "name", "mode", "is_active", "tags", "language", "translations")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            data = self.instance.data or {}
            for key, name in DATA_FORM_FIELDS.items():
                value = data.get(key)
                if value is None:
                    continue
                if name in JSON_FIELDS:
                    value = json.dumps(value, ensure_ascii=False, indent=2)
                self.initial[name] = value
            self.initial["tags"] = ", ".join(self.instance.tags or [])
            self.initial.setdefault("format", FORMATS[0])
        self.before = template_snapshot(self.instance) if self.instance.pk else None
        self.template_data: dict[str, Any] = {}
        self.template_locales: tuple[str, dict[str, Any]] = ("", {})

    def _get_validation_exclusions(self):
        # A duplicate name is reported on the name field by clean(), not as a bare
        # "Template with this Tenant and Name already exists" at the top.
        exclude = super()._get_validation_exclusions()
        exclude.add("name")
        return exclude

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return list(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name") or ""
        try:
            template_fields_check({"name": name}, partial=True)
        except ApiErrors as exc:
            raise forms.ValidationError([e.detail for e in exc.errors]) from None
        return name

    def clean(self):
        cleaned = super().clean()
        mode = cleaned.get("mode")
        tenant = cleaned.get("tenant") if "tenant" in self.fields else self.instance.tenant
        name = cleaned.get("name")
        if tenant is not None and name:
            taken = Template.objects.filter(tenant=tenant, name=name)
            if self.instance.pk:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("name", f"A template named '{name}' exists.")
        if not mode:
            return cleaned
        values = {name: cleaned.get(name) for name in FORM_DATA_KEYS}
        data, json_errors = template_data_from_fields(mode, values)
        if mode == "email":
            data.setdefault("format", FORMATS[0])
        for field, message in json_errors:
            self.add_error(field, message)
        for field, _code, message in template_data_errors(mode, data):
            if field is not None and field in self.fields and field not in self.errors:
                self.add_error(field, message)
            elif field is None:
                self.add_error(None, message)
        self.template_data = data
        language, translations, problems = template_locales_errors(
            mode, data, cleaned.get("language"), cleaned.get("translations")
        )
        for field, _code, message in problems:
            self.add_error(field, message)
        self.template_locales = (language, translations)
        return cleaned

    def save(self, commit: bool = True) -> Template:
        self.instance.data = self.template_data
        self.instance.language, self.instance.translations = self.template_locales
        return super().save(commit)


@admin.register(Template)
class TemplateAdmin(TenantScopedAdmin, VersionAdmin):
    form = TemplateForm
    list_display = ("name", "mode", "tenant", "excerpt", "is_active", "updated_at")
    list_filter = ("mode", "is_active", "tenant")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("tenant", "name", "mode", "is_active", "tags")}),
        ("Content", {"fields": ("title", "body", "subject", "format")}),
        ("Sender and reference", {"fields": ("sender", "origination_number", "external_ref")}),
        ("Media and buttons", {"fields": ("media", "buttons", "payload")}),
        ("Languages", {"fields": ("language", "translations")}),
    )
    object_history_template = "admin/messaging/template/object_history.html"
    revision_form_template = "admin/messaging/template/revision_form.html"
    recover_form_template = "admin/messaging/template/revision_form.html"
    history_latest_first = True

    class Media:
        css = {"all": ("templates_editor/editor.css",)}
        js = ("templates_editor/editor.js",)

    @admin.display(description="Body")
    def excerpt(self, obj: Template) -> str:
        return Truncator((obj.data or {}).get("body", "")).chars(60)

    def get_readonly_fields(self, request, obj=None):
        # A template stays with its tenant: its messages and history belong there.
        return ("tenant",) if obj is not None else ()

    def get_changeform_initial_data(self, request):
        return {"mode": "sms", "format": FORMATS[0], **super().get_changeform_initial_data(request)}

    def construct_change_message(self, request, form, formsets, add=False):
        # Name what changed in the template itself, not every form field that differs from
        # its initial value (a field the mode does not use is not saved at all).
        if add or getattr(form, "before", None) is None:
            return super().construct_change_message(request, form, formsets, add)
        after = template_snapshot(form.instance)
        fields = [label for key, label in FIELD_LABELS.items() if form.before[key] != after[key]]
        return [{"changed": {"fields": fields}}] if fields else []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {
            "tpl_field_modes": {name: list(modes) for name, modes in FIELD_MODES.items()},
            "tpl_preview_url": reverse("admin:messaging_template_preview"),
            **(extra_context or {}),
        }
        return super().changeform_view(request, object_id, form_url, context)

    # --- live preview --------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="messaging_template_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """POST {tenant, mode, fields, sample} → what the editor shows (CSRF-protected)."""
        if request.method != "POST":
            return JsonResponse({"error": "Use POST."}, status=405)
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            return JsonResponse({"error": "You may not edit templates."}, status=403)
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "The request is not JSON."}, status=400)
        if not isinstance(payload, dict):
            return JsonResponse({"error": "The request must be a JSON object."}, status=400)
        mode = payload.get("mode")
        if mode not in MODES:
            return JsonResponse({"error": "Choose a mode to see the preview."}, status=400)
        tenants = user_tenants(request, self.add_roles | self.change_roles)
        tenant_id = payload.get("tenant")
        if tenant_id in (None, ""):
            choices = list(tenants[:2])
            if len(choices) != 1:
                return JsonResponse({"error": "Choose the tenant first."}, status=400)
            tenant = choices[0]
        else:
            try:
                tenant = tenants.filter(pk=int(tenant_id)).first()
            except (TypeError, ValueError):
                tenant = None
            if tenant is None:
                return JsonResponse({"error": "No such tenant."}, status=404)
        values, sample = payload.get("fields"), payload.get("sample")
        locale = payload.get("locale")
        return JsonResponse(
            template_editor_preview(
                tenant=tenant,
                mode=mode,
                values=values if isinstance(values, dict) else {},
                sample=sample if isinstance(sample, dict) else {},
                locale=locale if isinstance(locale, str) else None,
            )
        )

    # --- history, kept to the user's tenants -----------------------------------------------
    def _content_type(self) -> ContentType:
        return ContentType.objects.get_for_model(Template)

    def _revision_in_scope(self, request: HttpRequest, version: Version) -> bool:
        """Every version in the revision is a template of one of the user's tenants."""
        allowed = None if request.user.is_superuser else tenant_ids(request, self.change_roles)
        content_type = self._content_type()
        for other in version.revision.version_set.all():
            if other.content_type_id != content_type.pk:
                return False
            if allowed is None:
                continue
            try:
                tenant_id = other.field_dict.get("tenant_id")
            except RevertError:
                return False
            if tenant_id not in allowed:
                return False
        return True

    def _require_history_access(self, request: HttpRequest, object_id: str) -> Template:
        # A role that may not edit templates is told so (403); another tenant's template,
        # like any object out of scope, does not exist (404).
        if not self.has_change_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_change_permission(request, obj):
            raise Http404("No such template.")
        return obj

    def history_view(self, request, object_id, extra_context=None):
        obj = self._require_history_access(request, object_id)
        rows = self._history_rows(obj)
        context = {
            "versions": rows,
            "history_limit": HISTORY_LIMIT,
            "changed_outside": bool(rows) and not rows[0]["is_current"],
        }
        context.update(extra_context or {})
        return super().history_view(request, object_id, context)

    def _history_rows(self, obj: Template) -> list[dict[str, Any]]:
        versions = list(
            Version.objects.get_for_object(obj)
            .select_related("revision", "revision__user")
            .order_by("-pk")[: HISTORY_LIMIT + 1]
        )
        current = template_snapshot(obj)
        rows = []
        for index, version in enumerate(versions[:HISTORY_LIMIT]):
            try:
                snapshot = _snapshot(version.field_dict)
            except RevertError:
                continue
            older = versions[index + 1] if index + 1 < len(versions) else None
            try:
                previous = _snapshot(older.field_dict) if older is not None else None
            except RevertError:
                previous = None
            rows.append(
                {
                    "version": version,
                    "revision": version.revision,
                    "comment": version.revision.get_comment(),
                    "changes": version_changes(previous, snapshot),
                    "first": older is None,
                    "is_current": snapshot == current,
                    "body": snapshot.get("body") or "",
                    "url": reverse(
                        "admin:messaging_template_revision",
                        args=(quote(version.object_id), version.pk),
                    ),
                }
            )
        return rows

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            obj = self.get_object(request, unquote(object_id))
            if obj is not None and self.has_change_permission(request, obj):
                self._record_outside_state(obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_model(self, request, obj):
        self._record_outside_state(obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._record_outside_state(obj)
        super().delete_queryset(request, queryset)

    def _record_outside_state(self, obj: Template) -> None:
        """Keep the state a template got outside the admin (the API) before changing it here.

        Only admin saves make versions; without this, the state a template was created or
        last changed with through the API could not be restored.
        """
        latest = Version.objects.get_for_object(obj).order_by("-pk").first()
        if latest is None:
            comment = "As it was before its first change in the admin."
        else:
            try:
                if _snapshot(latest.field_dict) == template_snapshot(obj):
                    return
            except RevertError:
                pass
            comment = "As changed outside the admin."
        with reversion.create_revision():
            reversion.add_to_revision(obj)
            reversion.set_comment(comment)

    def revision_view(self, request, object_id, version_id, extra_context=None):
        self._require_history_access(request, object_id)
        version = get_object_or_404(
            Version.objects.select_related("revision", "revision__user"),
            pk=version_id,
            object_id=unquote(object_id),
            content_type=self._content_type(),
        )
        if not self._revision_in_scope(request, version):
            raise Http404("No such version.")
        context = {"version": version, **(extra_context or {})}
        return self._guard_revert(
            request,
            lambda: super(TemplateAdmin, self).revision_view(
                request, object_id, version_id, context
            ),
        )

    def recover_view(self, request, version_id, extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        version = get_object_or_404(
            Version.objects.select_related("revision", "revision__user"),
            pk=version_id,
            content_type=self._content_type(),
        )
        if not self._revision_in_scope(request, version):
            raise Http404("No such version.")
        if Template.objects.filter(pk=version.object_id).exists():
            raise Http404("This template was not deleted.")
        context = {"version": version, **(extra_context or {})}
        return self._guard_revert(
            request, lambda: super(TemplateAdmin, self).recover_view(request, version_id, context)
        )

    def _guard_revert(self, request: HttpRequest, view):
        try:
            return view()
        except IntegrityError:
            self.message_user(
                request,
                "This version cannot be restored: another template now has its name. "
                "Rename that one first.",
                messages.ERROR,
            )
            return redirect("admin:messaging_template_changelist")

    def recoverlist_view(self, request, extra_context=None):
        if not self.has_change_permission(request) or not self.has_add_permission(request):
            raise PermissionDenied
        deleted = Version.objects.get_deleted(Template).select_related("revision")
        deleted = self._reversion_order_version_queryset(request, deleted)
        if not request.user.is_superuser:
            allowed = tenant_ids(request, self.change_roles)
            kept = []
            for version in deleted:
                try:
                    if version.field_dict.get("tenant_id") in allowed:
                        kept.append(version)
                except RevertError:
                    continue
            deleted = kept
        context = {"deleted": deleted, **(extra_context or {})}
        return super().recoverlist_view(request, context)
