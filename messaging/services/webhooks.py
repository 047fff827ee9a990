"""The intake of providers' webhooks: verify and parse a call through the provider's adapter,
move its messages forward, store its inbound messages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from contacts import services as contact_services
from core.text import storable
from providers.backends import WebhookEvents, WebhookRejected, WebhookReply, WebhookRequest
from providers.models import InboundMessage, Provider

from ..signals import inbound_received
from .status import message_reports_apply


def _provider_for_token(token: str) -> Provider:
    provider = Provider.objects.select_related("tenant").filter(webhook_token=token).first()
    if provider is None:
        raise WebhookRejected("Unknown webhook.", status=404)
    return provider


@dataclass
class WebhookOutcome:
    provider: Provider
    events: WebhookEvents
    applied: int
    stored: list[InboundMessage]


def webhook_receive(*, token: str, kind: str, request: WebhookRequest) -> WebhookOutcome:
    """Verify and parse a call to a provider's `kind` webhook URL; move its messages forward
    and store its inbound messages (a provider may send both to one URL)."""
    provider = _provider_for_token(token)
    events = _storable(provider.backend().parse_webhook(kind, request))
    applied = message_reports_apply(provider=provider, reports=events.reports)
    stored = _inbound_store(provider, events.inbound)
    return WebhookOutcome(provider=provider, events=events, applied=applied, stored=stored)


def _storable(events: WebhookEvents) -> WebhookEvents:
    """What the provider sent, as the databases can store it (no NUL, no lone surrogate):
    cleaned, not refused, or the provider would retry it forever."""

    def clean(item):
        changes = {
            f.name: storable(getattr(item, f.name))
            for f in dataclasses.fields(item)
            if isinstance(getattr(item, f.name), str | dict | list)
        }
        return dataclasses.replace(item, **changes)

    return WebhookEvents(
        reports=[clean(r) for r in events.reports], inbound=[clean(i) for i in events.inbound]
    )


def webhook_challenge(*, token: str, kind: str, request: WebhookRequest) -> WebhookReply | None:
    """A GET to a webhook URL: a provider's verification handshake (Meta), or None when the
    provider type sends its events by GET (Vonage may), to be received like a POST."""
    backend = _provider_for_token(token).backend()
    if backend.get_webhooks_carry_events:
        return None
    return backend.webhook_challenge(kind, request)


def status_webhook_receive(*, token: str, request: WebhookRequest) -> int:
    """Verify and parse a provider's status report, and move its messages forward."""
    return webhook_receive(token=token, kind="status", request=request).applied


def inbound_webhook_receive(*, token: str, request: WebhookRequest) -> list[InboundMessage]:
    return webhook_receive(token=token, kind="inbound", request=request).stored


def _inbound_store(provider: Provider, items) -> list[InboundMessage]:
    stored = []
    for item in items:
        if item.provider_message_id:
            existing = InboundMessage.objects.filter(
                provider=provider, provider_message_id=item.provider_message_id
            ).first()
            if existing:  # a provider's retry of a message we already have
                stored.append(existing)
                continue
        inbound = InboundMessage.objects.create(
            tenant=provider.tenant,
            provider=provider,
            channel=item.channel,
            sender=item.sender,
            recipient=item.recipient,
            text=item.text,
            provider_message_id=item.provider_message_id,
            payload=item.raw if isinstance(item.raw, dict) else {"raw": item.raw},
            contact=contact_services.contact_for_address(
                tenant=provider.tenant, channel=item.channel, address=item.sender
            ),
        )
        stored.append(inbound)
        contact_services.inbound_seen(inbound)  # the care window; STOP / START keywords
        # Only a new one, in its transaction: conversations claim it or route it to the app.
        inbound_received.send(sender=InboundMessage, inbound=inbound)
    return stored
