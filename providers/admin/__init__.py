"""Admin of the providers app: one module per area."""

from . import dead, inbound, outbox, providers  # noqa: F401  (each registers its ModelAdmins)
