"""Admin of the providers app: one module per area."""

from . import catalogue, dead, inbound  # noqa: F401  (each registers its ModelAdmins)

# The provider pages (with their test message) and the sandbox outbox show and send messages:
# they live in messaging.admin, above both apps.
