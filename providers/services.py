"""Provider services: register, change, remove; receive their webhooks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from messaging.api.errors import ApiError, ApiErrors
from tenants.models import Tenant

from .backends import (
    CredentialsInvalid,
    WebhookEvents,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    get_backend_class,
)
from .backends.base import backend_types
from .models import InboundMessage, Provider

logger = logging.getLogger(__name__)


def provider_channels_check(provider_type: str, channels: list[str] | None) -> list[str]:
    if provider_type not in backend_types():
        raise ApiError(
            "unknown_provider_type",
            f"'{provider_type}' is not a provider type; known types: "
            f"{', '.join(sorted(backend_types()))}.",
            source="providerType",
        )
    supported = get_backend_class(provider_type).channels
    if not channels:
        return list(supported)
    errors = [
        ApiError(
            "unsupported_channel",
            f"Provider type '{provider_type}' does not serve '{ch}' "
            f"(it serves {', '.join(supported)}).",
            source=f"channels[{i}]",
        )
        for i, ch in enumerate(channels)
        if ch not in supported
    ]
    if errors:
        raise ApiErrors(errors)
    return list(dict.fromkeys(channels))


def provider_credentials_clean(provider_type: str, credentials: dict[str, Any]) -> dict[str, Any]:
    try:
        return get_backend_class(provider_type).clean_credentials(credentials)
    except CredentialsInvalid as exc:
        raise ApiErrors(
            ApiError(
                "invalid_credentials",
                f"'{key}' {message}." if key else f"credentials {message}.",
                source=f"credentials.{key}" if key else "credentials",
            )
            for key, message in exc.errors.items()
        ) from None


def provider_default_check(tenant: Tenant, channels: list[str], exclude_pk: int | None) -> None:
    """One default provider per channel per tenant: a clash is refused, naming the holder."""
    # Lock the tenant row so two concurrent requests cannot both become the default.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    others = Provider.objects.filter(tenant=tenant, is_tenant_default=True).exclude(pk=exclude_pk)
    for other in others:
        clash = sorted(set(other.channels) & set(channels))
        if clash:
            raise ApiError(
                "default_conflict",
                f"Provider '{other.name}' is already the default for {', '.join(clash)}; "
                "unset it first.",
                source="isTenantDefault",
                status=409,
            )


@transaction.atomic
def provider_create(
    *,
    tenant: Tenant,
    name: str,
    provider_type: str,
    credentials: dict[str, Any],
    channels: list[str] | None = None,
    default_sender: str = "",
    is_active: bool = True,
    is_tenant_default: bool = False,
) -> Provider:
    channels = provider_channels_check(provider_type, channels)
    cleaned = provider_credentials_clean(provider_type, credentials)
    if Provider.objects.filter(tenant=tenant, name=name).exists():
        raise ApiError(
            "duplicate_name", f"A provider named '{name}' exists.", source="name", status=409
        )
    if is_tenant_default:
        provider_default_check(tenant, channels, None)
    provider = Provider(
        tenant=tenant,
        name=name,
        provider_type=provider_type,
        channels=channels,
        default_sender=default_sender,
        is_active=is_active,
        is_tenant_default=is_tenant_default,
    )
    provider.credentials = cleaned
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError:
        raise ApiError(
            "duplicate_name", f"A provider named '{name}' exists.", source="name", status=409
        ) from None
    return provider


@transaction.atomic
def provider_update(
    *, provider: Provider, changes: dict[str, Any], replace_credentials: bool = False
) -> Provider:
    """Apply a PATCH. Credentials given replace the stored keys of the same name (or, with
    `replace_credentials`, the whole set: the admin form edits all of them at once)."""
    if "name" in changes and changes["name"] != provider.name:
        if Provider.objects.filter(tenant=provider.tenant, name=changes["name"]).exists():
            raise ApiError(
                "duplicate_name",
                f"A provider named '{changes['name']}' exists.",
                source="name",
                status=409,
            )
        provider.name = changes["name"]
    if "channels" in changes:
        provider.channels = provider_channels_check(provider.provider_type, changes["channels"])
    if "credentials" in changes:
        base = {} if replace_credentials else provider.credentials
        merged = {**base, **changes["credentials"]}
        provider.credentials = provider_credentials_clean(provider.provider_type, merged)
    for field, attr in (
        ("defaultSender", "default_sender"),
        ("isActive", "is_active"),
        ("isTenantDefault", "is_tenant_default"),
    ):
        if field in changes:
            setattr(provider, attr, changes[field])
    if provider.is_tenant_default:
        provider_default_check(provider.tenant, provider.channels, provider.pk)
    provider.save()
    return provider


def provider_delete(*, provider: Provider) -> None:
    from messaging.models import Message

    if Message.objects.filter(provider=provider).exists():
        raise ApiError(
            "provider_in_use",
            f"Provider '{provider.name}' has sent messages whose history refers to it; "
            "deactivate it instead (isActive: false).",
            status=409,
        )
    provider.delete()


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
    from messaging.services.status import message_reports_apply

    provider = _provider_for_token(token)
    events = provider.backend().parse_webhook(kind, request)
    applied = message_reports_apply(provider=provider, reports=events.reports)
    stored = _inbound_store(provider, events.inbound)
    return WebhookOutcome(provider=provider, events=events, applied=applied, stored=stored)


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
        stored.append(
            InboundMessage.objects.create(
                tenant=provider.tenant,
                provider=provider,
                channel=item.channel,
                sender=item.sender,
                recipient=item.recipient,
                text=item.text,
                provider_message_id=item.provider_message_id,
                payload=item.raw if isinstance(item.raw, dict) else {"raw": item.raw},
            )
        )
    return stored
