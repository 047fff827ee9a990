"""Text the databases can store: PostgreSQL's text and jsonb hold no NUL character, and
neither database holds a lone UTF-16 surrogate (not UTF-8). What a provider sends us is
cleaned rather than refused (a refused webhook is retried by its provider forever)."""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def is_storable(value: str) -> bool:
    """Whether both databases can hold `value` as it is."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(value: str) -> str:
    """`value` without NUL characters, lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a str holds no surrogate pair: each surrogate is lone
        value = _SURROGATE.sub("\ufffd", value)
    return value


def storable(value: Any) -> Any:
    """Every string in `value` (nested dicts and lists, keys too) made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
