"""Small typed checks of a JSON object's fields, each failure naming its field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from core.validation import check_name

from .errors import ApiError, ApiErrors

__all__ = ["check_name", "check_object", "parse_iso_datetime"]

TYPE_NAMES = {
    str: "a string",
    bool: "true or false",
    int: "an integer",
    dict: "an object",
    list: "a list",
}


def check_object(
    body: Any, spec: dict[str, tuple[type, bool]], *, partial: bool = False
) -> dict[str, Any]:
    """`spec` maps a field to (type, required). Unknown fields are refused."""
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    errors = []
    for key, value in body.items():
        if key not in spec:
            errors.append(ApiError("unknown_field", f"'{key}' is not a known field.", source=key))
            continue
        kind, _ = spec[key]
        wrong = (kind is int and isinstance(value, bool)) or not isinstance(value, kind)
        if wrong and value is not None:
            errors.append(ApiError("invalid_type", f"must be {TYPE_NAMES[kind]}.", source=key))
    if not partial:
        for key, (_, required) in spec.items():
            if required and body.get(key) in (None, ""):
                errors.append(ApiError("required", f"{key} is required.", source=key))
    if errors:
        raise ApiErrors(errors)
    return {k: v for k, v in body.items() if v is not None}


def parse_iso_datetime(value: Any) -> datetime | None:
    """An ISO-8601 date-time, or None when it is not one (also for a well-formed but
    impossible date such as 2026-02-30T10:00:00Z, where Django raises ValueError)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value.strip())
    except ValueError:
        return None
