from . import sandbox  # noqa: F401  (each module registers its adapter)
from .base import (
    Backend,
    CredentialsInvalid,
    OutboundMessage,
    SendError,
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
    backend_types,
    get_backend_class,
)

__all__ = [
    "Backend",
    "CredentialsInvalid",
    "OutboundMessage",
    "SendError",
    "SendResult",
    "StatusReport",
    "WebhookRejected",
    "WebhookRequest",
    "backend_types",
    "get_backend_class",
]
