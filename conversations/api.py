"""API of two-way WhatsApp, conversations, inbound messages and the apps' inbound webhooks:
check input, call one service, shape the output."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core import status as st
from messaging.api import schema as sc
from messaging.api.errors import ApiError
from messaging.api.idempotency import idempotent
from messaging.api.validation import parse_iso_datetime
from messaging.api.views import TenantScoped
from messaging.services.accept import phone_normalize
from providers.models import InboundMessage

from . import services
from .models import Conversation, ConversationEvent, InboundRoute

# --- shapes ----------------------------------------------------------------------------------


def _when(value) -> str | None:
    return value.isoformat() if value else None


def conversation_data(c: Conversation) -> dict[str, Any]:
    sent = list(c.sent.select_related("message").order_by("id"))
    events = list(c.events.select_related("inbound").order_by("at", "id"))
    return {
        "conversationId": str(c.pk),
        "state": c.state,
        "provider": c.provider.name,
        "from": c.sender,
        "to": c.recipient,
        "messageId": str(c.message_id) if c.message_id else None,
        "acceptedResponses": c.accepted_responses,
        "dynamicResponseRegex": c.regex or None,
        "webhook": c.webhooks,
        "responseTimeout": c.response_timeout,
        "expiresAt": _when(c.expires_at),
        "context": c.context,
        "errorMessage": c.error_message or None,
        "createdAt": _when(c.created_at),
        "updatedAt": _when(c.updated_at),
        "endedAt": _when(c.ended_at),
        "messages": [
            {
                "messageId": str(link.message_id),
                "role": link.role,
                "status": st.get(link.message.status).as_dict(),
                "body": link.message.body,
            }
            for link in sent
        ],
        "replies": [
            {
                "inboundId": e.inbound_id,
                "text": e.inbound.text,
                "outcome": e.kind,
                "receivedAt": _when(e.inbound.received_at),
            }
            for e in events
            if e.inbound_id
        ],
        "events": [{"kind": e.kind, "at": _when(e.at), "detail": e.detail} for e in events],
    }


def inbound_data(i: InboundMessage) -> dict[str, Any]:
    return {
        "inboundId": i.pk,
        "channel": i.channel,
        "from": i.sender,
        "to": i.recipient,
        "text": i.text,
        "provider": i.provider.name,
        "providerMessageId": i.provider_message_id,
        "conversationId": str(i.conversation_id) if getattr(i, "conversation_id", None) else None,
        "receivedAt": _when(i.received_at),
    }


def route_data(r: InboundRoute) -> dict[str, Any]:
    return {
        "id": r.pk,
        "url": r.url,
        "provider": r.provider.name if r.provider_id else None,
        "number": r.number or None,
        "createdAt": _when(r.created_at),
    }


# --- schema ----------------------------------------------------------------------------------


class WebhookInSerializer(sc.Closed):
    url = serializers.URLField()
    secret = serializers.CharField(help_text="Signs this webhook's POSTs (X-Signature).")


class AcceptedResponseInSerializer(sc.Closed):
    messages = serializers.ListField(child=serializers.CharField())
    webhook = WebhookInSerializer()


class WebhooksInSerializer(sc.Closed):
    defaultInbound = WebhookInSerializer(required=False)
    status = WebhookInSerializer(required=False)
    invalidResponse = WebhookInSerializer(required=False)


class TwoWayMessageInSerializer(sc.Closed):
    template = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    data = sc.AnyObject(required=False)
    media = sc.AnyObject(required=False)
    buttons = serializers.ListField(child=serializers.JSONField(), required=False)


class RecipientInSerializer(sc.Closed):
    countryCode = serializers.CharField()
    number = serializers.CharField()


class TwoWayInSerializer(sc.Closed):
    # "from" is a Python keyword: declared below.
    message = TwoWayMessageInSerializer()
    provider = serializers.CharField(required=False)
    to = RecipientInSerializer()
    acceptedResponses = AcceptedResponseInSerializer(many=True, required=False)
    dynamicResponseRegex = serializers.CharField(
        required=False, max_length=services.MAX_REGEX_LENGTH
    )
    webhook = WebhooksInSerializer(required=False)
    responseTimeout = serializers.IntegerField(
        required=False, min_value=1, max_value=services.MAX_TIMEOUT
    )
    context = sc.AnyObject(required=False)
    errorMessage = serializers.CharField(required=False)


TwoWayInSerializer._declared_fields["from"] = serializers.CharField(
    required=False, help_text="Our WhatsApp number (else the provider's default sender)."
)


class TwoWayAcceptedSerializer(serializers.Serializer):
    conversationId = serializers.UUIDField()
    messageId = serializers.UUIDField()


class ConversationSerializer(serializers.Serializer):
    conversationId = serializers.UUIDField()
    state = serializers.ChoiceField([s for s, _ in Conversation.State.choices])
    provider = serializers.CharField()
    to = serializers.CharField()
    messageId = serializers.UUIDField(allow_null=True)
    acceptedResponses = serializers.ListField(child=sc.AnyObject())
    dynamicResponseRegex = serializers.CharField(allow_null=True)
    webhook = sc.AnyObject()
    responseTimeout = serializers.IntegerField()
    expiresAt = serializers.DateTimeField()
    context = sc.AnyObject(allow_null=True)
    errorMessage = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    endedAt = serializers.DateTimeField(allow_null=True)
    messages = serializers.ListField(child=sc.AnyObject())
    replies = serializers.ListField(child=sc.AnyObject())
    events = serializers.ListField(child=sc.AnyObject())


ConversationSerializer._declared_fields["from"] = serializers.CharField()


class InboundSerializer(serializers.Serializer):
    inboundId = serializers.IntegerField()
    channel = serializers.ChoiceField(sc.CHANNELS)
    to = serializers.CharField()
    text = serializers.CharField()
    provider = serializers.CharField()
    providerMessageId = serializers.CharField()
    conversationId = serializers.UUIDField(allow_null=True)
    receivedAt = serializers.DateTimeField()


InboundSerializer._declared_fields["from"] = serializers.CharField()


class RouteInSerializer(sc.Closed):
    url = serializers.URLField()
    secret = serializers.CharField()
    provider = serializers.CharField(required=False, help_text="Only this provider's inbound.")
    number = serializers.CharField(required=False, help_text="Only inbound to this number.")


class RouteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    provider = serializers.CharField(allow_null=True)
    number = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()


class RouteEnvelopeSerializer(serializers.Serializer):
    data = RouteSerializer()


_CONVERSATION_ID = "3b9f1c2e-8d7a-4e6f-9a1b-2c3d4e5f6a7b"
_MESSAGE_ID = "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
TWO_WAY_EXAMPLE = OpenApiExample(
    "Order confirmation awaiting a reply",
    request_only=True,
    value={
        "from": "+14155550199",
        "message": {
            "template": "order_confirm",
            "data": {"orderId": "order1234"},
            "buttons": ["Confirm", "Cancel"],
        },
        "provider": "sandbox",
        "to": {"countryCode": "1", "number": "4155550100"},
        "acceptedResponses": [
            {
                "messages": ["Confirm", "1", "yes"],
                "webhook": {"url": "https://app.example.com/hooks/confirmed", "secret": "s3cret-1"},
            },
            {
                "messages": ["Cancel", "2", "no"],
                "webhook": {"url": "https://app.example.com/hooks/cancelled", "secret": "s3cret-2"},
            },
        ],
        "dynamicResponseRegex": "^\\d{6}$",
        "webhook": {
            "defaultInbound": {"url": "https://app.example.com/hooks/inbound", "secret": "s3"},
            "status": {"url": "https://app.example.com/hooks/status", "secret": "s4"},
            "invalidResponse": {"url": "https://app.example.com/hooks/invalid", "secret": "s5"},
        },
        "responseTimeout": 300,
        "context": {"orderId": "order1234", "customerId": "cust5678"},
        "errorMessage": "Please answer Confirm or Cancel.",
    },
)
TWO_WAY_ACCEPTED = OpenApiExample(
    "Accepted",
    response_only=True,
    status_codes=["202"],
    value={"conversationId": _CONVERSATION_ID, "messageId": _MESSAGE_ID},
)
TWO_WAY_ERROR = OpenApiExample(
    "Regex that does not compile",
    response_only=True,
    status_codes=["400"],
    value={
        "errors": [
            {
                "code": "invalid_regex",
                "title": "Invalid data",
                "detail": "the regex does not compile: missing ), unterminated subpattern.",
                "source": "dynamicResponseRegex",
            }
        ]
    },
)
CONVERSATION_EXAMPLE = OpenApiExample(
    "Responded",
    response_only=True,
    status_codes=["200"],
    value={
        "conversationId": _CONVERSATION_ID,
        "state": "RESPONDED",
        "provider": "sandbox",
        "from": "+14155550199",
        "to": "+14155550100",
        "messageId": _MESSAGE_ID,
        "acceptedResponses": [
            {
                "messages": ["Confirm", "1", "yes"],
                "webhook": {"url": "https://app.example.com/hooks/confirmed"},
            },
        ],  # fmt: skip
        "dynamicResponseRegex": None,
        "webhook": {"status": {"url": "https://app.example.com/hooks/status"}},
        "responseTimeout": 300,
        "expiresAt": "2026-11-25T09:05:00+00:00",
        "context": {"orderId": "order1234"},
        "errorMessage": None,
        "createdAt": "2026-11-25T09:00:00+00:00",
        "updatedAt": "2026-11-25T09:01:10+00:00",
        "endedAt": "2026-11-25T09:01:10+00:00",
        "messages": [
            {
                "messageId": _MESSAGE_ID,
                "role": "initial",
                "body": "Order order1234: confirm?",
                "status": {
                    "groupName": "DELIVERED",
                    "name": "DELIVERED_TO_HANDSET",
                    "description": "Delivered to the recipient.",
                },
            },
        ],  # fmt: skip
        "replies": [
            {
                "inboundId": 17,
                "text": "yes",
                "outcome": "reply_matched",
                "receivedAt": "2026-11-25T09:01:10+00:00",
            }
        ],  # fmt: skip
        "events": [
            {
                "kind": "created",
                "at": "2026-11-25T09:00:00+00:00",
                "detail": {"messageId": _MESSAGE_ID},
            },
            {
                "kind": "reply_matched",
                "at": "2026-11-25T09:01:10+00:00",
                "detail": {
                    "reply": "yes",
                    "match": {"type": "accepted", "index": 0, "response": "yes"},
                },
            },
        ],  # fmt: skip
    },
)
_INBOUND = {
    "inboundId": 17,
    "channel": "whatsapp",
    "from": "+14155550100",
    "to": "+14155550199",
    "text": "yes",
    "provider": "sandbox",
    "providerMessageId": "wamid.HBgL...",
    "conversationId": _CONVERSATION_ID,
    "receivedAt": "2026-11-25T09:01:10+00:00",
}
INBOUND_LIST = OpenApiExample(
    "Inbound messages",
    response_only=True,
    status_codes=["200"],
    value={"count": 1, "next": None, "previous": None, "results": [_INBOUND]},
)
_ROUTE = {
    "id": 3,
    "url": "https://app.example.com/hooks/inbound",
    "provider": None,
    "number": "+14155550199",
    "createdAt": "2026-11-25T09:00:00+00:00",
}
ROUTE_IN = OpenApiExample(
    "Inbound to one number",
    request_only=True,
    value={"url": "https://app.example.com/hooks/inbound", "secret": "s3cret",
           "number": "+14155550199"},
)  # fmt: skip
ROUTE_CREATED = OpenApiExample(
    "Registered", response_only=True, status_codes=["201"], value={"data": _ROUTE}
)
ROUTE_LIST = OpenApiExample(
    "Inbound webhooks",
    response_only=True,
    status_codes=["200"],
    value={"count": 1, "next": None, "previous": None, "results": [_ROUTE]},
)
NOT_FOUND = OpenApiExample(
    "Unknown",
    response_only=True,
    status_codes=["404"],
    value={"errors": [{"code": "not_found", "title": "Not found", "detail": "Not found.",
                       "source": None}]},
)  # fmt: skip
CONVERSATION_ID = OpenApiParameter(
    "conversation_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
    description="The conversationId.",
    examples=[OpenApiExample(_CONVERSATION_ID, value=_CONVERSATION_ID)],
)  # fmt: skip
ROUTE_ID = OpenApiParameter(
    "route_id", int, OpenApiParameter.PATH, description="The inbound webhook's id.",
    examples=[OpenApiExample("3", value=3)],
)  # fmt: skip


# --- views -----------------------------------------------------------------------------------


class TwoWayView(TenantScoped):
    @extend_schema(
        summary="Send a two-way WhatsApp message",
        request=TwoWayInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={202: TwoWayAcceptedSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[TWO_WAY_EXAMPLE, TWO_WAY_ACCEPTED, TWO_WAY_ERROR],
        tags=["conversations"],
    )
    @idempotent
    def post(self, request):
        conversation = services.conversation_start(app=request.user.app, body=request.data)
        return Response(
            {"conversationId": str(conversation.pk), "messageId": str(conversation.message_id)},
            status=status.HTTP_202_ACCEPTED,
        )


class ConversationDetailView(TenantScoped):
    @extend_schema(
        summary="A conversation: its state, messages, replies and events",
        parameters=[CONVERSATION_ID],
        responses={200: ConversationSerializer, **sc.errors(404)},
        examples=[CONVERSATION_EXAMPLE, NOT_FOUND],
        tags=["conversations"],
    )
    def get(self, request, conversation_id):
        conversation = get_object_or_404(
            Conversation.objects.select_related("provider"),
            app=request.user.app,
            pk=conversation_id,
        )
        return Response(conversation_data(conversation))


class InboundListView(TenantScoped):
    @extend_schema(
        summary="Inbound messages",
        operation_id="inbound_list",
        parameters=[
            OpenApiParameter("channel", str, enum=sc.CHANNELS),
            OpenApiParameter("from", str, description="the sender, a phone number in any format"),
            OpenApiParameter("to", str, description="our number that received it"),
            OpenApiParameter("provider", str, description="a provider's name"),
            OpenApiParameter("since", str, description="ISO-8601, inclusive"),
            OpenApiParameter("until", str, description="ISO-8601, exclusive"),
            *sc.PAGE_PARAMETERS,
        ],
        responses={200: sc.page_of(InboundSerializer), **sc.errors(404, list_page=True)},
        examples=[INBOUND_LIST],
        tags=["inbound"],
    )
    def get(self, request):
        claimed = ConversationEvent.objects.filter(inbound=OuterRef("pk")).values(
            "conversation_id"
        )[:1]
        qs = (
            InboundMessage.objects.filter(tenant=self.tenant)
            .select_related("provider")
            .annotate(conversation_id=Subquery(claimed))
        )
        q = request.query_params
        if q.get("channel"):
            qs = qs.filter(channel=q["channel"].lower())
        for key, field in (("from", "sender"), ("to", "recipient")):
            if q.get(key):
                qs = qs.filter(**{f"{field}__in": self._numbers(q[key])})
        if q.get("provider"):
            qs = qs.filter(provider__name=q["provider"])
        for key, lookup in (("since", "received_at__gte"), ("until", "received_at__lt")):
            if q.get(key):
                when = parse_iso_datetime(q[key])
                if when is None:
                    raise ApiError(
                        "invalid_filter", f"'{q[key]}' is not an ISO-8601 date-time.", source=key
                    )
                if timezone.is_naive(when):
                    when = timezone.make_aware(when, UTC)
                qs = qs.filter(**{lookup: when})
        return self.paginate(qs.order_by("-received_at", "-id"), inbound_data)

    def _numbers(self, value: str) -> list[str]:
        """The value as given and as E.164 (providers report numbers either way)."""
        out = [value]
        try:
            out.append(phone_normalize(value, self.tenant.default_country))
        except ValueError:
            pass
        return out


class RouteListView(TenantScoped):
    @extend_schema(
        summary="The app's inbound webhooks",
        operation_id="inbound_webhooks_list",
        parameters=sc.PAGE_PARAMETERS,
        responses={200: sc.page_of(RouteSerializer), **sc.errors(404, list_page=True)},
        examples=[ROUTE_LIST],
        tags=["inbound"],
    )
    def get(self, request):
        qs = InboundRoute.objects.filter(app=request.user.app).select_related("provider")
        return self.paginate(qs.order_by("id"), route_data)

    @extend_schema(
        summary="Register an inbound webhook (for the app, a provider or a number)",
        request=RouteInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={201: RouteEnvelopeSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[ROUTE_IN, ROUTE_CREATED],
        tags=["inbound"],
    )
    @idempotent
    def post(self, request):
        route = services.route_create(app=request.user.app, body=request.data)
        return Response({"data": route_data(route)}, status=status.HTTP_201_CREATED)


class RouteDetailView(TenantScoped):
    @extend_schema(
        summary="Remove an inbound webhook",
        parameters=[ROUTE_ID],
        responses={204: None, **sc.errors(404)},
        examples=[NOT_FOUND],
        tags=["inbound"],
    )
    def delete(self, request, route_id: int):
        get_object_or_404(InboundRoute, app=request.user.app, pk=route_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
