"""Provider services: register, change, remove (their webhooks: messaging.services.webhooks)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core.errors import ApiError, ApiErrors
from tenants.models import Tenant

from .backends import (
    CredentialsInvalid,
    get_backend_class,
)
from .backends.base import backend_types
from .models import Provider

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
    # Messages refer to their provider with on_delete=PROTECT: their history keeps it.
    try:
        with transaction.atomic():
            provider.delete()
    except ProtectedError:
        raise ApiError(
            "provider_in_use",
            f"Provider '{provider.name}' has sent messages whose history refers to it; "
            "deactivate it instead (isActive: false).",
            status=409,
        ) from None
