"""Provider failover: a message whose provider is down goes out through the provider's backup
for its channel (Provider.backups), recorded in its timeline.

Two ways in, both decided by dispatch when it records a window:

- the provider's circuit is open (providers.circuit): the message is not sent; with a backup
  it moves to it at once, else it waits in the retry lane until the cool-down ends. Its
  claim counted no attempt, so none is spent;
- its send failed with an outage-class error (timeout, connection error, 5xx, 429) and its
  attempts on this provider reached PROVIDER_FAILOVER_ATTEMPTS (or its attempts or
  validity would run out before another): it moves to the backup.

A move is one UPDATE of the message's provider (per backup) in the window's record
transaction, and the message goes back to the retry lane due now: the next window claims and
sends it through the backup like any other (claim before send). A send whose outcome is
unknown (a read timeout) is never failed over here: the unknown-outcome policy settles it.
Permanent errors do not fail over. A chain of backups is followed, never to a provider the
message has already tried (so A and B may back each other up).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from core import status as st
from providers.backends import SendError
from providers.circuit import OPEN, circuit_of, circuit_state
from providers.models import Provider

from ..models import Message, MessageAttempt
from .status import Change, next_attempt

# Hops of a backup chain followed at most (each hop: one query, on the failure path only).
MAX_HOPS = 3


def _providers_load(start: list[Provider], channels: set[str]) -> dict[int, Provider]:
    """The backups reachable from `start` for `channels`, with their circuits."""
    found: dict[int, Provider] = {p.pk: p for p in start}
    frontier = list(start)
    for _ in range(MAX_HOPS):
        wanted = {
            pid
            for p in frontier
            for ch in channels
            if isinstance(pid := (p.backups or {}).get(ch), int) and pid not in found
        }
        if not wanted:
            break
        frontier = list(Provider.objects.filter(pk__in=wanted).select_related("circuit"))
        found.update({p.pk: p for p in frontier})
    return found


def backup_for(
    provider: Provider,
    channel: str,
    known: dict[int, Provider],
    now: datetime,
    tried: set[int] = frozenset(),
) -> Provider | None:
    """The first provider along `provider`'s backup chain for `channel` that can take the
    message now: active, of the same tenant, serving the channel, its circuit not open, not
    one the message already tried. None when there is none."""
    seen = {provider.pk, *tried}
    current = provider
    for _ in range(MAX_HOPS):
        pid = (current.backups or {}).get(channel)
        backup = known.get(pid) if isinstance(pid, int) else None
        if backup is None or backup.tenant_id != provider.tenant_id:
            return None
        usable = backup.is_active and channel in backup.channels
        if pid not in seen and usable and circuit_state(backup, now) != OPEN:
            return backup
        seen.add(pid)
        current = backup
    return None


def _back_in_lane(at: datetime, *, attempted: bool, message: Message) -> dict[str, Any]:
    updates: dict[str, Any] = {
        "next_attempt_at": at, "claim_token": None, "claimed_until": None,
        "handed_over_at": None, "final_at": None,
    }  # fmt: skip
    if not attempted:  # its claim counted an attempt that never left
        updates["attempts"] = max(message.attempts - 1, 0)
    return updates


class Plan:
    """The window's failover decisions: the changes to record and the provider moves."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.moves: dict[Provider, list[Message]] = {}

    def move(
        self, message: Message, backup: Provider, *, now: datetime, attempted: bool, error, why: str
    ) -> None:
        old = message.provider
        self.moves.setdefault(backup, []).append(message)
        self.changes.append(
            Change(
                message,
                st.PENDING_WAITING_RETRY,
                _back_in_lane(now, attempted=attempted, message=message),
                error=error,
                description=f"Provider {old.name} unavailable ({why}); failed over to "
                f"{backup.name}.",
            )
        )


def _why(error: SendError) -> str:
    text = f"{error.code}: {error.description}" if error.description else error.code
    return text if len(text) <= 200 else text[:199] + "…"


def failover_plan(
    *,
    held: list[Message],
    failed: list[tuple[Message, SendError]],
    failure_change: Callable[[Message, SendError], tuple[Change, bool]],
    now: datetime,
    tripped: set[int] = frozenset(),
) -> tuple[Plan, dict[str, int]]:
    """Decide for the window's messages that met an unavailable provider.

    `held`: not sent, as their provider's circuit is open (before or during the window);
    `failed`: sent, and failed with an outage-class error (their attempt is recorded by the
    caller); those whose provider's circuit opened in this window (`tripped`) fail over now,
    the rest once their attempts there (PROVIDER_FAILOVER_ATTEMPTS) are spent. Those that do
    not fail over get `failure_change`'s usual retry or end."""
    plan = Plan()
    counts = {"failover": 0, "held": 0, "retry": 0, "failed": 0}
    providers = {m.provider_id: m.provider for m in held} | {
        m.provider_id: m.provider for m, _ in failed
    }
    channels = {m.channel for m in held} | {m.channel for m, _ in failed}
    has_backup = [p for p in providers.values() if any((p.backups or {}).get(c) for c in channels)]
    known = _providers_load(has_backup, channels) if has_backup else {}

    for message in held:
        provider = message.provider
        backup = backup_for(provider, message.channel, known, now)
        circuit = circuit_of(provider)
        reason = "circuit open"
        if provider.pk in tripped:
            reason = f"circuit open after {settings.PROVIDER_CIRCUIT_FAILURES} failures in a row"
        elif circuit is not None and circuit.failures:
            reason = f"circuit open after {circuit.failures} failures in a row"
        error = (
            "PROVIDER_UNAVAILABLE",
            f"{provider.name} is unavailable ({reason}"
            + (f": {circuit.last_error}" if circuit is not None and circuit.last_error else "")
            + ").",
            False,
        )
        if backup is not None:
            plan.move(message, backup, now=now, attempted=False, error=error, why=reason)
            counts["failover"] += 1
            continue
        until = circuit.opened_until if circuit is not None else None
        if until is None or until <= now:
            # Opened by this window, or half-open with another worker's probe in flight.
            until = now + timedelta(seconds=settings.PROVIDER_CIRCUIT_COOLDOWN)
        # Spread the waiting backlog over a tenth of the cool-down: the probe goes first.
        spread = settings.PROVIDER_CIRCUIT_COOLDOWN / 10
        at = until + timedelta(seconds=random.uniform(0, spread))
        plan.changes.append(
            Change(
                message,
                st.PENDING_WAITING_RETRY,
                _back_in_lane(at, attempted=False, message=message),
                error=error,
                description=f"Not sent: {provider.name} is unavailable ({reason}) and has no "
                f"usable backup for {message.channel}; waiting until {at:%H:%M:%S} UTC.",
            )
        )
        counts["held"] += 1

    if failed:
        ids = [m.pk for m, _ in failed]
        tried: dict[Any, list[int | None]] = {}
        for mid, pid in MessageAttempt.objects.filter(message_id__in=ids).values_list(
            "message_id", "provider_id"
        ):
            tried.setdefault(mid, []).append(pid)
        for message, error in failed:
            history = tried.get(message.pk, [])
            # Attempts from before attempts named their provider count as this provider's.
            on_this = 1 + sum(1 for pid in history if pid in (None, message.provider_id))
            nxt = next_attempt(message, error.retry_after)
            due = (
                message.provider_id in tripped
                or on_this >= settings.PROVIDER_FAILOVER_ATTEMPTS
                or nxt.at is None
            )
            backup = None
            if due:
                backup = backup_for(
                    message.provider,
                    message.channel,
                    known,
                    now,
                    tried={pid for pid in history if pid is not None},
                )
            if backup is not None:
                plan.move(
                    message,
                    backup,
                    now=now,
                    attempted=True,
                    error=(str(error.code)[:64], error.description, False),
                    why=f"{_why(error)}, after {on_this} attempt{'s' * (on_this != 1)}",
                )
                counts["failover"] += 1
                continue
            change, final = failure_change(message, error)
            plan.changes.append(change)
            counts["failed" if final else "retry"] += 1
    return plan, counts


def failover_moves_apply(plan: Plan, claim_token) -> None:
    """Switch the moved messages to their backups: one UPDATE per backup, under the window's
    claim (inside its record transaction, before the status changes)."""
    for backup, messages in plan.moves.items():
        Message.objects.filter(pk__in=[m.pk for m in messages], claim_token=claim_token).update(
            provider_id=backup.pk
        )
        for m in messages:
            m.provider = backup
