"""API views: check input, call one service, shape the output."""

from __future__ import annotations

from datetime import UTC

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import status as st
from providers import services as provider_services
from providers.models import Provider

from ..models import Message, MessageEvent, Template
from ..services import templates as template_services
from ..services.accept import email_normalize, message_accept, phone_normalize
from ..services.cancel import message_cancel
from . import examples as ex
from . import schema as sc
from . import serializers as s
from .errors import ApiError
from .idempotency import idempotent
from .pagination import PageNumberPagination
from .parsers import JSONParser
from .validation import check_name, check_object, parse_iso_datetime

PROVIDER_FIELDS = {
    "name": (str, True),
    "providerType": (str, True),
    "channels": (list, False),
    "credentials": (dict, False),
    "defaultSender": (str, False),
    "isActive": (bool, False),
    "isTenantDefault": (bool, False),
    "backups": (dict, False),
}
PROVIDER_EXAMPLE = OpenApiExample(
    "Sandbox provider",
    value={"name": "sandbox", "providerType": "sandbox", "isActive": True, "isTenantDefault": True},
    request_only=True,
)
PROVIDER_TWILIO_EXAMPLE = OpenApiExample(
    "Twilio provider",
    value={
        "name": "tfn",
        "providerType": "twilio",
        "channels": ["sms"],
        "credentials": {"accountSid": "AC...", "authToken": "..."},
        "defaultSender": "+18005551234",
        "isActive": True,
        "isTenantDefault": False,
        "backups": {"sms": "sandbox"},
    },
    request_only=True,
)
PROVIDER_RESPONSE_EXAMPLE = OpenApiExample(
    "Registered",
    value={
        "data": {
            "name": "sandbox",
            "providerType": "sandbox",
            "channels": ["sms", "email", "whatsapp", "viber", "rcs", "push"],
            "defaultSender": "",
            "isActive": True,
            "isTenantDefault": True,
            "backups": {},
            "inboundWebhookUrl": "https://msg.example.com/webhooks/providers/Zk3.../inbound",
            "statusWebhookUrl": "https://msg.example.com/webhooks/providers/Zk3.../status",
        }
    },
    response_only=True,
)


class TenantScoped(APIView):
    parser_classes = [JSONParser]

    @property
    def tenant(self):
        return self.request.user.tenant

    def paginate(self, queryset, shape):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response([shape(obj) for obj in page])


class ProviderListView(TenantScoped):
    @extend_schema(
        summary="List providers",
        operation_id="providers_list",
        examples=ex.PROVIDER_LIST,
        parameters=sc.PAGE_PARAMETERS,
        responses={200: sc.ProviderPageSerializer, **sc.errors(404, list_page=True)},
        tags=["providers"],
    )
    def get(self, request):
        return self.paginate(
            Provider.objects.filter(tenant=self.tenant).order_by("name"), s.provider_data
        )

    @extend_schema(
        summary="Register a provider",
        request=sc.ProviderInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={201: sc.ProviderEnvelopeSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[
            PROVIDER_EXAMPLE,
            PROVIDER_TWILIO_EXAMPLE,
            PROVIDER_RESPONSE_EXAMPLE,
            *ex.PROVIDER_CHANGED[1:],
        ],
        tags=["providers"],
    )
    @idempotent
    def post(self, request):
        body = check_object(request.data, PROVIDER_FIELDS)
        provider = provider_services.provider_create(
            tenant=self.tenant,
            name=check_name(body["name"]),
            provider_type=body["providerType"],
            credentials=body.get("credentials", {}),
            channels=body.get("channels"),
            default_sender=body.get("defaultSender", ""),
            is_active=body.get("isActive", True),
            is_tenant_default=body.get("isTenantDefault", False),
            backups=body.get("backups"),
        )
        return Response({"data": s.provider_data(provider)}, status=status.HTTP_201_CREATED)


class ProviderDetailView(TenantScoped):
    def get_object(self, name: str) -> Provider:
        return get_object_or_404(Provider, tenant=self.tenant, name=name)

    @extend_schema(
        summary="Get a provider",
        examples=ex.PROVIDER_ONE,
        responses={200: sc.ProviderEnvelopeSerializer, **sc.errors(404)},
        tags=["providers"],
        parameters=[sc.PROVIDER_NAME],
    )
    def get(self, request, name: str):
        return Response({"data": s.provider_data(self.get_object(name))})

    @extend_schema(
        summary="Change a provider",
        request=sc.ProviderChangeSerializer,
        responses={200: sc.ProviderEnvelopeSerializer, **sc.errors(404, 409, 413, 415)},
        examples=[
            OpenApiExample(
                "Make it the default", value={"isTenantDefault": True}, request_only=True
            ),
            *ex.PROVIDER_CHANGED,
        ],
        tags=["providers"],
        parameters=[sc.PROVIDER_NAME],
    )
    def patch(self, request, name: str):
        fields = {k: v for k, v in PROVIDER_FIELDS.items() if k != "providerType"}
        body = check_object(request.data, fields, partial=True)
        if "name" in body:
            body["name"] = check_name(body["name"])
        provider = provider_services.provider_update(provider=self.get_object(name), changes=body)
        return Response({"data": s.provider_data(provider)})

    @extend_schema(
        summary="Remove a provider",
        examples=ex.PROVIDER_DELETE,
        responses={204: None, **sc.errors(404, 409)},
        tags=["providers"],
        parameters=[sc.PROVIDER_NAME],
    )
    def delete(self, request, name: str):
        provider_services.provider_delete(provider=self.get_object(name))
        return Response(status=status.HTTP_204_NO_CONTENT)


TEMPLATE_EXAMPLES = [
    OpenApiExample(
        "SMS template",
        value={
            "name": "otp",
            "mode": "sms",
            "data": {"body": "Your login OTP is {{otp}}", "originationNumber": "+18005551234"},
            "isActive": True,
            "tags": ["auth"],
        },
        request_only=True,
    ),
    OpenApiExample(
        "Email template",
        value={
            "name": "order-processed",
            "mode": "email",
            "data": {
                "subject": "Order {{orderId}} delivered",
                "body": "<p>Dear customer, your order {{orderId}} has been delivered.</p>",
                "format": "text/html",
            },
            "isActive": True,
        },
        request_only=True,
    ),
    OpenApiExample(
        "SMS template with translations",
        value={
            "name": "reminder",
            "mode": "sms",
            "data": {"body": "Your appointment is on {{date}}."},
            "language": "en",
            "translations": {
                "de": {"body": "Ihr Termin ist am {{date}}."},
                "de-AT": {"body": "Ihr Termin ist am {{date}}. Servus!"},
            },
        },
        request_only=True,
    ),
]


class TemplateListView(TenantScoped):
    @extend_schema(
        summary="List templates",
        operation_id="templates_list",
        examples=ex.TEMPLATE_LIST,
        parameters=[
            OpenApiParameter("mode", str, enum=sc.CHANNELS),
            OpenApiParameter("tag", str),
            *sc.PAGE_PARAMETERS,
        ],
        responses={200: sc.TemplatePageSerializer, **sc.errors(404, list_page=True)},
        tags=["templates"],
    )
    def get(self, request):
        qs = Template.objects.filter(tenant=self.tenant).order_by("name")
        if request.query_params.get("mode"):
            qs = qs.filter(mode=request.query_params["mode"])
        tag = request.query_params.get("tag")
        templates = [t for t in qs if tag in t.tags] if tag else qs
        return self.paginate(templates, s.template_data)

    @extend_schema(
        summary="Create a template",
        request=sc.TemplateInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={201: sc.TemplateEnvelopeSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[*TEMPLATE_EXAMPLES, *ex.TEMPLATE_CREATED],
        tags=["templates"],
    )
    @idempotent
    def post(self, request):
        body = check_object(
            request.data,
            {
                "name": (str, True),
                "mode": (str, True),
                "data": (dict, True),
                "language": (str, False),
                "translations": (dict, False),
                "isActive": (bool, False),
                "tags": (list, False),
            },
        )
        template = template_services.template_create(tenant=self.tenant, fields=body)
        return Response({"data": s.template_data(template)}, status=status.HTTP_201_CREATED)


class TemplateDetailView(TenantScoped):
    def get_object(self, name: str) -> Template:
        return get_object_or_404(
            Template.objects.select_related("tenant"), tenant=self.tenant, name=name
        )

    @extend_schema(
        summary="Get a template",
        examples=ex.TEMPLATE_ONE,
        responses={200: sc.TemplateEnvelopeSerializer, **sc.errors(404)},
        tags=["templates"],
        parameters=[sc.TEMPLATE_NAME],
    )
    def get(self, request, name: str):
        return Response({"data": s.template_data(self.get_object(name))})

    @extend_schema(
        summary="Change a template",
        request=sc.TemplateInSerializer,
        responses={200: sc.TemplateEnvelopeSerializer, **sc.errors(404, 409, 413, 415)},
        examples=[
            OpenApiExample("Deactivate", value={"isActive": False}, request_only=True),
            *ex.TEMPLATE_ONE,
        ],
        tags=["templates"],
        parameters=[sc.TEMPLATE_NAME],
    )
    def patch(self, request, name: str):
        body = check_object(
            request.data,
            {
                "name": (str, False),
                "mode": (str, False),
                "data": (dict, False),
                "language": (str, False),
                "translations": (dict, False),
                "isActive": (bool, False),
                "tags": (list, False),
            },
            partial=True,
        )
        template = template_services.template_update(template=self.get_object(name), fields=body)
        return Response({"data": s.template_data(template)})

    @extend_schema(
        summary="Delete a template",
        examples=ex.TEMPLATE_DELETE,
        responses={204: None, **sc.errors(404)},
        tags=["templates"],
        parameters=[sc.TEMPLATE_NAME],
    )
    def delete(self, request, name: str):
        self.get_object(name).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplatePreviewView(TenantScoped):
    @extend_schema(
        summary="Preview a template with sample data",
        request=sc.PreviewInSerializer,
        parameters=[sc.TEMPLATE_NAME, sc.IDEMPOTENCY_KEY],
        responses={200: sc.PreviewSerializer, **sc.errors(404, 409, 413, 415, post=True)},
        examples=[
            OpenApiExample("Sample data", value={"data": {"otp": "342365"}}, request_only=True),
            OpenApiExample(
                "In a locale",
                value={"data": {"otp": "342365"}, "locale": "de-AT", "languagePolicy": "fallback"},
                request_only=True,
            ),
            OpenApiExample(
                "SMS preview",
                value={
                    "mode": "sms",
                    "locale": "en",
                    "body": "Your login OTP is 342365",
                    "encoding": "GSM-7",
                    "characters": 24,
                    "units": 24,
                    "segments": 1,
                    "perSegment": 160,
                    "remainingInSegment": 136,
                },
                response_only=True,
            ),
            *ex.PREVIEW_ERRORS,
        ],
        tags=["templates"],
    )
    @idempotent
    def post(self, request, name: str):
        template = get_object_or_404(
            Template.objects.select_related("tenant"), tenant=self.tenant, name=name
        )
        body = check_object(
            request.data,
            {
                "data": (dict, False),
                "locale": (str, False),
                "languagePolicy": (str, False),
                "autoconvert": (str, False),
            },
            partial=True,
        )
        data = {**request.user.app.placeholders, **body.get("data", {})}
        return Response(
            template_services.template_preview(
                template=template,
                data=data,
                locale=body.get("locale"),
                policy=body.get("languagePolicy"),
                autoconvert=body.get("autoconvert"),
            )
        )


SEND_EXAMPLES = [
    OpenApiExample(
        "SMS from a template",
        value={
            "sms": [
                {
                    "template": "otp",
                    "senderId": "DLHVRY",
                    "data": {"otp": "342365"},
                    "to": [{"countryCode": "1", "number": "4155550100"}, "+14155550199"],
                }
            ],
            "callback": {"url": "https://app.example.com/hooks/status", "meta": {"orderId": "o-1"}},
        },
        request_only=True,
    ),
    OpenApiExample(
        "Email with inline content",
        value={
            "email": [
                {
                    "to": ["a@example.com"],
                    "cc": [],
                    "bcc": [],
                    "subject": "Hello",
                    "body": "Hi {{name}}",
                    "data": {"name": "Ann"},
                }
            ],
            # Set to tomorrow 09:00 UTC when the schema is served (schema.postprocess).
            "scheduledAt": "2030-01-01T09:00:00Z",
            "priority": "high",
            "validity": 360,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Accepted",
        value={
            "requestId": "0d6c5f0e-3a2b-4c1d-9e8f-7a6b5c4d3e2f",
            "messages": [
                {
                    "messageId": "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
                    "channel": "sms",
                    "to": "+14155550100",
                    "status": {
                        "groupName": "PENDING",
                        "name": "PENDING_ACCEPTED",
                        "description": "Accepted; waiting to be sent.",
                    },
                }
            ],
        },
        response_only=True,
        status_codes=["202"],
    ),
]


def accepted_response(message_request, messages) -> Response:
    """The 202 of a send: one item per message, in the order of the request."""
    # One dict per status, not per message: a request may hold 10,000 messages.
    shown = {name: st.get(name).as_dict() for name in {m.status for m in messages}}
    out = []
    for m in messages:
        item = {"messageId": str(m.id), "channel": m.channel, "to": m.to}
        item["status"] = shown[m.status]
        if m.error:  # refused at accept: suppressed, session_expired
            item["error"] = m.error
        out.append(item)
    return Response(
        {"requestId": str(message_request.id), "messages": out},
        status=status.HTTP_202_ACCEPTED,
    )


class MessageListView(TenantScoped):
    @extend_schema(
        summary="Delivery reports: list messages",
        operation_id="messages_list",
        examples=ex.MESSAGE_LIST,
        parameters=[
            OpenApiParameter("status", str, description="a group (DELIVERED) or a precise name"),
            OpenApiParameter("channel", str, enum=sc.CHANNELS),
            OpenApiParameter("to", str, description="a phone number in any format, or an email"),
            OpenApiParameter("requestId", str),
            OpenApiParameter("since", str, description="ISO-8601, inclusive"),
            OpenApiParameter("until", str, description="ISO-8601, exclusive"),
            *sc.PAGE_PARAMETERS,
        ],
        responses={200: sc.MessagePageSerializer, **sc.errors(404, list_page=True)},
        tags=["messages"],
    )
    def get(self, request):
        qs = Message.objects.filter(tenant=self.tenant).select_related("provider", "template")
        q = request.query_params
        if q.get("status"):
            value = q["status"].upper()
            if value in st.GROUPS:
                qs = qs.filter(status__in=[n for n, x in st.STATUSES.items() if x.group == value])
            elif value in st.STATUSES:
                qs = qs.filter(status=value)
            else:
                raise ApiError(
                    "invalid_filter", f"Unknown status '{q['status']}'.", source="status"
                )
        if q.get("channel"):
            qs = qs.filter(channel=q["channel"].lower())
        if q.get("to"):
            qs = qs.filter(to=self._recipient(q["to"]))
        if q.get("requestId"):
            qs = qs.filter(request_id=self._uuid(q["requestId"], "requestId"))
        for key, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
            if q.get(key):
                when = parse_iso_datetime(q[key])
                if when is None:
                    raise ApiError(
                        "invalid_filter", f"'{q[key]}' is not an ISO-8601 date-time.", source=key
                    )
                if timezone.is_naive(when):
                    when = timezone.make_aware(when, UTC)
                qs = qs.filter(**{lookup: when})
        return self.paginate(qs.order_by("-created_at", "id"), s.message_data)

    def _recipient(self, value: str) -> str:
        if "@" in value:
            try:
                return email_normalize(value)
            except ValueError:
                return value
        try:
            return phone_normalize(value, self.tenant.default_country)
        except ValueError:
            return value

    @staticmethod
    def _uuid(value: str, source: str):
        import uuid

        try:
            return uuid.UUID(value)
        except ValueError:
            raise ApiError(
                "invalid_filter", f"'{value}' is not a request id.", source=source
            ) from None

    @extend_schema(
        summary="Send messages",
        request=sc.SendInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={202: sc.AcceptedSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[*SEND_EXAMPLES, *ex.SEND_ERRORS],
        tags=["messages"],
    )
    @idempotent
    def post(self, request):
        message_request, messages = message_accept(app=request.user.app, body=request.data)
        return accepted_response(message_request, messages)


class MessageDetailView(TenantScoped):
    def get_object(self, message_id):
        return get_object_or_404(
            Message.objects.select_related("provider", "template", "request").prefetch_related(
                Prefetch("events", queryset=MessageEvent.objects.order_by("created_at", "id"))
            ),
            tenant=self.tenant,
            pk=message_id,
        )

    @extend_schema(
        summary="A message with its status timeline",
        examples=ex.MESSAGE_ONE,
        responses={200: sc.MessageSerializer, **sc.errors(404)},
        tags=["messages"],
        parameters=[sc.MESSAGE_ID],
    )
    def get(self, request, message_id):
        message = self.get_object(message_id)
        return Response(s.message_data(message, events=list(message.events.all())))

    @extend_schema(
        summary="Cancel a scheduled message",
        examples=ex.MESSAGE_CANCELLED,
        request=None,
        responses={202: sc.MessageSerializer, **sc.errors(404, 409)},
        tags=["messages"],
        parameters=[sc.MESSAGE_ID],
    )
    def delete(self, request, message_id):
        message = message_cancel(message=self.get_object(message_id))
        return Response(s.message_data(message), status=status.HTTP_202_ACCEPTED)
