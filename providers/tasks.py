"""django-q2 entry points of the providers app: thin; each calls one service."""

from .catalogue import catalogue_refresh_all


def catalogue_refresh() -> dict[str, int]:
    """The hourly schedule (migration 0004): every WhatsApp provider's template catalogue."""
    return catalogue_refresh_all()
