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


def provider_backups_clean(
    *,
    tenant: Tenant,
    name: str,
    channels: list[str],
    backups: Any,
    pk: int | None = None,
    current: dict[str, int] | None = None,
) -> dict[str, int]:
    """`{"sms": "<provider name>", ...}` (null removes one) merged into `current`, as the
    stored `{channel: provider id}`. A backup is another provider of the same tenant that
    serves the channel; a channel must be one this provider serves. Cycles are allowed
    (dispatch never returns a message to a provider it tried)."""
    if not isinstance(backups, dict):
        raise ApiError(
            "invalid_backups",
            'backups must be an object of channel to provider name, e.g. {"sms": "backup"}.',
            source="backups",
        )
    merged = {ch: pid for ch, pid in (current or {}).items() if ch in channels}
    errors: list[ApiError] = []
    wanted = {v for v in backups.values() if isinstance(v, str)}
    by_name = {p.name: p for p in Provider.objects.filter(tenant=tenant, name__in=wanted)}
    for channel, value in backups.items():
        source = f"backups.{channel}"
        if channel not in channels:
            errors.append(
                ApiError(
                    "invalid_backup",
                    f"'{name}' does not send on '{channel}' (it serves {', '.join(channels)}).",
                    source=source,
                )
            )
            continue
        if value is None:
            merged.pop(channel, None)
            continue
        if not isinstance(value, str) or not value:
            errors.append(ApiError("invalid_backup", "A provider's name.", source=source))
            continue
        backup = by_name.get(value)
        if backup is None:
            errors.append(
                ApiError("invalid_backup", f"There is no provider named '{value}'.", source=source)
            )
        elif value == name or (pk is not None and backup.pk == pk):
            errors.append(
                ApiError("invalid_backup", "A provider cannot be its own backup.", source=source)
            )
        elif channel not in backup.channels:
            errors.append(
                ApiError(
                    "invalid_backup",
                    f"Provider '{value}' does not send on '{channel}'.",
                    source=source,
                )
            )
        elif not backup.is_active:
            errors.append(
                ApiError("invalid_backup", f"Provider '{value}' is inactive.", source=source)
            )
        else:
            merged[channel] = backup.pk
    if errors:
        raise ApiErrors(errors)
    return merged


def provider_backup_names(provider: Provider) -> dict[str, str]:
    """The provider's backups by channel, as names (one query; none without backups)."""
    stored = provider.backups or {}
    if not stored:
        return {}
    names = dict(
        Provider.objects.filter(tenant_id=provider.tenant_id, pk__in=stored.values()).values_list(
            "pk", "name"
        )
    )
    return {ch: names[pid] for ch, pid in stored.items() if pid in names}


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
    backups: dict[str, Any] | None = None,
) -> Provider:
    channels = provider_channels_check(provider_type, channels)
    cleaned = provider_credentials_clean(provider_type, credentials)
    stored_backups = (
        provider_backups_clean(tenant=tenant, name=name, channels=channels, backups=backups)
        if backups is not None
        else {}
    )
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
        backups=stored_backups,
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
    if "backups" in changes or "channels" in changes:
        # A channel the provider no longer serves loses its backup.
        provider.backups = provider_backups_clean(
            tenant=provider.tenant,
            name=provider.name,
            channels=provider.channels,
            backups=changes.get("backups", {}),
            pk=provider.pk,
            current=provider.backups,
        )
    if provider.is_tenant_default:
        provider_default_check(provider.tenant, provider.channels, provider.pk)
    provider.save()
    return provider


def provider_delete(*, provider: Provider) -> None:
    # Messages refer to their provider with on_delete=PROTECT: their history keeps it.
    try:
        with transaction.atomic():
            pk = provider.pk
            provider.delete()
            # Those that named it as a backup no longer do.
            for other in Provider.objects.filter(tenant_id=provider.tenant_id):
                kept = {ch: pid for ch, pid in (other.backups or {}).items() if pid != pk}
                if kept != (other.backups or {}):
                    Provider.objects.filter(pk=other.pk).update(backups=kept)
    except ProtectedError:
        raise ApiError(
            "provider_in_use",
            f"Provider '{provider.name}' has sent messages whose history refers to it; "
            "deactivate it instead (isActive: false).",
            status=409,
        ) from None
