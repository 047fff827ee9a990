"""Status changes: the one place a message's status moves, with its event and callback."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from providers.backends import StatusReport

from .. import status as st
from ..models import CallbackDelivery, EarlyReport, Message, MessageEvent, TextStore
from ..queue import DELIVER_CALLBACK, enqueue_on_commit

logger = logging.getLogger(__name__)


def stored_text(message: Message) -> dict[str, str]:
    """What textStore keeps of the text once it has left or never will: all, a hash, or
    nothing. For the one transition out of the pre-send states (the text is still whole)."""
    if message.text_store == TextStore.SHA256:
        return {"body": hashlib.sha256(message.body.encode()).hexdigest(), "html": ""}
    if message.text_store == TextStore.NOSTORE:
        return {"body": "", "html": ""}
    return {}


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


def _callback_for(message: Message, at: datetime) -> None:
    if message.status in st.SILENT or not message.request.callback_url:
        return
    delivery = CallbackDelivery.objects.create(
        message=message,
        url=message.request.callback_url,
        payload=callback_payload(message, at),
        next_attempt_at=at,
    )
    enqueue_on_commit(DELIVER_CALLBACK, delivery.pk)


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


def message_reports_apply(*, provider, reports: Iterable) -> int:
    """Apply a provider's status reports (webhook or polling), forward only.

    Returns how many reports moved a message. Unknown message ids and stale or
    repeated reports are ignored (a provider retries; a late "sent" never undoes).
    """
    applied = 0
    for report in reports:
        message = (
            Message.objects.select_related("request")
            .filter(provider=provider, provider_message_id=report.provider_message_id)
            .first()
        )
        if message is None:
            # Possibly faster than our own record of the send: keep it for when that lands.
            EarlyReport.objects.create(
                provider=provider,
                provider_message_id=report.provider_message_id,
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
        # Another writer may move the message between our read and our update; re-read once.
        for _ in range(2):
            if not st.can_move(message.status, report.status):
                break
            error = None
            if st.get(report.status).group in (st.UNDELIVERABLE, st.REJECTED, st.EXPIRED):
                error = (
                    report.error_code or report.status,
                    report.error_description or st.get(report.status).description,
                    True,
                )
            updates: dict[str, Any] = {}
            if report.price is not None:
                updates["price"], updates["currency"] = report.price, report.currency
            if message_transition(
                message=message,
                new_status=report.status,
                source="provider",
                error=error,
                provider_event_id=report.event_id,
                raw=report.raw if isinstance(report.raw, dict | list) else None,
                updates=updates,
            ):
                applied += 1
                break
            message.refresh_from_db(fields=["status"])
    return applied
