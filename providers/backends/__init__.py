"""Provider adapters: one module per provider type, each registering its Backend class.

Every module of this package is imported here, so adding a provider is adding a module.
"""

import importlib
import pkgutil

from .base import (
    Backend,
    CredentialField,
    CredentialsInvalid,
    Inbound,
    OutboundMessage,
    SendError,
    SendResult,
    StatusReport,
    WebhookEvents,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    api_base_url_field,
    backend_types,
    get_backend_class,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Backend",
    "CredentialField",
    "CredentialsInvalid",
    "Inbound",
    "OutboundMessage",
    "SendError",
    "SendResult",
    "StatusReport",
    "WebhookEvents",
    "WebhookRejected",
    "WebhookReply",
    "WebhookRequest",
    "api_base_url_field",
    "backend_types",
    "get_backend_class",
]
