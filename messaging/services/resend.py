"""Resend: a new message with the content, recipient and provider of one already sent.

The original is left as it was; the copy points back to it (Message.resent_from), gets a
request of its own, and goes the way of any accepted message: enqueued after commit.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core import status as st

from ..models import Message, MessageEvent, MessageRequest, TextStore
from .accept import dispatch_enqueue

# Not sent yet: a copy would go out beside the original. Cancel it, or wait.
NOT_YET_SENT = (*st.CANCELLABLE, st.PENDING_PROCESSING)


class ResendRefused(Exception):
    """The message cannot be resent; the text says why, for the person who asked."""


def message_resend(*, message: Message, user) -> Message:
    """Copy `message` into a new message (same app, callback, channel, recipients, content
    and provider) and queue it; returns the copy. Refuses when the content was not stored,
    the original has not been sent yet, or its provider is no longer active."""
    if message.text_store != TextStore.PLAINTEXT:
        raise ResendRefused(
            f"Message {message.id} cannot be resent: its content was not stored "
            f"(textStore: {message.text_store})."
        )
    if message.status in NOT_YET_SENT:
        raise ResendRefused(
            f"Message {message.id} cannot be resent: it has not been sent yet "
            f"({message.status}). Cancel it first, or wait for it."
        )
    if not message.provider.is_active:
        raise ResendRefused(
            f"Message {message.id} cannot be resent: its provider "
            f"'{message.provider.name}' is not active."
        )
    original = message.request
    now = timezone.now()
    with transaction.atomic():
        request = MessageRequest.objects.create(
            tenant_id=message.tenant_id,
            app_id=message.app_id,
            callback_url=original.callback_url,
            callback_meta=original.callback_meta,
            priority=message.priority,
            validity=original.validity,
            text_store=TextStore.PLAINTEXT,
            message_count=1,
        )
        copy = Message.objects.create(
            tenant_id=message.tenant_id,
            app_id=message.app_id,
            request=request,
            channel=message.channel,
            provider_id=message.provider_id,
            template_id=message.template_id,
            to=message.to,
            recipients=message.recipients,
            sender=message.sender,
            subject=message.subject,
            body=message.body,
            html=message.html,
            content=message.content,
            status=st.PENDING_ACCEPTED,
            priority=message.priority,
            text_store=TextStore.PLAINTEXT,
            expires_at=now + timedelta(minutes=original.validity),
            created_at=now,
            updated_at=now,
            resent_from=message,
        )
        MessageEvent.objects.create(
            message=copy,
            status=st.PENDING_ACCEPTED,
            source="admin",
            description=f"Resent by {user.get_username()} from message {message.id}.",
            created_at=now,
        )
        dispatch_enqueue(request_id=request.pk, message_ids=[copy.id])
    return copy
