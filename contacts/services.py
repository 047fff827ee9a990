"""Contacts and opt-outs: create, change and import contacts; resolve them as recipients;
the suppression list; inbound keywords and the WhatsApp customer-care window.

Everything a send needs is asked in bulk (one query per request, whatever the batch size):
`contacts_resolve`, `suppressed_pairs`, `open_windows`.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from core.addresses import email_checked
from core.addresses import phone_e164 as core_phone_e164
from core.errors import ApiError, ApiErrors
from core.push import PushRecipientInvalid, push_recipient
from core.zones import zone_problem
from tenants.models import Tenant

from .models import (
    CARE_WINDOW_HOURS,
    DEFAULT_START_KEYWORDS,
    DEFAULT_STOP_KEYWORDS,
    KIND_EMAIL,
    KIND_OF_CHANNEL,
    KIND_PHONE,
    KIND_PUSH,
    CareWindow,
    Contact,
    ContactAddress,
    OptOutSettings,
    Suppression,
)

ADDRESS_FIELDS = {KIND_PHONE: "phone", KIND_EMAIL: "email", KIND_PUSH: "push"}
CONTACT_FIELDS = (
    "externalId", "name", "locale", "attributes", "phone", "email", "push", "timeZone",
    "quietHours",
)  # fmt: skip
MAX_ADDRESSES = 10
IMPORT_MAX_ROWS = 5000
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


# --- addresses ----------------------------------------------------------------------------


def phone_e164(value: str, region: str) -> str:
    """A phone number as E.164 ("+14155550100"); raises ValueError with the reason."""
    return core_phone_e164(value.strip() if isinstance(value, str) else "", region)


def address_normalize(kind: str, value: Any, region: str) -> str:
    """The look-up form of an address of `kind`: E.164, lower-case email, a push token as is
    (a Web Push subscription as compact JSON, core.push)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if kind == KIND_PHONE:
        return phone_e164(value, region)
    if kind == KIND_EMAIL:
        return email_checked(value).lower()
    try:  # a registration token, or a Web Push subscription's JSON in its one form
        return push_recipient(value).address
    except PushRecipientInvalid as exc:
        raise ValueError(str(exc)) from None


def channel_address(channel: str, value: str, region: str) -> str:
    """An address a provider reported (an inbound sender, a report's recipient) in the form
    suppressions and windows are keyed by; lenient: what cannot be read stays as it is.
    Providers send international numbers with or without "+" (Meta: "14155550100"),
    Twilio prefixes "whatsapp:"."""
    kind = KIND_OF_CHANNEL.get(channel, KIND_PUSH)
    text = (value or "").strip()
    if kind == KIND_PHONE:
        text = text.split(":", 1)[1] if text.lower().startswith(("whatsapp:", "viber:")) else text
        digits = text.replace(" ", "").replace("-", "")
        if digits.isdigit() and len(digits) >= 8:
            try:
                return phone_e164("+" + digits, region)
            except ValueError:
                pass
        try:
            return phone_e164(text, region)
        except ValueError:
            return text
    if kind == KIND_EMAIL:
        return text.lower()
    return text


# --- contacts: create, change, import ------------------------------------------------------


def _address_list(value: Any, name: str, kind: str, region: str, errors: list) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list):
        errors.append(ApiError("invalid_type", f"{name} must be a string or a list.", source=name))
        return []
    if len(values) > MAX_ADDRESSES:
        errors.append(
            ApiError("too_many", f"at most {MAX_ADDRESSES} {name} addresses.", source=name)
        )
        return []
    out = []
    for i, item in enumerate(values):
        try:
            out.append((item.strip(), address_normalize(kind, item, region)))
        except (ValueError, AttributeError) as exc:
            errors.append(ApiError("invalid_address", str(exc), source=f"{name}[{i}]"))
    return out


def _check(tenant: Tenant, body: Any, *, partial: bool) -> dict[str, Any]:
    """The contact fields of an API body, checked; raises ApiErrors naming each field."""
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "A contact must be a JSON object.")
    errors: list[ApiError] = []
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in CONTACT_FIELDS:
            errors.append(ApiError("unknown_field", f"'{key}' is not a known field.", source=key))
            continue
        if key in ("externalId", "name", "locale"):
            if value is None:
                value = ""
            if not isinstance(value, str):
                errors.append(ApiError("invalid_type", "must be a string.", source=key))
                continue
            limit = {"externalId": 200, "name": 200, "locale": 35}[key]
            if len(value.strip()) > limit:
                errors.append(ApiError("too_long", f"at most {limit} characters.", source=key))
                continue
            out[key] = value.strip()
        elif key == "timeZone":
            value = "" if value is None else value
            if not isinstance(value, str):
                errors.append(ApiError("invalid_type", "must be a string.", source=key))
            elif value.strip() and (problem := zone_problem(value.strip())):
                errors.append(ApiError("invalid_time_zone", problem, source=key))
            else:
                out[key] = value.strip()
        elif key == "quietHours":
            try:
                out[key] = quiet_hours_parse(value)
            except ApiError as exc:
                errors.append(exc)
            except ApiErrors as exc:
                errors.extend(exc.errors)
        elif key == "attributes":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                errors.append(ApiError("invalid_type", "must be an object.", source=key))
                continue
            for name in value:
                if not ATTRIBUTE_NAME.match(name):
                    errors.append(
                        ApiError(
                            "invalid_name",
                            f"'{name}' is not an attribute name (letters, digits, _).",
                            source=f"attributes.{name}",
                        )
                    )
            out[key] = value
        else:
            kind = {"phone": KIND_PHONE, "email": KIND_EMAIL, "push": KIND_PUSH}[key]
            out[key] = (
                []
                if value is None
                else _address_list(value, key, kind, tenant.default_country, errors)
            )
    if errors:
        raise ApiErrors(errors)
    return out


def _save(contact: Contact, fields: dict[str, Any], *, merge_attributes: bool) -> Contact:
    for key, attr in (
        ("externalId", "external_id"), ("name", "name"), ("locale", "locale"),
        ("timeZone", "time_zone"),
    ):  # fmt: skip
        if key in fields:
            setattr(contact, attr, fields[key])
    if "quietHours" in fields:
        contact.quiet_hours, contact.quiet_start, contact.quiet_end = fields["quietHours"]
    if "attributes" in fields:
        if merge_attributes:
            # JSON merge patch (RFC 7386): a null removes the attribute.
            merged = {**contact.attributes, **fields["attributes"]}
            contact.attributes = {k: v for k, v in merged.items() if v is not None}
        else:
            contact.attributes = fields["attributes"]
    try:
        with transaction.atomic():
            contact.save()
            for kind, name in ADDRESS_FIELDS.items():
                if name in fields:
                    ContactAddress.objects.filter(contact=contact, channel=kind).delete()
                    ContactAddress.objects.bulk_create(
                        ContactAddress(
                            contact=contact, tenant_id=contact.tenant_id, channel=kind,
                            address=raw, normalized=norm,
                        )
                        for raw, norm in fields[name]
                    )  # fmt: skip
    except IntegrityError:
        raise ApiError(
            "duplicate",
            f"A contact with externalId '{contact.external_id}' exists already.",
            source="externalId",
            status=409,
        ) from None
    return contact


CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)


def _clock(value: Any, source: str) -> time:
    if isinstance(value, str) and (m := CLOCK.fullmatch(value.strip())):
        return time(int(m[1]), int(m[2]))
    raise ApiError("invalid_time", "a local time as HH:MM (00:00 to 23:59).", source=source)


def quiet_hours_parse(value: Any) -> tuple[str, time | None, time | None]:
    """A contact's `quietHours` as (mode, start, end): null is the tenant's, "off" none,
    {"start": "22:00", "end": "07:00"} its own every day."""
    if value is None:
        return Contact.QuietHours.TENANT, None, None
    if value == "off":
        return Contact.QuietHours.OFF, None, None
    if not isinstance(value, dict):
        raise ApiError(
            "invalid_type",
            'quietHours is null (the tenant\'s), "off" or {"start": "HH:MM", "end": "HH:MM"}.',
            source="quietHours",
        )
    problems = [
        ApiError("unknown_field", f"'{k}' is not a field of quietHours.", source=f"quietHours.{k}")
        for k in value
        if k not in ("start", "end")
    ]
    start = end = None
    for key in ("start", "end"):
        try:
            clock = _clock(value.get(key), f"quietHours.{key}")
        except ApiError as exc:
            problems.append(exc)
            continue
        start, end = (clock, end) if key == "start" else (start, clock)
    if start is not None and start == end:
        problems.append(
            ApiError("empty_window", "the window closes when it opens.", source="quietHours.end")
        )
    if problems:
        raise ApiErrors(problems) if len(problems) > 1 else problems[0]
    return Contact.QuietHours.OWN, start, end


def quiet_hours_data(contact: Contact) -> str | dict[str, str] | None:
    """`quietHours` as the API shows it (quiet_hours_parse's inverse)."""
    if contact.quiet_hours == Contact.QuietHours.OFF:
        return "off"
    if contact.quiet_hours == Contact.QuietHours.OWN and contact.quiet_start and contact.quiet_end:
        return {"start": f"{contact.quiet_start:%H:%M}", "end": f"{contact.quiet_end:%H:%M}"}
    return None


def contact_create(*, tenant: Tenant, body: Any) -> Contact:
    fields = _check(tenant, body, partial=False)
    return _save(Contact(tenant=tenant), fields, merge_attributes=False)


def contact_update(*, contact: Contact, body: Any) -> Contact:
    """PATCH: the given fields change; an address field replaces that kind's addresses;
    attributes merge (a null value removes one)."""
    fields = _check(contact.tenant, body, partial=True)
    return _save(contact, fields, merge_attributes=True)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "errors": self.errors}


def contacts_import(*, tenant: Tenant, rows: list[tuple[int, Any]]) -> ImportResult:
    """Upsert by externalId, row by row: a bad row stores nothing and is reported by its
    number; the good rows go on. `rows` are (row number, contact body)."""
    if len(rows) > IMPORT_MAX_ROWS:
        raise ApiError(
            "too_many_rows",
            f"The import has {len(rows)} rows; at most {IMPORT_MAX_ROWS}.",
            status=413,
        )
    result = ImportResult()
    ext_ids = [b.get("externalId") for _, b in rows if isinstance(b, dict)]
    existing = {
        c.external_id: c
        for c in Contact.objects.filter(
            tenant=tenant, external_id__in=[e for e in ext_ids if isinstance(e, str) and e]
        )
    }
    for number, body in rows:
        try:
            if not isinstance(body, dict):
                raise ApiError("invalid_type", "A contact must be a JSON object.")
            fields = _check(tenant, body, partial=False)
            ext = fields.get("externalId") or ""
            if not ext:
                raise ApiError("required", "externalId is required.", source="externalId")
            contact = existing.get(ext)
            with transaction.atomic():
                if contact is None:
                    contact = _save(Contact(tenant=tenant), fields, merge_attributes=False)
                    existing[ext] = contact
                    result.created += 1
                else:
                    _save(contact, fields, merge_attributes=True)
                    result.updated += 1
        except (ApiError, ApiErrors) as exc:
            problems = exc.errors if isinstance(exc, ApiErrors) else [exc]
            for p in problems:
                result.errors.append({"row": number, "source": p.source, "detail": p.detail})
    return result


def csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    """A CSV file as contact bodies: columns externalId, name, locale, timeZone, phone, email,
    push (several addresses separated by ";"); any other column is an attribute. Empty cells
    are left out. Row numbers are the file's line numbers (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        fieldnames = reader.fieldnames
        # Each record with its line (read after it: a quoted cell may span lines).
        records = [(reader.line_num, record) for record in reader] if fieldnames else []
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise ApiError("malformed_body", f"The CSV cannot be read: {exc}.", source="body") from None
    if not fieldnames:
        raise ApiError("empty_file", "The CSV has no header row.", source="body")
    names = [n.strip() for n in fieldnames]
    if "externalId" not in names:
        raise ApiError("required", "The CSV needs an externalId column.", source="externalId")
    rows = []
    for line, record in records:
        body: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        for raw_name, value in record.items():
            if raw_name is None:  # more cells than headers
                body["_extra"] = value
                continue
            name, value = raw_name.strip(), (value or "").strip()
            if not value:
                continue
            if name in ("phone", "email", "push"):
                body[name] = [v.strip() for v in value.split(";") if v.strip()]
            elif name in ("externalId", "name", "locale", "timeZone"):
                body[name] = value
            else:
                attributes[name] = value
        if attributes:
            body["attributes"] = attributes
        rows.append((line, body))
    return rows


# --- contacts as recipients ----------------------------------------------------------------


@dataclass(frozen=True)
class ContactInfo:
    """A contact as a send sees it: its first address of each kind, and its render data."""

    id: str
    external_id: str
    name: str
    locale: str
    attributes: dict
    addresses: dict[str, str]

    def address_for(self, channel: str) -> str | None:
        return self.addresses.get(KIND_OF_CHANNEL.get(channel, ""))

    def render_data(self) -> dict[str, Any]:
        """What templates read under `contact`: {{contact.name}}, {{contact.<attribute>}}."""
        return {
            **self.attributes,
            "id": self.id,
            "externalId": self.external_id,
            "name": self.name,
            "locale": self.locale,
        }


def contacts_resolve(
    *, tenant: Tenant, ids: Iterable[str], external_ids: Iterable[str]
) -> tuple[dict[str, ContactInfo], dict[str, ContactInfo]]:
    """Contacts by our id and by externalId, with their addresses, in one query."""
    uuids = set()
    for value in ids:
        try:
            uuids.add(uuid.UUID(str(value)))
        except ValueError:
            pass  # never a contact: reported unknown by the caller
    ext = {e for e in external_ids if isinstance(e, str) and e}
    if not uuids and not ext:
        return {}, {}
    rows = (
        Contact.objects.filter(tenant=tenant)
        .filter(Q(pk__in=uuids) | Q(external_id__in=ext))
        .values(
            "id", "external_id", "name", "locale", "attributes", "addresses__channel",
            "addresses__normalized",
        )
        .order_by("id", "addresses__id")
    )  # fmt: skip
    found: dict[str, dict] = {}
    for row in rows:
        info = found.setdefault(str(row["id"]), {**row, "addresses": {}})
        kind = row["addresses__channel"]
        if kind and kind not in info["addresses"]:
            info["addresses"][kind] = row["addresses__normalized"]
    by_id, by_ext = {}, {}
    for key, row in found.items():
        info = ContactInfo(
            id=key,
            external_id=row["external_id"],
            name=row["name"],
            locale=row["locale"],
            attributes=row["attributes"] or {},
            addresses=row["addresses"],
        )
        by_id[key] = info
        if info.external_id:
            by_ext[info.external_id] = info
    return by_id, by_ext


# --- suppressions --------------------------------------------------------------------------


def suppression_key(channel: str, address: str) -> str:
    """The form a send's recipient is looked up by (emails case-insensitively)."""
    return address.lower() if channel == "email" else address


def suppressed_pairs(*, tenant: Tenant, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (channel, address) pairs are suppressed, in one query."""
    wanted = {(c, suppression_key(c, a)) for c, a in pairs}
    if not wanted:
        return set()
    rows = Suppression.objects.filter(
        tenant=tenant, address__in={a for _, a in wanted}
    ).values_list("channel", "address")
    return {r for r in rows if r in wanted}


def suppressed_triples(
    triples: Iterable[tuple[int, str, str]],
) -> set[tuple[int, str, str]]:
    """Which (tenant id, channel, address) are suppressed, across tenants, in one query: for
    a dispatch window, whose messages may be any tenant's."""
    wanted = {(t, c, suppression_key(c, a)) for t, c, a in triples}
    if not wanted:
        return set()
    rows = Suppression.objects.filter(
        tenant_id__in={t for t, _, _ in wanted}, address__in={a for _, _, a in wanted}
    ).values_list("tenant_id", "channel", "address")
    return {r for r in rows if r in wanted}


def suppression_add(
    *, tenant: Tenant, channel: str, address: str, reason: str, source: str = ""
) -> tuple[Suppression, bool]:
    key = suppression_key(channel, address)
    with transaction.atomic():
        return Suppression.objects.get_or_create(
            tenant=tenant,
            channel=channel,
            address=key,
            defaults={"reason": reason, "source": source[:300]},
        )


def suppression_lift(*, tenant: Tenant, channel: str, address: str) -> int:
    key = suppression_key(channel, address)
    return Suppression.objects.filter(tenant=tenant, channel=channel, address=key).delete()[0]


def feedback_seen(
    *, tenant_id: int, channel: str, address: str, feedback: str, source: str
) -> None:
    """A provider reported that the recipient complained (spam) or unsubscribed: suppress."""
    reason = {
        "complained": Suppression.Reason.COMPLAINT,
        "unsubscribed": Suppression.Reason.UNSUBSCRIBE,
    }
    if feedback not in reason or not address:
        return
    tenant = Tenant.objects.get(pk=tenant_id)
    suppression_add(
        tenant=tenant,
        channel=channel,
        address=channel_address(channel, address, tenant.default_country),
        reason=reason[feedback],
        source=source,
    )


# --- inbound: keywords and the care window -------------------------------------------------


def opt_out_keywords(tenant: Tenant) -> tuple[set[str], set[str]]:
    """The tenant's STOP and START keywords, upper case (the defaults if never set)."""
    settings = OptOutSettings.objects.filter(tenant=tenant).first()
    stop = settings.stop_keywords if settings else DEFAULT_STOP_KEYWORDS
    start = settings.start_keywords if settings else DEFAULT_START_KEYWORDS
    return (
        {str(k).strip().upper() for k in stop or [] if str(k).strip()},
        {str(k).strip().upper() for k in start or [] if str(k).strip()},
    )


def contact_for_address(*, tenant: Tenant, channel: str, address: str) -> Contact | None:
    """The contact an address reported by a provider belongs to (an inbound sender); the
    oldest where several share it. One indexed look-up."""
    normalized = channel_address(channel, address, tenant.default_country)
    if not normalized:
        return None
    row = (
        ContactAddress.objects.filter(
            tenant=tenant, channel=KIND_OF_CHANNEL.get(channel, KIND_PUSH), normalized=normalized
        )
        .order_by("contact_id")
        .select_related("contact")
        .first()
    )
    return row.contact if row else None


def inbound_seen(inbound: Any) -> None:
    """A newly stored InboundMessage: it opens (or extends) the customer-care window of its
    sender and our number, and a message that is just a STOP keyword suppresses the sender on
    its channel, a START keyword lifts that. Called once per stored message, never for a
    provider's retry of one."""
    tenant = inbound.tenant
    address = channel_address(inbound.channel, inbound.sender, tenant.default_country)
    if not address:
        return
    at = inbound.received_at or timezone.now()
    CareWindow.objects.update_or_create(
        tenant=tenant,
        channel=inbound.channel,
        address=address,
        provider_id=inbound.provider_id,
        defaults={
            "our_number": (inbound.recipient or "")[:320],
            "last_inbound_at": at,
            "expires_at": at + timedelta(hours=CARE_WINDOW_HOURS),
        },
    )
    word = (inbound.text or "").strip().upper()
    if not word:
        return
    stop, start = opt_out_keywords(tenant)
    if word in stop:
        suppression_add(
            tenant=tenant,
            channel=inbound.channel,
            address=address,
            reason=Suppression.Reason.KEYWORD,
            source=f"inbound {inbound.pk}: {inbound.text.strip()}"[:300],
        )
    elif word in start:
        suppression_lift(tenant=tenant, channel=inbound.channel, address=address)


def open_windows(
    *, tenant: Tenant, keys: Iterable[tuple[int, str]], channel: str = "whatsapp"
) -> set[tuple[int, str]]:
    """Which (provider id, address) pairs have an open care window now, in one query."""
    wanted = set(keys)
    if not wanted:
        return set()
    rows = CareWindow.objects.filter(
        tenant=tenant,
        channel=channel,
        address__in={a for _, a in wanted},
        expires_at__gt=timezone.now(),
    ).values_list("provider_id", "address")
    return {r for r in rows if r in wanted}


def care_windows_until(
    contacts: Iterable[Contact], channel: str = "whatsapp"
) -> dict[uuid.UUID, datetime]:
    """When the open care window of each contact's phone numbers ends (one query for a
    page); a contact without an open window is not in the answer."""
    contacts = list(contacts)
    phones: dict[str, set] = {}
    tenant_ids = set()
    for c in contacts:
        tenant_ids.add(c.tenant_id)
        for a in c.addresses.all():
            if a.channel == KIND_PHONE:
                phones.setdefault(a.normalized, set()).add(c.pk)
    if not phones:
        return {}
    rows = (
        CareWindow.objects.filter(
            tenant_id__in=tenant_ids,
            channel=channel,
            address__in=phones,
            expires_at__gt=timezone.now(),
        )
        .values("address")
        .annotate(until=Max("expires_at"))
    )
    out: dict[uuid.UUID, datetime] = {}
    for row in rows:
        for cid in phones[row["address"]]:
            if cid not in out or out[cid] < row["until"]:
                out[cid] = row["until"]
    return out
