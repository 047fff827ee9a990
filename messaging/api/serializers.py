"""Output shapes (camelCase), and request/response shapes for the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from providers.models import Provider

from ..models import Message, MessageEvent, Template


def provider_data(p: Provider) -> dict[str, Any]:
    return {
        "name": p.name,
        "providerType": p.provider_type,
        "channels": p.channels,
        "defaultSender": p.default_sender,
        "isActive": p.is_active,
        "isTenantDefault": p.is_tenant_default,
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


# --- Shapes for the OpenAPI schema only (requests are validated by the services). ---


class StatusSerializer(serializers.Serializer):
    groupName = serializers.ChoiceField(
        ["PENDING", "DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED", "CANCELLED"]
    )
    name = serializers.CharField()
    description = serializers.CharField()


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    source = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    errors = ErrorItemSerializer(many=True)


class ProviderSerializer(serializers.Serializer):
    name = serializers.CharField()
    providerType = serializers.CharField()
    channels = serializers.ListField(child=serializers.CharField())
    defaultSender = serializers.CharField()
    isActive = serializers.BooleanField()
    isTenantDefault = serializers.BooleanField()
    inboundWebhookUrl = serializers.URLField()
    statusWebhookUrl = serializers.URLField()


class ProviderInSerializer(serializers.Serializer):
    name = serializers.CharField()
    providerType = serializers.CharField()
    channels = serializers.ListField(child=serializers.CharField(), required=False)
    credentials = serializers.DictField(required=False)
    defaultSender = serializers.CharField(required=False)
    isActive = serializers.BooleanField(required=False)
    isTenantDefault = serializers.BooleanField(required=False)


class ProviderEnvelopeSerializer(serializers.Serializer):
    data = ProviderSerializer()


class TemplateSerializer(serializers.Serializer):
    name = serializers.CharField()
    mode = serializers.ChoiceField(["sms", "email", "whatsapp", "viber", "rcs", "push"])
    data = serializers.DictField()
    isActive = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class TemplateEnvelopeSerializer(serializers.Serializer):
    data = TemplateSerializer()


class PreviewInSerializer(serializers.Serializer):
    data = serializers.DictField(required=False)


class PreviewSerializer(serializers.Serializer):
    mode = serializers.CharField()
    body = serializers.CharField()
    subject = serializers.CharField(required=False)
    html = serializers.CharField(required=False)
    encoding = serializers.CharField(required=False)
    segments = serializers.IntegerField(required=False)
    characters = serializers.IntegerField(required=False)


class SendInSerializer(serializers.Serializer):
    sms = serializers.ListField(child=serializers.DictField(), required=False)
    email = serializers.ListField(child=serializers.DictField(), required=False)
    whatsapp = serializers.ListField(child=serializers.DictField(), required=False)
    callback = serializers.DictField(required=False)
    scheduledAt = serializers.DateTimeField(required=False)
    priority = serializers.ChoiceField(["high", "normal", "low"], required=False)
    validity = serializers.IntegerField(required=False, help_text="minutes")
    textStore = serializers.ChoiceField(["plaintext", "sha256", "nostore"], required=False)


class AcceptedMessageSerializer(serializers.Serializer):
    messageId = serializers.UUIDField()
    channel = serializers.CharField()
    to = serializers.CharField()
    status = StatusSerializer()


class AcceptedSerializer(serializers.Serializer):
    requestId = serializers.UUIDField()
    messages = AcceptedMessageSerializer(many=True)


class EventSerializer(serializers.Serializer):
    status = serializers.CharField()
    groupName = serializers.CharField()
    source = serializers.CharField()
    description = serializers.CharField()
    errorCode = serializers.CharField(allow_null=True)
    timestamp = serializers.DateTimeField()


class MessageSerializer(serializers.Serializer):
    messageId = serializers.UUIDField()
    requestId = serializers.UUIDField()
    channel = serializers.CharField()
    to = serializers.CharField()
    status = StatusSerializer()
    error = serializers.DictField(allow_null=True)
    provider = serializers.CharField()
    providerMessageId = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()
    price = serializers.DictField(allow_null=True)
    createdAt = serializers.DateTimeField()
    events = EventSerializer(many=True, required=False)
