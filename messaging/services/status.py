"""Status changes: the one place a message's status moves, with its event and callback."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import logging
import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts import services as contact_services
from core import bulk, textstore
from core import status as st
from providers.backends import StatusReport

from ..models import (
    CallbackDelivery,
    EarlyReport,
    Message,
    MessageEvent,
    MessagePart,
    TextStore,
)
from ..queue import DELIVER_CALLBACK, DELIVER_CALLBACKS, enqueue, enqueue_on_commit
from ..signals import message_status_changed

logger = logging.getLogger(__name__)


# The statuses in which a message still holds its whole text (stored_text not applied yet).
TEXT_WHOLE = (*st.CANCELLABLE, st.PENDING_PROCESSING, st.PENDING_UNKNOWN)


def stored_text(message: Message) -> dict[str, Any]:
    """What textStore keeps of the text once it has left or never will: all, a hash, or
    nothing, of the body, subject, HTML and content (core.textstore). For the one transition
    out of the pre-send states (the text is still whole)."""
    return textstore.kept_fields(
        message.text_store, body=message.body, html=message.html, subject=message.subject,
        content=message.content,
    )  # fmt: skip


def text_scrub(message: Message, value: Any) -> Any:
    """A provider's answer, report or error text about `message` without its text, under
    sha256 and nostore. Before the send the pieces of the text are known and found wherever
    they are; after it only the fields that carry text, and (sha256) strings whose hash the
    message keeps, can be told."""
    if textstore.keeps_text(message.text_store) or value is None:
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if message.status in TEXT_WHOLE:
        pieces = textstore.fragments(
            body=message.body, html=message.html, subject=message.subject,
            content=message.content,
        )  # fmt: skip
        return textstore.scrub(value, pieces=pieces)
    digests = (message.body, message.subject) if message.text_store == TextStore.SHA256 else ()
    return textstore.scrub(value, digests=digests)


def callback_payload(message: Message, at: datetime) -> dict[str, Any]:
    request = message.request
    return {
        "event": "message.status",
        "messageId": str(message.id),
        "requestId": str(message.request_id),
        "channel": message.channel,
        "to": message.to,
        "status": message.status_info.as_dict(),
        "error": message.error,
        "timestamp": at.isoformat(),
        "meta": request.callback_meta,
    }


_callback_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "callback_batch", default=None
)


@contextlib.contextmanager
def callbacks_batched():
    """Within the block, the callbacks that transitions queue wake the callback worker once,
    at the end (a webhook call carrying a hundred reports queues one task, not a hundred)."""
    ids: list[int] = []
    token = _callback_batch.set(ids)
    try:
        yield
    finally:
        _callback_batch.reset(token)
        # After the appends (registered earlier, run earlier): one task for all of them.
        transaction.on_commit(lambda: ids and enqueue(DELIVER_CALLBACKS, list(ids)))


def callback_enqueue_on_commit(delivery_id: int) -> None:
    """Deliver a stored callback once the transaction commits: with the batch when one is
    open (so it goes after the callbacks queued before it, in order), else on its own."""
    batch = _callback_batch.get()
    if batch is not None:
        transaction.on_commit(lambda: batch.append(delivery_id))
    else:
        transaction.on_commit(lambda: enqueue(DELIVER_CALLBACKS, [delivery_id]))


def _callback_for(message: Message, at: datetime) -> None:
    if message.status in st.SILENT:
        return
    if message.request.callback_url:
        delivery = CallbackDelivery.objects.create(
            app_id=message.app_id,
            message=message,
            url=message.request.callback_url,
            payload=callback_payload(message, at),
            next_attempt_at=at,
        )
        batch = _callback_batch.get()
        if batch is not None:
            transaction.on_commit(lambda: batch.append(delivery.pk))  # only if it commits
        else:
            enqueue_on_commit(DELIVER_CALLBACK, delivery.pk)
    # After the message's own callback: what the listeners send (a conversation's status
    # webhook, an omnimessage's settlement) follows it.
    message_status_changed.send(sender=Message, messages=[message], at=at)


@dataclasses.dataclass
class Change:
    """One message's move, for messages_transition_bulk."""

    message: Message
    status: str
    updates: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: tuple[str, str, bool] | None = None
    description: str = ""
    provider_event_id: str = ""
    raw: Any = None


# The columns a bulk transition writes: every one a dispatch, timer or settlement may change.
BULK_COLUMNS = [
    "status", "updated_at", "error_code", "error_description", "error_permanent", "final_at",
    "claim_token", "claimed_until", "next_attempt_at", "handed_over_at", "attempts",
    "provider_message_id", "sent_at", "sender", "body", "html", "price", "currency",
    "subject", "content",  # with body and html: what textStore keeps (stored_text)
]  # fmt: skip


EVENT_COLUMNS = [
    "message", "status", "source", "error_code", "description", "provider_event_id", "raw",
    "created_at",
]  # fmt: skip


def messages_transition_bulk(
    *,
    changes: list[Change],
    source: str,
    expect: Iterable[str],
    claim_token=None,
    guard: str = "",
    guard_params: Iterable[Any] = (),
) -> list[Change]:
    """Many moves in bulk statements: one UPDATE … FROM VALUES guarded by `expect` (and the
    claim, and `guard`, SQL on the message table's columns) that returns the rows it moved,
    then one INSERT of their events, one of their callbacks, and one wake-up of the callback
    worker after commit. Returns the changes that applied.

    Call inside transaction.atomic(): a row the guard refuses (another writer won) gets no
    event and no callback."""
    if not changes:
        return []
    now = timezone.now()
    expect = list(expect)
    rows = []
    for c in changes:
        m = c.message
        fields: dict[str, Any] = {"status": c.status, "updated_at": now, **c.updates}
        if c.error is not None:
            fields["error_code"], fields["error_description"], fields["error_permanent"] = c.error
        if st.get(c.status).is_final:
            fields.update(final_at=now, claim_token=None, claimed_until=None, next_attempt_at=None)
        for key, value in fields.items():
            setattr(m, key, value)
        rows.append([m.pk, *(getattr(m, col) for col in BULK_COLUMNS)])
    sql = "{table}.status IN (" + ", ".join(["%s"] * len(expect)) + ")"
    params: list[Any] = list(expect)
    if claim_token is not None:
        sql += " AND {table}.claim_token = %s"
        params.append(bulk.converter_for(Message, "claim_token")(claim_token))
    if guard:
        sql += f" AND ({guard})"
        params += list(guard_params)
    moved = set(bulk.rows_update(Message, BULK_COLUMNS, rows, sql, params))
    applied = [c for c in changes if c.message.pk in moved]
    if not applied:
        return []
    bulk.rows_insert(
        MessageEvent,
        EVENT_COLUMNS,
        (
            (
                c.message.pk,
                c.status,
                source,
                c.error[0] if c.error else "",
                c.description or (c.error[1] if c.error else ""),
                c.provider_event_id,
                c.raw,
                now,
            )
            for c in applied
        ),
    )
    deliveries = CallbackDelivery.objects.bulk_create(
        CallbackDelivery(
            app_id=c.message.app_id,
            message=c.message,
            url=c.message.request.callback_url,
            payload=callback_payload(c.message, now),
            next_attempt_at=now,
        )
        for c in applied
        if c.status not in st.SILENT and c.message.request.callback_url
    )
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: enqueue(DELIVER_CALLBACKS, ids))
    heard = [c.message for c in applied if c.status not in st.SILENT]
    if heard:  # one signal for the batch: its receivers look the messages up in one query
        message_status_changed.send(sender=Message, messages=heard, at=now)
    return applied


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: ~10 s, 20 s, 40 s ... capped at an hour."""
    base = min(10 * 2 ** (attempt - 1), 3600)
    return base / 2 + random.uniform(0, base / 2)


@dataclasses.dataclass
class NextAttempt:
    """The retry policy's answer for a message whose attempt failed transiently: `at` is when
    it is tried again, None when it is not (attempts spent, or `expired`: its validity
    would pass first)."""

    at: datetime | None
    delay: float
    expired: bool = False

    @property
    def updates(self) -> dict[str, Any]:
        """The fields that put the message back in the retry lane."""
        return {"next_attempt_at": self.at, "claim_token": None, "claimed_until": None,
                "handed_over_at": None, "final_at": None}  # fmt: skip


def next_attempt(message: Message, retry_after: float | None = None) -> NextAttempt:
    """Backoff within DISPATCH_MAX_ATTEMPTS and the message's validity (a provider's
    Retry-After may ask for longer): one policy for failed sends and transient reports."""
    delay = max(retry_delay(message.attempts), retry_after or 0)
    at = timezone.now() + timedelta(seconds=delay)
    if at >= message.expires_at:
        return NextAttempt(None, delay, expired=True)
    if message.attempts >= settings.DISPATCH_MAX_ATTEMPTS:
        return NextAttempt(None, delay)
    return NextAttempt(at, delay)


def _report_retry(message: Message, report: StatusReport) -> tuple[str, dict[str, Any], str]:
    """Where a failure report the provider calls transient takes its message: back to the
    retry lane while attempts and validity remain, else the reported final status (EXPIRED
    when the validity would pass before the next attempt)."""
    nxt = next_attempt(message)
    reason = report.error_description or st.get(report.status).description
    if nxt.at is None:
        final = st.EXPIRED_EXPIRED if nxt.expired else report.status
        return final, {}, f"Gave up after {message.attempts} attempts: {reason}"
    return (
        st.PENDING_WAITING_RETRY,
        nxt.updates,
        f"The provider reported a passing failure ({reason}); retrying in {int(nxt.delay)} s.",
    )


def message_transition(
    *,
    message: Message,
    new_status: str,
    source: str,
    expect: Iterable[str] | None = None,
    claim_token=None,
    error: tuple[str, str, bool] | None = None,
    description: str = "",
    provider_event_id: str = "",
    raw: Any = None,
    updates: dict[str, Any] | None = None,
) -> bool:
    """Move `message` to `new_status` if it is still in one of `expect` (default: its
    current status). The guarded UPDATE makes concurrent writers safe: exactly one wins.
    Records the event and, for a status the app cares about, queues its callback."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": new_status, "updated_at": now, **(updates or {})}
    if error is not None:
        fields["error_code"], fields["error_description"], fields["error_permanent"] = error
    if st.get(new_status).is_final:
        fields["final_at"] = now
        fields["claim_token"] = None
        fields["claimed_until"] = None
        fields["next_attempt_at"] = None
    guard = Q(pk=message.pk, status__in=list(expect or [message.status]))
    if claim_token is not None:
        guard &= Q(claim_token=claim_token)
    with transaction.atomic():
        if not Message.objects.filter(guard).update(**fields):
            return False
        for key, value in fields.items():
            setattr(message, key, value)
        MessageEvent.objects.create(
            message=message,
            status=new_status,
            source=source,
            error_code=error[0] if error else "",
            description=description or (error[1] if error else ""),
            provider_event_id=provider_event_id,
            raw=raw,
            created_at=now,
        )
        _callback_for(message, now)
    return True


def report_to_json(report: StatusReport) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    data["price"] = str(report.price) if report.price is not None else None
    data["occurred_at"] = report.occurred_at.isoformat() if report.occurred_at else None
    if not isinstance(report.raw, dict | list | str | int | float | None):
        data["raw"] = None
    return data


def report_from_json(data: dict[str, Any]) -> StatusReport:
    data = dict(data)
    data["price"] = Decimal(data["price"]) if data.get("price") is not None else None
    data["occurred_at"] = parse_datetime(data["occurred_at"]) if data.get("occurred_at") else None
    return StatusReport(**data)


def early_reports_apply(*, provider, provider_message_id: str) -> int:
    """Apply the reports that arrived before the send of `provider_message_id` was stored."""
    if not Message.objects.filter(
        provider=provider, provider_message_id=provider_message_id
    ).exists():
        return 0  # the send is still not recorded: the reports wait
    early = list(
        EarlyReport.objects.filter(
            provider=provider, provider_message_id=provider_message_id
        ).order_by("received_at", "id")
    )
    if not early:
        return 0
    EarlyReport.objects.filter(pk__in=[e.pk for e in early]).delete()
    return message_reports_apply(
        provider=provider, reports=[report_from_json(e.report) for e in early]
    )


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return ""


def _message_by_ref(provider, report: StatusReport) -> Message | None:
    """The message a report names by our own id, when its provider id is not recorded: a
    send whose worker died between the provider's answer and our commit. Settled here (the
    report proves it was sent); None while its worker still lives (the report waits as an
    early one) or when the id is not this provider's message."""
    ref = _uuid_text(report.message_ref)
    if not ref:
        return None
    message = Message.objects.select_related("request").filter(pk=ref, provider=provider).first()
    if message is None:
        return None
    now = timezone.now()
    if message.provider_message_id:
        if message.provider_message_id != report.provider_message_id:
            _note_duplicate(message, report)
        return None if message.provider_message_id != report.provider_message_id else message
    live = message.status == st.PENDING_PROCESSING and (
        message.claimed_until is None or message.claimed_until > now
    )
    if live or message.status not in (
        st.PENDING_PROCESSING, st.PENDING_UNKNOWN, st.PENDING_WAITING_RETRY,
    ):  # fmt: skip
        return None
    moved = message_transition(
        message=message,
        new_status=st.PENDING_ENROUTE,
        source="provider",
        expect=[message.status],
        description=(
            f"Sent as {report.provider_message_id}: settled by the provider's report (its "
            "worker stopped before recording the send)."
        ),
        updates=settled_updates(message, report.provider_message_id),
    )
    return message if moved else None


def settled_updates(message: Message, provider_message_id: str) -> dict[str, Any]:
    """The fields of a send a crash left unrecorded, once the provider has shown it was sent
    (its late report, or its look-up)."""
    return {
        "provider_message_id": provider_message_id[:128],
        "sent_at": message.handed_over_at or timezone.now(),
        "claim_token": None,
        "claimed_until": None,
        "next_attempt_at": None,
        "error_code": "",
        "error_description": "",
        "error_permanent": None,
        **stored_text(message),
    }


def _note_duplicate(message: Message, report: StatusReport) -> None:
    """A report of another send of a message that has its own: it was sent twice. Shown in
    its timeline once, never applied."""
    marker = f"duplicate:{report.provider_message_id}"[:128]
    if MessageEvent.objects.filter(message=message, provider_event_id=marker).exists():
        return
    MessageEvent.objects.create(
        message=message,
        status=message.status,
        source="provider",
        error_code="SENT_TWICE",
        description=(
            f"The provider reports a second send of this message ({report.provider_message_id}, "
            f"{report.status}): it was sent twice after an unknown outcome."
        ),
        provider_event_id=marker,
        created_at=timezone.now(),
    )


def message_reports_apply(*, provider, reports: Iterable) -> int:
    """Apply a provider's status reports (webhook or polling), forward only.

    Returns how many reports moved a message. Unknown message ids and stale or
    repeated reports are ignored (a provider retries; a late "sent" never undoes).
    """
    with callbacks_batched():
        return _reports_apply(provider, reports)


FAILED_GROUPS = (st.UNDELIVERABLE, st.REJECTED, st.EXPIRED)
FEEDBACK = {
    "complained": "The recipient marked it as spam.",
    "unsubscribed": "The recipient unsubscribed.",
}


def _report_raw(message: Message, report: StatusReport) -> Any:
    """A report's raw payload as its event keeps it (JSON only; textStore applied)."""
    return text_scrub(message, report.raw) if isinstance(report.raw, dict | list) else None


def _event_only(message: Message, report: StatusReport, description: str) -> None:
    """A report that tells something about the message without moving it."""
    MessageEvent.objects.create(
        message=message,
        status=message.status,
        source="provider",
        error_code=report.error_code,
        description=description,
        provider_event_id=report.event_id,
        raw=_report_raw(message, report),
        created_at=timezone.now(),
    )


def _part_status(part: MessagePart, report: StatusReport) -> str | None:
    """Record a part's report; the status the whole message now has (a failed part fails it,
    else the least advanced part decides), or None when the part's report is stale."""
    if not st.can_move(part.status, report.status):
        return None
    part.status, part.updated_at = report.status, timezone.now()
    part.save(update_fields=["status", "updated_at"])
    statuses = [p.status for p in MessagePart.objects.filter(message_id=part.message_id)]
    if st.get(report.status).group in FAILED_GROUPS:
        return report.status
    if any(st.get(s).group in FAILED_GROUPS for s in statuses):
        return None  # already failed by another part
    return min(statuses, key=lambda s: st.get(s).rank)


def _reports_apply(provider, reports: Iterable) -> int:
    applied = 0
    by_parts = getattr(provider.backend_class(), "reports_parts", False)
    for report in reports:
        message = (
            Message.objects.select_related("request")
            .filter(provider=provider, provider_message_id=report.provider_message_id)
            .first()
        )
        part = None
        if by_parts:
            part = (
                MessagePart.objects.select_related("message__request")
                .filter(provider=provider, provider_message_id=report.provider_message_id)
                .first()
            )
            message = part.message if part is not None else message
        if message is None and report.message_ref:
            message = _message_by_ref(provider, report)
        if message is None:
            # Possibly faster than our own record of the send: keep it for when that lands.
            EarlyReport.objects.create(
                provider=provider,
                provider_message_id=report.provider_message_id,
                message_ref=_uuid_text(report.message_ref),
                report=report_to_json(report),
            )
            # Dispatch looks for early reports right after it records the send; if it looked
            # before this one was committed, the look after our commit finds the message.
            transaction.on_commit(
                functools.partial(
                    early_reports_apply,
                    provider=provider,
                    provider_message_id=report.provider_message_id,
                )
            )
            continue
        if (
            report.event_id
            and MessageEvent.objects.filter(
                message=message, provider_event_id=report.event_id
            ).exists()
        ):
            continue
        if report.feedback:
            _event_only(message, report, FEEDBACK.get(report.feedback, report.feedback))
            # A complaint or an unsubscribe puts the address on the suppression list.
            contact_services.feedback_seen(
                tenant_id=message.tenant_id,
                channel=message.channel,
                address=report.recipient or message.to,
                feedback=report.feedback,
                source=f"{provider.name}: {report.feedback} (message {message.id})",
            )
            applied += 1
            continue
        failed = st.get(report.status).group in FAILED_GROUPS
        if (
            report.recipient
            and message.recipients
            and report.recipient.lower() != message.to.lower()
        ):
            # One address of several (an email's cc or bcc): noted, the message goes on.
            if failed:
                reason = report.error_description or st.get(report.status).description
                _event_only(message, report, f"Not delivered to {report.recipient}: {reason}")
                applied += 1
            continue
        status, prefix = report.status, ""
        if part is not None:
            status = _part_status(part, report)
            if status is None:
                continue
            prefix = f"Part {part.number}: "
        # Another writer may move the message between our read and our update; re-read once.
        for _ in range(2):
            if not st.can_move(message.status, status):
                break
            error, new_status, description = None, status, ""
            updates: dict[str, Any] = {}
            if st.get(status).group in FAILED_GROUPS:
                # The provider's verdict decides: a transient failure is retried (within
                # attempts and validity), a permanent one is final.
                error = (
                    report.error_code or report.status,
                    report.error_description or st.get(report.status).description,
                    report.permanent,
                )
                # A provider's own validity is capped (Twilio: 10 h); when it passes while
                # ours still runs, the message gets another attempt, like a transient failure.
                ours_left = message.expires_at > timezone.now() + timedelta(minutes=1)
                provider_expired = status == st.EXPIRED_EXPIRED and ours_left
                if provider_expired or (not report.permanent and status != st.EXPIRED_EXPIRED):
                    new_status, updates, description = _report_retry(message, report)
            if prefix:
                description = prefix + (description or st.get(report.status).description)
            if report.price is not None:
                updates["price"], updates["currency"] = report.price, report.currency
            if message_transition(
                message=message,
                new_status=new_status,
                source="provider",
                error=error,
                description=description,
                provider_event_id=report.event_id,
                raw=_report_raw(message, report),
                updates=updates,
            ):
                applied += 1
                break
            message.refresh_from_db(fields=["status"])
    return applied
