"""Recipient addresses in one form: phone numbers as E.164, email addresses checked. Shared by
the send API (messaging) and the contacts (which sit below it)."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

_email_validator = EmailValidator()


def phone_parsed(text: str, region: str) -> phonenumbers.PhoneNumber:
    """A phone number parsed, national numbers read in `region`; raises ValueError with the
    reason."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{text}' is not a valid phone number") from None
    # "Possible" (right length for the country) rather than "valid": new number ranges and
    # test numbers must pass; the operator's verdict comes back as a delivery report.
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"'{text}' is not a valid phone number")
    return parsed


def phone_e164(text: str, region: str) -> str:
    """A phone number as E.164 ("+14155550100"), national numbers read in `region`; raises
    ValueError with the reason."""
    return e164_of(phone_parsed(text, region))


def e164_of(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Names for the regions phonenumbers has no English name for (its LOCALE_DATA lacks them).
_EXTRA_REGION_NAMES = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}


def region_name(code: str) -> str:
    """A region's English name ("DE" -> "Germany"), or the code when none is known."""
    from phonenumbers import geocoder

    # phonenumbers keeps its names behind a private helper; a missing one falls back.
    try:
        name = geocoder._region_display_name(code, "en")
    except Exception:  # noqa: BLE001 - a name is decoration, never worth a failure
        name = ""
    return name or _EXTRA_REGION_NAMES.get(code, code)


def region_choices() -> list[tuple[str, str]]:
    """Every region phonenumbers knows, as (code, "DE — Germany"), sorted by code."""
    return [(c, f"{c} — {region_name(c)}") for c in sorted(phonenumbers.SUPPORTED_REGIONS)]


def email_checked(value: str) -> str:
    """An email address, stripped, or ValueError when it is not one."""
    address = value.strip()
    try:
        _email_validator(address)
    except ValidationError:
        raise ValueError(f"'{address}' is not a valid email address") from None
    return address
