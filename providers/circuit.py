"""A circuit breaker per provider, shared by every worker through its database row.

- **closed** (`opened_until` null): sends go out; outage-class failures (timeouts,
  connection errors, 5xx, 429) are counted, a success (or any answer that is not an outage)
  resets the count;
- **open** (`opened_until` in the future): PROVIDER_CIRCUIT_FAILURES failures in a row
  opened it for PROVIDER_CIRCUIT_COOLDOWN seconds; dispatch does not call the provider, so
  no worker waits out its timeouts;
- **half-open** (`opened_until` passed): one worker takes the probe (a conditional UPDATE
  that re-opens the circuit for one send's time) and sends one message; success closes the
  circuit, another outage opens it for a new cool-down.

Every write is one UPDATE (on the failure path only): a window where nothing fails reads the
row with its providers (a join) and writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, F, Value, When

from .models import Provider, ProviderCircuit

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def circuit_of(provider: Provider) -> ProviderCircuit | None:
    """The provider's circuit row as loaded with it (select_related), None when it has none."""
    try:
        return provider.circuit
    except ProviderCircuit.DoesNotExist:
        return None


def circuit_state(provider: Provider, now: datetime) -> str:
    circuit = circuit_of(provider)
    if circuit is None or circuit.opened_until is None:
        return CLOSED
    return OPEN if circuit.opened_until > now else HALF_OPEN


def circuit_failures(provider: Provider) -> int:
    """Outage-class failures in a row as last read (0 when closed and clean)."""
    circuit = circuit_of(provider)
    return circuit.failures if circuit is not None else 0


def circuit_probe_take(provider: Provider, now: datetime) -> bool:
    """Take the half-open circuit's one probe: only the worker whose UPDATE still finds the
    `opened_until` it read wins; the circuit stays open to the others for one send's time
    (and again half-opens then, should the probing worker die)."""
    circuit = circuit_of(provider)
    if circuit is None or circuit.opened_until is None:
        return False
    hold = now + timedelta(seconds=settings.DISPATCH_SEND_TIMEOUT + 5)
    won = ProviderCircuit.objects.filter(
        provider_id=provider.pk, opened_until=circuit.opened_until
    ).update(opened_until=hold, updated_at=now)
    if won:
        circuit.opened_until = hold
    return bool(won)


def circuit_record(
    provider: Provider, *, failures: int, successes: int, error: str, now: datetime
) -> None:
    """What one window learnt of the provider: a success closes its circuit; failures only
    add to the count and open it (again, for a new cool-down) once the count reaches
    PROVIDER_CIRCUIT_FAILURES. No statement when nothing failed and nothing was wrong."""
    circuit = circuit_of(provider)
    if successes:
        if circuit is not None and (circuit.failures or circuit.opened_until is not None):
            ProviderCircuit.objects.filter(provider_id=provider.pk).update(
                failures=0, opened_until=None, updated_at=now
            )
            circuit.failures, circuit.opened_until = 0, None
        return
    if not failures:
        return
    threshold = settings.PROVIDER_CIRCUIT_FAILURES
    until = now + timedelta(seconds=settings.PROVIDER_CIRCUIT_COOLDOWN)
    fields = {
        "failures": F("failures") + failures,
        # The old count, as SQL reads it in an UPDATE: this window brings it to the threshold.
        "opened_until": Case(
            When(failures__gte=threshold - failures, then=Value(until)),
            default=F("opened_until"),
        ),
        "last_error": error[:500],
        "updated_at": now,
    }
    rows = ProviderCircuit.objects.filter(provider_id=provider.pk)
    if not rows.update(**fields):
        # Its first failure: the row comes into being (a racing worker may make it first).
        ProviderCircuit.objects.bulk_create(
            [ProviderCircuit(provider_id=provider.pk, updated_at=now)], ignore_conflicts=True
        )
        rows.update(**fields)
