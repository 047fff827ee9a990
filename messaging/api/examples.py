"""Response examples for the OpenAPI schema (request examples sit beside their views)."""

from drf_spectacular.utils import OpenApiExample

_PROVIDER = {
    "name": "sandbox",
    "providerType": "sandbox",
    "channels": ["sms", "email", "whatsapp", "viber", "rcs", "push"],
    "defaultSender": "ACME",
    "isActive": True,
    "isTenantDefault": True,
    "backups": {"sms": "twilio-backup"},
    "inboundWebhookUrl": "https://msg.example.com/webhooks/providers/Zk3q.../inbound",
    "statusWebhookUrl": "https://msg.example.com/webhooks/providers/Zk3q.../status",
    "createdAt": "2026-11-25T09:00:00+00:00",
    "updatedAt": "2026-11-25T09:00:00+00:00",
}
_TEMPLATE = {
    "name": "otp",
    "mode": "sms",
    "data": {"body": "Your login OTP is {{otp}}"},
    "language": "en",
    "translations": {"de": {"body": "Ihr Anmeldecode ist {{otp}}"}},
    "isActive": True,
    "tags": ["auth"],
    "createdAt": "2026-11-25T09:00:00+00:00",
    "updatedAt": "2026-11-25T09:00:00+00:00",
}
_STATUS = {
    "groupName": "DELIVERED",
    "name": "DELIVERED_TO_HANDSET",
    "description": "Delivered to the recipient.",
}
_MESSAGE = {
    "messageId": "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "requestId": "0d6c5f0e-3a2b-4c1d-9e8f-7a6b5c4d3e2f",
    "channel": "sms",
    "to": "+14155550100",
    "status": _STATUS,
    "error": None,
    "provider": "sandbox",
    "providerMessageId": "sbx-5d0c1e2f3a4b5c6d7e8f9a0b1c2d3e4f",
    "from": "ACME",
    "attempts": 1,
    "price": None,
    "scheduledAt": None,
    "expiresAt": "2026-11-27T09:00:00+00:00",
    "createdAt": "2026-11-25T09:00:00+00:00",
    "sentAt": "2026-11-25T09:00:00.210000+00:00",
    "finalAt": "2026-11-25T09:00:01.020000+00:00",
    "template": "otp",
}
_EVENTS = [
    {
        "status": "PENDING_ACCEPTED",
        "groupName": "PENDING",
        "source": "api",
        "description": "",
        "errorCode": None,
        "timestamp": "2026-11-25T09:00:00+00:00",
    },
    {
        "status": "PENDING_ENROUTE",
        "groupName": "PENDING",
        "source": "dispatch",
        "description": "Accepted by sandbox as sbx-5d0c1e2f3a4b5c6d7e8f9a0b1c2d3e4f.",
        "errorCode": None,
        "timestamp": "2026-11-25T09:00:00.210000+00:00",
    },
    {
        "status": "DELIVERED_TO_HANDSET",
        "groupName": "DELIVERED",
        "source": "provider",
        "description": "",
        "errorCode": None,
        "timestamp": "2026-11-25T09:00:01.020000+00:00",
    },
]


def _page(item: dict) -> dict:
    return {"count": 1, "next": None, "previous": None, "results": [item]}


def _ok(name: str, value, code: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[code])


def _error(name: str, code: str, status: int, detail: str, source=None) -> OpenApiExample:
    titles = {400: "Invalid data", 401: "Unauthorized", 404: "Not found", 409: "Conflict"}
    body = {"errors": [{"code": code, "title": titles[status], "detail": detail, "source": source}]}
    return OpenApiExample(name, value=body, response_only=True, status_codes=[str(status)])


UNAUTHORIZED = _error(
    "No or bad key", "unauthorized", 401, "The API key is unknown or has been revoked."
)
NOT_FOUND = _error("Unknown", "not_found", 404, "Not found.")

PROVIDER_LIST = [_ok("Providers", _page(_PROVIDER)), UNAUTHORIZED]
PROVIDER_ONE = [_ok("Provider", {"data": _PROVIDER}), NOT_FOUND]
PROVIDER_DELETE = [
    NOT_FOUND,
    _error(
        "In use",
        "provider_in_use",
        409,
        "Provider 'sandbox' has sent messages whose history refers to it; deactivate it "
        "instead (isActive: false).",
    ),
]
PROVIDER_CHANGED = [
    _ok("Changed", {"data": _PROVIDER}),
    _error(
        "Default taken",
        "default_conflict",
        409,
        "Provider 'tfn' is already the default for sms; unset it first.",
        "isTenantDefault",
    ),
    _error(
        "Bad backup",
        "invalid_backup",
        400,
        "Provider 'mail' does not send on 'sms'.",
        "backups.sms",
    ),
]
TEMPLATE_LIST = [_ok("Templates", _page(_TEMPLATE)), UNAUTHORIZED]
TEMPLATE_ONE = [_ok("Template", {"data": _TEMPLATE}), NOT_FOUND]
TEMPLATE_CREATED = [
    _ok("Created", {"data": _TEMPLATE}, "201"),
    _error(
        "Does not parse",
        "template_syntax",
        400,
        "The body does not parse: unclosed placeholder '{{' at position 18.",
        "data.body",
    ),
    _error("Duplicate", "duplicate_name", 409, "A template named 'otp' exists.", "name"),
]
TEMPLATE_DELETE = [NOT_FOUND]
PREVIEW_ERRORS = [
    _error(
        "Missing value",
        "missing_placeholder",
        400,
        "The template needs a value for 'otp'.",
        "data.otp",
    )
]
MESSAGE_LIST = [_ok("Delivery reports", _page(_MESSAGE)), UNAUTHORIZED]
MESSAGE_ONE = [
    _ok(
        "Message with its timeline",
        {**_MESSAGE, "subject": None, "body": "Your login OTP is 342365", "events": _EVENTS},
    ),
    NOT_FOUND,
]
MESSAGE_CANCELLED = [
    _ok(
        "Cancelled",
        {
            **_MESSAGE,
            "status": {
                "groupName": "CANCELLED",
                "name": "CANCELLED_BY_CLIENT",
                "description": "Cancelled before it was sent.",
            },
            "scheduledAt": "2026-12-01T09:00:00+00:00",
            "providerMessageId": None,
            "sentAt": None,
        },
        "202",
    ),
    _error(
        "Already sent",
        "already_sent",
        409,
        "The message can no longer be cancelled: it is DELIVERED_TO_HANDSET.",
    ),
]
SEND_ERRORS = [
    _error(
        "Invalid recipient",
        "invalid_recipient",
        400,
        "'+1 555' is not a valid phone number",
        "sms[0].to[1]",
    ),
    _error(
        "Missing placeholder",
        "missing_placeholder",
        400,
        "The template needs a value for 'otp'.",
        "sms[0].data.otp",
    ),
]
