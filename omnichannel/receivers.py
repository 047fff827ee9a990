"""Listening to messaging (which never imports this app): the status changes of step
messages, inside the transaction that recorded them, and the timers' tick."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver

from messaging.signals import message_status_changed, ticked

from . import services

logger = logging.getLogger(__name__)


@receiver(message_status_changed, dispatch_uid="omnichannel.status")
def on_status(sender, messages, at, **kwargs) -> None:
    # In a savepoint, and never raising: the status change is recorded whatever happens here;
    # a step this misses is moved on by the step timer (steps_due), which re-reads it.
    try:
        with transaction.atomic():
            services.messages_status_changed(messages, at)
    except Exception:
        logger.exception("Omnichannel steps of %d messages failed", len(messages))


@receiver(ticked, dispatch_uid="omnichannel.tick")
def on_tick(sender, now, **kwargs) -> dict[str, int]:
    return services.steps_due(now)
