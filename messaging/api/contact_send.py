"""`POST /api/v1/contacts/{id}/messages/{channel}`: send to a stored contact (Orange Pill's
send-to-user). The body is one entry of that channel without `to`, plus the request's
options; it is sent as `POST /api/v1/messages` would send it to {"contactId": id}.

Here, above both apps: contacts knows nothing of messaging."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers

from contacts.models import Contact
from core.channels import CHANNEL_KEYS
from core.errors import ApiError, ApiErrors

from ..services.accept import MAX_VALIDITY_MINUTES, OPTION_KEYS, message_accept
from . import examples as ex
from . import schema as sc
from .idempotency import idempotent
from .views import SEND_EXAMPLES, TenantScoped, accepted_response


class ContactSendInSerializer(
    sc.EmailEntrySerializer, sc.PhoneEntrySerializer, sc.PushEntrySerializer
):
    """One entry of the channel without `to` (subject, format, cc, bcc, replyTo: email only;
    senderId, originationNumber, buttons, providerTemplate: sms, whatsapp, viber and rcs;
    title, payload, image: push), plus the request's options. The contact's first address
    of the channel's kind is the recipient: its phone number (sms, whatsapp, viber, rcs),
    email address, or push token or subscription."""

    to = None
    callback = sc.CallbackSerializer(required=False)
    scheduledAt = serializers.DateTimeField(
        required=False, help_text="With a timezone; not in the past."
    )
    priority = serializers.ChoiceField(["high", "normal", "low"], required=False)
    validity = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_VALIDITY_MINUTES, help_text="minutes"
    )
    textStore = serializers.ChoiceField(["plaintext", "sha256", "nostore"], required=False)
    languagePolicy = serializers.ChoiceField(
        ["fallback", "deterministic"], required=False, help_text=sc.POLICY_HELP
    )


_CONTACT_ID = "3f0c8a2e-5b1d-4c7e-9a6f-1d2e3f4a5b6c"
CONTACT_ID = OpenApiParameter(
    "contact_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The contact's id.",
    examples=[OpenApiExample(_CONTACT_ID, value=_CONTACT_ID)],
)  # fmt: skip
CHANNEL = OpenApiParameter(
    "channel", str, OpenApiParameter.PATH, enum=list(CHANNEL_KEYS),
    description="The channel; the contact's first address of its kind is the recipient.",
    examples=[OpenApiExample("sms", value="sms")],
)  # fmt: skip


def _body(channel: str, contact: Contact, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    if "to" in data:
        raise ApiError(
            "unknown_field", "'to' is not a field here: the contact is the recipient.", source="to"
        )
    # `locale` stays the entry's: said for this message, it wins over the contact's locale.
    options = [k for k in OPTION_KEYS if k != "locale"]
    entry = {k: v for k, v in data.items() if k not in options}
    entry["to"] = [{"contactId": str(contact.pk)}]
    return {channel: [entry], **{k: v for k, v in data.items() if k in options}}


def _unprefixed(exc: ApiErrors | ApiError, channel: str) -> ApiErrors:
    """Errors named as the fields of this body: `body`, not `sms[0].body`."""
    items = exc.errors if isinstance(exc, ApiErrors) else [exc]
    prefix = f"{channel}[0]"
    for item in items:
        source = item.source or ""
        if source == f"{prefix}.to[0]" or source == f"{prefix}.to":
            item.source = None  # the contact's address: no field of the body
        elif source.startswith(prefix + "."):
            item.source = source[len(prefix) + 1 :]
    return ApiErrors(items, status=exc.status)


class ContactSendView(TenantScoped):
    @extend_schema(
        summary="Send to a contact",
        description="One entry of the channel without `to`, plus the request's options "
        "(callback, scheduledAt, ...); sent as POST /api/v1/messages would send it to "
        '{"contactId": id}. Errors name the fields of this body (`body`, `data.otp`).',
        request=ContactSendInSerializer,
        parameters=[CONTACT_ID, CHANNEL, sc.IDEMPOTENCY_KEY],
        responses={202: sc.AcceptedSerializer, **sc.errors(404, 409, 413, 415, post=True)},
        examples=[
            OpenApiExample(
                "SMS from a template",
                value={
                    "template": "otp",
                    "data": {"otp": "342365"},
                    "callback": {"url": "https://app.example.com/hooks/status"},
                },
                request_only=True,
            ),  # fmt: skip
            SEND_EXAMPLES[-1],
            ex.NOT_FOUND,
        ],
        tags=["contacts"],
    )
    @idempotent
    def post(self, request, contact_id, channel: str):
        if channel not in CHANNEL_KEYS:
            raise ApiError(
                "not_found",
                f"No channel '{channel}'; one of {', '.join(CHANNEL_KEYS)}.",
                status=404,
            )
        contact = get_object_or_404(Contact, tenant=self.tenant, pk=contact_id)
        try:
            message_request, messages = message_accept(
                app=request.user.app, body=_body(channel, contact, request.data)
            )
        except (ApiError, ApiErrors) as exc:
            raise _unprefixed(exc, channel) from None
        return accepted_response(message_request, messages)
