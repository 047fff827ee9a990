"""Admin of the messaging app: one module per area (templates, the message log, ...)."""

from . import log, outbox, providers, templates  # noqa: F401  (each registers its ModelAdmins)
