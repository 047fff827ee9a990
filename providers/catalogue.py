"""The WhatsApp template catalogue: each provider's own templates with their approval, synced
from the provider (Backend.list_templates) into ProviderTemplate rows, and the check accept
makes against them.

A provider whose catalogue was never synced (templates_synced_at is null) is not checked:
without the provider's list we cannot know what it approved, and refusing every template
would stop a provider that was working before the catalogue existed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from django.db import transaction
from django.utils import timezone

from core.http import describe_error

from .backends import backend_types
from .backends.base import Backend, ListedTemplate, SendError
from .backends.content import ContentInvalid, content_parse
from .models import Provider, ProviderTemplate

logger = logging.getLogger(__name__)

_LIMITS = {f.name: f.max_length for f in ProviderTemplate._meta.fields if f.max_length}


class CatalogueError(Exception):
    """The provider's template list could not be read; `str()` says why, for people."""


@dataclass(frozen=True)
class CatalogueSync:
    added: int
    updated: int
    removed: int

    @property
    def total(self) -> int:
        return self.added + self.updated


def catalogue_backend(provider: Provider) -> type[Backend] | None:
    """The provider's adapter class if it has a template catalogue, else None."""
    backend = backend_types().get(provider.provider_type)
    if backend is None or not backend.can_list_templates or "whatsapp" not in provider.channels:
        return None
    return backend


def _cut(field: str, value: str) -> str:
    return value[: _LIMITS[field]]


def catalogue_sync(provider: Provider) -> CatalogueSync:
    """Read the provider's templates and make its catalogue exactly that, in one transaction:
    new ones added, changed ones updated, ones no longer listed removed; the sync is stamped.
    A failed read changes no row and is recorded on the provider (CatalogueError)."""
    if catalogue_backend(provider) is None:
        raise CatalogueError("This provider type has no template list to sync.")
    try:
        listed = provider.backend().list_templates()
    except SendError as exc:
        why = f"{exc.description} [{exc.code}]"
        _record_failure(provider, why)
        raise CatalogueError(why) from exc
    except requests.RequestException as exc:
        why = describe_error(exc)
        _record_failure(provider, why)
        raise CatalogueError(why) from exc
    return _store(provider, listed)


def _record_failure(provider: Provider, why: str) -> None:
    Provider.objects.filter(pk=provider.pk).update(templates_sync_error=why[:2000])
    provider.templates_sync_error = why[:2000]


def _store(provider: Provider, listed: list[ListedTemplate]) -> CatalogueSync:
    now = timezone.now()
    # One row per (name, language): a provider listing one twice keeps its last word.
    wanted: dict[tuple[str, str], ListedTemplate] = {}
    for item in listed:
        wanted[(_cut("name", item.name), _cut("language", item.language))] = item
    with transaction.atomic():
        Provider.objects.select_for_update().filter(pk=provider.pk).first()
        existing = {
            (t.name, t.language): t for t in ProviderTemplate.objects.filter(provider=provider)
        }
        gone = [t.pk for key, t in existing.items() if key not in wanted]
        ProviderTemplate.objects.filter(pk__in=gone).delete()
        new, changed = [], []
        for (name, language), item in wanted.items():
            row = existing.get((name, language)) or ProviderTemplate(
                provider=provider, name=name, language=language
            )
            row.status = _cut("status", item.status)
            row.provider_status = _cut("provider_status", item.raw_status)
            row.category = _cut("category", item.category)
            row.components = item.components if item.components is not None else []
            row.provider_template_id = _cut("provider_template_id", item.template_id)
            row.label = _cut("label", item.label)
            row.synced_at = now
            (changed if row.pk else new).append(row)
        ProviderTemplate.objects.bulk_create(new)
        ProviderTemplate.objects.bulk_update(
            changed,
            ["status", "provider_status", "category", "components", "provider_template_id",
             "label", "synced_at"],
        )  # fmt: skip
        Provider.objects.filter(pk=provider.pk).update(
            templates_synced_at=now, templates_sync_error=""
        )
    provider.templates_synced_at, provider.templates_sync_error = now, ""
    return CatalogueSync(added=len(new), updated=len(changed), removed=len(gone))


def catalogue_refresh_all() -> dict[str, int]:
    """The schedule's work: sync every active WhatsApp provider that has a catalogue; one
    provider's failure (recorded on it) does not stop the others."""
    counts = {"synced": 0, "failed": 0}
    for provider in Provider.objects.filter(is_active=True).order_by("pk"):
        if catalogue_backend(provider) is None:
            continue
        try:
            catalogue_sync(provider)
        except CatalogueError as exc:
            logger.warning("Template catalogue of provider %s not synced: %s", provider.pk, exc)
            counts["failed"] += 1
        except Exception:  # an adapter's bug must not stop the other providers
            logger.exception("Template catalogue of provider %s failed", provider.pk)
            _record_failure(provider, "The sync failed unexpectedly; see the server log.")
            counts["failed"] += 1
        else:
            counts["synced"] += 1
    return counts


# --- accept: refuse a providerTemplate the provider has not approved ----------------------
def _source(path: str, entry: dict[str, Any], planned: Any) -> str:
    """The request field that named the template."""
    if entry.get("providerTemplate") is not None:
        return f"{path}.providerTemplate.name"
    stored = planned.template.data if getattr(planned, "template", None) is not None else {}
    if (stored or {}).get("providerTemplate") is not None:
        return f"{path}.template"
    if isinstance(entry.get("externalRef"), str):
        return f"{path}.externalRef"
    return f"{path}.providerTemplate.name"


def catalogue_refusals(checks: list[tuple[str, dict[str, Any], Any]]) -> list[tuple[str, str, str]]:
    """(code, detail, source) for each WhatsApp entry whose providerTemplate its provider has
    not approved, by the provider's synced catalogue. `checks` holds (path, raw entry, planned
    entry with channel, provider, content, body, template). One query for the whole request."""
    wanted: list[tuple[str, str, Any, str, str | None]] = []
    backends: dict[int, Backend] = {}
    for path, entry, planned in checks:
        provider = planned.provider
        if (
            planned.channel != "whatsapp"
            or not planned.content
            or provider.templates_synced_at is None
        ):
            continue
        if catalogue_backend(provider) is None:
            continue
        try:
            template = content_parse(planned.content, planned.body).template
        except ContentInvalid:
            continue  # already refused by accept's content check
        if template is None:
            continue
        if provider.pk not in backends:
            backends[provider.pk] = provider.backend()
        name, language = backends[provider.pk].template_key(template)
        wanted.append((path, _source(path, entry, planned), provider, name, language))
    if not wanted:
        return []
    rows: dict[tuple[int, str], dict[str, tuple[str, str]]] = {}
    for provider_id, name, language, status, raw in ProviderTemplate.objects.filter(
        provider_id__in={w[2].pk for w in wanted}, name__in={w[3] for w in wanted}
    ).values_list("provider_id", "name", "language", "status", "provider_status"):
        rows.setdefault((provider_id, name), {})[language] = (status, raw)
    out = []
    for _path, source, provider, name, language in wanted:
        backend = backends[provider.pk]
        languages = rows.get((provider.pk, name), {})
        found = (
            list(languages.values())
            if language is None
            else ([languages[language]] if language in languages else [])
        )
        shown = f"'{name}'" + (f" ({language})" if language else "")
        synced = timezone.localtime(provider.templates_synced_at).strftime("%Y-%m-%d %H:%M %Z")
        if not found:
            out.append((
                "unknown_provider_template",
                f"WhatsApp template {shown} is not in the template catalogue of provider "
                f"'{provider.name}' (synced {synced}); refresh it if the template is new.",
                source,
            ))  # fmt: skip
        elif not any(status in backend.template_sendable for status, _ in found):
            status, raw = found[0]
            said = status if not raw or raw.upper() == status else f"{status} ({raw})"
            who = backend.label.split(" (", 1)[0]
            out.append((
                "template_not_approved",
                f"WhatsApp template {shown} is not approved by {who}: {said} "
                f"(provider '{provider.name}', catalogue synced {synced}).",
                source,
            ))  # fmt: skip
    return out
