"""Templates: validate, create, change, and render (the one renderer the API, preview and
admin all use)."""

from __future__ import annotations

import html
import re
from typing import Any

import reversion
from django.db import IntegrityError, transaction
from django.utils.html import strip_tags

from core.sms import sms_info
from tenants.models import Tenant

from ..api.errors import ApiError, ApiErrors
from ..models import TEMPLATE_MODES, Template
from ..rendering import MissingPlaceholder, TemplateSyntaxError, compile_template

MODES = tuple(m for m, _ in TEMPLATE_MODES)
FORMATS = ("text/plain", "text/html")
TEXT_FIELDS = ("body", "subject", "from", "externalRef", "originationNumber", "format")
DATA_FIELDS = (*TEXT_FIELDS, "media", "buttons")
RENDERED_FIELDS = ("body", "subject")
MAX_LENGTH = {"sms": 1600, "whatsapp": 4096, "viber": 1000, "rcs": 3072, "push": 4000}


def template_data_check(mode: str, data: Any, *, source: str = "data") -> dict[str, Any]:
    """Refuse a template whose data is malformed or does not parse, saying why."""
    if not isinstance(data, dict):
        raise ApiError("invalid_template", "data must be an object.", source=source)
    errors: list[ApiError] = []
    for key, value in data.items():
        if key not in DATA_FIELDS:
            errors.append(
                ApiError(
                    "unknown_field", f"'{key}' is not a template field.", source=f"{source}.{key}"
                )
            )
        elif key in TEXT_FIELDS and not isinstance(value, str):
            errors.append(ApiError("invalid_type", "must be a string.", source=f"{source}.{key}"))
        elif key == "media" and not isinstance(value, dict):
            errors.append(ApiError("invalid_type", "must be an object.", source=f"{source}.{key}"))
        elif key == "buttons" and not isinstance(value, list):
            errors.append(ApiError("invalid_type", "must be a list.", source=f"{source}.{key}"))
    if not isinstance(data.get("body"), str) or not data.get("body", "").strip():
        errors.append(ApiError("required", "body is required.", source=f"{source}.body"))
    if mode == "email" and not (isinstance(data.get("subject"), str) and data["subject"].strip()):
        errors.append(
            ApiError("required", "an email template needs a subject.", source=f"{source}.subject")
        )
    if data.get("format") and data["format"] not in FORMATS:
        errors.append(
            ApiError(
                "invalid_choice",
                f"format is one of {', '.join(FORMATS)}.",
                source=f"{source}.format",
            )
        )
    for key in RENDERED_FIELDS:
        if isinstance(data.get(key), str):
            try:
                compile_template(data[key])
            except TemplateSyntaxError as exc:
                errors.append(
                    ApiError(
                        "template_syntax",
                        f"The {key} does not parse: {exc}.",
                        source=f"{source}.{key}",
                    )
                )
    if errors:
        raise ApiErrors(errors)
    return data


def template_fields_check(fields: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    errors = []
    if not partial or "name" in fields:
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100 or "/" in name:
            errors.append(
                ApiError(
                    "invalid_name", "name is required: 1 to 100 characters, no '/'.", source="name"
                )
            )
    if not partial or "mode" in fields:
        if fields.get("mode") not in MODES:
            errors.append(
                ApiError("invalid_choice", f"mode is one of {', '.join(MODES)}.", source="mode")
            )
    if "isActive" in fields and not isinstance(fields["isActive"], bool):
        errors.append(ApiError("invalid_type", "must be true or false.", source="isActive"))
    if "tags" in fields and not (
        isinstance(fields["tags"], list) and all(isinstance(t, str) for t in fields["tags"])
    ):
        errors.append(ApiError("invalid_type", "must be a list of strings.", source="tags"))
    if errors:
        raise ApiErrors(errors)
    return fields


@transaction.atomic
def template_create(*, tenant: Tenant, fields: dict[str, Any]) -> Template:
    template_fields_check(fields)
    template_data_check(fields["mode"], fields.get("data"))
    if Template.objects.filter(tenant=tenant, name=fields["name"]).exists():
        raise ApiError(
            "duplicate_name",
            f"A template named '{fields['name']}' exists.",
            source="name",
            status=409,
        )
    try:
        with transaction.atomic():
            template = Template.objects.create(
                tenant=tenant,
                name=fields["name"],
                mode=fields["mode"],
                data=fields["data"],
                is_active=fields.get("isActive", True),
                tags=fields.get("tags", []),
            )
            _record_version(template, "Created through the API.")
            return template
    except IntegrityError:
        raise ApiError(
            "duplicate_name",
            f"A template named '{fields['name']}' exists.",
            source="name",
            status=409,
        ) from None


@transaction.atomic
def template_update(*, template: Template, fields: dict[str, Any]) -> Template:
    template_fields_check(fields, partial=True)
    if "name" in fields and fields["name"] != template.name:
        if Template.objects.filter(tenant=template.tenant, name=fields["name"]).exists():
            raise ApiError(
                "duplicate_name",
                f"A template named '{fields['name']}' exists.",
                source="name",
                status=409,
            )
        template.name = fields["name"]
    mode = fields.get("mode", template.mode)
    data = fields.get("data", template.data)
    template_data_check(mode, data)
    template.mode, template.data = mode, data
    if "isActive" in fields:
        template.is_active = fields["isActive"]
    if "tags" in fields:
        template.tags = fields["tags"]
    template.save()
    _record_version(template, "Changed through the API.")
    return template


def _record_version(template: Template, comment: str) -> None:
    """A version in the template's history (the admin shows and restores them)."""
    if not reversion.is_registered(Template):
        return
    with reversion.create_revision():
        reversion.add_to_revision(template)
        reversion.set_comment(comment)


_INVISIBLE = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>", re.I | re.S)
_BREAKS = re.compile(r"<br\s*/?>|</(p|div|h[1-6]|li|tr|table|blockquote|pre)\s*>", re.I)


def html_to_text(markup: str) -> str:
    """The plain-text part of an HTML email: what a reader sees, line by line."""
    text = _INVISIBLE.sub("", markup)
    text = _BREAKS.sub("\n", text)
    text = html.unescape(strip_tags(text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def content_render(
    mode: str,
    fields: dict[str, Any],
    data: dict[str, Any],
    *,
    source: str = "data",
    syntax_source: str | None = None,
) -> dict[str, Any]:
    """Render a template's (or an inline entry's) text strictly.

    Returns `body` and, for email, `subject` and `html` (values escaped in HTML only).
    A missing placeholder is a 400 whose source is `<source>.<name>`; text that does not
    parse (a template stored before it was checked) is a 400 whose source is `syntax_source`.
    """
    try:
        out: dict[str, Any] = {}
        if mode == "email":
            out["subject"] = compile_template(fields.get("subject") or "").render(data)
            if fields.get("format") == "text/html":
                out["html"] = compile_template(fields["body"]).render(data, escape_html=True)
                out["body"] = html_to_text(out["html"])
            else:
                out["body"] = compile_template(fields["body"]).render(data)
                out["html"] = ""
        else:
            out["body"] = compile_template(fields["body"]).render(data)
    except MissingPlaceholder as exc:
        raise ApiError(
            "missing_placeholder",
            f"The template needs a value for '{exc.name}'.",
            source=f"{source}.{exc.name}",
        ) from None
    except (TemplateSyntaxError, TypeError) as exc:
        raise ApiError(
            "template_syntax", f"The template does not parse: {exc}.", source=syntax_source
        ) from None
    return out


def template_preview(*, template: Template, data: Any) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError("invalid_type", "data must be an object.", source="data")
    tenant = template.tenant
    merged = {**tenant.placeholders, **data}
    rendered = content_render(template.mode, template.data, merged)
    result: dict[str, Any] = {"mode": template.mode, **rendered}
    for key in ("media", "buttons", "from", "originationNumber", "externalRef"):
        if key in template.data:
            result[key] = template.data[key]
    if template.mode == "sms":
        result.update(sms_info(rendered["body"]).as_dict())
    return result
