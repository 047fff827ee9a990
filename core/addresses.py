"""Recipient addresses in one form: phone numbers as E.164, email addresses checked. Shared by
the send API (messaging) and the contacts (which sit below it)."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

_email_validator = EmailValidator()


def phone_e164(text: str, region: str) -> str:
    """A phone number as E.164 ("+14155550100"), national numbers read in `region`; raises
    ValueError with the reason."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{text}' is not a valid phone number") from None
    # "Possible" (right length for the country) rather than "valid": new number ranges and
    # test numbers must pass; the operator's verdict comes back as a delivery report.
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"'{text}' is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_checked(value: str) -> str:
    """An email address, stripped, or ValueError when it is not one."""
    address = value.strip()
    try:
        _email_validator(address)
    except ValidationError:
        raise ValueError(f"'{address}' is not a valid email address") from None
    return address
