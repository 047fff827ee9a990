"""Quiet hours: a message of normal or low priority due inside its recipient's quiet window
(e.g. 21:00–08:00 where the recipient lives) is not dropped but deferred to the window's end;
high priority passes.

Who decides what:
- the window: the contact's own (`Contact.quiet_hours = "own"`), none for a contact that opted
  out (`"off"`), else the tenant's when it is on (`Tenant.quiet_hours_enabled`, its days);
- the channels: the tenant's `quiet_channels` (by default all but email);
- the time zone: the contact's `time_zone`; else the phone number's when phonenumbers gives
  exactly one; else the tenant's `time_zone`.

For the layers above (messaging's accept, omnichannel's steps):

    quiet = QuietHours.of_recipients(tenant=t, recipients=[(channel, address, contact_id)])
    deferral = quiet.deferral(channel, address, at, contact_id=None, urgent=False)
    if deferral: scheduled_at = deferral.until  # with deferral.description for the event

`of_recipients` costs one query for the whole list (none when nothing can be deferred);
`deferral` and `quiet_until` cost none. `quiet_deferral` is the one-recipient shortcut.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from django.db.models import Q
from phonenumbers import timezone as phone_timezone

from core.zones import zone
from tenants.models import DEFAULT_QUIET_CHANNELS, Tenant

from .models import KIND_EMAIL, KIND_OF_CHANNEL, KIND_PHONE, Contact, ContactAddress

ALL_DAYS = frozenset(range(7))


@dataclass(frozen=True)
class QuietPolicy:
    """A daily window in local wall-clock time. `end` before `start` crosses midnight (the
    window closes the next day); `days` are the weekdays (0 Monday) the window may open on."""

    start: time
    end: time
    days: frozenset[int] = ALL_DAYS

    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def _wall(day: date, at: time, tz: tzinfo) -> datetime:
    """`at` o'clock on `day` in `tz`, as an instant in UTC. A time the clocks skip (spring
    forward) is read with the offset before the change, so 02:30 becomes 03:30; a time that
    happens twice (fall back) is its first occurrence."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def quiet_until(policy: QuietPolicy | None, tz: tzinfo, at: datetime) -> datetime | None:
    """When the quiet window that `at` (an aware datetime) falls in ends, in UTC, or None when
    `at` is outside every window (or there is no policy). A window is [start, end): a message
    due at 08:00 sharp with a 21:00–08:00 window goes at once."""
    if policy is None or policy.start == policy.end:
        return None
    now = at.astimezone(UTC)
    today = now.astimezone(tz).date()
    # Compared in UTC: aware datetimes of one zone compare by wall time, wrong across DST.
    for day in (today - timedelta(days=1), today):
        if day.weekday() not in policy.days:
            continue
        opens = _wall(day, policy.start, tz)
        closes_on = day if policy.end > policy.start else day + timedelta(days=1)
        closes = _wall(closes_on, policy.end, tz)
        if opens <= now < closes:
            return closes
    return None


def _country_code(e164: str) -> str:
    """The country calling code an E.164 number starts with ("" if none): the codes are
    prefix-free, so one of 1 to 3 digits matches."""
    for length in (1, 2, 3):
        code = e164[1 : 1 + length]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return ""


@lru_cache(maxsize=65536)
def phone_zone(e164: str) -> ZoneInfo | None:
    """The zone of a phone number when phonenumbers knows exactly one (a Sydney landline:
    Australia/Sydney); None for a number of several (an Australian mobile, a US toll-free
    number) or none."""
    code = _country_code(e164) if e164.startswith("+") else ""
    country = phone_timezone.TIMEZONE_DATA.get(code, ()) if code else ()
    if len(country) == 1:
        # A country of one zone (Germany, Japan): each of its numbers is there, without the
        # parse and validation below (~0.1 ms a number: a second for 10,000).
        return zone(country[0])
    national = e164[1 + len(code) :]
    if code and national.isdigit() and not national.startswith("0"):
        # E.164, as accept and the contacts store numbers: built, not parsed again.
        number = phonenumbers.PhoneNumber(country_code=int(code), national_number=int(national))
    else:
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return None
    zones = phone_timezone.time_zones_for_number(number)
    return zone(zones[0]) if len(zones) == 1 else None


def tenant_policy(tenant: Tenant) -> QuietPolicy | None:
    """The tenant's window, or None when its quiet hours are off."""
    if not tenant.quiet_hours_enabled:
        return None
    days = frozenset(d for d in tenant.quiet_days or [] if isinstance(d, int) and 0 <= d <= 6)
    return QuietPolicy(tenant.quiet_start, tenant.quiet_end, days)


def tenant_zone(tenant: Tenant) -> tzinfo:
    return zone(tenant.time_zone) or UTC


def quiet_channels(tenant: Tenant) -> frozenset[str]:
    channels = tenant.quiet_channels
    return frozenset(DEFAULT_QUIET_CHANNELS if channels is None else channels)


@dataclass(frozen=True)
class Deferral:
    """A message's new scheduled time and the reason its timeline shows."""

    until: datetime
    description: str


@dataclass(frozen=True)
class _ContactQuiet:
    time_zone: str
    mode: str
    start: time | None
    end: time | None


def _lookup_key(channel: str, address: str) -> tuple[str, str]:
    kind = KIND_OF_CHANNEL.get(channel, "")
    return kind, address.lower() if kind == KIND_EMAIL else address


class QuietHours:
    """The quiet hours of one request's recipients: their contacts' settings looked up once
    (`of_recipients`), then a `deferral` per message without a query."""

    def __init__(
        self,
        tenant: Tenant,
        by_address: dict[tuple[str, str], _ContactQuiet] | None = None,
        by_contact: dict[str, _ContactQuiet] | None = None,
    ) -> None:
        self.tenant = tenant
        self.policy = tenant_policy(tenant)
        self.channels = quiet_channels(tenant)
        self.tenant_zone = tenant_zone(tenant)
        self.by_address = by_address or {}
        self.by_contact = by_contact or {}
        self._phone_zones: dict[str, tzinfo | None] = {}
        # A request's recipients share a few zones and windows: one answer for each.
        self._answers: dict[tuple[QuietPolicy, tzinfo, datetime], Deferral | None] = {}

    @classmethod
    def of_recipients(
        cls, *, tenant: Tenant, recipients: Iterable[tuple[str, str, str | None]]
    ) -> QuietHours:
        """`recipients` are (channel, address, contact id or None): the address as a send
        has it (E.164, an email address, a push token); the contact id of a recipient given
        as a contact, whose settings then win over another contact's of the same address.
        One query, none when no recipient's channel is quiet for this tenant."""
        quiet = cls(tenant)
        keys, ids = set(), set()
        for channel, address, contact_id in recipients:
            if channel in quiet.channels:
                keys.add(_lookup_key(channel, address))
                if contact_id:
                    ids.add(str(contact_id))
        if not keys:
            return quiet
        # Only contacts that change the answer: a time zone, hours of their own, opted out
        # (the last two matter only while the tenant's hours are on).
        matters = Q(contact__quiet_hours=Contact.QuietHours.OWN)
        if quiet.policy is not None:
            matters |= ~Q(contact__time_zone="") | Q(contact__quiet_hours=Contact.QuietHours.OFF)
        else:
            matters &= Q(contact__quiet_end__isnull=False, contact__quiet_start__isnull=False)
        rows = (
            ContactAddress.objects.filter(
                matters,
                tenant=tenant,
                channel__in={k for k, _ in keys},
                normalized__in={a for _, a in keys},
            )
            .order_by("contact__created_at", "contact_id")
            .values_list(
                "channel", "normalized", "contact_id", "contact__time_zone",
                "contact__quiet_hours", "contact__quiet_start", "contact__quiet_end",
            )
        )  # fmt: skip
        for kind, normalized, cid, tz, mode, start, end in rows:
            if (kind, normalized) not in keys:
                continue
            info = _ContactQuiet(tz, mode, start, end)
            quiet.by_address.setdefault((kind, normalized), info)  # the oldest contact
            if str(cid) in ids:
                quiet.by_contact[str(cid)] = info
        return quiet

    def _zone(self, channel: str, address: str, info: _ContactQuiet | None) -> tzinfo:
        if info is not None and zone(info.time_zone) is not None:
            return zone(info.time_zone)
        if KIND_OF_CHANNEL.get(channel) == KIND_PHONE:
            if address not in self._phone_zones:
                self._phone_zones[address] = phone_zone(address)
            found = self._phone_zones[address]
            if found is not None:
                return found
        return self.tenant_zone

    def deferral(
        self,
        channel: str,
        address: str,
        at: datetime,
        *,
        contact_id: str | None = None,
        urgent: bool = False,
    ) -> Deferral | None:
        """Where a message to `address` on `channel`, due at `at`, must wait: None to send it
        at `at` (urgent, a channel quiet hours leave alone, outside the window)."""
        if urgent or channel not in self.channels:
            return None
        if contact_id is not None:
            info = self.by_contact.get(str(contact_id))
        else:
            info = self.by_address.get(_lookup_key(channel, address))
        policy = self.policy
        if info is not None and info.mode == Contact.QuietHours.OFF:
            return None
        if info is not None and info.mode == Contact.QuietHours.OWN and info.start and info.end:
            policy = QuietPolicy(info.start, info.end)
        if policy is None:
            return None
        tz = self._zone(channel, address, info)
        key = (policy, tz, at)
        if key not in self._answers:
            self._answers[key] = _deferral(policy, tz, at)
        return self._answers[key]


def _deferral(policy: QuietPolicy, tz: tzinfo, at: datetime) -> Deferral | None:
    until = quiet_until(policy, tz, at)
    if until is None:
        return None
    local = until.astimezone(tz)
    name = getattr(tz, "key", None) or str(tz)
    return Deferral(
        until,
        f"Deferred by quiet hours ({policy.label()} in {name}): it goes out at "
        f"{local:%Y-%m-%d %H:%M} local time ({until:%Y-%m-%d %H:%M} UTC).",
    )


def quiet_deferral(
    *,
    tenant: Tenant,
    channel: str,
    address: str,
    at: datetime,
    contact_id: str | None = None,
    urgent: bool = False,
) -> Deferral | None:
    """One message's deferral (one query at most): for a step released later, as an
    omnimessage's next channel."""
    quiet = QuietHours.of_recipients(tenant=tenant, recipients=[(channel, address, contact_id)])
    return quiet.deferral(channel, address, at, contact_id=contact_id, urgent=urgent)
