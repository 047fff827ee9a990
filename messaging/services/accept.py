"""Accept a send request: validate everything, render, persist in one transaction, enqueue.

Nothing is stored unless the whole request is valid, and nothing is enqueued unless the
transaction commits. The work per request is a fixed number of queries whatever the
batch size: providers and templates are loaded once, rows go in with bulk_create.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from contacts import services as contact_services
from contacts.quiet import Deferral, QuietHours
from core import status as st
from core.addresses import e164_of, email_checked, phone_parsed, region_name
from core.channels import CHANNEL_KEYS
from core.netsafe import host_is_private
from core.push import KIND_LABELS as PUSH_KIND_LABELS
from core.push import PushRecipientInvalid, push_recipient
from core.sms import (
    AUTOCONVERT_MODES,
    DEFAULT_AUTOCONVERT,
    gsm_convert,
    sms_info,
    udh_problem,
    udh_text_capacity,
)
from providers.backends.content import ContentInvalid, content_parse
from providers.catalogue import catalogue_refusals
from providers.models import Provider
from tenants.models import App
from uploads import services as upload_services

from ..api.errors import ApiError, ApiErrors
from ..api.validation import parse_iso_datetime
from ..locales import (
    LocaleAsk,
    entry_locale,
    entry_localized,
    provider_template_language,
    request_locale,
)
from ..models import Message, MessageEvent, MessageRequest, Priority, Template, TextStore
from ..queue import wake_on_commit
from ..rendering import TemplateSyntaxError, compile_template, placeholders_of, render
from .templates import FORMATS, MAX_LENGTH, MAX_TITLE_LENGTH, content_render, rich_render

OPTION_KEYS = (
    "callback", "scheduledAt", "priority", "validity", "textStore", "locale", "languagePolicy",
)  # fmt: skip
CALLBACK_KEYS = ("url", "meta")
PHONE_ENTRY_KEYS = {
    "template", "body", "provider", "data", "to", "senderId", "from", "originationNumber",
    "externalRef", "media", "buttons", "tags", "providerTemplate", "locale", "autoconvert", "udh",
    "card", "carousel",
}  # fmt: skip
EMAIL_ENTRY_KEYS = {
    "template", "body", "subject", "format", "provider", "data", "to", "cc", "bcc", "from",
    "replyTo", "tags", "locale",
}  # fmt: skip
# A push entry: what every entry takes but a sender (a push has none), plus its title, the
# data for the app (`payload`: `data` is every entry's placeholder values) and one image
# (`image`, a URL, or `media.image`).
PUSH_ENTRY_KEYS = ((PHONE_ENTRY_KEYS & EMAIL_ENTRY_KEYS) - {"from"}) | {
    "title", "payload", "image", "media",
}  # fmt: skip
ENTRY_KEYS = {"email": EMAIL_ENTRY_KEYS, "push": PUSH_ENTRY_KEYS}  # the others: PHONE_ENTRY_KEYS
# What travels to the provider besides the text. `providerTemplate` names the provider's own
# pre-approved template (WhatsApp) and its variables, in the provider's terms.
CONTENT_KEYS = (
    "media", "buttons", "externalRef", "replyTo", "tags", "originationNumber", "providerTemplate",
    "card", "carousel",
)  # fmt: skip
# What a chat message may be without text: media, or an RCS card or carousel.
TEXTLESS_KEYS = ("media", "card", "carousel")
MAX_EMAIL_RECIPIENTS = 50
MAX_URL_LENGTH = 2000  # MessageRequest.callback_url
# How far ahead a message may be scheduled (Infobip's limit too): a date in year 9999 plus
# the validity would overflow.
MAX_SCHEDULE_DAYS = 180
MAX_VALIDITY_MINUTES = 10080
MAX_ERRORS = 25


class _Errors:
    """Collects problems across the whole request, so a client fixes them in one go."""

    def __init__(self) -> None:
        self.items: list[ApiError] = []

    def add(self, code: str, detail: str, source: str | None) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(ApiError(code, detail, source=source))

    def raise_if_any(self) -> None:
        if self.items:
            raise ApiErrors(self.items)


# --- contacts as recipients ({"contactId"} / {"externalId"}), suppressions, care windows ---

CONTACT_REF_KEYS = ("contactId", "externalId")


def _is_contact_ref(value: Any) -> bool:
    return isinstance(value, dict) and any(k in value for k in CONTACT_REF_KEYS)


@dataclass
class _Contacts:
    """The request's contact recipients, looked up once (contacts.services)."""

    by_id: dict[str, contact_services.ContactInfo] = field(default_factory=dict)
    by_ext: dict[str, contact_services.ContactInfo] = field(default_factory=dict)

    @classmethod
    def of_request(cls, body: dict[str, Any], app: App) -> _Contacts:
        ids, exts = set(), set()
        for channel in CHANNEL_KEYS:
            for entry in body.get(channel) or []:
                if not isinstance(entry, dict):
                    continue
                for key in ("to", "cc", "bcc"):
                    values = entry.get(key)
                    for value in values if isinstance(values, list) else []:
                        if _is_contact_ref(value):
                            if isinstance(value.get("contactId"), str):
                                ids.add(value["contactId"])
                            if isinstance(value.get("externalId"), str):
                                exts.add(value["externalId"])
        if not ids and not exts:
            return cls()
        by_id, by_ext = contact_services.contacts_resolve(
            tenant=app.tenant, ids=ids, external_ids=exts
        )
        return cls(by_id, by_ext)

    def address(
        self, ref: dict[str, Any], channel: str, source: str, errors: _Errors
    ) -> tuple[str | None, contact_services.ContactInfo | None]:
        """The contact's address for `channel`, or None with the reason added to `errors`."""
        for key in ref:
            if key not in CONTACT_REF_KEYS:
                errors.add(
                    "unknown_field",
                    f"'{key}' is not a field of a contact recipient (contactId or externalId).",
                    f"{source}.{key}",
                )
        if len([k for k in CONTACT_REF_KEYS if k in ref]) > 1:
            errors.add("ambiguous_recipient", "give contactId or externalId, not both.", source)
            return None, None
        key = "contactId" if "contactId" in ref else "externalId"
        value = ref[key]
        if not isinstance(value, str) or not value.strip():
            errors.add("invalid_type", f"{key} must be a non-empty string.", f"{source}.{key}")
            return None, None
        info = (self.by_id if key == "contactId" else self.by_ext).get(value)
        if info is None:
            errors.add("unknown_contact", f"No contact with {key} '{value}'.", source)
            return None, None
        address = info.address_for(channel)
        if address is None:
            errors.add(
                "no_address",
                f"Contact '{info.external_id or info.id}' has no address for {channel}.",
                source,
            )
            return None, None
        return address, info


def _recipient_groups(
    recipients: list[str], infos: list[contact_services.ContactInfo | None]
) -> list[tuple[list[str], contact_services.ContactInfo | None]]:
    """An entry's recipients in order: runs of plain addresses share one rendering, each
    contact renders with its own data."""
    if not any(infos):
        return [(recipients, None)]
    groups: list[tuple[list[str], contact_services.ContactInfo | None]] = []
    for to, info in zip(recipients, infos, strict=True):
        if info is None and groups and groups[-1][1] is None:
            groups[-1][0].append(to)
        else:
            groups.append(([to], info))
    return groups


Verdict = tuple[str, str, str]  # (status, error code, description) of a message refused


def _verdicts(app: App, planned: list[_Planned]) -> list[Verdict | None]:
    """Per message, in the order they are stored: None to send, or why it ends REJECTED at
    once (an SMS to a country the tenant does not allow; suppressed; free-form WhatsApp
    outside the care window). Two queries at most."""
    allowed = set(app.tenant.sms_countries or ())
    pairs = {(p.channel, to) for p in planned for to in p.recipients}
    suppressed = contact_services.suppressed_pairs(tenant=app.tenant, pairs=pairs)
    enforces: dict[int, bool] = {}
    for p in planned:
        if p.channel == "whatsapp" and p.provider.pk not in enforces:
            enforces[p.provider.pk] = p.provider.backend().enforces_care_window()

    def windowed(p: _Planned) -> bool:
        # Only free-form messages need the window: a provider template always goes.
        return (
            p.channel == "whatsapp"
            and enforces[p.provider.pk]
            and not (p.content or {}).get("providerTemplate")
        )

    keys = {(p.provider.pk, to) for p in planned if windowed(p) for to in p.recipients}
    open_ = contact_services.open_windows(tenant=app.tenant, keys=keys)
    out: list[Verdict | None] = []
    for p in planned:
        needs = windowed(p)
        for to in p.recipients:
            # Regions were read when the numbers were parsed (_entry), only with a list set.
            if p.regions is not None and (code := p.regions.get(to)) not in allowed:
                out.append(_country_refusal(to, code))
            elif (p.channel, contact_services.suppression_key(p.channel, to)) in suppressed:
                out.append(
                    (
                        st.REJECTED_SUPPRESSED,
                        "suppressed",
                        f"{to} opted out of {p.channel} (suppression list); not sent.",
                    )
                )
            elif needs and (p.provider.pk, to) not in open_:
                out.append(
                    (
                        st.REJECTED_CONTENT,
                        "session_expired",
                        f"No WhatsApp customer-care window is open with {to} (no message from "
                        "them in the last 24 hours): only a providerTemplate may be sent.",
                    )
                )
            else:
                out.append(None)
    return out


def _country_refusal(to: str, code: str | None) -> Verdict:
    if code in phonenumbers.SUPPORTED_REGIONS:
        where = f"{code} ({region_name(code)})"
    else:  # "001" (+800 and other numbers of no country) or a code no region owns
        where = f"{to} (a number of no country)"
    return (
        st.REJECTED_DESTINATION,
        "country_not_allowed",
        f"SMS to {where} is not allowed for this tenant; not sent.",
    )


def _refused_reject(
    accepted: list[AcceptedMessage], verdicts: list[Verdict | None], initial: str
) -> list[AcceptedMessage]:
    """Move the refused messages to their REJECTED status through the one path of status
    changes (event, callback), inside accept's transaction: never seen by a dispatcher."""
    from .status import Change, messages_transition_bulk, stored_text

    refused = {m.id: v for m, v in zip(accepted, verdicts, strict=True) if v}
    if not refused:
        return accepted
    messages = Message.objects.select_related("request").filter(pk__in=list(refused))
    changes = [
        Change(
            message=m,
            status=refused[m.pk][0],
            error=(refused[m.pk][1], refused[m.pk][2], True),
            updates=stored_text(m),
        )
        for m in messages
    ]
    messages_transition_bulk(changes=changes, source="api", expect=[initial])
    return [
        AcceptedMessage(
            m.id, m.channel, m.to, refused[m.id][0],
            {"code": refused[m.id][1], "description": refused[m.id][2], "permanent": True},
        )
        if m.id in refused
        else m
        for m in accepted
    ]  # fmt: skip


def phone_normalize(value: Any, region: str) -> str:
    """A recipient as E.164: "+14155550100", "0412 345 678" (tenant's country) or
    {"countryCode": "1", "number": "5551234567"}. Raises ValueError with the reason."""
    return e164_of(phone_parse(value, region))


def phone_parse(value: Any, region: str) -> phonenumbers.PhoneNumber:
    """phone_normalize's parsed number, for what else the number tells (its region)."""
    if isinstance(value, dict):
        cc = str(value.get("countryCode") or "").strip().lstrip("+")
        number = str(value.get("number") or "").strip()
        if not number:
            raise ValueError("number is required")
        text = f"+{cc}{number}" if cc and not number.startswith("+") else number
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError("must be a phone number string or {countryCode, number}")
    return phone_parsed(text, region)


def _region_of(e164: str, region: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phone_parsed(e164, region))
    except ValueError:
        return None


def email_normalize(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 254:
        raise ValueError("must be an email address")
    local, _, domain = email_checked(value).rpartition("@")
    return f"{local}@{domain.lower()}"


def url_check(url: Any, source: str) -> str:
    """A callback URL: http(s), and not private or loopback unless ALLOW_PRIVATE_URLS."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError("invalid_url", "url is required.", source=source)
    if len(url.strip()) > MAX_URL_LENGTH:
        raise ApiError(
            "invalid_url", f"the URL is {len(url.strip())} characters; at most {MAX_URL_LENGTH}.",
            source=source,
        )  # fmt: skip
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError("invalid_url", f"'{url}' is not an http(s) URL.", source=source)
    if not settings.ALLOW_PRIVATE_URLS and host_is_private(parts.hostname):
        raise ApiError(
            "private_url", f"'{parts.hostname}' is a private or loopback address.", source=source
        )
    return url.strip()


@dataclass
class Options:
    callback_url: str = ""
    callback_meta: Any = None
    scheduled_at: datetime | None = None
    priority: int = Priority.NORMAL
    validity: int = settings.DEFAULT_VALIDITY_MINUTES
    text_store: str = TextStore.PLAINTEXT


def _options(body: dict[str, Any], errors: _Errors, now: datetime) -> Options:
    opts = Options()
    callback = body.get("callback")
    if callback is not None:
        if not isinstance(callback, dict):
            errors.add("invalid_type", "callback must be an object {url, meta}.", "callback")
        else:
            for key in callback:
                if key not in CALLBACK_KEYS:
                    errors.add(
                        "unknown_field",
                        f"'{key}' is not a field of callback (url, meta).",
                        f"callback.{key}",
                    )
            try:
                opts.callback_url = url_check(callback.get("url"), "callback.url")
            except ApiError as exc:
                errors.add(exc.code, exc.detail, exc.source)
            opts.callback_meta = callback.get("meta")
    if body.get("scheduledAt") is not None:
        raw = body["scheduledAt"]
        when = parse_iso_datetime(raw)
        if when is None:
            errors.add("invalid_datetime", f"'{raw}' is not an ISO-8601 date-time.", "scheduledAt")
        elif timezone.is_naive(when):
            errors.add("invalid_datetime", "scheduledAt must include a timezone.", "scheduledAt")
        elif when < now - timedelta(seconds=60):
            errors.add("in_the_past", f"scheduledAt {raw} is in the past.", "scheduledAt")
        elif when > now + timedelta(days=MAX_SCHEDULE_DAYS):
            errors.add(
                "too_far_ahead",
                f"scheduledAt is at most {MAX_SCHEDULE_DAYS} days ahead.",
                "scheduledAt",
            )
        elif when > now:
            opts.scheduled_at = when
    if body.get("priority") is not None:
        choices = {label: value for value, label in Priority.choices}
        if not isinstance(body["priority"], str) or body["priority"] not in choices:
            errors.add("invalid_choice", "priority is one of high, normal, low.", "priority")
        else:
            opts.priority = choices[body["priority"]]
    if body.get("validity") is not None:
        v = body["validity"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_VALIDITY_MINUTES:
            errors.add(
                "invalid_validity",
                f"validity is a number of minutes from 1 to {MAX_VALIDITY_MINUTES}.",
                "validity",
            )
        else:
            opts.validity = v
    if body.get("textStore") is not None:
        if not isinstance(body["textStore"], str) or body["textStore"] not in TextStore.values:
            errors.add(
                "invalid_choice", "textStore is one of plaintext, sha256, nostore.", "textStore"
            )
        else:
            opts.text_store = body["textStore"]
    return opts


@dataclass
class _Planned:
    """One entry, validated and rendered: the messages it makes share everything but `to`."""

    channel: str
    provider: Provider
    template: Template | None
    recipients: list[str]
    email_recipients: dict[str, list[str]] | None
    sender: str
    subject: str
    body: str
    html: str
    content: dict[str, Any] | None
    contact_id: str | None = None  # the contact these recipients are (quiet hours)
    # E.164 -> region code (None: no country), only for SMS of a tenant with sms_countries.
    regions: dict[str, str | None] | None = None


def _count_messages(body: dict[str, Any]) -> int:
    total = 0
    for channel in CHANNEL_KEYS:
        entries = body.get(channel)
        if isinstance(entries, list):
            if channel == "email":
                total += len(entries)
            else:
                total += sum(
                    len(e["to"])
                    for e in entries
                    if isinstance(e, dict) and isinstance(e.get("to"), list)
                )
    return total


def _entry(
    channel: str,
    i: int,
    entry: Any,
    *,
    app: App,
    providers: dict[str, Provider],
    defaults: dict[str, Provider],
    templates: dict[str, Template],
    errors: _Errors,
    contacts: _Contacts | None = None,
    ask: LocaleAsk | None = None,
) -> list[_Planned] | None:
    """One entry as the messages it makes: one _Planned, or several when recipients are
    contacts (each renders with its own {{contact.*}} data)."""
    path = f"{channel}[{i}]"
    contacts = contacts or _Contacts()
    if not isinstance(entry, dict):
        errors.add("invalid_type", "each entry must be an object.", path)
        return None
    allowed = ENTRY_KEYS.get(channel, PHONE_ENTRY_KEYS)
    before = len(errors.items)
    for key in entry:
        if key not in allowed:
            errors.add(
                "unknown_field", f"'{key}' is not a field of a {channel} entry.", f"{path}.{key}"
            )

    # Provider: named, else the tenant's default for the channel.
    provider = None
    name = entry.get("provider")
    if name is not None and not isinstance(name, str):
        errors.add("invalid_type", "provider must be a provider's name.", f"{path}.provider")
    elif name:
        provider = providers.get(name)
        if provider is None:
            errors.add("unknown_provider", f"No provider named '{name}'.", f"{path}.provider")
        elif not provider.is_active:
            errors.add("inactive_provider", f"Provider '{name}' is not active.", f"{path}.provider")
        elif channel not in provider.channels:
            errors.add(
                "unsupported_channel",
                f"Provider '{name}' does not serve {channel}.",
                f"{path}.provider",
            )
    else:
        provider = defaults.get(channel)
        if provider is None:
            errors.add(
                "no_default_provider",
                f"No provider given and the tenant has no active default provider for {channel}.",
                f"{path}.provider",
            )

    # Content: a template, or inline text (a chat message may be media alone).
    media_only = channel not in ("sms", "email", "push") and any(
        entry.get(k) for k in TEXTLESS_KEYS
    )
    template = None
    fields: dict[str, Any] | None = None
    if entry.get("template") is not None and entry.get("body") is not None:
        errors.add("ambiguous_content", "give either template or body, not both.", f"{path}.body")
    elif entry.get("template") is not None:
        tname = entry["template"]
        template = templates.get(tname) if isinstance(tname, str) else None
        if template is None:
            errors.add("unknown_template", f"No template named '{tname}'.", f"{path}.template")
        elif not template.is_active:
            errors.add(
                "inactive_template", f"Template '{tname}' is not active.", f"{path}.template"
            )
            template = None
        elif template.mode != channel:
            errors.add(
                "template_mode",
                f"Template '{tname}' is a {template.mode} template, not {channel}.",
                f"{path}.template",
            )
            template = None
        else:
            fields = dict(template.data)
            for key in ("subject", "format", "title"):
                if entry.get(key) is not None:
                    fields[key] = entry[key]
            _check_text_fields(entry, ("subject", "title"), path, errors)
            if entry.get("format") not in (None, *FORMATS):
                errors.add("invalid_choice", "format is text/plain or text/html.", f"{path}.format")
    elif channel == "push" and any(_nonblank(entry.get(k)) for k in ("title", "body")):
        # A notification may be a title alone.
        fields = {"body": entry.get("body") or "", "title": entry.get("title") or ""}
        _check_text_fields(entry, ("body", "title"), path, errors)
    elif isinstance(entry.get("body"), str) and (entry["body"].strip() or media_only):
        fields = {
            "body": entry["body"],
            "subject": entry.get("subject") or "",
            "format": entry.get("format"),
        }
        if channel == "email" and not (
            isinstance(entry.get("subject"), str) and entry["subject"].strip()
        ):
            errors.add("required", "an email needs a subject.", f"{path}.subject")
        if entry.get("format") not in (None, *FORMATS):
            errors.add("invalid_choice", "format is text/plain or text/html.", f"{path}.format")
        _check_text_fields(entry, ("body", "subject"), path, errors)
    else:
        errors.add("required", "template or body is required.", f"{path}.template")

    data = entry.get("data", {})
    if not isinstance(data, dict):
        errors.add("invalid_type", "data must be an object.", f"{path}.data")
        data = {}

    # Recipients.
    region = app.tenant.default_country
    # Destination countries (abuse guard): read off the number parsed here, SMS only; no
    # list, no work.
    regions: dict[str, str | None] | None = (
        {} if channel == "sms" and app.tenant.sms_countries else None
    )
    recipients: list[str] = []
    recipient_contacts: list[contact_services.ContactInfo | None] = []
    email_contact = None
    email_recipients = None
    if channel == "email":
        email_recipients = {}
        total = 0
        for key in ("to", "cc", "bcc"):
            values = entry.get(key, [] if key != "to" else None)
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list):
                errors.add(
                    "invalid_type", f"{key} must be a list of email addresses.", f"{path}.{key}"
                )
                values = []
            total += len(values)
            cleaned = []
            for j, value in enumerate(values):
                if _is_contact_ref(value):
                    address, info = contacts.address(value, channel, f"{path}.{key}[{j}]", errors)
                    if address is not None:
                        cleaned.append(address)
                        if key == "to" and len(cleaned) == 1:
                            email_contact = info
                    continue
                try:
                    cleaned.append(email_normalize(value))
                except ValueError as exc:
                    errors.add("invalid_recipient", str(exc), f"{path}.{key}[{j}]")
            email_recipients[key] = cleaned
        if not entry.get("to"):
            errors.add("no_recipients", "at least one 'to' address is required.", f"{path}.to")
        elif total > MAX_EMAIL_RECIPIENTS:
            errors.add(
                "too_many_recipients",
                f"to, cc and bcc together have {total} addresses; at most {MAX_EMAIL_RECIPIENTS}.",
                f"{path}.to",
            )
        recipients = email_recipients.get("to", [])[:1]
    elif channel == "push":
        recipients, recipient_contacts = _push_recipients(entry, provider, contacts, path, errors)
    else:
        values = entry.get("to")
        if not isinstance(values, list) or not values:
            errors.add("no_recipients", "to must be a non-empty list of recipients.", f"{path}.to")
            values = []
        for j, value in enumerate(values):
            if _is_contact_ref(value):
                address, info = contacts.address(value, channel, f"{path}.to[{j}]", errors)
                if address is not None:
                    recipients.append(address)
                    recipient_contacts.append(info)
                    if regions is not None:  # stored as E.164: parsed here only
                        regions[address] = _region_of(address, region)
                continue
            if isinstance(value, dict):
                for key in value:
                    if key not in ("countryCode", "number"):
                        errors.add(
                            "unknown_field",
                            f"'{key}' is not a field of a recipient (countryCode, number).",
                            f"{path}.to[{j}].{key}",
                        )
            try:
                parsed = phone_parse(value, region)
                e164 = e164_of(parsed)
                recipients.append(e164)
                recipient_contacts.append(None)
                if regions is not None:
                    regions[e164] = phonenumbers.region_code_for_number(parsed)
            except ValueError as exc:
                source = f"{path}.to[{j}]" + (".number" if isinstance(value, dict) else "")
                errors.add("invalid_recipient", str(exc), source)
                if len(errors.items) >= MAX_ERRORS:
                    break

    for key in ("senderId", "from", "originationNumber", "externalRef"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            errors.add("invalid_type", f"{key} must be a string.", f"{path}.{key}")
    if entry.get("tags") is not None and not (
        isinstance(entry["tags"], list) and all(isinstance(t, str) for t in entry["tags"])
    ):
        errors.add("invalid_type", "tags must be a list of strings.", f"{path}.tags")
    if entry.get("replyTo") is not None:
        try:
            email_normalize(entry["replyTo"])
        except ValueError as exc:
            errors.add("invalid_recipient", str(exc), f"{path}.replyTo")

    if channel == "push":
        _push_fields_check(entry, path, errors)
    autoconvert, udh = _sms_options(channel, entry, provider, path, errors)
    asked = entry_locale(entry, ask, path, errors.add)
    if len(errors.items) > before or fields is None or provider is None:
        return None

    def plan(recips: list[str], contact: contact_services.ContactInfo | None) -> _Planned | None:
        # The template in these recipients' language (messaging.locales).
        loc = entry_localized(
            template=template, fields=fields, entry=entry, ask=asked, contact=contact,
            contacts=recipient_contacts, path=path, add=errors.add,
        )  # fmt: skip
        if loc is None:
            return None
        merged = {**app.tenant.placeholders, **app.placeholders, **data}
        if contact is not None:
            merged["contact"] = contact.render_data()
        try:
            rendered = content_render(
                channel, loc.fields, merged, source=f"{path}.data", syntax_source=f"{path}.template"
            )
        except ApiError as exc:
            errors.add(exc.code, exc.detail, exc.source)
            return None
        if channel == "sms":  # stored, counted and sent as converted
            rendered["body"] = gsm_convert(rendered["body"], autoconvert)
        limit = MAX_LENGTH.get(channel)
        if limit and len(rendered["body"]) > limit:
            errors.add(
                "body_too_long",
                f"The {channel} text is {len(rendered['body'])} characters; at most {limit}.",
                f"{path}.body" if template is None else f"{path}.template",
            )
            return None
        textless = any(entry.get(k) or loc.data.get(k) for k in TEXTLESS_KEYS)
        if (
            channel != "push"
            and not rendered["body"].strip()
            and not (channel not in ("sms", "email") and textless)
        ):
            errors.add("empty_body", "The message text is empty.", f"{path}.body")
            return None

        tdata = loc.data
        sender = entry.get("senderId") or entry.get("from") or entry.get("originationNumber")
        sender = sender or tdata.get("from") or tdata.get("originationNumber") or ""
        content = {
            k: entry[k] if entry.get(k) is not None else tdata.get(k)
            for k in CONTENT_KEYS
            if entry.get(k) is not None or tdata.get(k) is not None
        }
        if channel == "push":
            _push_content(entry, tdata, content)
        if content.get("card") is not None or content.get("carousel") is not None:
            try:  # the cards' titles and descriptions, rendered as the body is
                content = rich_render(content, merged, source=f"{path}.data")
            except ApiError as exc:
                errors.add(exc.code, exc.detail, exc.source or f"{path}.card")
                return None
        # Our mediaIds (med_…, POST /api/v1/media) as their signed links: no adapter sees them.
        content = upload_services.content_media_resolve(
            tenant=app.tenant, content=content, path=path, errors=errors
        )
        if content is None:
            return None
        if not _content_check(
            channel, provider, content, loc.fields, merged, rendered["body"], path, errors
        ):
            return None
        if channel == "push" and not _push_check(
            provider, rendered, content, template is not None, path, errors
        ):
            return None
        if channel == "sms" and not _sms_check(
            entry, provider, template, tdata, str(sender), rendered["body"], udh, path, errors
        ):
            return None
        if udh:
            content["udh"] = udh
        if entry.get("autoconvert"):  # the provider hears the client's mode (Messente's)
            content["autoconvert"] = autoconvert
        provider_template_language(content, loc)
        return _Planned(
            channel=channel,
            provider=provider,
            template=template,
            recipients=recips,
            email_recipients=email_recipients,
            sender=str(sender)[:100],
            subject=(rendered.get("subject") or rendered.get("title") or "")[:998],
            body=rendered["body"],
            html=rendered.get("html", ""),
            content=content or None,
            contact_id=contact.id if contact is not None else None,
            regions=regions,
        )

    if channel == "email":
        groups = [(recipients, email_contact)]
    else:
        groups = _recipient_groups(recipients, recipient_contacts)
    plans = []
    for recips, contact in groups:
        p = plan(recips, contact)
        if p is None:
            return None
        plans.append(p)
    return plans


def _sms_options(
    channel: str, entry: dict, provider: Provider | None, path: str, errors: _Errors
) -> tuple[str, str]:
    """An entry's `autoconvert` (Messente's: "on", the default, replaces look-alikes; "full"
    every non-GSM character; "off" sends the text as given) and `udh` (a hex User Data
    Header), both SMS only; a udh only through a provider that carries one."""
    mode, udh = entry.get("autoconvert"), entry.get("udh")
    for key in ("autoconvert", "udh"):
        if channel != "sms" and entry.get(key) is not None:
            errors.add("unknown_field", f"'{key}' is a field of sms entries only.", f"{path}.{key}")
    if channel != "sms":
        return DEFAULT_AUTOCONVERT, ""
    if mode is not None and mode not in AUTOCONVERT_MODES:
        errors.add(
            "invalid_choice",
            f"autoconvert is one of {', '.join(AUTOCONVERT_MODES)} (default on).",
            f"{path}.autoconvert",
        )
    if udh is None:
        return mode or DEFAULT_AUTOCONVERT, ""
    problem = udh_problem(udh) if isinstance(udh, str) else "must be a hex string."
    if problem:
        errors.add("invalid_udh", f"udh {problem}", f"{path}.udh")
    elif provider is not None and not provider.backend_class().sms_udh:
        errors.add(
            "unsupported_content",
            f"{provider.backend_class().label} cannot send an SMS with a User Data Header.",
            f"{path}.udh",
        )
    return mode or DEFAULT_AUTOCONVERT, udh if isinstance(udh, str) else ""


def _sms_check(
    entry: dict,
    provider: Provider,
    template: Template | None,
    tdata: dict[str, Any],
    sender: str,
    body: str,
    udh: str,
    path: str,
    errors: _Errors,
) -> bool:
    """The SMS's sender id (the entry's, else the template's, else the provider's default
    sender) as the provider takes it (Backend.sender_problem), and with a udh a text that
    fits one SMS beside it: the client who gives the header does any concatenation."""
    ok = True
    key = next((k for k in ("senderId", "from", "originationNumber") if entry.get(k)), None)
    if key is None and not sender:
        sender = provider.default_sender
        origin = f" (provider '{provider.name}' defaultSender)"
    elif key is None:
        tkey = "from" if tdata.get("from") else "originationNumber"
        origin = f" (template '{template.name if template else ''}' {tkey})"
    else:
        origin = ""
    problem = provider.backend_class().sender_problem("sms", sender) if sender else ""
    if problem:
        errors.add("invalid_sender", problem + origin, f"{path}.{key or 'senderId'}")
        ok = False
    if udh:
        info = sms_info(body)
        room = udh_text_capacity(udh, info.encoding)
        if info.units > room:
            errors.add(
                "body_too_long",
                f"With a udh the message is one SMS: {room} {info.encoding} units of text "
                f"beside the header, and the text takes {info.units}.",
                f"{path}.body" if template is None else f"{path}.template",
            )
            ok = False
    return ok


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _push_recipients(
    entry: dict,
    provider: Provider | None,
    contacts: _Contacts,
    path: str,
    errors: _Errors,
) -> tuple[list[str], list[contact_services.ContactInfo | None]]:
    """A push entry's recipients in their one form (core.push), each of a kind its provider
    sends to: FCM takes registration tokens, Web Push subscriptions, the sandbox both."""
    recipients: list[str] = []
    infos: list[contact_services.ContactInfo | None] = []
    values = entry.get("to")
    if not isinstance(values, list) or not values:
        errors.add("no_recipients", "to must be a non-empty list of recipients.", f"{path}.to")
        return recipients, infos
    kinds = provider.backend_class().push_recipients if provider is not None else None
    for j, value in enumerate(values):
        source = f"{path}.to[{j}]"
        info = None
        if _is_contact_ref(value):
            value, info = contacts.address(value, "push", source, errors)
            if value is None:
                continue
        try:
            recipient = push_recipient(value)
        except PushRecipientInvalid as exc:
            for sub, text in exc.problems:
                errors.add("invalid_recipient", text, f"{source}.{sub}" if sub else source)
        else:
            if kinds is not None and recipient.kind not in kinds:
                wanted = " or ".join(PUSH_KIND_LABELS[k] for k in sorted(kinds))
                errors.add(
                    "unsupported_recipient",
                    f"Provider '{provider.name}' sends to {wanted}, not to "
                    f"{PUSH_KIND_LABELS[recipient.kind]}.",
                    source,
                )
            else:
                recipients.append(recipient.address)
                infos.append(info)
        if len(errors.items) >= MAX_ERRORS:
            break
    return recipients, infos


def _push_fields_check(entry: dict, path: str, errors: _Errors) -> None:
    """A push entry's own fields: `payload` an object, `image` a URL (or media.image)."""
    payload = entry.get("payload")
    if payload is not None and not isinstance(payload, dict):
        errors.add(
            "invalid_type", "payload must be an object (the data for the app).", f"{path}.payload"
        )
    image = entry.get("image")
    if image is None:
        return
    if entry.get("media") is not None:
        errors.add("ambiguous_content", "give image or media, not both.", f"{path}.image")
    elif not isinstance(image, str) or urlsplit(image.strip()).scheme not in ("http", "https"):
        errors.add("invalid_content", "image must be an http(s) URL.", f"{path}.image")


def _push_content(entry: dict, tdata: dict[str, Any], content: dict[str, Any]) -> None:
    """A push entry's content in the adapters' terms (in place): the image as media.image,
    the payload as `data` (what fcm.py and webpush.py read); the entry's win over the
    template's."""
    if isinstance(entry.get("image"), str):
        content["media"] = {"image": {"url": entry["image"].strip()}}
    payload = entry["payload"] if entry.get("payload") is not None else tdata.get("payload")
    if payload:
        content["data"] = payload


def _push_check(
    provider: Provider,
    rendered: dict[str, Any],
    content: dict[str, Any],
    templated: bool,
    path: str,
    errors: _Errors,
) -> bool:
    """A notification has a title or a body, a title of at most MAX_TITLE_LENGTH, and fits
    the provider's payload (its data keys allowed, its size within the limit)."""
    title, body = rendered.get("title", ""), rendered["body"]
    if not title.strip() and not body.strip():
        errors.add("empty_body", "A push notification needs a title or a body.", f"{path}.body")
        return False
    if len(title) > MAX_TITLE_LENGTH:
        errors.add(
            "title_too_long",
            f"The push title is {len(title)} characters; at most {MAX_TITLE_LENGTH}.",
            f"{path}.template" if templated else f"{path}.title",
        )
        return False
    parsed = content_parse(content, body)  # already read by _content_check
    image = next((m.url for m in parsed.media if m.kind == "image"), "")
    problems = provider.backend_class().push_problems(
        title=title, body=body, image=image, data=content.get("data")
    )
    whole = f"{path}.template" if templated else f"{path}.body"
    for sub, text in problems:
        errors.add("unsupported_content", text, f"{path}.{sub}" if sub else whole)
    return not problems


def _content_check(
    channel: str,
    provider: Provider,
    content: dict[str, Any],
    fields: dict[str, Any],
    data: dict[str, Any],
    body: str,
    path: str,
    errors: _Errors,
) -> bool:
    """Read the entry's media, buttons and provider template (backends.content) and ask the
    provider whether it carries them: what it cannot is a 400 naming the field, never dropped.
    A WhatsApp entry's externalRef (`name` or `name:language`) names the provider's template;
    its parameters are the values of the text's placeholders, in order."""
    ref = content.get("externalRef")
    if channel == "whatsapp" and "providerTemplate" not in content and isinstance(ref, str):
        name, _, language = (part.strip() for part in ref.partition(":"))
        if name:
            names = placeholders_of(str(fields.get("body") or ""))
            params = [render("{{" + n + "}}", data) for n in names]
            content["providerTemplate"] = {"name": name, "language": language, "params": params}
    try:
        parsed = content_parse(content, body)
    except ContentInvalid as exc:
        for sub, text in exc.problems:
            errors.add("invalid_content", text, f"{path}.{sub}")
        return False
    problems = provider.backend_class().content_problems(channel, parsed)
    for sub, text in problems:
        errors.add("unsupported_content", text, f"{path}.{sub}")
    return not problems


def _check_text_fields(entry: dict, keys: tuple[str, ...], path: str, errors: _Errors) -> None:
    """Inline text given in the request: a string that parses as a template."""
    for key in keys:
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.add("invalid_type", f"{key} must be a string.", f"{path}.{key}")
            continue
        try:
            compile_template(value)
        except TemplateSyntaxError as exc:
            errors.add("template_syntax", f"The {key} does not parse: {exc}.", f"{path}.{key}")


def message_accept(
    *,
    app: App,
    body: Any,
    hold: bool = False,
    expires_in: timedelta | None = None,
    quiet: bool = True,
) -> tuple[MessageRequest, list[AcceptedMessage]]:
    """Validate, render and store a send request; enqueue its dispatch after commit.

    For the omnichannel app: `hold` stores the messages PENDING_FAILOVER (a later channel of
    an omnimessage, released only if the one before it fails), and `expires_in` replaces the
    validity in minutes (a step's ttl is in seconds). `quiet=False` sends inside quiet hours
    too: a reply to someone who has just written, an admin's test message."""
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    errors = _Errors()
    for key in body:
        if key not in CHANNEL_KEYS and key not in OPTION_KEYS:
            errors.add(
                "unknown_channel" if isinstance(body[key], list) else "unknown_field",
                f"'{key}' is not a channel ({', '.join(CHANNEL_KEYS)}) or an option.",
                key,
            )
    for channel in CHANNEL_KEYS:
        if channel in body and not isinstance(body[channel], list):
            errors.add("invalid_type", f"{channel} must be a list of entries.", channel)
    errors.raise_if_any()
    count = _count_messages(body)
    if count > settings.API_MAX_MESSAGES:
        raise ApiError(
            "too_many_messages",
            f"The request makes {count} messages; at most {settings.API_MAX_MESSAGES} per request.",
            status=413,
        )
    if not any(body.get(c) for c in CHANNEL_KEYS):
        raise ApiError(
            "no_messages", f"Give at least one entry in {', '.join(CHANNEL_KEYS)}.", source="sms"
        )

    now = timezone.now()
    opts = _options(body, errors, now)
    ask = request_locale(body, errors.add)
    tenant = app.tenant
    providers = {p.name: p for p in Provider.objects.filter(tenant=tenant)}
    defaults = {
        ch: p
        for p in providers.values()
        if p.is_active and p.is_tenant_default
        for ch in p.channels
    }
    names = {
        e["template"]
        for c in CHANNEL_KEYS
        for e in body.get(c) or []
        if isinstance(e, dict) and isinstance(e.get("template"), str)
    }
    templates = (
        {t.name: t for t in Template.objects.filter(tenant=tenant, name__in=names)} if names else {}
    )

    contacts = _Contacts.of_request(body, app)
    planned = []
    checks = []  # (path, entry, planned): the WhatsApp template catalogue's check
    for channel in CHANNEL_KEYS:
        for i, entry in enumerate(body.get(channel) or []):
            plans = _entry(
                channel, i, entry, app=app, providers=providers, defaults=defaults,
                templates=templates, errors=errors, contacts=contacts, ask=ask,
            )  # fmt: skip
            for p in plans or []:
                planned.append(p)
                checks.append((f"{channel}[{i}]", entry, p))
            if len(errors.items) >= MAX_ERRORS:
                break
    for code, detail, source in catalogue_refusals(checks):
        errors.add(code, detail, source)
    errors.raise_if_any()
    verdicts = _verdicts(app, planned)
    deferrals = _quiet_deferrals(app, opts, planned, now, verdicts) if quiet and not hold else None
    return _persist(
        app=app, opts=opts, planned=planned, now=now, count=count, verdicts=verdicts,
        hold=hold, expires_in=expires_in, deferrals=deferrals,
    )  # fmt: skip


def _quiet_deferrals(
    app: App, opts: Options, planned: list[_Planned], now: datetime, verdicts: list
) -> list[Deferral | None] | None:
    """Quiet hours (contacts.quiet), per message in the order they are stored: a message due
    inside its recipient's window waits for the window's end. High priority passes, and a
    message refused at accept is not deferred. One query for the request at most."""
    if opts.priority == Priority.HIGH:
        return None
    items = [(p.channel, to, p.contact_id) for p in planned for to in p.recipients]
    quiet = QuietHours.of_recipients(tenant=app.tenant, recipients=items)
    due = opts.scheduled_at or now
    out = [
        None if verdict else quiet.deferral(channel, to, due, contact_id=contact_id)
        for (channel, to, contact_id), verdict in zip(
            items, verdicts or [None] * len(items), strict=True
        )
    ]
    return out if any(out) else None


_ENTRY_FIELDS = {
    "channel", "provider_id", "template_id", "recipients", "sender", "subject", "body", "html",
    "content",
}  # fmt: skip


@dataclass(frozen=True)
class AcceptedMessage:
    id: uuid.UUID
    channel: str
    to: str
    status: str
    error: dict[str, Any] | None = None  # why a message refused at accept is REJECTED


SMALL_BATCH = 20


def _insert_messages(
    planned: list[_Planned],
    common: Message,
    deferrals: list[Deferral | None] | None = None,
    lifetime: timedelta | None = None,
) -> list[AcceptedMessage]:
    """Every message of the request in one statement (COPY on PostgreSQL, one prepared
    INSERT run over all rows on SQLite).

    Values are converted for the database once per request (what all messages share), once
    per entry (its content) and once per message (id and recipient only). Django's
    bulk_create would convert every value of every row, which costs more than the database
    spends storing them.
    """
    fields = Message._meta.concrete_fields
    names = [f.attname for f in fields]
    id_pos, to_pos = names.index("id"), names.index("to")
    # A message deferred by quiet hours: scheduled at its window's end, valid from then.
    status_pos, scheduled_pos, expires_pos = (
        names.index("status"), names.index("scheduled_at"), names.index("expires_at"),
    )  # fmt: skip
    scheduled_field = Message._meta.get_field("scheduled_at")
    deferred = iter(deferrals or ())
    id_field = Message._meta.pk
    shared = [f.get_db_prep_save(getattr(common, f.attname), connection) for f in fields]
    per_entry = [(i, f) for i, f in enumerate(fields) if f.attname in _ENTRY_FIELDS]
    rows: list[list[Any]] = []
    accepted: list[AcceptedMessage] = []
    for p in planned:
        values = {
            "channel": p.channel,
            "provider_id": p.provider.pk,
            "template_id": p.template.pk if p.template else None,
            "recipients": p.email_recipients,
            "sender": p.sender,
            "subject": p.subject,
            "body": p.body,
            "html": p.html,
            "content": p.content,
        }
        entry_row = shared.copy()
        for i, f in per_entry:
            entry_row[i] = f.get_db_prep_save(values[f.attname], connection)
        for to in p.recipients:
            mid = uuid.uuid4()
            row = entry_row.copy()
            row[id_pos] = id_field.get_db_prep_save(mid, connection)
            row[to_pos] = to
            status = common.status
            deferral = next(deferred, None)
            if deferral is not None:
                status = row[status_pos] = st.PENDING_SCHEDULED
                row[scheduled_pos] = scheduled_field.get_db_prep_save(deferral.until, connection)
                row[expires_pos] = scheduled_field.get_db_prep_save(
                    deferral.until + lifetime, connection
                )
            rows.append(row)
            accepted.append(AcceptedMessage(mid, p.channel, to, status))
    if not rows:
        return accepted
    qn = connection.ops.quote_name
    table = qn(Message._meta.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) <= SMALL_BATCH:
            # A few rows: one multi-row INSERT, one round trip (COPY takes three).
            one = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(rows))}",
                [value for row in rows for value in row],
            )
        elif connection.vendor == "postgresql":
            # COPY streams every row in one statement; executemany would send one per row.
            sql = f"COPY {table} ({columns}) FROM STDIN"
            started = time.monotonic()
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            if connection.queries_logged:  # the raw cursor bypasses Django's query log
                connection.queries_log.append(
                    {
                        "sql": f"{sql} -- {len(rows)} rows",
                        "time": f"{time.monotonic() - started:.3f}",
                    }
                )
        else:
            values = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({values})", rows)
    return accepted


def _insert_initial_events(
    request: MessageRequest, deferrals: list[Deferral | None] | None = None
) -> None:
    """Every message's first event, in one INSERT ... SELECT whatever the batch size. A
    message deferred by quiet hours says so: its scheduled time is its window's end, which no
    other message of the request has (theirs is the request's), so one CASE branch per
    distinct end, not per message."""
    qn = connection.ops.quote_name
    event, message = MessageEvent._meta, Message._meta
    described: dict[datetime, str] = {}
    for d in deferrals or ():
        if d is not None:
            # Recipients of several zones may share an end: then the plain words.
            if described.setdefault(d.until, d.description) != d.description:
                described[d.until] = f"Deferred by quiet hours until {d.until.isoformat()}."
    description, params = "''", []
    if described:
        prep = message.get_field("scheduled_at").get_db_prep_save
        branches = " ".join(["WHEN %s THEN %s"] * len(described))
        description = f"CASE scheduled_at {branches} ELSE '' END"
        for until, text in described.items():
            params += [prep(until, connection), text]
    sql = (
        f"INSERT INTO {qn(event.db_table)} (message_id, status, source, error_code, "
        "description, provider_event_id, raw, created_at) "
        f"SELECT id, status, %s, '', {description}, '', NULL, created_at "
        f"FROM {qn(message.db_table)} WHERE request_id = %s"
    )
    request_id = message.get_field("request").target_field.get_db_prep_value(request.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, ["api", *params, request_id])


def _persist(
    *,
    app: App,
    opts: Options,
    planned: list[_Planned],
    now: datetime,
    count: int,
    verdicts: list[Verdict | None] | None = None,
    hold: bool = False,
    expires_in: timedelta | None = None,
    deferrals: list[Deferral | None] | None = None,
) -> tuple[MessageRequest, list[AcceptedMessage]]:
    start = opts.scheduled_at or now
    lifetime = expires_in or timedelta(minutes=opts.validity)
    expires_at = start + lifetime
    initial = st.PENDING_SCHEDULED if opts.scheduled_at else st.PENDING_ACCEPTED
    if hold:
        initial = st.PENDING_FAILOVER
    # Inside the view's transaction no savepoint is needed: any error here fails the request.
    with transaction.atomic(savepoint=False):
        request = MessageRequest.objects.create(
            tenant=app.tenant,
            app=app,
            callback_url=opts.callback_url,
            callback_meta=opts.callback_meta,
            scheduled_at=opts.scheduled_at,
            priority=opts.priority,
            validity=opts.validity,
            text_store=opts.text_store,
            message_count=count,
        )

        common = Message(
            tenant_id=app.tenant_id,
            app_id=app.pk,
            request_id=request.pk,
            status=initial,
            scheduled_at=opts.scheduled_at,
            expires_at=expires_at,
            priority=opts.priority,
            text_store=opts.text_store,
            created_at=now,
            updated_at=now,
        )
        accepted = _insert_messages(planned, common, deferrals, lifetime)
        _insert_initial_events(request, deferrals)
        if verdicts and any(verdicts):
            accepted = _refused_reject(accepted, verdicts, initial)
        if initial == st.PENDING_ACCEPTED:
            dispatch_enqueue(
                request_id=request.pk, message_ids=[m.id for m in accepted if m.status == initial]
            )
    return request, accepted


def dispatch_enqueue(*, request_id, message_ids: list) -> None:
    """After commit, wake the dispatchers: the messages wait in the backlog (the rows are the
    truth), and wake-ups coalesce, so a request costs at most one queue write."""
    if message_ids:
        wake_on_commit()
