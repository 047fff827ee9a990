"""Scenarios and omnimessages: one message to one person over an ordered list of channels,
moving on when a channel is rejected, fails for good, or passes its validity without reaching
the status that counts as success (delivered, or read where the channel reports reads).

Every step is a messaging Message, validated and rendered at accept (a bad step is a 400 for
the whole omnimessage) and stored at once: the first to be sent, the rest held
(PENDING_FAILOVER). A step moves on from the status changes of its message (the
message_status_changed signal, in the transaction that recorded them) and from its window's
deadline (the `ticked` timer, to the second). Every move is a guarded UPDATE of the step, so a
signal and a timer racing for the same step move it once.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.quiet import quiet_deferral
from core import status as st
from core.errors import ApiError, ApiErrors
from messaging.models import Message, Priority
from messaging.queue import wake_on_commit
from messaging.services.accept import MAX_VALIDITY_MINUTES, message_accept, phone_normalize
from messaging.services.callbacks import webhook_enqueue
from messaging.services.status import Change, messages_transition_bulk, stored_text
from providers.models import Provider
from tenants.models import App, Tenant

from .models import (
    OMNI_CHANNELS,
    SEEN_CHANNELS,
    SUCCESS_DELIVERED,
    SUCCESS_SEEN,
    OmniMessage,
    OmniStep,
    Scenario,
)

logger = logging.getLogger(__name__)

MAX_STEPS = 10
MAX_TTL_SECONDS = MAX_VALIDITY_MINUTES * 60
BODY_KEYS = ("to", "scenarioKey", "messages", "callback", "scheduledAt", "priority", "textStore")
FLOW_KEYS = ("channel", "from", "provider", "validity", "ttl", "successStatus")
# A step's own keys; the rest of a message (media, buttons, providerTemplate, autoconvert, ...)
# is the channel entry of POST /api/v1/messages and is checked by messaging's accept.
STEP_KEYS = ("channel", "text", "validity", "ttl", "successStatus", "sender")
SUCCESS_ALIASES = {"DELIVERED": SUCCESS_DELIVERED, "SEEN": SUCCESS_SEEN, "READ": SUCCESS_SEEN}
FAILED_GROUPS = (st.REJECTED, st.UNDELIVERABLE, st.EXPIRED)


# --- scenarios -------------------------------------------------------------------------------


def _channel(value: Any, source: str, errors: list[ApiError]) -> str | None:
    if isinstance(value, str) and value.lower() in OMNI_CHANNELS:
        return value.lower()
    errors.append(
        ApiError(
            "invalid_channel",
            f"channel is one of {', '.join(c.upper() for c in OMNI_CHANNELS)} "
            "(an omnimessage goes to one phone number).",
            source=source,
        )
    )
    return None


def _window(item: dict, source: str, errors: list[ApiError]) -> int | None:
    """`validity` (minutes) or `ttl` (seconds), never both, as seconds; None if neither."""
    validity, ttl = item.get("validity"), item.get("ttl")
    if validity is not None and ttl is not None:
        errors.append(
            ApiError(
                "ambiguous_validity", "give validity or ttl, not both.", source=f"{source}.ttl"
            )
        )
        return None
    if validity is not None:
        if isinstance(validity, bool) or not isinstance(validity, int):
            validity = -1
        if not 1 <= validity <= MAX_VALIDITY_MINUTES:
            errors.append(
                ApiError(
                    "invalid_validity",
                    f"validity is a number of minutes from 1 to {MAX_VALIDITY_MINUTES}.",
                    source=f"{source}.validity",
                )
            )
            return None
        return validity * 60
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int):
            ttl = -1
        if not 10 <= ttl <= MAX_TTL_SECONDS:
            errors.append(
                ApiError(
                    "invalid_ttl",
                    f"ttl is a number of seconds from 10 to {MAX_TTL_SECONDS}.",
                    source=f"{source}.ttl",
                )
            )
            return None
        return ttl
    return None


def _success(item: dict, channel: str | None, source: str, errors: list[ApiError]) -> str | None:
    value = item.get("successStatus")
    if value is None:
        return None
    wanted = SUCCESS_ALIASES.get(value.upper()) if isinstance(value, str) else None
    if wanted is None:
        errors.append(
            ApiError(
                "invalid_choice",
                "successStatus is DELIVERED or SEEN (read).",
                source=f"{source}.successStatus",
            )
        )
        return None
    if wanted == SUCCESS_SEEN and channel and channel not in SEEN_CHANNELS:
        errors.append(
            ApiError(
                "unsupported_status",
                f"{channel} reports no reads: its success is DELIVERED.",
                source=f"{source}.successStatus",
            )
        )
        return None
    return wanted


def _flow_check(tenant: Tenant, flow: Any) -> list[dict[str, Any]]:
    errors: list[ApiError] = []
    if not isinstance(flow, list) or not flow:
        raise ApiError("required", "flow is a non-empty list of steps.", source="flow")
    if len(flow) > MAX_STEPS:
        raise ApiError("too_many_steps", f"a flow has at most {MAX_STEPS} steps.", source="flow")
    providers = {p.name: p for p in Provider.objects.filter(tenant=tenant)}
    steps = []
    for i, item in enumerate(flow):
        path = f"flow[{i}]"
        if not isinstance(item, dict):
            errors.append(ApiError("invalid_type", "each step is an object.", source=path))
            continue
        for key in item:
            if key not in FLOW_KEYS:
                errors.append(
                    ApiError(
                        "unknown_field",
                        f"'{key}' is not a field of a step ({', '.join(FLOW_KEYS)}).",
                        source=f"{path}.{key}",
                    )
                )
        channel = _channel(item.get("channel"), f"{path}.channel", errors)
        step: dict[str, Any] = {"channel": channel}
        sender = item.get("from")
        if sender is not None:
            if not isinstance(sender, str) or not sender.strip():
                errors.append(ApiError("invalid_type", "from is a sender.", source=f"{path}.from"))
            else:
                step["from"] = sender.strip()
        name = item.get("provider")
        if name is not None:
            provider = providers.get(name) if isinstance(name, str) else None
            if provider is None:
                errors.append(
                    ApiError(
                        "unknown_provider",
                        f"No provider named '{name}'.",
                        source=f"{path}.provider",
                    )
                )
            elif channel and channel not in provider.channels:
                errors.append(
                    ApiError(
                        "unsupported_channel",
                        f"Provider '{name}' does not serve {channel}.",
                        source=f"{path}.provider",
                    )
                )
            else:
                step["provider"] = name
        for key in ("validity", "ttl"):
            if item.get(key) is not None:
                step[key] = item[key]
        _window(item, path, errors)
        wanted = _success(item, channel, path, errors)
        if wanted:
            step["successStatus"] = wanted
        steps.append(step)
    if errors:
        raise ApiErrors(errors)
    return steps


def _name_check(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError("required", "name is required.", source="name")
    if len(value) > 200:
        raise ApiError("too_long", "name is at most 200 characters.", source="name")
    return value.strip()


def _default_check(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ApiError("invalid_type", "default is true or false.", source="default")
    return value


SCENARIO_KEYS = ("name", "flow", "default")


def _scenario_keys_check(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    unknown = [k for k in body if k not in SCENARIO_KEYS]
    if unknown:
        raise ApiErrors(
            ApiError(
                "unknown_field",
                f"'{k}' is not a field of a scenario ({', '.join(SCENARIO_KEYS)}).",
                source=k,
            )
            for k in unknown
        )
    return body


def _make_default(scenario: Scenario) -> None:
    Scenario.objects.filter(tenant_id=scenario.tenant_id, is_default=True).exclude(
        pk=scenario.pk
    ).update(is_default=False)


def scenario_create(*, tenant: Tenant, body: Any) -> Scenario:
    body = _scenario_keys_check(body)
    name = _name_check(body.get("name"))
    flow = _flow_check(tenant, body.get("flow"))
    is_default = _default_check(body.get("default", False))
    with transaction.atomic():
        scenario = Scenario(tenant=tenant, name=name, flow=flow, is_default=False)
        scenario.save()
        if is_default:  # one default per tenant: the new one takes over
            _make_default(scenario)
            scenario.is_default = True
            scenario.save(update_fields=["is_default"])
    return scenario


def scenario_update(*, scenario: Scenario, body: Any) -> Scenario:
    body = _scenario_keys_check(body)
    if "name" in body:
        scenario.name = _name_check(body["name"])
    if "flow" in body:
        scenario.flow = _flow_check(scenario.tenant, body["flow"])
    with transaction.atomic():
        if "default" in body:
            scenario.is_default = _default_check(body["default"])
            if scenario.is_default:
                _make_default(scenario)
        scenario.save()
    return scenario


# --- accept ----------------------------------------------------------------------------------


def _remap(source: str | None, channel: str, index: int) -> str | None:
    """messaging's accept names the fields of the channel entry we built; name the request's
    (`sms[0].body` → `messages[1].text`, `sms[0].to[0]` → `to`)."""
    if not source:
        return source
    if source in (channel, f"{channel}[0]"):
        return f"messages[{index}]"
    m = re.match(rf"{channel}\[0\]\.(\w+)(.*)$", source)
    if not m:
        return source  # an option of the request (callback, scheduledAt, ...): same name
    field, rest = m.groups()
    if field == "to":
        return "to"
    if field == "body":
        field = "text"
    if field in ("senderId", "from", "originationNumber"):
        field = "sender"
    return f"messages[{index}].{field}{rest}"


def _plan(
    body: dict[str, Any], tenant: Tenant, errors: list[ApiError]
) -> tuple[Scenario | None, list[tuple[int, dict[str, Any], dict[str, Any]]]]:
    """The steps in send order: (index in messages, the message, the scenario's flow step)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        errors.append(
            ApiError(
                "required", "messages is a non-empty list, one per channel.", source="messages"
            )
        )
        return None, []
    if len(messages) > MAX_STEPS:
        errors.append(
            ApiError("too_many_steps", f"at most {MAX_STEPS} messages.", source="messages")
        )
        return None, []
    channels: list[str | None] = []
    for i, item in enumerate(messages):
        if not isinstance(item, dict):
            errors.append(
                ApiError("invalid_type", "each message is an object.", source=f"messages[{i}]")
            )
            channels.append(None)
            continue
        channels.append(_channel(item.get("channel"), f"messages[{i}].channel", errors))

    key = body.get("scenarioKey")
    if key is not None:
        scenario = (
            Scenario.objects.filter(tenant=tenant, key=key).first()
            if isinstance(key, str)
            else None
        )
        if scenario is None:
            errors.append(
                ApiError("unknown_scenario", f"No scenario '{key}'.", source="scenarioKey")
            )
            return None, []
    else:
        # Infobip's rule: without a key, the tenant's default scenario orders the channels;
        # with no default, the messages' own order does (Messente's).
        scenario = Scenario.objects.filter(tenant=tenant, is_default=True).first()
    if scenario is None:
        return None, [(i, m, {}) for i, m in enumerate(messages) if isinstance(m, dict)]

    by_channel: dict[str, list[int]] = {}
    for i, channel in enumerate(channels):
        if channel:
            by_channel.setdefault(channel, []).append(i)
    plan = []
    for flow_step in scenario.flow:
        waiting = by_channel.get(flow_step["channel"])
        if waiting:  # a flow step without a message for its channel is left out
            i = waiting.pop(0)
            plan.append((i, messages[i], flow_step))
    for rest in by_channel.values():
        for i in rest:
            errors.append(
                ApiError(
                    "channel_not_in_scenario",
                    f"scenario '{scenario.name}' has no {channels[i]} step for this message.",
                    source=f"messages[{i}].channel",
                )
            )
    if not plan and not errors:
        errors.append(
            ApiError(
                "no_messages", "no message matches a channel of the scenario.", source="messages"
            )
        )
    return scenario, plan


def _entry(item: dict[str, Any], flow_step: dict[str, Any], to: str) -> dict[str, Any]:
    """The step as an entry of POST /api/v1/messages."""
    entry = {k: v for k, v in item.items() if k not in STEP_KEYS}
    if "text" in item:
        entry["body"] = item["text"]
    sender = item.get("sender", flow_step.get("from"))
    if sender is not None:
        entry["senderId" if item["channel"].lower() == "sms" else "from"] = sender
    if "provider" not in entry and flow_step.get("provider"):
        entry["provider"] = flow_step["provider"]
    entry["to"] = [to]
    return entry


def omnimessage_accept(*, app: App, body: Any) -> OmniMessage:
    """Validate every step, store the omnimessage and a message per step (the first to be
    sent, at its scheduled time if given; the others held), all or nothing."""
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    errors: list[ApiError] = []
    for key in body:
        if key not in BODY_KEYS:
            errors.append(
                ApiError(
                    "unknown_field",
                    f"'{key}' is not a field of an omnimessage ({', '.join(BODY_KEYS)}).",
                    source=key,
                )
            )
    to = None
    try:
        to = phone_normalize(body.get("to"), app.tenant.default_country)
    except ValueError as exc:
        errors.append(ApiError("invalid_recipient", str(exc), source="to"))
    scenario, plan = _plan(body, app.tenant, errors)
    windows, wanted = [], []
    for i, item, flow_step in plan:
        path = f"messages[{i}]"
        for key in ("text", "sender"):
            if key in item and not isinstance(item[key], str):
                errors.append(
                    ApiError("invalid_type", f"{key} is a string.", source=f"{path}.{key}")
                )
        window = _window(item, path, errors) or _window(flow_step, path, [])
        windows.append(window or settings.DEFAULT_VALIDITY_MINUTES * 60)
        channel = item["channel"].lower() if isinstance(item.get("channel"), str) else None
        wanted.append(
            _success(item, channel, path, errors) or flow_step.get("successStatus")
            or SUCCESS_DELIVERED
        )  # fmt: skip
    if errors:
        raise ApiErrors(errors)

    options = {k: body[k] for k in ("callback", "priority", "textStore") if k in body}
    now = timezone.now()
    with transaction.atomic():
        made = []  # (position, message id, channel) in send order
        for position, (i, item, flow_step) in enumerate(plan):
            channel = item["channel"].lower()
            step_body = {channel: [_entry(item, flow_step, to)], **options}
            if position == 0 and body.get("scheduledAt") is not None:
                step_body["scheduledAt"] = body["scheduledAt"]
            try:
                _, accepted = message_accept(
                    app=app,
                    body=step_body,
                    hold=position > 0,
                    expires_in=timedelta(seconds=windows[position]),
                )
            except ApiError as exc:
                errors.append(
                    ApiError(exc.code, exc.detail, source=_remap(exc.source, channel, i),
                             status=exc.status)
                )  # fmt: skip
                continue
            except ApiErrors as exc:
                errors += [
                    ApiError(e.code, e.detail, source=_remap(e.source, channel, i),
                             status=e.status)
                    for e in exc.errors
                ]  # fmt: skip
                continue
            made.append((position, accepted[0].id, channel))
        if errors:
            # Roll back the steps already stored: an omnimessage is accepted whole or not.
            transaction.set_rollback(True)
            raise ApiErrors(errors, status=max(e.status for e in errors))

        messages = {m.pk: m for m in Message.objects.filter(pk__in=[m for _, m, _ in made])}
        first = messages[made[0][1]]
        omni = OmniMessage.objects.create(
            tenant=app.tenant,
            app=app,
            scenario=scenario,
            to=to,
            state=(
                OmniMessage.State.SCHEDULED
                if first.status == st.PENDING_SCHEDULED
                else OmniMessage.State.PENDING
            ),
            callback_url=first.request.callback_url,
            callback_meta=first.request.callback_meta,
            scheduled_at=first.scheduled_at,
        )
        start = first.scheduled_at or now
        steps = OmniStep.objects.bulk_create(
            OmniStep(
                omnimessage=omni,
                position=position,
                channel=channel,
                message_id=mid,
                window_seconds=windows[position],
                success_status=wanted[position],
                state=OmniStep.State.ACTIVE if position == 0 else OmniStep.State.HELD,
                started_at=start if position == 0 else None,
                deadline=start + timedelta(seconds=windows[0]) if position == 0 else None,
            )
            for position, mid, channel in made
        )
        # A step refused at accept (an opted-out recipient) is final already: move on now.
        if st.get(first.status).group in FAILED_GROUPS:
            steps[0].message = first
            _step_failed(steps[0], omni, first.error_description or first.status, now)
    omni.step_messages = messages  # for the answer, without another query
    return omni


# --- moving on -------------------------------------------------------------------------------


def _step_end(step: OmniStep, state: str, outcome: str, now: datetime) -> bool:
    """Move an active step to `state`; False if another writer moved it first."""
    moved = OmniStep.objects.filter(pk=step.pk, state=OmniStep.State.ACTIVE).update(
        state=state, ended_at=now, outcome=outcome[:200]
    )
    if moved:
        step.state, step.ended_at, step.outcome = state, now, outcome[:200]
    return bool(moved)


def _step_failed(step: OmniStep, omni: OmniMessage, outcome: str, now: datetime) -> None:
    if not _step_end(step, OmniStep.State.FAILED, outcome, now):
        return
    _next_start(omni, step, outcome, now)


def _next_start(omni: OmniMessage, after: OmniStep, why: str, now: datetime) -> None:
    """Release the next held step whose message can still be sent; none left: FAILED."""
    held = list(
        OmniStep.objects.filter(
            omnimessage=omni, state=OmniStep.State.HELD, position__gt=after.position
        )
        .select_related("message__request", "message__provider")
        .order_by("position")
    )
    for step in held:
        message = step.message
        if message.status != st.PENDING_FAILOVER:
            # Refused at accept (opted out) or cancelled on its own: it cannot go.
            OmniStep.objects.filter(pk=step.pk, state=OmniStep.State.HELD).update(
                state=OmniStep.State.FAILED, ended_at=now, outcome=message.status
            )
            continue
        # Quiet hours hold a failover released at night too: the step starts (its window,
        # its message's validity) when the recipient's window ends.
        deferral = quiet_deferral(
            tenant=omni.tenant, channel=step.channel, address=message.to, at=now,
            urgent=message.priority == Priority.HIGH,
        )  # fmt: skip
        start = deferral.until if deferral else now
        deadline = start + timedelta(seconds=step.window_seconds)
        said = f"Failover from {after.channel} ({why}): sent on {step.channel}."
        applied = messages_transition_bulk(
            changes=[
                Change(
                    message,
                    st.PENDING_SCHEDULED if deferral else st.PENDING_ACCEPTED,
                    {"expires_at": deadline},
                    description=f"{said} {deferral.description}" if deferral else said,
                )
            ],
            source="omnichannel",
            expect=[st.PENDING_FAILOVER],
        )
        if not applied:
            continue
        waits = {"scheduled_at": start} if deferral else {}
        Message.objects.filter(pk=message.pk).update(expires_at=deadline, **waits)
        OmniStep.objects.filter(pk=step.pk).update(
            state=OmniStep.State.ACTIVE, started_at=start, deadline=deadline
        )
        if not deferral:
            wake_on_commit()
        return
    _settle(omni, OmniMessage.State.FAILED, now)


def _step_succeeded(step: OmniStep, omni: OmniMessage, now: datetime) -> None:
    if not _step_end(step, OmniStep.State.SUCCEEDED, step.message.status, now):
        return
    _rest_skip(omni, now, st.CANCELLED_NOT_NEEDED, f"{step.channel} reached the recipient")
    _settle(omni, OmniMessage.State.DELIVERED, now)


def _rest_skip(omni: OmniMessage, now: datetime, status: str, why: str) -> None:
    held = list(
        OmniStep.objects.filter(omnimessage=omni, state=OmniStep.State.HELD).select_related(
            "message__request"
        )
    )
    if not held:
        return
    OmniStep.objects.filter(pk__in=[s.pk for s in held]).update(
        state=OmniStep.State.SKIPPED, ended_at=now, outcome=why[:200]
    )
    messages_transition_bulk(
        changes=[
            Change(s.message, status, stored_text(s.message), description=f"Not sent: {why}.")
            for s in held
        ],
        source="omnichannel",
        expect=[st.PENDING_FAILOVER],
    )


def _settle(omni: OmniMessage, state: str, now: datetime) -> None:
    moved = (
        OmniMessage.objects.filter(pk=omni.pk)
        .exclude(state__in=[OmniMessage.State.DELIVERED, OmniMessage.State.FAILED,
                            OmniMessage.State.CANCELLED])
        .update(state=state, settled_at=now)
    )  # fmt: skip
    if not moved:
        return
    omni.state, omni.settled_at = state, now
    if omni.callback_url:
        webhook_enqueue(
            app=omni.app,
            url=omni.callback_url,
            payload=settled_payload(omni, now),
            event="omnimessage.status",
        )


def settled_payload(omni: OmniMessage, at: datetime) -> dict[str, Any]:
    return {
        "event": "omnimessage.status",
        "omnimessageId": str(omni.pk),
        "to": omni.to,
        "state": omni.state,
        "statuses": statuses(omni),
        "timestamp": at.isoformat(),
        "meta": omni.callback_meta,
    }


def _outcome(step: OmniStep) -> str | None:
    """What the status of an active step's message means: success, failure, or None."""
    status = step.message.status
    info = st.get(status)
    if info.group == st.DELIVERED:
        if step.success_status == SUCCESS_DELIVERED or status == st.DELIVERED_READ:
            return "success"
        return None  # delivered, not yet read: the window decides
    if info.group in FAILED_GROUPS:
        return "failure"
    if info.group == st.CANCELLED:
        return "cancelled"
    return None


def _react(step: OmniStep, now: datetime) -> None:
    omni = step.omnimessage
    outcome = _outcome(step)
    if outcome == "success":
        _step_succeeded(step, omni, now)
    elif outcome == "failure":
        _step_failed(step, omni, step.message.error_description or step.message.status, now)
    elif outcome == "cancelled":  # the client cancelled the step's message: the whole of it
        if _step_end(step, OmniStep.State.SKIPPED, step.message.status, now):
            _rest_skip(omni, now, st.CANCELLED_BY_CLIENT, "its omnimessage was cancelled")
            _settle(omni, OmniMessage.State.CANCELLED, now)


def messages_status_changed(messages: list[Message], at: datetime) -> int:
    """The status changes of step messages: one query for a batch that holds a final status,
    none for the rest (a step moves on only when its message ends; sending, the commonest
    change, costs nothing here)."""
    by_id = {m.pk: m for m in messages if st.get(m.status).is_final}
    if not by_id:
        return 0
    steps = list(
        OmniStep.objects.filter(message_id__in=list(by_id), state=OmniStep.State.ACTIVE)
        .select_related("omnimessage__app", "omnimessage__tenant")
    )  # fmt: skip
    for step in steps:
        step.message = by_id[step.message_id]
        _react(step, at)
    return len(steps)


def steps_due(now: datetime | None = None) -> dict[str, int]:
    """The step timer: an active step whose window passed without its success status moves
    on; also the safety net for a status change whose signal was missed (a step whose message
    is final)."""
    now = now or timezone.now()
    # A scheduled omnimessage whose time came is on its way (its first message is released by
    # messaging's own timer in the same tick); one statement, not one per status change.
    OmniMessage.objects.filter(state=OmniMessage.State.SCHEDULED, scheduled_at__lte=now).update(
        state=OmniMessage.State.PENDING
    )
    failed = [s for s in st.FINAL if st.group_of(s) != st.DELIVERED]
    delivered = [s for s in st.FINAL if st.group_of(s) == st.DELIVERED]
    steps = list(
        OmniStep.objects.filter(state=OmniStep.State.ACTIVE)
        .filter(
            Q(deadline__lte=now)
            | Q(message__status__in=[*failed, st.DELIVERED_READ])
            | Q(success_status=SUCCESS_DELIVERED, message__status__in=delivered)
        )
        .select_related("omnimessage__app", "omnimessage__tenant", "message__request")
        .order_by("deadline")[:500]
    )
    moved = 0
    for step in steps:
        with transaction.atomic():
            if _outcome(step) is not None:
                _react(step, now)
            elif step.deadline and step.deadline <= now:
                wanted = "read" if step.success_status == SUCCESS_SEEN else "delivered"
                _step_failed(
                    step, step.omnimessage, f"not {wanted} within {step.window_seconds} s", now
                )
        moved += 1
    return {"omni_steps": moved} if moved else {}


# --- reading and cancelling ------------------------------------------------------------------


def statuses(omni: OmniMessage) -> list[dict[str, Any]]:
    """Every channel tried (or on its way), in send order."""
    steps = (
        OmniStep.objects.filter(omnimessage=omni)
        .exclude(state__in=[OmniStep.State.HELD, OmniStep.State.SKIPPED])
        .select_related("message")
        .order_by("position")
    )
    return [
        {
            "channel": s.channel,
            "messageId": str(s.message_id),
            "status": s.message.status_info.as_dict(),
            "error": s.message.error,
            "timestamp": s.message.updated_at.isoformat(),
        }
        for s in steps
    ]


def omnimessage_cancel(*, omni: OmniMessage) -> OmniMessage:
    """Cancel an omnimessage whose first message has not left; 409 once it has."""
    with transaction.atomic():
        steps = list(
            OmniStep.objects.filter(omnimessage=omni)
            .select_related("message__request")
            .order_by("position")
        )
        first = steps[0].message if steps else None
        if (
            omni.state not in (OmniMessage.State.SCHEDULED, OmniMessage.State.PENDING)
            or first is None
            or first.status not in st.CANCELLABLE
            or any(s.position > 0 and s.state != OmniStep.State.HELD for s in steps)
        ):
            raise ApiError(
                "already_sent",
                f"The omnimessage can no longer be cancelled: it is {omni.state}"
                + (f" and its first message {first.status}." if first else "."),
                status=409,
            )
        applied = messages_transition_bulk(
            changes=[
                Change(s.message, st.CANCELLED_BY_CLIENT, stored_text(s.message),
                       description="Its omnimessage was cancelled by the client.")
                for s in steps
            ],
            source="client",
            expect=st.CANCELLABLE,
        )  # fmt: skip
        if not any(c.message.pk == first.pk for c in applied):
            transaction.set_rollback(True)
            raise ApiError(
                "already_sent", "The omnimessage can no longer be cancelled: it left.", status=409
            )
        now = timezone.now()
        OmniStep.objects.filter(omnimessage=omni).exclude(
            state__in=[OmniStep.State.FAILED, OmniStep.State.SUCCEEDED]
        ).update(state=OmniStep.State.SKIPPED, ended_at=now, outcome="cancelled by the client")
        OmniMessage.objects.filter(pk=omni.pk).update(
            state=OmniMessage.State.CANCELLED, settled_at=now
        )
        omni.state, omni.settled_at = OmniMessage.State.CANCELLED, now
    return omni
