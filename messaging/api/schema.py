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
from core.sms import AUTOCONVERT_MODES
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
    backups = serializers.DictField(
        child=serializers.CharField(),
        help_text="{channel: provider name}: where its messages go when it is down.",
    )
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
    language = serializers.CharField(
        allow_blank=True, help_text="The language of data, e.g. en; empty when not said."
    )
    translations = serializers.DictField(
        child=AnyObject(), help_text="{tag: fields of data that the locale gets instead}"
    )
    isActive = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class TemplateEnvelopeSerializer(serializers.Serializer):
    data = TemplateSerializer()


class PreviewSerializer(serializers.Serializer):
    """The rendered fields; `encoding` to `remainingInSegment` for SMS only."""

    mode = serializers.ChoiceField(CHANNELS)
    locale = serializers.CharField(
        allow_null=True, help_text="The language shown: a translation's tag or the default."
    )
    body = serializers.CharField(allow_blank=True)
    subject = serializers.CharField(required=False, allow_blank=True)
    html = serializers.CharField(required=False, allow_blank=True)
    title = serializers.CharField(required=False, allow_blank=True, help_text="push")
    payload = AnyObject(required=False, help_text="push: the data for the app")
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
    autoconvert = serializers.ChoiceField(
        AUTOCONVERT_MODES, required=False, help_text="SMS: the conversion the body had."
    )
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


MEDIA_KINDS = ["image", "document"]
MEDIA_CONTENT_TYPES = [
    "image/jpeg", "image/png", "application/pdf", "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
]  # fmt: skip


class MediaSerializer(serializers.Serializer):
    """An uploaded file: its type sniffed from the content, and a link that serves it."""

    mediaId = serializers.CharField(help_text="med_ and 32 hex digits")
    kind = serializers.ChoiceField(MEDIA_KINDS)
    filename = serializers.CharField(help_text="As given, with the extension of its real type.")
    contentType = serializers.ChoiceField(MEDIA_CONTENT_TYPES)
    size = serializers.IntegerField(min_value=1, help_text="bytes")
    sha256 = serializers.CharField()
    createdAt = serializers.DateTimeField()
    url = serializers.URLField(help_text="Serves the file without an API key until urlExpiresAt.")
    urlExpiresAt = serializers.DateTimeField()


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
MEDIA_ID = _path("media_id", str, "med_5f0c3a9e1b2d4c6e8f0a1b2c3d4e5f60", "The mediaId.")


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
    backups = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        required=False,
        help_text="{channel: provider name}: the backup for that channel when this provider is "
        "down (timeouts, 5xx, 429 after retries, an open circuit); another provider of the "
        "tenant serving the channel. On PATCH, merged; null removes one.",
    )


class ProviderChangeSerializer(ProviderInSerializer):
    """A provider's type cannot change."""

    providerType = None


class TemplateDataSerializer(Closed):
    body = serializers.CharField(
        required=False, help_text="Placeholders are {{name}}. Required, but push: title or body."
    )
    subject = serializers.CharField(required=False, help_text="email: required")
    title = serializers.CharField(required=False, help_text="push only: the notification's title")
    payload = AnyObject(required=False, help_text="push only: the data for the app")
    format = serializers.ChoiceField(FORMATS, required=False)
    externalRef = serializers.CharField(required=False, allow_blank=True)
    originationNumber = serializers.CharField(required=False, allow_blank=True)
    media = AnyObject(required=False)
    buttons = serializers.ListField(required=False)
    vars()["from"] = serializers.CharField(required=False, allow_blank=True)


class TranslationSerializer(TemplateDataSerializer):
    """The fields of `data` a locale gets instead; those not given are data's."""

    body = serializers.CharField(required=False, help_text="Placeholders are {{name}}.")
    subject = serializers.CharField(required=False)


LOCALE_HELP = "A language tag: en, de-AT, pt_BR (written pt-BR)."
POLICY_HELP = (
    "fallback: the closest translation (de-AT, then de), else the default language; "
    "deterministic: exactly the locale asked for, else 400 no_translation."
)


class TemplateInSerializer(Closed):
    name = serializers.CharField(max_length=100, help_text="1 to 100 characters, without '/'.")
    mode = serializers.ChoiceField(CHANNELS)
    data = TemplateDataSerializer()
    language = serializers.CharField(
        required=False, allow_blank=True, help_text="The language of data. " + LOCALE_HELP
    )
    translations = serializers.DictField(
        child=TranslationSerializer(allow_null=True),
        required=False,
        help_text="{tag: fields}. On PATCH per locale: a tag given replaces its translation, "
        "null deletes it, the others stay.",
    )
    isActive = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


AUTOCONVERT_HELP = (
    "SMS only. on (default): look-alikes (smart quotes, dashes, ellipsis, special spaces) "
    "become GSM 03.38; full: every non-GSM character becomes its closest GSM text (ë → e, "
    "else ?); off: the text as given."
)


class PreviewInSerializer(Closed):
    data = AnyObject(required=False, help_text="Placeholder values.")
    locale = serializers.CharField(required=False, help_text=LOCALE_HELP)
    languagePolicy = serializers.ChoiceField(
        ["fallback", "deterministic"], required=False, help_text=POLICY_HELP
    )
    autoconvert = serializers.ChoiceField(
        AUTOCONVERT_MODES, required=False, help_text=AUTOCONVERT_HELP
    )


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
    """An sms, whatsapp, viber or rcs entry: a template or inline `body`, and its recipients."""

    template = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    provider = serializers.CharField(required=False, help_text="default: the tenant's default")
    data = AnyObject(required=False)
    to = serializers.ListField(child=PhoneRecipientField(), min_length=1)
    senderId = serializers.CharField(
        required=False,
        help_text="SMS: a number (short code or E.164, 3 to 15 digits, + optional) or an "
        "alphanumeric id of up to 11 ASCII letters, digits, spaces and .-_& with a letter.",
    )
    originationNumber = serializers.CharField(required=False)
    externalRef = serializers.CharField(required=False)
    media = AnyObject(required=False)
    buttons = serializers.ListField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    providerTemplate = AnyObject(required=False, help_text="{name, language, params}")
    card = AnyObject(
        required=False,
        help_text="RCS: a standalone rich card {title?, description?, media?: one image or "
        "video, buttons?, orientation?, imageAlignment?, height?}; the body is then empty.",
    )
    carousel = AnyObject(
        required=False, help_text='RCS: {"cards": [card, ...] (2 to 10), "width"?: small|medium}'
    )
    locale = serializers.CharField(
        required=False, help_text="The template's translation for these messages. " + LOCALE_HELP
    )
    autoconvert = serializers.ChoiceField(
        AUTOCONVERT_MODES, required=False, help_text=AUTOCONVERT_HELP
    )
    udh = serializers.RegexField(
        r"^(?:[0-9A-Fa-f]{2}){3,138}$",
        required=False,
        help_text="SMS only: a User Data Header in hex (UDHL first), e.g. 050003CC0201; the "
        "text must fit one SMS beside it. Only through providers that carry one (Messente).",
    )
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
    locale = serializers.CharField(
        required=False, help_text="The template's translation for this email. " + LOCALE_HELP
    )
    vars()["from"] = serializers.CharField(required=False)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "An app's registration token (FCM)"},
            {
                "type": "object",
                "description": "A Web Push subscription, PushSubscription.toJSON()",
                "properties": {
                    "endpoint": {"type": "string", "format": "uri"},
                    "expirationTime": {"type": "number", "nullable": True},
                    "keys": {
                        "type": "object",
                        "properties": {"p256dh": {"type": "string"}, "auth": {"type": "string"}},
                        "required": ["p256dh", "auth"],
                        "additionalProperties": False,
                    },
                },
                "required": ["endpoint", "keys"],
                "additionalProperties": False,
            },
        ]
    }
)
class PushRecipientField(serializers.Field):
    """A registration token, or a Web Push subscription {endpoint, keys: {p256dh, auth}}."""


class PushEntrySerializer(Closed):
    """A push entry: a template or inline `title` and/or `body`, and its recipients (of the
    kind the provider sends to: FCM tokens, Web Push subscriptions; the sandbox both)."""

    template = serializers.CharField(required=False)
    title = serializers.CharField(required=False, help_text="The notification's title.")
    body = serializers.CharField(required=False)
    provider = serializers.CharField(required=False, help_text="default: the tenant's default")
    data = AnyObject(required=False, help_text="The placeholders' values.")
    to = serializers.ListField(child=PushRecipientField(), min_length=1)
    payload = AnyObject(
        required=False, help_text="The data for the app (FCM `data`, the Web Push payload's)."
    )
    image = serializers.URLField(required=False, help_text="One image (or media.image).")
    media = AnyObject(required=False, help_text="{image: {url}}")
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    locale = serializers.CharField(
        required=False, help_text="The template's translation for these messages. " + LOCALE_HELP
    )


class MediaUploadSerializer(Closed):
    file = serializers.FileField(
        help_text="jpg, jpeg or png up to 5 MB; pdf, doc or docx up to 100 MB (by content)."
    )


class MediaUrlInSerializer(Closed):
    """A file to fetch (through the guarded client: no private or loopback address)."""

    url = serializers.URLField(max_length=2000)
    filename = serializers.CharField(required=False, help_text="default: the URL's last part")


class CallbackSerializer(Closed):
    url = serializers.URLField(max_length=2000)
    meta = serializers.JSONField(required=False, help_text="Any JSON, echoed in each callback.")


class SendInSerializer(Closed):
    sms = serializers.ListField(child=PhoneEntrySerializer(), required=False)
    email = serializers.ListField(child=EmailEntrySerializer(), required=False)
    whatsapp = serializers.ListField(child=PhoneEntrySerializer(), required=False)
    viber = serializers.ListField(child=PhoneEntrySerializer(), required=False)
    rcs = serializers.ListField(child=PhoneEntrySerializer(), required=False)
    push = serializers.ListField(child=PushEntrySerializer(), required=False)
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
    locale = serializers.CharField(
        required=False,
        help_text="The locale of recipients whose own is not known (an entry's locale, then a "
        "contact's, win). " + LOCALE_HELP,
    )
    languagePolicy = serializers.ChoiceField(
        ["fallback", "deterministic"], required=False, help_text=POLICY_HELP
    )


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
