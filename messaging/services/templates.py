"""Templates: validate, create, change, and render (the one renderer the API, preview and
admin all use)."""

from __future__ import annotations

import html
import re
from typing import Any

import reversion
from django.db import IntegrityError, transaction
from django.utils.html import strip_tags

from core.sms import AUTOCONVERT_MODES, DEFAULT_AUTOCONVERT, gsm_convert, sms_info
from providers.backends.content import ContentInvalid, content_parse
from tenants.models import Tenant

from ..api.errors import ApiError, ApiErrors
from ..locales import (
    POLICIES,
    locale_normalize,
    not_a_tag,
    template_in_locale,
    template_locales_shown,
)
from ..models import TEMPLATE_MODES, Template
from ..rendering import MissingPlaceholder, TemplateSyntaxError, compile_template

MODES = tuple(m for m, _ in TEMPLATE_MODES)
FORMATS = ("text/plain", "text/html")
TEXT_FIELDS = ("body", "subject", "from", "externalRef", "originationNumber", "format", "title")
DATA_FIELDS = (*TEXT_FIELDS, "media", "buttons", "payload", "card", "carousel")
# RCS's rich cards: a standalone card or a carousel, whose titles and descriptions are
# rendered as the body is.
RCS_FIELDS = ("card", "carousel")
CARD_TEXT_FIELDS = ("title", "description")
# Chat modes whose message may be media (or a card) without text.
MEDIA_MODES = ("whatsapp", "viber", "rcs")
RENDERED_FIELDS = ("body", "subject", "title")
# A push notification's title, and its data for the app (`data` is the placeholders' values).
PUSH_FIELDS = ("title", "payload")
MAX_TITLE_LENGTH = 250  # a push title: what a notification shows is far shorter
MAX_LENGTH = {"sms": 1600, "whatsapp": 4096, "viber": 1000, "rcs": 3072, "push": 4000}
MAX_TRANSLATIONS = 100


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
        elif key in PUSH_FIELDS and mode != "push":
            errors.append(
                ApiError(
                    "unknown_field",
                    f"'{key}' is a field of push templates only.",
                    source=f"{source}.{key}",
                )
            )
        elif key == "payload" and not isinstance(value, dict):
            errors.append(ApiError("invalid_type", "must be an object.", source=f"{source}.{key}"))
        elif key in RCS_FIELDS and mode != "rcs":
            errors.append(
                ApiError(
                    "unknown_field",
                    f"'{key}' is a field of rcs templates only.",
                    source=f"{source}.{key}",
                )
            )
    if mode == "rcs":
        errors += _rich_check(data, source)
    media_only = mode in MEDIA_MODES and any(data.get(k) for k in ("media", *RCS_FIELDS))
    if mode == "push":  # a notification may be a title alone
        if not any(isinstance(data.get(k), str) and data[k].strip() for k in ("title", "body")):
            errors.append(
                ApiError(
                    "required", "a push template needs a title or a body.", source=f"{source}.body"
                )
            )
    elif not media_only and (
        not isinstance(data.get("body"), str) or not data.get("body", "").strip()
    ):
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


def _rich_check(data: dict[str, Any], source: str) -> list[ApiError]:
    """A template's card or carousel read as a send reads it (backends.content), and its
    titles and descriptions parse as templates."""
    rich = {k: data[k] for k in RCS_FIELDS if data.get(k) is not None}
    if not rich:
        return []
    try:
        parsed = content_parse(rich)
    except ContentInvalid as exc:
        return [
            ApiError("invalid_content", text, source=f"{source}.{sub}")
            for sub, text in exc.problems
        ]
    errors = []
    for j, card in enumerate(parsed.cards):
        where = "card" if parsed.card is not None else f"carousel.cards[{j}]"
        for key in CARD_TEXT_FIELDS:
            try:
                compile_template(getattr(card, key))
            except TemplateSyntaxError as exc:
                errors.append(
                    ApiError(
                        "template_syntax",
                        f"The card {key} does not parse: {exc}.",
                        source=f"{source}.{where}.{key}",
                    )
                )
    return errors


def rich_render(
    content: dict[str, Any], data: dict[str, Any], *, source: str = "data"
) -> dict[str, Any]:
    """`content` with its card's (or each carousel card's) title and description rendered
    with `data`, strictly: a missing placeholder is a 400 whose source is `<source>.<name>`."""

    def card(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = dict(value)
        for key in CARD_TEXT_FIELDS:
            if isinstance(out.get(key), str):
                out[key] = _render_strict(out[key], data, source)
        return out

    out = dict(content)
    if out.get("card") is not None:
        out["card"] = card(out["card"])
    carousel = out.get("carousel")
    if isinstance(carousel, dict) and isinstance(carousel.get("cards"), list):
        out["carousel"] = {**carousel, "cards": [card(c) for c in carousel["cards"]]}
    return out


def _render_strict(text: str, data: dict[str, Any], source: str) -> str:
    try:
        return compile_template(text).render(data)
    except MissingPlaceholder as exc:
        raise ApiError(
            "missing_placeholder",
            f"The template needs a value for '{exc.name}'.",
            source=f"{source}.{exc.name}",
        ) from None
    except (TemplateSyntaxError, TypeError) as exc:
        raise ApiError("template_syntax", f"The card does not parse: {exc}.") from None


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
    language, translations = template_locales_check(
        fields["mode"], fields["data"], fields.get("language", ""), fields.get("translations", {})
    )
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
                language=language,
                translations=translations,
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
    template.language, template.translations = template_locales_check(
        mode,
        data,
        fields.get("language", template.language),
        translations_merged(template.translations, fields.get("translations")),
        language_changed="language" in fields and "translations" not in fields,
    )
    template.mode, template.data = mode, data
    if "isActive" in fields:
        template.is_active = fields["isActive"]
    if "tags" in fields:
        template.tags = fields["tags"]
    template.save()
    _record_version(template, "Changed through the API.")
    return template


def translations_merged(current: dict[str, Any] | None, patch: Any) -> Any:
    """A PATCH's `translations` over the stored ones, per locale: a locale given replaces its
    translation, null deletes it, the others stay (RFC 7396 merge, one level deep). The tags
    are compared canonically, so a patch of pt_BR reaches pt-BR."""
    current = dict(current or {})
    if patch is None or not isinstance(patch, dict):
        return current if patch is None else patch  # not an object: refused by the check
    merged = dict(current)
    for key, value in patch.items():
        tag = locale_normalize(key)
        if tag is not None:
            merged.pop(tag, None)
        if value is None:
            continue
        merged[key] = value
    return merged


def template_locales_check(
    mode: str,
    data: dict[str, Any],
    language: Any,
    translations: Any,
    *,
    language_changed: bool = False,
) -> tuple[str, dict[str, dict[str, Any]]]:
    """A template's default language and translations, checked and with canonical tags.

    Each translation holds fields of `data` (any of them, all optional) and must make a valid
    template over it: its text parses, an email keeps a subject. Two tags that are one
    (pt_BR, pt-BR), or a translation in the default language, are refused."""
    errors: list[ApiError] = []
    if language in (None, ""):
        language = ""
    elif locale_normalize(language) is None:
        errors.append(ApiError("invalid_locale", not_a_tag(language), source="language"))
    else:
        language = locale_normalize(language)
    if translations is None:
        translations = {}
    if not isinstance(translations, dict):
        raise ApiErrors(
            [*errors, ApiError("invalid_type", "must be an object.", source="translations")]
        )
    if len(translations) > MAX_TRANSLATIONS:
        errors.append(
            ApiError(
                "too_many_translations",
                f"{len(translations)} translations; at most {MAX_TRANSLATIONS}.",
                source="translations",
            )
        )
    out: dict[str, dict[str, Any]] = {}
    for key, value in translations.items():
        source = f"translations.{key}"
        tag = locale_normalize(key)
        if tag is None:
            errors.append(ApiError("invalid_locale", not_a_tag(key), source=source))
            continue
        if tag in out:
            errors.append(
                ApiError(
                    "duplicate_locale", f"'{key}' is the translation '{tag}' again.", source=source
                )
            )
            continue
        if tag == language:
            errors.append(
                ApiError(
                    "duplicate_locale",
                    f"'{key}' is the template's default language: change data instead.",
                    source="language" if language_changed else source,
                )
            )
            continue
        if not isinstance(value, dict):
            errors.append(ApiError("invalid_type", "a translation is an object.", source=source))
            continue
        try:
            template_data_check(mode, {**data, **value}, source=source)
        except ApiErrors as exc:
            errors.extend(exc.errors)
            continue
        except ApiError as exc:
            errors.append(exc)
            continue
        out[tag] = value
    if errors:
        raise ApiErrors(errors)
    return language, dict(sorted(out.items()))


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

    Returns `body` and, for email, `subject` and `html` (values escaped in HTML only); for
    push, `title`.
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
        elif mode == "push":
            out["title"] = compile_template(fields.get("title") or "").render(data)
            out["body"] = compile_template(fields.get("body") or "").render(data)
        else:  # a chat message may be media or a card alone
            out["body"] = compile_template(fields.get("body") or "").render(data)
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


def template_preview(
    *,
    template: Template,
    data: Any,
    locale: Any = None,
    policy: Any = None,
    autoconvert: Any = None,
) -> dict[str, Any]:
    """The template rendered with `data`, in the translation `locale` gets under `policy`
    (messaging.locales); `locale` in the answer is the language shown."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError("invalid_type", "data must be an object.", source="data")
    asked = None
    if locale not in (None, ""):
        asked = locale_normalize(locale)
        if asked is None:
            raise ApiError("invalid_locale", not_a_tag(locale), source="locale")
    if policy is not None and policy not in POLICIES:
        raise ApiError(
            "invalid_choice",
            f"languagePolicy is one of {', '.join(POLICIES)}.",
            source="languagePolicy",
        )
    if autoconvert is not None and template.mode != "sms":
        raise ApiError(
            "unknown_field", "autoconvert is for SMS templates only.", source="autoconvert"
        )
    if autoconvert is not None and autoconvert not in AUTOCONVERT_MODES:
        raise ApiError(
            "invalid_choice",
            f"autoconvert is one of {', '.join(AUTOCONVERT_MODES)} (default on).",
            source="autoconvert",
        )
    found = template_in_locale(template, asked, policy or "fallback")
    if found is None:
        raise ApiError(
            "no_translation",
            f"Template '{template.name}' has no '{asked}' translation (languagePolicy "
            f"deterministic); it has {template_locales_shown(template)}.",
            source="locale",
        )
    fields, language = found
    tenant = template.tenant
    merged = {**tenant.placeholders, **data}
    rendered = content_render(template.mode, fields, merged)
    if template.mode == "sms":  # what a send stores and counts: the converted text
        rendered["body"] = gsm_convert(rendered["body"], autoconvert or DEFAULT_AUTOCONVERT)
    result: dict[str, Any] = {"mode": template.mode, "locale": language or None, **rendered}
    for key in ("media", "buttons", "from", "originationNumber", "externalRef", "payload"):
        if key in fields:
            result[key] = fields[key]
    rich = rich_render({k: fields[k] for k in RCS_FIELDS if k in fields}, merged)
    result.update(rich)
    if template.mode == "sms":
        result["autoconvert"] = autoconvert or DEFAULT_AUTOCONVERT
        result.update(sms_info(rendered["body"]).as_dict())
    return result
