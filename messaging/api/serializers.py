"""Output shapes (camelCase); the OpenAPI schema describes them in `schema.py`."""

from __future__ import annotations

from typing import Any

from providers.models import Provider
from providers.services import provider_backup_names

from ..models import Message, MessageEvent, Template


def provider_data(p: Provider) -> dict[str, Any]:
    return {
        "name": p.name,
        "providerType": p.provider_type,
        "channels": p.channels,
        "defaultSender": p.default_sender,
        "isActive": p.is_active,
        "isTenantDefault": p.is_tenant_default,
        "backups": provider_backup_names(p),
        "inboundWebhookUrl": p.inbound_webhook_url,
        "statusWebhookUrl": p.status_webhook_url,
        "createdAt": p.created_at.isoformat(),
        "updatedAt": p.updated_at.isoformat(),
    }


def template_data(t: Template) -> dict[str, Any]:
    return {
        "name": t.name,
        "mode": t.mode,
        "data": t.data,
        "language": t.language,
        "translations": t.translations or {},
        "isActive": t.is_active,
        "tags": t.tags,
        "createdAt": t.created_at.isoformat(),
        "updatedAt": t.updated_at.isoformat(),
    }


def event_data(e: MessageEvent) -> dict[str, Any]:
    return {
        "status": e.status,
        "groupName": e.status.split("_", 1)[0],
        "source": e.source,
        "description": e.description,
        "errorCode": e.error_code or None,
        "timestamp": e.created_at.isoformat(),
    }


def message_data(m: Message, *, events: list[MessageEvent] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "messageId": str(m.id),
        "requestId": str(m.request_id),
        "channel": m.channel,
        "to": m.to,
        "status": m.status_info.as_dict(),
        "error": m.error,
        "provider": m.provider.name if m.provider_id else None,
        "providerMessageId": m.provider_message_id or None,
        "from": m.sender or None,
        "attempts": m.attempts,
        "price": {"amount": str(m.price), "currency": m.currency} if m.price is not None else None,
        "scheduledAt": m.scheduled_at.isoformat() if m.scheduled_at else None,
        "expiresAt": m.expires_at.isoformat(),
        "createdAt": m.created_at.isoformat(),
        "sentAt": m.sent_at.isoformat() if m.sent_at else None,
        "finalAt": m.final_at.isoformat() if m.final_at else None,
        "template": m.template.name if m.template_id and m.template else None,
    }
    if m.recipients:
        out["recipients"] = m.recipients
    if events is not None:
        out["subject"] = m.subject or None
        out["body"] = m.body
        out["events"] = [event_data(e) for e in events]
    return out
