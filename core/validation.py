"""Checks shared by the API and the admin forms of every app."""

from __future__ import annotations

from typing import Any

from .errors import ApiError


def check_name(name: Any, source: str = "name") -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or "/" in name:
        raise ApiError("invalid_name", "a name is 1 to 100 characters, without '/'.", source=source)
    return name.strip()
