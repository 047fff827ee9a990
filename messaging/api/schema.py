"""The OpenAPI schema's shapes: what the API takes and answers, as it really does.

Requests are validated by the services, not by these serializers: they only describe the
bodies for drf-spectacular. `Closed` bodies are `additionalProperties: false` because the API
refuses an unknown field with 400 `unknown_field`; the page envelope is PageNumberPagination's;
every operation lists its error answers with the error document of API.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema_field
from rest_framework import serializers

from core import status as st
from core.openapi import (  # noqa: F401 (re-exported: the API apps' shared shapes)
    PAGE_PARAMETERS,
    WHY_404_LIST,
    AnyObject,
    Closed,
    ErrorItemSerializer,
    ErrorSerializer,
    error_answers,
    page_of,
)
from providers.backends.base import backend_types
from providers.models import CHANNEL_CHOICES

from ..services.accept import MAX_EMAIL_RECIPIENTS, MAX_SCHEDULE_DAYS, MAX_VALIDITY_MINUTES
from ..services.templates import FORMATS

CHANNELS = [c for c, _ in CHANNEL_CHOICES]


# --- Answers ---


class StatusSerializer(serializers.Serializer):
    groupName = serializers.ChoiceField(st.GROUPS)
    name = serializers.CharField(help_text="The precise state, e.g. PENDING_ACCEPTED.")
    description = serializers.CharField(allow_blank=True)


class ProviderSerializer(serializers.Serializer):
    name = serializers.CharField()
    providerType = serializers.CharField()
    channels = serializers.ListField(child=serializers.ChoiceField(CHANNELS))
    defaultSender = serializers.CharField(allow_blank=True)
    isActive = serializers.BooleanField()
    isTenantDefault = serializers.BooleanField()
    inboundWebhookUrl = serializers.URLField()
    statusWebhookUrl = serializers.URLField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class ProviderEnvelopeSerializer(serializers.Serializer):
    data = ProviderSerializer()


class TemplateSerializer(serializers.Serializer):
    name = serializers.CharField()
    mode = serializers.ChoiceField(CHANNELS)
    data = AnyObject()
    isActive = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class TemplateEnvelopeSerializer(serializers.Serializer):
    data = TemplateSerializer()


class PreviewSerializer(serializers.Serializer):
    """The rendered fields; `encoding` to `remainingInSegment` for SMS only."""

    mode = serializers.ChoiceField(CHANNELS)
    body = serializers.CharField(allow_blank=True)
    subject = serializers.CharField(required=False, allow_blank=True)
    html = serializers.CharField(required=False, allow_blank=True)
    media = AnyObject(required=False)
    buttons = serializers.ListField(required=False)
    originationNumber = serializers.CharField(required=False, allow_blank=True)
    externalRef = serializers.CharField(required=False, allow_blank=True)
    encoding = serializers.ChoiceField(["GSM-7", "UCS-2"], required=False)
    characters = serializers.IntegerField(required=False, min_value=0)
    units = serializers.IntegerField(required=False, min_value=0)
    segments = serializers.IntegerField(required=False, min_value=0)
    perSegment = serializers.IntegerField(required=False, min_value=0)
    remainingInSegment = serializers.IntegerField(required=False, min_value=0)
    # `from` is a Python keyword: declared through the class namespace.
    vars()["from"] = serializers.CharField(required=False, allow_blank=True)


class MessageErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    permanent = serializers.BooleanField()


class AcceptedMessageSerializer(serializers.Serializer):
    messageId = serializers.UUIDField()
    channel = serializers.ChoiceField(CHANNELS)
    to = serializers.CharField()
    status = StatusSerializer()
    # Only for a message refused at accept (suppressed, session_expired).
    error = MessageErrorSerializer(required=False)


class AcceptedSerializer(serializers.Serializer):
    requestId = serializers.UUIDField()
    messages = AcceptedMessageSerializer(many=True)


class EventSerializer(serializers.Serializer):
    status = serializers.CharField()
    groupName = serializers.CharField()
    source = serializers.CharField(help_text="api, dispatch, provider, sweep or client")
    description = serializers.CharField(allow_blank=True)
    errorCode = serializers.CharField(allow_null=True)
    timestamp = serializers.DateTimeField()


class PriceSerializer(serializers.Serializer):
    amount = serializers.CharField(help_text="A decimal number as a string.")
    currency = serializers.CharField(allow_blank=True)


class EmailRecipientsSerializer(serializers.Serializer):
    to = serializers.ListField(child=serializers.CharField())
    cc = serializers.ListField(child=serializers.CharField())
    bcc = serializers.ListField(child=serializers.CharField())


class MessageSerializer(serializers.Serializer):
    """A message; `subject`, `body` and `events` (the timeline) on GET of one message."""

    messageId = serializers.UUIDField()
    requestId = serializers.UUIDField()
    channel = serializers.ChoiceField(CHANNELS)
    to = serializers.CharField()
    status = StatusSerializer()
    error = MessageErrorSerializer(allow_null=True)
    provider = serializers.CharField(allow_null=True)
    providerMessageId = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField(min_value=0)
    price = PriceSerializer(allow_null=True)
    scheduledAt = serializers.DateTimeField(allow_null=True)
    expiresAt = serializers.DateTimeField()
    createdAt = serializers.DateTimeField()
    sentAt = serializers.DateTimeField(allow_null=True)
    finalAt = serializers.DateTimeField(allow_null=True)
    template = serializers.CharField(allow_null=True)
    recipients = EmailRecipientsSerializer(required=False, help_text="email: to, cc and bcc")
    subject = serializers.CharField(required=False, allow_null=True)
    body = serializers.CharField(required=False, allow_blank=True)
    events = EventSerializer(many=True, required=False)
    vars()["from"] = serializers.CharField(allow_null=True)


ProviderPageSerializer = page_of(ProviderSerializer)
TemplatePageSerializer = page_of(TemplateSerializer)
MessagePageSerializer = page_of(MessageSerializer)


def _path(name: str, kind: Any, example: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample(example, value=example)],
    )


PROVIDER_NAME = _path("name", str, "sandbox", "The provider's name.")
TEMPLATE_NAME = _path("name", str, "otp", "The template's name.")
MESSAGE_ID = _path(
    "message_id", OpenApiTypes.UUID, "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", "The messageId."
)


# --- Requests ---


class ProviderInSerializer(Closed):
    name = serializers.CharField(max_length=100, help_text="1 to 100 characters, without '/'.")
    providerType = serializers.ChoiceField(sorted(backend_types()))
    channels = serializers.ListField(child=serializers.ChoiceField(CHANNELS), required=False)
    credentials = AnyObject(
        required=False, help_text="The provider type's own keys (API.md); never returned."
    )
    defaultSender = serializers.CharField(required=False, allow_blank=True)
    isActive = serializers.BooleanField(required=False)
    isTenantDefault = serializers.BooleanField(required=False)


class ProviderChangeSerializer(ProviderInSerializer):
    """A provider's type cannot change."""

    providerType = None


class TemplateDataSerializer(Closed):
    body = serializers.CharField(help_text="Placeholders are {{name}}.")
    subject = serializers.CharField(required=False, help_text="email: required")
    format = serializers.ChoiceField(FORMATS, required=False)
    externalRef = serializers.CharField(required=False, allow_blank=True)
    originationNumber = serializers.CharField(required=False, allow_blank=True)
    media = AnyObject(required=False)
    buttons = serializers.ListField(required=False)
    vars()["from"] = serializers.CharField(required=False, allow_blank=True)


class TemplateInSerializer(Closed):
    name = serializers.CharField(max_length=100, help_text="1 to 100 characters, without '/'.")
    mode = serializers.ChoiceField(CHANNELS)
    data = TemplateDataSerializer()
    isActive = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class PreviewInSerializer(Closed):
    data = AnyObject(required=False, help_text="Placeholder values.")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "E.164, or national in the tenant's country"},
            {
                "type": "object",
                "properties": {"countryCode": {"type": "string"}, "number": {"type": "string"}},
                "required": ["number"],
                "additionalProperties": False,
            },
        ]
    }
)
class PhoneRecipientField(serializers.Field):
    """ "+14155550100", or {"countryCode", "number"}."""


class PhoneEntrySerializer(Closed):
    """An sms or whatsapp entry: a template or inline `body`, and its recipients."""

    template = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    provider = serializers.CharField(required=False, help_text="default: the tenant's default")
    data = AnyObject(required=False)
    to = serializers.ListField(child=PhoneRecipientField(), min_length=1)
    senderId = serializers.CharField(required=False)
    originationNumber = serializers.CharField(required=False)
    externalRef = serializers.CharField(required=False)
    media = AnyObject(required=False)
    buttons = serializers.ListField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    providerTemplate = AnyObject(required=False, help_text="{name, language, params}")
    vars()["from"] = serializers.CharField(required=False)


class EmailEntrySerializer(Closed):
    """One email: `to`, `cc` and `bcc` together at most 50 addresses."""

    template = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    subject = serializers.CharField(required=False)
    format = serializers.ChoiceField(FORMATS, required=False)
    provider = serializers.CharField(required=False)
    data = AnyObject(required=False)
    to = serializers.ListField(
        child=serializers.CharField(), min_length=1, max_length=MAX_EMAIL_RECIPIENTS
    )
    cc = serializers.ListField(child=serializers.CharField(), required=False)
    bcc = serializers.ListField(child=serializers.CharField(), required=False)
    replyTo = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    vars()["from"] = serializers.CharField(required=False)


class CallbackSerializer(Closed):
    url = serializers.URLField(max_length=2000)
    meta = serializers.JSONField(required=False, help_text="Any JSON, echoed in each callback.")


class SendInSerializer(Closed):
    sms = serializers.ListField(child=PhoneEntrySerializer(), required=False)
    email = serializers.ListField(child=EmailEntrySerializer(), required=False)
    whatsapp = serializers.ListField(child=PhoneEntrySerializer(), required=False)
    callback = CallbackSerializer(required=False)
    scheduledAt = serializers.DateTimeField(
        required=False,
        help_text=f"With a timezone; not in the past, at most {MAX_SCHEDULE_DAYS} days ahead.",
    )
    priority = serializers.ChoiceField(["high", "normal", "low"], required=False)
    validity = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_VALIDITY_MINUTES, help_text="minutes"
    )
    textStore = serializers.ChoiceField(["plaintext", "sha256", "nostore"], required=False)


# --- Error answers ---

_WHY_409_POST = "Conflict, or the Idempotency-Key was used with a different request."

RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 255},
    OpenApiParameter.HEADER,
    description="A repeat with the same key and body within 24 hours replays the first "
    "answer and creates nothing; the same key with another body is a 409.",
)


def errors(*codes: int, list_page: bool = False, post: bool = False) -> dict[int, Any]:
    """The error answers of an operation: `codes`, plus what every operation can answer
    (400 for a NUL in the URL, 401 and 403 from the key, 429 from the rate limit)."""
    why = {}
    if list_page:
        why[404] = WHY_404_LIST
    if post:
        why[409] = _WHY_409_POST
    return error_answers(*codes, why=why)


def example_schedule() -> str:
    """A scheduledAt the API takes today: tomorrow 09:00 UTC (between 15 and 39 hours
    ahead, so never past and well inside the limit)."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(9), tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS' hook. Every 429 carries `Retry-After`. Request examples'
    scheduledAt is set when the schema is served, so that "Try it" sends a date the API
    accepts (never past, never too far ahead)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            throttled = operation.get("responses", {}).get("429")
            if throttled is not None:
                throttled.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                for example in media.get("examples", {}).values():
                    value = example.get("value")
                    if isinstance(value, dict) and "scheduledAt" in value:
                        value["scheduledAt"] = example_schedule()
    return result
