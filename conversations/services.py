"""Two-way WhatsApp: start a conversation, match its reply, report its messages' status, time
it out; and route every other inbound message to the app's inbound webhooks.

The webhook POSTs go through messaging's webhook engine (webhook_enqueue), each signed with
its own webhook's secret, stored in the transaction that stores their cause.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from typing import Any

import regex
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ApiError, ApiErrors
from messaging.models import Message
from messaging.rendering import TemplateSyntaxError, placeholders_of
from messaging.services.accept import message_accept, phone_normalize, url_check
from messaging.services.callbacks import webhook_enqueue
from providers.models import InboundMessage, Provider
from tenants.models import App

from .models import (
    WEBHOOK_NAMES,
    Conversation,
    ConversationEvent,
    ConversationMessage,
    InboundRoute,
)

logger = logging.getLogger(__name__)

BODY_KEYS = (
    "from", "message", "provider", "to", "acceptedResponses", "dynamicResponseRegex",
    "webhook", "responseTimeout", "context", "errorMessage",
)  # fmt: skip
MESSAGE_KEYS = ("template", "body", "data", "media", "buttons")
MAX_REGEX_LENGTH = 200  # Conversation.regex
REGEX_TIMEOUT = 0.05  # seconds one reply may spend in the app's regex
MAX_ACCEPTED = 20
MAX_ACCEPTED_MESSAGES = 50
MAX_RESPONSE_LENGTH = 256
MAX_SECRET_LENGTH = 256
MAX_TIMEOUT = 7 * 24 * 3600
DEFAULT_TIMEOUT = 24 * 3600  # WhatsApp's customer-care window
MAX_CONTEXT_BYTES = 10_000
MAX_ERROR_MESSAGE = 4096
# How long after a conversation ended a reply to it still goes to its defaultInbound (then
# the app's inbound routes take over).
LATE_REPLY_WINDOW = timedelta(days=7)
SWEEP_BATCH = 500


# --- starting one --------------------------------------------------------------------------


def _webhook_check(value: Any, source: str, errors: list[ApiError]) -> dict[str, str] | None:
    """{url, secret}: the URL checked like a callback URL, the secret required."""
    if not isinstance(value, dict):
        errors.append(ApiError("invalid_type", "must be an object {url, secret}.", source=source))
        return None
    for key in value:
        if key not in ("url", "secret"):
            errors.append(
                ApiError("unknown_field", f"'{key}' is not a field of a webhook (url, secret).",
                         source=f"{source}.{key}")
            )  # fmt: skip
    out = {}
    try:
        out["url"] = url_check(value.get("url"), f"{source}.url")
    except ApiError as exc:
        errors.append(exc)
    secret = value.get("secret")
    if not isinstance(secret, str) or not secret.strip():
        errors.append(
            ApiError("required", "every webhook needs its own secret.", source=f"{source}.secret")
        )
    elif len(secret) > MAX_SECRET_LENGTH:
        errors.append(
            ApiError("invalid_secret", f"a secret is at most {MAX_SECRET_LENGTH} characters.",
                     source=f"{source}.secret")
        )  # fmt: skip
    else:
        out["secret"] = secret
    return out if len(out) == 2 else None


def _accepted_check(value: Any, errors: list[ApiError]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(
            ApiError("invalid_type", "must be a list of {messages, webhook}.",
                     source="acceptedResponses")
        )  # fmt: skip
        return []
    if len(value) > MAX_ACCEPTED:
        errors.append(
            ApiError("too_many", f"at most {MAX_ACCEPTED} accepted responses.",
                     source="acceptedResponses")
        )  # fmt: skip
        return []
    out = []
    for i, entry in enumerate(value):
        path = f"acceptedResponses[{i}]"
        if not isinstance(entry, dict):
            errors.append(
                ApiError("invalid_type", "must be an object {messages, webhook}.", source=path)
            )
            continue
        for key in entry:
            if key not in ("messages", "webhook"):
                errors.append(
                    ApiError("unknown_field", f"'{key}' is not a field of an accepted response.",
                             source=f"{path}.{key}")
                )  # fmt: skip
        messages = entry.get("messages")
        good = True
        if not isinstance(messages, list) or not messages:
            errors.append(
                ApiError("required", "messages is a non-empty list of replies.",
                         source=f"{path}.messages")
            )  # fmt: skip
            good = False
        elif len(messages) > MAX_ACCEPTED_MESSAGES:
            errors.append(
                ApiError("too_many", f"at most {MAX_ACCEPTED_MESSAGES} replies per entry.",
                         source=f"{path}.messages")
            )  # fmt: skip
            good = False
        else:
            for j, text in enumerate(messages):
                if not isinstance(text, str) or not text.strip():
                    problem = "each reply is a non-empty string."
                elif len(text) > MAX_RESPONSE_LENGTH:
                    problem = f"a reply is at most {MAX_RESPONSE_LENGTH} characters."
                else:
                    continue
                errors.append(ApiError("invalid_response", problem, source=f"{path}.messages[{j}]"))
                good = False
        if "webhook" not in entry:
            errors.append(
                ApiError("required", "each accepted response needs its webhook {url, secret}.",
                         source=f"{path}.webhook")
            )  # fmt: skip
            continue
        webhook = _webhook_check(entry.get("webhook"), f"{path}.webhook", errors)
        if good and webhook:
            out.append({"messages": [t.strip() for t in messages], "webhook": webhook})
    return out


def _remap(source: str | None) -> str | None:
    """message_accept names the fields of the WhatsApp entry we built; name the request's."""
    if not source:
        return source
    if source in ("whatsapp", "sms", "whatsapp[0]"):
        return "message"
    m = re.match(r"whatsapp\[0\]\.(\w+)(.*)$", source)
    if not m:
        return source
    field, rest = m.groups()
    if field == "to":
        return "to" + re.sub(r"^\[0\]", "", rest)
    if field in ("provider", "from"):
        return field + rest
    return f"message.{field}{rest}"


def conversation_start(*, app: App, body: Any) -> Conversation:
    """Validate a two-way request, send its WhatsApp message (messaging's accept), store the
    conversation and close the previous open one with the same recipient and sender."""
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    errors: list[ApiError] = []
    for key in body:
        if key not in BODY_KEYS:
            errors.append(ApiError("unknown_field", f"'{key}' is not a known field.", source=key))

    message = body.get("message")
    message_given = isinstance(message, dict)
    if not message_given:
        errors.append(
            ApiError("required", "message {template, data, media, buttons} is required.",
                     source="message")
        )  # fmt: skip
        message = {}
    for key in message:
        if key not in MESSAGE_KEYS:
            errors.append(
                ApiError("unknown_field", f"'{key}' is not a field of message.",
                         source=f"message.{key}")
            )  # fmt: skip
    if body.get("to") is None:
        errors.append(ApiError("required", "to {countryCode, number} is required.", source="to"))

    accepted = _accepted_check(body.get("acceptedResponses"), errors)

    pattern = body.get("dynamicResponseRegex")
    if pattern is not None and pattern != "":
        if not isinstance(pattern, str):
            errors.append(
                ApiError("invalid_type", "must be a string.", source="dynamicResponseRegex")
            )
            pattern = ""
        elif len(pattern) > MAX_REGEX_LENGTH:
            errors.append(
                ApiError("invalid_regex", f"the regex is at most {MAX_REGEX_LENGTH} characters.",
                         source="dynamicResponseRegex")
            )  # fmt: skip
            pattern = ""
        else:
            try:
                regex.compile(pattern)
            except (regex.error, ValueError) as exc:
                errors.append(
                    ApiError("invalid_regex", f"the regex does not compile: {exc}.",
                             source="dynamicResponseRegex")
                )  # fmt: skip
                pattern = ""
    else:
        pattern = ""

    webhooks: dict[str, dict[str, str]] = {}
    given = body.get("webhook")
    if given is not None:
        if not isinstance(given, dict):
            errors.append(
                ApiError("invalid_type",
                         "webhook is an object {defaultInbound, status, invalidResponse}.",
                         source="webhook")
            )  # fmt: skip
            given = {}
        for key, value in given.items():
            if key not in WEBHOOK_NAMES:
                errors.append(
                    ApiError("unknown_field",
                             f"'{key}' is not a webhook (defaultInbound, status, invalidResponse).",
                             source=f"webhook.{key}")
                )  # fmt: skip
            elif value is not None:
                checked = _webhook_check(value, f"webhook.{key}", errors)
                if checked:
                    webhooks[key] = checked
    if (
        pattern
        and "defaultInbound" not in webhooks
        and not any(e.source and e.source.startswith("webhook.defaultInbound") for e in errors)
    ):
        errors.append(
            ApiError("required", "a reply matching dynamicResponseRegex goes to "
                     "webhook.defaultInbound: give it.", source="webhook.defaultInbound")
        )  # fmt: skip
    if not body.get("acceptedResponses") and not body.get("dynamicResponseRegex"):
        errors.append(
            ApiError("required", "give acceptedResponses or dynamicResponseRegex: the replies "
                     "this conversation waits for.", source="acceptedResponses")
        )  # fmt: skip

    timeout = body.get("responseTimeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT:
        errors.append(
            ApiError("invalid_timeout",
                     f"responseTimeout is a number of seconds from 1 to {MAX_TIMEOUT}.",
                     source="responseTimeout")
        )  # fmt: skip
        timeout = DEFAULT_TIMEOUT
    context = body.get("context")
    if context is not None:
        if not isinstance(context, dict):
            errors.append(ApiError("invalid_type", "context must be an object.", source="context"))
        elif len(json.dumps(context)) > MAX_CONTEXT_BYTES:
            errors.append(
                ApiError("too_large", f"context is at most {MAX_CONTEXT_BYTES} bytes of JSON.",
                         source="context")
            )  # fmt: skip
    error_message = body.get("errorMessage") or ""
    if not isinstance(error_message, str):
        errors.append(ApiError("invalid_type", "must be a string.", source="errorMessage"))
        error_message = ""
    elif len(error_message) > MAX_ERROR_MESSAGE:
        errors.append(
            ApiError("too_long", f"errorMessage is at most {MAX_ERROR_MESSAGE} characters.",
                     source="errorMessage")
        )  # fmt: skip
    elif error_message:
        # Sent as a message (rendered like one) when a reply is invalid: its placeholders
        # come from context and the tenant's and app's values, so check them now.
        try:
            names = placeholders_of(error_message)
        except TemplateSyntaxError as exc:
            errors.append(
                ApiError("template_syntax", f"errorMessage does not parse: {exc.reason}.",
                         source="errorMessage")
            )  # fmt: skip
        else:
            known = {**app.tenant.placeholders, **app.placeholders,
                     **(context if isinstance(context, dict) else {})}  # fmt: skip
            # {{contact.x}} is the recipient's contact attribute (filled by accept).
            missing = [n for n in names if n.split(".")[0] not in {*known, "contact"}]
            if missing:
                errors.append(
                    ApiError("missing_placeholder",
                             f"errorMessage uses {{{{{missing[0]}}}}}: context does not give it.",
                             source="errorMessage")
                )  # fmt: skip
    if body.get("from") is not None and not isinstance(body.get("from"), str):
        errors.append(ApiError("invalid_type", "from must be a string.", source="from"))

    entry: dict[str, Any] = {k: message[k] for k in MESSAGE_KEYS if message.get(k) is not None}
    for key in ("from", "provider"):
        if body.get(key) not in (None, ""):
            entry[key] = body[key]
    entry["to"] = [body.get("to")] if body.get("to") is not None else []

    with transaction.atomic():
        sent = None
        if message_given:
            try:
                # Inside a savepoint: a refusal leaves the outer transaction usable.
                with transaction.atomic():
                    _, sent = message_accept(app=app, body={"whatsapp": [entry]})
            except ApiErrors as exc:
                errors += [ApiError(e.code, e.detail, source=_remap(e.source)) for e in exc.errors]
            except ApiError as exc:
                errors.append(ApiError(exc.code, exc.detail, source=_remap(exc.source)))
        if errors:
            raise ApiErrors(errors[:25])
        first = Message.objects.select_related("provider").get(pk=sent[0].id)
        provider = first.provider
        conversation = Conversation(
            tenant=app.tenant,
            app=app,
            provider=provider,
            sender=first.sender or provider.default_sender,
            recipient=first.to,
            accepted_responses=[
                {"messages": a["messages"], "webhook": {"url": a["webhook"]["url"]}}
                for a in accepted
            ],
            regex=pattern,
            webhooks={name: {"url": w["url"]} for name, w in webhooks.items()},
            context=context,
            error_message=error_message,
            response_timeout=timeout,
            # Deferred by quiet hours, the wait for a reply starts when the message may go.
            expires_at=max(timezone.now(), first.scheduled_at or timezone.now())
            + timedelta(seconds=timeout),
            message=first,
        )
        conversation.secrets = {
            "accepted": [a["webhook"]["secret"] for a in accepted],
            **{name: w["secret"] for name, w in webhooks.items()},
        }
        _close_previous(conversation)
        conversation.save()
        ConversationMessage.objects.create(
            conversation=conversation, message=first, role=ConversationMessage.Role.INITIAL
        )
        ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.CREATED,
            detail={"messageId": str(first.pk)},
        )  # fmt: skip
    return conversation


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def _same_number(a: str, b: str) -> bool:
    """Our number as an app wrote it and as a provider reports it: the same digits, or one a
    national form of the other ("2424242842" and "+12424242842")."""
    da, db = _digits(a), _digits(b)
    if not da or not db:
        return False
    if da == db:
        return True
    short, long = sorted((da, db), key=len)
    return len(short) >= 8 and long.endswith(short)


def _close_previous(new: Conversation) -> None:
    """A new conversation with the same recipient and sender closes the open one."""
    now = timezone.now()
    for old in Conversation.objects.filter(
        tenant=new.tenant,
        recipient=new.recipient,
        state=Conversation.State.AWAITING_RESPONSE,
    ):
        same = (
            _same_number(old.sender, new.sender)
            if _digits(old.sender) and _digits(new.sender)
            else old.provider_id == new.provider_id
        )
        if not same:
            continue
        if Conversation.objects.filter(
            pk=old.pk, state=Conversation.State.AWAITING_RESPONSE
        ).update(state=Conversation.State.CLOSED, ended_at=now, updated_at=now):
            ConversationEvent.objects.create(
                conversation=old, kind=ConversationEvent.Kind.CLOSED, at=now,
                detail={"reason": "a new conversation with the same recipient and sender",
                        "conversationId": str(new.pk)},
            )  # fmt: skip


# --- replies -------------------------------------------------------------------------------


def reply_candidates(inbound: InboundMessage) -> list[str]:
    """What a reply says: its text, and for a quick-reply button also the button's payload
    or id, as the provider's adapter reads them from the stored payload (reply_values)."""
    out = [inbound.text.strip()] if inbound.text and inbound.text.strip() else []
    payload = inbound.payload if isinstance(inbound.payload, dict) else {}
    for value in inbound.provider.backend_class().reply_values(payload):
        if isinstance(value, str) and value.strip() and value.strip() not in out:
            out.append(value.strip())
    return out


def _match(conversation: Conversation, candidates: list[str]) -> dict[str, Any] | None:
    folded = [c.casefold() for c in candidates]
    for index, entry in enumerate(conversation.accepted_responses):
        for response in entry["messages"]:
            if response.strip().casefold() in folded:
                return {"type": "accepted", "index": index, "response": response}
    if conversation.regex and candidates:
        try:
            hit = regex.search(conversation.regex, candidates[0], timeout=REGEX_TIMEOUT)
        except TimeoutError:
            logger.warning("dynamicResponseRegex of %s timed out", conversation.pk)
            hit = None
        if hit:
            return {"type": "regex", "pattern": conversation.regex, "response": hit.group(0)}
    return None


def _base_payload(conversation: Conversation, event: str, now: datetime) -> dict[str, Any]:
    return {
        "event": event,
        "conversationId": str(conversation.pk),
        "messageId": str(conversation.message_id) if conversation.message_id else None,
        "from": conversation.recipient,
        "to": conversation.sender,
        "state": conversation.state,
        "context": conversation.context,
        "timestamp": now.isoformat(),
    }


def _inbound_part(inbound: InboundMessage) -> dict[str, Any]:
    return {
        "inboundId": inbound.pk,
        "reply": inbound.text,
        "receivedAt": inbound.received_at.isoformat(),
    }


def _our_number(inbound: InboundMessage) -> str:
    return inbound.recipient or ""


def _conversations_for(inbound: InboundMessage, **filters) -> list[Conversation]:
    """The conversations this inbound could answer: with its sender, and ours by number
    (inbound.recipient), else by the provider it came through."""
    try:
        sender = phone_normalize(inbound.sender, inbound.tenant.default_country)
    except ValueError:
        sender = inbound.sender
    found = list(
        Conversation.objects.filter(tenant_id=inbound.tenant_id, recipient=sender, **filters)
        .select_related("app", "provider")
        .order_by("-created_at")[:20]
    )
    by_number = [c for c in found if _same_number(c.sender, _our_number(inbound))]
    return by_number or [c for c in found if c.provider_id == inbound.provider_id]


def inbound_handle(inbound: InboundMessage) -> str:
    """A new inbound message: a reply to an open conversation, a late reply to an ended one
    (its defaultInbound), else the app's inbound routes. Returns what became of it."""
    if inbound.channel == "whatsapp":
        open_ones = _conversations_for(inbound, state=Conversation.State.AWAITING_RESPONSE)
        if open_ones:
            return _reply(open_ones[0], inbound)
        ended = _conversations_for(
            inbound,
            state__in=[Conversation.State.RESPONDED, Conversation.State.TIMED_OUT,
                       Conversation.State.CLOSED],
            ended_at__gte=timezone.now() - LATE_REPLY_WINDOW,
        )  # fmt: skip
        if ended and ended[0].webhook("defaultInbound"):
            return _late_reply(ended[0], inbound)
    return inbound_route(inbound)


def _reply(conversation: Conversation, inbound: InboundMessage) -> str:
    now = timezone.now()
    match = _match(conversation, reply_candidates(inbound))
    if match is not None:
        moved = Conversation.objects.filter(
            pk=conversation.pk, state=Conversation.State.AWAITING_RESPONSE
        ).update(state=Conversation.State.RESPONDED, ended_at=now, updated_at=now)
        if not moved:  # another reply won the race: this one is late
            return inbound_handle(inbound)
        conversation.state = Conversation.State.RESPONDED
        if match["type"] == "accepted":
            url, secret = conversation.accepted_webhook(match["index"])
            kind = ConversationEvent.Kind.REPLY_MATCHED
        else:
            url, secret = conversation.webhook("defaultInbound")
            kind = ConversationEvent.Kind.REPLY_DYNAMIC
        payload = {
            **_base_payload(conversation, "conversation.reply", now),
            **_inbound_part(inbound),
            "match": match,
        }
        webhook_enqueue(
            app=conversation.app, url=url, payload=payload, event="conversation.reply",
            secret=secret,
        )  # fmt: skip
        ConversationEvent.objects.create(
            conversation=conversation, kind=kind, inbound=inbound, at=now,
            detail={"match": match, "reply": inbound.text, "webhook": url},
        )  # fmt: skip
        return kind

    # Anything else: errorMessage back (the 24-hour window is open: they just wrote), the
    # reply to invalidResponse, and the conversation keeps waiting.
    detail: dict[str, Any] = {"reply": inbound.text}
    error_message_id = None
    if conversation.error_message:
        error_message_id, problem = _send_error_message(conversation)
        detail["errorMessageId"] = error_message_id
        if problem:
            detail["errorMessageRefused"] = problem
    webhook = conversation.webhook("invalidResponse")
    if webhook:
        url, secret = webhook
        payload = {
            **_base_payload(conversation, "conversation.invalid_response", now),
            **_inbound_part(inbound),
            "errorMessageId": error_message_id,
        }
        webhook_enqueue(
            app=conversation.app, url=url, payload=payload,
            event="conversation.invalid_response", secret=secret,
        )  # fmt: skip
        detail["webhook"] = url
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    ConversationEvent.objects.create(
        conversation=conversation, kind=ConversationEvent.Kind.REPLY_INVALID, inbound=inbound,
        at=now, detail=detail,
    )  # fmt: skip
    return ConversationEvent.Kind.REPLY_INVALID


def _send_error_message(conversation: Conversation) -> tuple[str | None, str]:
    """errorMessage as free-form WhatsApp text to the recipient, through messaging's accept
    (so it is logged, retried and reported like any message). Returns (messageId, problem)."""
    entry: dict[str, Any] = {
        "body": conversation.error_message,
        "data": conversation.context or {},
        "provider": conversation.provider.name,
        "to": [conversation.recipient],
    }
    if conversation.message_id and conversation.message.sender:
        entry["from"] = conversation.message.sender
    try:
        with transaction.atomic():  # a refusal must not spoil the inbound's transaction
            # They have just written: a reply is no night-time surprise (no quiet hours).
            _, sent = message_accept(app=conversation.app, body={"whatsapp": [entry]}, quiet=False)
    except ApiErrors as exc:
        return None, "; ".join(e.detail for e in exc.errors)
    except ApiError as exc:
        return None, exc.detail
    if not sent:
        return None, "nothing was sent"
    ConversationMessage.objects.create(
        conversation=conversation, message_id=sent[0].id, role=ConversationMessage.Role.ERROR_REPLY
    )
    return str(sent[0].id), ""


def _late_reply(conversation: Conversation, inbound: InboundMessage) -> str:
    now = timezone.now()
    url, secret = conversation.webhook("defaultInbound")
    payload = {
        **_base_payload(conversation, "inbound.message", now),
        **_inbound_part(inbound),
        "channel": inbound.channel,
        "text": inbound.text,
    }
    webhook_enqueue(
        app=conversation.app, url=url, payload=payload, event="inbound.message", secret=secret
    )
    ConversationEvent.objects.create(
        conversation=conversation, kind=ConversationEvent.Kind.REPLY_LATE, inbound=inbound,
        at=now, detail={"reply": inbound.text, "webhook": url},
    )  # fmt: skip
    return ConversationEvent.Kind.REPLY_LATE


# --- the apps' inbound routes --------------------------------------------------------------


def routes_matching(inbound: InboundMessage) -> list[InboundRoute]:
    """The most specific routes of the tenant for this inbound: those for its number (and
    its provider, when they name one), else for its provider, else the apps' catch-alls;
    one per app."""
    routes = (
        InboundRoute.objects.filter(tenant_id=inbound.tenant_id)
        .filter(Q(provider__isnull=True) | Q(provider_id=inbound.provider_id))
        .select_related("app")
        .order_by("id")
    )
    fitting = [
        r
        for r in routes
        if r.app.is_active and (not r.number or _same_number(r.number, _our_number(inbound)))
    ]
    if not fitting:
        return []
    best = max((r.number != "", r.provider_id is not None) for r in fitting)
    chosen, apps = [], set()
    for r in fitting:
        if (r.number != "", r.provider_id is not None) == best and r.app_id not in apps:
            chosen.append(r)
            apps.add(r.app_id)
    return chosen


def inbound_payload(inbound: InboundMessage) -> dict[str, Any]:
    return {
        "event": "inbound.message",
        "inboundId": inbound.pk,
        "channel": inbound.channel,
        "from": inbound.sender,
        "to": inbound.recipient,
        "text": inbound.text,
        "provider": inbound.provider.name,
        "providerMessageId": inbound.provider_message_id,
        "buttonReply": next(iter(reply_candidates(inbound)[1:]), None),
        "receivedAt": inbound.received_at.isoformat(),
    }


def inbound_route(inbound: InboundMessage) -> str:
    routes = routes_matching(inbound)
    if not routes:
        return "unrouted"
    payload = inbound_payload(inbound)
    for route in routes:
        webhook_enqueue(
            app=route.app, url=route.url, payload=payload, event="inbound.message",
            secret=route.secret,
        )  # fmt: skip
    return "routed"


def route_create(*, app: App, body: Any) -> InboundRoute:
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    errors: list[ApiError] = []
    for key in body:
        if key not in ("url", "secret", "provider", "number"):
            errors.append(ApiError("unknown_field", f"'{key}' is not a known field.", source=key))
    checked = _webhook_check({k: body.get(k) for k in ("url", "secret")}, "", errors)
    for e in errors:  # _webhook_check names ".url": the route's fields are top-level
        if e.source and e.source.startswith("."):
            e.source = e.source[1:]
    provider = None
    name = body.get("provider")
    if name not in (None, ""):
        provider = (
            Provider.objects.filter(tenant=app.tenant, name=name).first()
            if isinstance(name, str)
            else None
        )
        if provider is None:
            errors.append(ApiError("unknown_provider", f"No provider named '{name}'.",
                                   source="provider"))  # fmt: skip
    number = body.get("number") or ""
    if number:
        try:
            number = phone_normalize(number, app.tenant.default_country)
        except ValueError as exc:
            errors.append(ApiError("invalid_number", str(exc), source="number"))
    if errors:
        raise ApiErrors(errors)
    if InboundRoute.objects.filter(app=app, provider=provider, number=number).exists():
        raise ApiError(
            "route_exists",
            "This app already has an inbound webhook for that provider and number: delete it "
            "first.",
            source="url",
            status=409,
        )
    route = InboundRoute(tenant=app.tenant, app=app, provider=provider, number=number,
                         url=checked["url"])  # fmt: skip
    route.secret = checked["secret"]
    route.save()
    return route


# --- status and timeout --------------------------------------------------------------------


def messages_status_changed(messages: list[Message], at: datetime) -> int:
    """Messages moved: those of a conversation go to its status webhook (one query for the
    batch, whatever its size)."""
    by_id = {m.pk: m for m in messages}
    links = ConversationMessage.objects.filter(message_id__in=list(by_id)).select_related(
        "conversation__app"
    )
    sent = 0
    for link in links:
        conversation, message = link.conversation, by_id[link.message_id]
        webhook = conversation.webhook("status")
        if webhook is None:
            continue
        url, secret = webhook
        payload = {
            **_base_payload(conversation, "conversation.status", at),
            "messageId": str(message.pk),
            "role": link.role,
            "status": message.status_info.as_dict(),
            "error": message.error,
        }
        webhook_enqueue(
            app=conversation.app, url=url, payload=payload, event="conversation.status",
            secret=secret, message=message,
        )  # fmt: skip
        ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.STATUS, at=at,
            detail={"messageId": str(message.pk), "status": message.status},
        )  # fmt: skip
        sent += 1
    return sent


def conversations_expire(now: datetime | None = None) -> int:
    """responseTimeout passed: TIMED_OUT, an event, and conversation.timed_out to the status
    webhook. Each conversation moves once (a guarded UPDATE), whoever else runs the sweep."""
    now = now or timezone.now()
    expired = 0
    due = list(
        Conversation.objects.filter(
            state=Conversation.State.AWAITING_RESPONSE, expires_at__lte=now
        ).select_related("app")[:SWEEP_BATCH]
    )
    for conversation in due:
        with transaction.atomic():
            if not Conversation.objects.filter(
                pk=conversation.pk, state=Conversation.State.AWAITING_RESPONSE
            ).update(state=Conversation.State.TIMED_OUT, ended_at=now, updated_at=now):
                continue
            conversation.state = Conversation.State.TIMED_OUT
            ConversationEvent.objects.create(
                conversation=conversation, kind=ConversationEvent.Kind.TIMED_OUT, at=now,
                detail={"responseTimeout": conversation.response_timeout},
            )  # fmt: skip
            webhook = conversation.webhook("status")
            if webhook:
                url, secret = webhook
                webhook_enqueue(
                    app=conversation.app, url=url, event="conversation.timed_out",
                    payload={**_base_payload(conversation, "conversation.timed_out", now),
                             "responseTimeout": conversation.response_timeout},
                    secret=secret,
                )  # fmt: skip
            expired += 1
    return expired
