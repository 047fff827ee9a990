"""Dispatch: claim a chunk of messages, hand each to its provider, record the outcome.

Claim before send: one conditional UPDATE stamps a fresh claim token on the chunk's
messages that are still sendable, then only the rows holding that token are sent. A task
that runs twice (redelivered, or re-enqueued by the sweep) finds nothing left to claim.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from providers.backends import OutboundMessage, SendError, SendResult
from providers.models import DeadRecipient

from .. import status as st
from ..models import Message, MessageAttempt
from ..queue import DISPATCH_CHUNK, SANDBOX_REPORT, chunked, enqueue, enqueue_on_commit
from .status import early_reports_apply, message_transition, stored_text

logger = logging.getLogger(__name__)

# How much of a provider's raw answer an attempt keeps: enough to read, bounded per row.
RESPONSE_EXCERPT_CHARS = 4000


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: ~10 s, 20 s, 40 s ... capped at an hour."""
    base = min(10 * 2 ** (attempt - 1), 3600)
    return base / 2 + random.uniform(0, base / 2)


def dispatch_request(*, request_id: str) -> int:
    """Fan a big request out into chunk tasks; returns how many chunks were enqueued."""
    ids = list(
        Message.objects.filter(request_id=request_id, status__in=st.SENDABLE)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    n = 0
    for chunk in chunked([str(i) for i in ids], settings.DISPATCH_CHUNK_SIZE):
        enqueue(DISPATCH_CHUNK, chunk)
        n += 1
    return n


def _claim(message_ids: list[str]) -> tuple[uuid.UUID, list[Message]]:
    token = uuid.uuid4()
    now = timezone.now()
    Message.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        id__in=message_ids,
        status__in=st.SENDABLE,
    ).update(
        status=st.PENDING_PROCESSING,
        claim_token=token,
        claimed_until=now + timedelta(seconds=settings.DISPATCH_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    claimed = list(
        Message.objects.filter(claim_token=token)
        .select_related("provider", "request")
        .order_by("priority", "created_at")
    )
    return token, claimed


def outbound_for(message: Message) -> OutboundMessage:
    recipients = message.recipients or {}
    return OutboundMessage(
        id=str(message.id),
        channel=message.channel,
        to=message.to,
        body=message.body,
        sender=message.sender,
        subject=message.subject,
        html=message.html,
        cc=recipients.get("cc", []),
        bcc=recipients.get("bcc", []),
        payload={**(message.content or {}), "to": recipients.get("to", [])}
        if recipients
        else dict(message.content or {}),
        attempt=message.attempts,
        status_webhook_url=message.provider.status_webhook_url,
    )


def dispatch_chunk(*, message_ids: list[str]) -> dict[str, int]:
    """Send the chunk's claimable messages; returns counts by outcome."""
    token, messages = _claim(message_ids)
    counts = {"claimed": len(messages), "sent": 0, "failed": 0, "retry": 0, "released": 0}
    backends: dict[int, object] = {}
    dead = _dead_recipients(messages)
    started = time.monotonic()
    for index, message in enumerate(messages):
        # Out of time: hand the rest to a fresh task, but only after sending at least one,
        # or a budget smaller than one send would pass the chunk on forever.
        if index and time.monotonic() - started > settings.DISPATCH_TIME_BUDGET:
            counts["released"] = _release(token, messages[index:])
            break
        if timezone.now() >= message.expires_at:
            message_transition(
                message=message,
                new_status=st.EXPIRED_EXPIRED,
                source="dispatch",
                expect=[st.PENDING_PROCESSING],
                claim_token=token,
                error=("VALIDITY_PASSED", "Its validity passed before it could be sent.", True),
                updates=stored_text(message),
            )
            counts["failed"] += 1
            continue
        reason = dead.get((message.provider_id, DeadRecipient.hash(message.to)))
        if reason is not None:  # the provider said this recipient is gone: don't send again
            error = SendError(
                "RECIPIENT_DEAD",
                f"{message.provider.name} reported this recipient gone ({reason}); not sent.",
                permanent=True,
                status=st.REJECTED_DESTINATION,
            )
            _record_failure(message, token, error)
            counts["failed"] += 1
            continue
        backend = backends.get(message.provider_id)
        if backend is None:
            backend = backends[message.provider_id] = message.provider.backend()
        outbound = outbound_for(message)
        attempt = _Attempt(started_at=timezone.now(), clock=time.monotonic())
        try:
            result = backend.send(outbound)
        except SendError as exc:
            counts["failed" if _record_failure(message, token, exc, attempt) else "retry"] += 1
        except requests.RequestException as exc:
            error = SendError("NETWORK_ERROR", f"{type(exc).__name__}: {exc}", permanent=False)
            counts["failed" if _record_failure(message, token, error, attempt) else "retry"] += 1
        except Exception as exc:  # a bug in an adapter must not strand the rest of the chunk
            logger.exception(
                "Adapter %s failed on message %s", message.provider.provider_type, message.id
            )
            error = SendError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", permanent=False)
            counts["failed" if _record_failure(message, token, error, attempt) else "retry"] += 1
        else:
            _record_success(message, token, result, backend.sender_for(outbound), attempt)
            counts["sent"] += 1
    return counts


def _dead_recipients(messages: list[Message]) -> dict[tuple[int, str], str]:
    """The chunk's recipients that their provider reported gone, in one query."""
    if not messages:
        return {}
    rows = DeadRecipient.objects.filter(
        provider_id__in={m.provider_id for m in messages},
        recipient_hash__in={DeadRecipient.hash(m.to) for m in messages},
    ).values_list("provider_id", "recipient_hash", "code")
    return {(provider_id, digest): code for provider_id, digest, code in rows}


@dataclass
class _Attempt:
    """When one hand-over to the provider started (wall clock for the log, monotonic for
    its duration)."""

    started_at: datetime
    clock: float

    def record(self, message: Message, outcome: str, raw: Any = None, **fields) -> None:
        """Store the attempt; call inside the transaction of the transition it caused."""
        MessageAttempt.objects.create(
            message=message,
            number=message.attempts,
            started_at=self.started_at,
            duration_ms=int((time.monotonic() - self.clock) * 1000),
            outcome=outcome,
            provider_response=response_excerpt(raw),
            **fields,
        )


def response_excerpt(raw: Any) -> Any:
    """A provider's raw answer as JSON of bounded size: as it is when small, else the start
    of its text marked as cut."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    except (TypeError, ValueError):
        text = repr(raw)
    if len(text) <= RESPONSE_EXCERPT_CHARS:
        if isinstance(raw, str):
            return raw
        return json.loads(text)  # plain JSON types only (Decimal, datetime... as text)
    return f"{text[:RESPONSE_EXCERPT_CHARS]}… [cut: {len(text)} characters in all]"


def _release(token: uuid.UUID, rest: list[Message]) -> int:
    """Out of time: hand the unsent rest back and to a fresh task (the attempt didn't count)."""
    ids = [m.id for m in rest]
    n = Message.objects.filter(id__in=ids, claim_token=token, status=st.PENDING_PROCESSING).update(
        status=st.PENDING_ACCEPTED, claim_token=None, claimed_until=None, attempts=F("attempts") - 1
    )
    enqueue(DISPATCH_CHUNK, [str(i) for i in ids])
    return n


def _record_success(
    message: Message,
    token: uuid.UUID,
    result: SendResult,
    backend_sender: str = "",
    attempt: _Attempt | None = None,
) -> None:
    updates = {
        "provider_message_id": result.provider_message_id,
        "sent_at": timezone.now(),
        # The sender actually used, also when it came from the provider's default.
        "sender": message.sender or (backend_sender or ""),
        "claim_token": None,
        "claimed_until": None,
        "next_attempt_at": None,
        "error_code": "",
        "error_description": "",
        "error_permanent": None,
        **stored_text(message),
    }
    if result.price is not None:
        updates["price"], updates["currency"] = result.price, result.currency
    with transaction.atomic():
        moved = message_transition(
            message=message,
            new_status=result.status,
            source="dispatch",
            expect=[st.PENDING_PROCESSING],
            claim_token=token,
            description=f"Accepted by {message.provider.name} as {result.provider_message_id}.",
            updates=updates,
        )
        if moved and attempt is not None:
            attempt.record(
                message,
                MessageAttempt.Outcome.SENT,
                result.raw,
                provider_message_id=result.provider_message_id,
            )
    if moved:
        early_reports_apply(
            provider=message.provider, provider_message_id=result.provider_message_id
        )
    if moved and result.follow_up_report is not None:
        enqueue_on_commit(SANDBOX_REPORT, message.provider.webhook_token, result.follow_up_report)


def _record_failure(
    message: Message, token: uuid.UUID, exc: SendError, attempt: _Attempt | None = None
) -> bool:
    """Record a failed attempt; returns True when the message is now final."""
    with transaction.atomic():
        final, moved = _failure_transition(message, token, exc)
        if moved and exc.recipient_dead:
            DeadRecipient.objects.get_or_create(
                provider_id=message.provider_id,
                recipient_hash=DeadRecipient.hash(message.to),
                defaults={
                    "recipient": message.to,
                    "code": exc.code,
                    "description": exc.description[:1000],
                },
            )
        if moved and attempt is not None:
            attempt.record(
                message,
                MessageAttempt.Outcome.PERMANENT
                if exc.permanent
                else MessageAttempt.Outcome.TRANSIENT,
                exc.raw,
                error_code=exc.code,
                error_description=exc.description,
            )
    return final


def _failure_transition(message: Message, token: uuid.UUID, exc: SendError) -> tuple[bool, bool]:
    """Move a message whose attempt failed: (whether it is now final, whether it moved)."""
    now = timezone.now()
    error = (exc.code, exc.description, exc.permanent)
    common = {"expect": [st.PENDING_PROCESSING], "claim_token": token, "source": "dispatch"}
    if exc.permanent:
        moved = message_transition(
            message=message,
            new_status=exc.status,
            error=error,
            updates=stored_text(message),
            **common,
        )
        return True, moved
    delay = max(retry_delay(message.attempts), exc.retry_after or 0)
    next_at = now + timedelta(seconds=delay)
    if message.attempts >= settings.DISPATCH_MAX_ATTEMPTS or next_at >= message.expires_at:
        final = (
            st.EXPIRED_EXPIRED if next_at >= message.expires_at else st.UNDELIVERABLE_NOT_DELIVERED
        )
        moved = message_transition(
            message=message,
            new_status=final,
            error=error,
            description=f"Gave up after {message.attempts} attempts: {exc.description}",
            updates=stored_text(message),
            **common,
        )
        return True, moved
    moved = message_transition(
        message=message,
        new_status=st.PENDING_WAITING_RETRY,
        error=error,
        description=f"Attempt {message.attempts} failed; retrying in {int(delay)} s.",
        updates={"next_attempt_at": next_at, "claim_token": None, "claimed_until": None},
        **common,
    )
    return False, moved
