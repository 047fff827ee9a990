"""Locales: language tags, a template's translations, and which one a message gets.

A template has a default `language` and `translations` keyed by tag, each overriding the
fields of `data` it gives. A message asks for a locale (its entry's `locale`, else its
contact's, else the request's); the request's `languagePolicy` says what happens when the
template has no translation for it, in WhatsApp's words
(https://developers.facebook.com/docs/whatsapp/api/messages/message-templates, "Language
Policy Options"; Infobip's OMNI text in ../shared/seeds/001_*):

- `fallback` (our default): the closest translation, else the default language. Closest is
  the tag itself, then its shorter forms (de-AT → de), then another region of the same
  language (de asked, only de-AT written).
- `deterministic`: exactly the tag asked for (or the default language, when that is it),
  otherwise the send is refused with 400 naming where the locale came from.

Tags are BCP-47's language[-Script][-REGION] (en, de-AT, zh-Hant-TW, es-419), written with
`-` or `_` in any case (pt_BR is pt-BR). A WhatsApp provider template gets Meta's form of the
chosen tag (pt_BR), which Meta always resolves deterministically (its `fallback` policy was
withdrawn in 2020: the choice is made here, against our own translations).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

POLICIES = ("fallback", "deterministic")
DEFAULT_POLICY = "fallback"
MAX_TAG_LENGTH = 35  # contacts.Contact.locale
# language (2-3 letters), optional script (4 letters), optional region (2 letters or 3 digits)
_TAG = re.compile(
    r"(?P<language>[A-Za-z]{2,3})(?:[-_](?P<script>[A-Za-z]{4}))?"
    r"(?:[-_](?P<region>[A-Za-z]{2}|[0-9]{3}))?"
)
# The entry fields a template's text may be overridden by (accept's template block).
ENTRY_OVERRIDES = ("subject", "format", "title")

Add = Callable[[str, str, str | None], None]  # accept's errors.add(code, detail, source)


def locale_normalize(value: Any) -> str | None:
    """The canonical form of a tag (pt_br → pt-BR, zh_hant_tw → zh-Hant-TW), or None when
    `value` is not a tag."""
    if not isinstance(value, str) or len(value.strip()) > MAX_TAG_LENGTH:
        return None
    match = _TAG.fullmatch(value.strip())
    if match is None:
        return None
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts)


def locale_chain(tag: str) -> list[str]:
    """The tag and its shorter forms, most specific first: zh-Hant-TW, zh-Hant, zh."""
    parts = tag.split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def locale_choose(asked: str, available: Iterable[str], policy: str = DEFAULT_POLICY) -> str | None:
    """The tag of `available` that `asked` gets under `policy`, or None for none of them."""
    tags = set(available)
    if policy == "deterministic":
        return asked if asked in tags else None
    for candidate in locale_chain(asked):
        if candidate in tags:
            return candidate
    language = asked.split("-", 1)[0]
    siblings = sorted(t for t in tags if t.split("-", 1)[0] == language)
    return siblings[0] if siblings else None


def provider_language(tag: str) -> str:
    """Meta's form of a tag (language_REGION: pt_BR, en, zh_TW), which Infobip and Messente
    pass through: the script is not part of WhatsApp's codes."""
    parts = tag.split("-")
    return "_".join([parts[0], *(p for p in parts[1:] if len(p) != 4)])


def template_in_locale(
    template: Any, asked: str | None, policy: str = DEFAULT_POLICY
) -> tuple[dict[str, Any], str] | None:
    """(data, tag): the template's data in the locale `asked` gets, and the chosen tag ("" for
    a template whose default language is not said); None when `policy` finds none."""
    data = dict(template.data or {})
    default = template.language or ""
    translations: Mapping[str, dict] = template.translations or {}
    if not asked:
        return data, default
    chosen = locale_choose(asked, [*translations, *([default] if default else [])], policy)
    if chosen is None:
        return None if policy == "deterministic" else (data, default)
    if chosen == default or chosen not in translations:
        return data, default
    return {**data, **translations[chosen]}, chosen


def template_locales_shown(template: Any) -> str:
    """The languages a template has, for an error that says which one is missing."""
    shown = [f"{template.language} (default)"] if template.language else ["the default"]
    return ", ".join([*shown, *sorted(template.translations or {})])


# --- a send request's locale --------------------------------------------------------------


@dataclass(frozen=True)
class LocaleAsk:
    """The locale a request (and one entry of it) asks for, and the request's policy."""

    locale: str | None = None  # the request's `locale`
    policy: str = DEFAULT_POLICY
    entry_locale: str | None = None  # the entry's `locale`: wins over everything


def request_locale(body: Mapping[str, Any], add: Add) -> LocaleAsk:
    """The request's `locale` and `languagePolicy`, each refusal added through `add`."""
    locale, policy = None, DEFAULT_POLICY
    if body.get("locale") is not None:
        locale = locale_normalize(body["locale"])
        if locale is None:
            add("invalid_locale", not_a_tag(body["locale"]), "locale")
    if body.get("languagePolicy") is not None:
        if body["languagePolicy"] not in POLICIES:
            add(
                "invalid_choice",
                f"languagePolicy is one of {', '.join(POLICIES)}.",
                "languagePolicy",
            )
        else:
            policy = body["languagePolicy"]
    return LocaleAsk(locale=locale, policy=policy)


def entry_locale(entry: Mapping[str, Any], ask: LocaleAsk | None, path: str, add: Add) -> LocaleAsk:
    """The request's ask with the entry's own `locale`, checked."""
    ask = ask or LocaleAsk()
    if entry.get("locale") is None:
        return ask
    tag = locale_normalize(entry["locale"])
    if tag is None:
        add("invalid_locale", not_a_tag(entry["locale"]), f"{path}.locale")
    return LocaleAsk(locale=ask.locale, policy=ask.policy, entry_locale=tag)


def not_a_tag(value: Any) -> str:
    """The detail of a refused tag."""
    shown = f"'{value}'" if isinstance(value, str) else "this"
    return f"{shown[:60]} is not a language tag such as en, de-AT or pt_BR."


@dataclass(frozen=True)
class Localized:
    """What one group of an entry's recipients renders: the template in their language."""

    fields: dict[str, Any]  # the text's fields (the entry's subject and format win)
    data: dict[str, Any]  # the template's data in that language (sender, media, externalRef)
    language: str  # the chosen tag, "" when not known
    provider_language: str  # for a providerTemplate that names none ("" leaves the default)


def entry_localized(
    *,
    template: Any,
    fields: dict[str, Any],
    entry: Mapping[str, Any],
    ask: LocaleAsk | None,
    contact: Any,
    contacts: list[Any],
    path: str,
    add: Add,
) -> Localized | None:
    """The entry's template in the locale its recipients get (`contact`: the group's contact,
    `contacts`: the entry's recipients' contacts in order, to name one), or None with the
    refusal added through `add` (languagePolicy deterministic, no such translation).

    The order: the entry's `locale`, the contact's locale, the request's `locale`, the
    template's default language. An inline entry (no template) has nothing to choose from:
    its providerTemplate's language comes from the entry's or the request's locale only, as
    only the provider knows which languages that template has."""
    ask = ask or LocaleAsk()
    if template is None:
        tag = ask.entry_locale or ask.locale or ""
        return Localized(fields, {}, tag, provider_language(tag) if tag else "")
    asked, source = None, None
    if ask.entry_locale:
        asked, source = ask.entry_locale, f"{path}.locale"
    elif contact is not None and (contact.locale or "").strip():
        index = next((j for j, c in enumerate(contacts) if c is contact), 0)
        asked, source = locale_normalize(contact.locale), f"{path}.to[{index}]"
        if asked is None and ask.policy == "deterministic":
            add(
                "no_translation",
                f"The contact's locale '{contact.locale[:40]}' is not a language tag, and "
                "languagePolicy is deterministic.",
                source,
            )
            return None
    if asked is None and ask.locale:
        asked, source = ask.locale, "locale"
    found = template_in_locale(template, asked, ask.policy)
    if found is None:
        add(
            "no_translation",
            f"Template '{template.name}' has no '{asked}' translation (languagePolicy "
            f"deterministic); it has {template_locales_shown(template)}.",
            source,
        )
        return None
    data, tag = found
    localized = {**fields, **data}
    for key in ENTRY_OVERRIDES:
        if entry.get(key) is not None:
            localized[key] = fields[key]
    return Localized(localized, data, tag, provider_language(tag) if tag else "")


def provider_template_language(content: dict[str, Any], localized: Localized) -> None:
    """Give a providerTemplate that names no language the chosen locale's (in place; the
    entry's own object is copied, not changed)."""
    template = content.get("providerTemplate")
    if isinstance(template, dict) and not template.get("language") and localized.provider_language:
        content["providerTemplate"] = {**template, "language": localized.provider_language}
