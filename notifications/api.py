"""The notifications API: registration (`/api/v1/notifications`) and the send that names a
notification (`POST /api/v1/messages/notifications`). An app sees its own notifications only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core import status as st
from core.errors import TITLES
from messaging.api import schema as sc
from messaging.api.errors import ApiError
from messaging.api.idempotency import idempotent
from messaging.api.validation import check_object
from messaging.api.views import TenantScoped, accepted_response

from . import services
from .models import Notification, NotificationTemplate, Status

REGISTER_FIELDS = {
    "name": (str, True),
    "description": (str, False),
    "templates": (dict, True),
}


def notification_data(n: Notification) -> dict[str, Any]:
    return {
        "name": n.name,
        "description": n.description,
        "status": n.status,
        "templates": {
            row.channel: row.template.name if row.template else None for row in n.templates.all()
        },
        "reviewedAt": n.reviewed_at.isoformat() if n.reviewed_at else None,
        "reviewComment": n.review_comment,
        "createdAt": n.created_at.isoformat(),
        "updatedAt": n.updated_at.isoformat(),
    }


def _with_templates(qs):
    return qs.prefetch_related(
        Prefetch(
            "templates",
            queryset=NotificationTemplate.objects.select_related("template").order_by("channel"),
        )
    )


# --- the OpenAPI schema's shapes ---------------------------------------------------------------


class NotificationTemplatesSerializer(sc.Closed):
    sms = serializers.CharField(required=False, help_text="An sms template's name.")
    email = serializers.CharField(required=False, help_text="An email template's name.")
    whatsapp = serializers.CharField(required=False, help_text="A whatsapp template's name.")
    viber = serializers.CharField(required=False, help_text="A viber template's name.")
    rcs = serializers.CharField(required=False, help_text="An rcs template's name.")
    push = serializers.CharField(required=False, help_text="A push template's name.")


class NotificationTemplatesOutSerializer(serializers.Serializer):
    sms = serializers.CharField(required=False, allow_null=True)
    email = serializers.CharField(required=False, allow_null=True)
    whatsapp = serializers.CharField(required=False, allow_null=True)
    viber = serializers.CharField(required=False, allow_null=True)
    rcs = serializers.CharField(required=False, allow_null=True)
    push = serializers.CharField(required=False, allow_null=True)


class NotificationSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(Status.values)
    templates = NotificationTemplatesOutSerializer(
        help_text="The template of each channel (null: the template was deleted)."
    )
    reviewedAt = serializers.DateTimeField(allow_null=True)
    reviewComment = serializers.CharField(allow_blank=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


NotificationPageSerializer = sc.page_of(NotificationSerializer)


class NotificationInSerializer(sc.Closed):
    name = serializers.CharField(max_length=100, help_text="1 to 100 characters, without '/'.")
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=services.MAX_DESCRIPTION
    )
    templates = NotificationTemplatesSerializer(
        help_text="One template per channel; each must exist and be of that channel's mode."
    )


class NotificationPhoneEntrySerializer(sc.PhoneEntrySerializer):
    # The notification gives the content.
    template = None
    body = None
    providerTemplate = None


class NotificationEmailEntrySerializer(sc.EmailEntrySerializer):
    template = None
    body = None
    subject = None
    format = None


class NotificationPushEntrySerializer(sc.PushEntrySerializer):
    template = None
    body = None
    title = None


class NotificationSendInSerializer(sc.SendInSerializer):
    notification = serializers.CharField(help_text="A notification of this app, ENABLED.")
    sms = serializers.ListField(child=NotificationPhoneEntrySerializer(), required=False)
    email = serializers.ListField(child=NotificationEmailEntrySerializer(), required=False)
    whatsapp = serializers.ListField(child=NotificationPhoneEntrySerializer(), required=False)
    viber = serializers.ListField(child=NotificationPhoneEntrySerializer(), required=False)
    rcs = serializers.ListField(child=NotificationPhoneEntrySerializer(), required=False)
    push = serializers.ListField(child=NotificationPushEntrySerializer(), required=False)


_NOTIFICATION = {
    "name": "order-delivered",
    "description": "Sent when the courier marks an order delivered.",
    "status": "PENDING_REVIEW",
    "templates": {"sms": "otp", "email": "order-processed"},
    "reviewedAt": None,
    "reviewComment": "",
    "createdAt": "2026-11-25T09:00:00+00:00",
    "updatedAt": "2026-11-25T09:00:00+00:00",
}
_ENABLED = {
    **_NOTIFICATION,
    "status": "ENABLED",
    "reviewedAt": "2026-11-25T10:00:00+00:00",
    "reviewComment": "Wording checked with legal.",
}


def _ok(name: str, value: Any, code: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[code])


def _error(name: str, code: str, status: int, detail: str, source: str | None) -> OpenApiExample:
    body = {"errors": [{"code": code, "title": TITLES[status], "detail": detail, "source": source}]}
    return OpenApiExample(name, value=body, response_only=True, status_codes=[str(status)])


NOT_FOUND = _error("Unknown", "not_found", 404, "Not found.", None)
UNKNOWN_TEMPLATE = _error(
    "Unknown template", "unknown_template", 400, "No template named 'otp2'.", "templates.sms"
)
NOT_ENABLED = _error(
    "Not enabled",
    "notification_not_enabled",
    403,
    "Notification 'order-delivered' is PENDING_REVIEW: it is waiting for a tenant admin's review.",
    "notification",
)
INACTIVE = _error(
    "Template inactive",
    "template_inactive",
    403,
    "Template 'otp' (sms) of notification 'order-delivered' is not active.",
    "sms",
)
NAME = OpenApiParameter(
    "name",
    str,
    OpenApiParameter.PATH,
    description="The notification's name.",
    examples=[OpenApiExample("order-delivered", value="order-delivered")],
)


# --- views -------------------------------------------------------------------------------------


class NotificationListView(TenantScoped):
    def _mine(self):
        return Notification.objects.filter(app=self.request.user.app)

    @extend_schema(
        summary="List this app's notifications",
        operation_id="notifications_list",
        parameters=[OpenApiParameter("status", str, enum=Status.values), *sc.PAGE_PARAMETERS],
        responses={200: NotificationPageSerializer, **sc.errors(404, list_page=True)},
        examples=[
            _ok(
                "Notifications", {"count": 1, "next": None, "previous": None, "results": [_ENABLED]}
            )
        ],
        tags=["notifications"],
    )
    def get(self, request):
        qs = self._mine()
        wanted = request.query_params.get("status")
        if wanted:
            if wanted.upper() not in Status.values:
                raise ApiError(
                    "invalid_filter",
                    f"status is one of {', '.join(Status.values)}.",
                    source="status",
                )
            qs = qs.filter(status=wanted.upper())
        return self.paginate(_with_templates(qs).order_by("name", "id"), notification_data)

    @extend_schema(
        summary="Register a notification for review",
        description="Created: 201, PENDING_REVIEW. The same name again: 200; with other "
        "templates it goes back to PENDING_REVIEW, with the same templates its status stays.",
        request=NotificationInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={
            201: NotificationSerializer,
            200: NotificationSerializer,
            **sc.errors(409, 413, 415, post=True),
        },
        examples=[
            OpenApiExample(
                "SMS and email",
                value={
                    "name": "order-delivered",
                    "description": "Sent when the courier marks an order delivered.",
                    "templates": {"sms": "otp", "email": "order-processed"},
                },
                request_only=True,
            ),
            _ok("Registered", _NOTIFICATION, "201"),
            _ok("Registered again", _ENABLED, "200"),
            UNKNOWN_TEMPLATE,
        ],
        tags=["notifications"],
    )
    @idempotent
    def post(self, request):
        body = check_object(request.data, REGISTER_FIELDS)
        notification, created = services.notification_register(
            app=request.user.app,
            name=body["name"],
            description=body.get("description", ""),
            templates=body["templates"],
        )
        notification = _with_templates(Notification.objects.filter(pk=notification.pk)).get()
        return Response(
            notification_data(notification),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class NotificationDetailView(TenantScoped):
    @extend_schema(
        summary="Get a notification",
        parameters=[NAME],
        responses={200: NotificationSerializer, **sc.errors(404)},
        examples=[_ok("Notification", _ENABLED), NOT_FOUND],
        tags=["notifications"],
    )
    def get(self, request, name: str):
        notification = (
            _with_templates(Notification.objects.filter(app=request.user.app, name=name))
            .order_by()
            .first()
        )
        if notification is None:
            raise Http404
        return Response(notification_data(notification))


class NotificationSendView(TenantScoped):
    @extend_schema(
        summary="Send messages with a notification",
        description="The body of POST /api/v1/messages, with `notification` instead of "
        "template names: each entry gets the notification's template for its channel. "
        "403 unless the notification is ENABLED and its templates active.",
        request=NotificationSendInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={202: sc.AcceptedSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[
            OpenApiExample(
                "SMS with a notification",
                value={
                    "notification": "order-delivered",
                    "sms": [{"data": {"otp": "342365"}, "to": ["+14155550100"]}],
                    "callback": {"url": "https://app.example.com/hooks/status"},
                },
                request_only=True,
            ),
            _ok(
                "Accepted",
                {
                    "requestId": "0d6c5f0e-3a2b-4c1d-9e8f-7a6b5c4d3e2f",
                    "messages": [
                        {
                            "messageId": "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
                            "channel": "sms",
                            "to": "+14155550100",
                            "status": st.get(st.PENDING_ACCEPTED).as_dict(),
                        }
                    ],
                },
                "202",
            ),
            NOT_ENABLED,
            INACTIVE,
        ],
        tags=["messages"],
    )
    @idempotent
    def post(self, request):
        message_request, messages = services.notification_send(
            app=request.user.app, body=request.data
        )
        # The same 202 as /messages: each message its own status (a suppressed recipient's
        # REJECTED beside the others' PENDING_ACCEPTED).
        return accepted_response(message_request, messages)
