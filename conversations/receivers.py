"""Listening to messaging (which never imports this app): new inbound messages and status
changes, each inside the transaction that stored it."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver

from messaging.signals import inbound_received, message_status_changed

from . import services

logger = logging.getLogger(__name__)


@receiver(inbound_received, dispatch_uid="conversations.inbound")
def on_inbound(sender, inbound, **kwargs) -> None:
    # In a savepoint, and never raising: the inbound message is stored and acknowledged to
    # its provider whatever happens here (a failure would have the provider retry forever).
    try:
        with transaction.atomic():
            services.inbound_handle(inbound)
    except Exception:
        logger.exception("Routing inbound message %s failed", inbound.pk)


@receiver(message_status_changed, dispatch_uid="conversations.status")
def on_status(sender, messages, at, **kwargs) -> None:
    try:
        with transaction.atomic():
            services.messages_status_changed(messages, at)
    except Exception:
        logger.exception("Conversation status webhooks for %d messages failed", len(messages))
