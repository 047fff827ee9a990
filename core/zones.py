"""IANA time zones by name, for the zone a tenant or a contact says it lives in."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# In the database but no place: "localtime" is whatever the server's clock says.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_PLACES


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone of that name, or None for an empty or unknown one."""
    if not name or name.startswith("Etc/Unknown"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone a contact or tenant may have, or None when it is."""
    if name not in zone_names() or zone(name) is None:
        shown = name if len(name) <= 64 else name[:61] + "..."
        return f"'{shown}' is not an IANA time zone (e.g. Europe/Berlin, America/New_York)."
    return None
