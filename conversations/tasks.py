"""django-q2 entry points: thin; each calls one service."""

from .services import conversations_expire


def sweep() -> dict[str, int]:
    """Every minute (the conversations-sweep schedule): time out conversations."""
    return {"timed_out": conversations_expire()}
