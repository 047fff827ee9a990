"""API of scenarios and omnimessages: check input, call one service, shape the output."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from messaging.api import examples as ex
from messaging.api import schema as sc
from messaging.api.idempotency import idempotent
from messaging.api.views import TenantScoped

from . import services
from .models import OMNI_CHANNELS, OmniMessage, OmniStep, Scenario

# --- shapes ----------------------------------------------------------------------------------


def _when(value) -> str | None:
    return value.isoformat() if value else None


def scenario_data(s: Scenario) -> dict[str, Any]:
    return {
        "key": s.key,
        "name": s.name,
        "flow": [{**step, "channel": step["channel"].upper()} for step in s.flow],
        "default": s.is_default,
        "createdAt": _when(s.created_at),
        "updatedAt": _when(s.updated_at),
    }


def accepted_data(omni: OmniMessage) -> dict[str, Any]:
    steps = OmniStep.objects.filter(omnimessage=omni).select_related("message__provider")
    return {
        "omnimessageId": str(omni.pk),
        "to": omni.to,
        "messages": [
            {
                "messageId": str(s.message_id),
                "channel": s.channel,
                "sender": s.message.sender or s.message.provider.default_sender or None,
            }
            for s in steps.order_by("position")
        ],
    }


def omnimessage_data(omni: OmniMessage) -> dict[str, Any]:
    return {
        "omnimessageId": str(omni.pk),
        "to": omni.to,
        "state": omni.state,
        "scenarioKey": omni.scenario.key if omni.scenario_id else None,
        "scheduledAt": _when(omni.scheduled_at),
        "createdAt": _when(omni.created_at),
        "settledAt": _when(omni.settled_at),
        "steps": [
            {
                "position": s.position,
                "channel": s.channel,
                "messageId": str(s.message_id),
                "state": s.state,
                "successStatus": s.success_status,
                "windowSeconds": s.window_seconds,
                "startedAt": _when(s.started_at),
                "deadline": _when(s.deadline),
                "endedAt": _when(s.ended_at),
                "outcome": s.outcome or None,
                "status": s.message.status_info.as_dict(),
            }
            for s in omni.steps.all()
        ],
    }


# --- schema ----------------------------------------------------------------------------------

CHANNEL_CHOICES = [c.upper() for c in OMNI_CHANNELS] + list(OMNI_CHANNELS)
OMNI_STATES = [s for s, _ in OmniMessage.State.choices]
SUCCESS_CHOICES = ["DELIVERED", "SEEN", "READ"]


class FlowStepSerializer(sc.Closed):
    channel = serializers.ChoiceField(CHANNEL_CHOICES)
    provider = serializers.CharField(required=False, help_text="Else the channel's default.")
    validity = serializers.IntegerField(
        required=False, min_value=1, help_text="Minutes until the next channel is tried."
    )
    ttl = serializers.IntegerField(
        required=False, min_value=10, help_text="Seconds until the next channel (not both)."
    )
    successStatus = serializers.ChoiceField(SUCCESS_CHOICES, required=False)


FlowStepSerializer._declared_fields["from"] = serializers.CharField(
    required=False, help_text="The sender on this channel."
)


class ScenarioInSerializer(sc.Closed):
    name = serializers.CharField(max_length=200)
    flow = FlowStepSerializer(many=True)
    default = serializers.BooleanField(required=False)


class ScenarioPatchSerializer(sc.Closed):
    name = serializers.CharField(max_length=200, required=False)
    flow = FlowStepSerializer(many=True, required=False)
    default = serializers.BooleanField(required=False)


class ScenarioSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    flow = serializers.ListField(child=sc.AnyObject())
    default = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


ScenarioPageSerializer = sc.page_of(ScenarioSerializer)


class StepInSerializer(serializers.Serializer):
    """One channel's message: the fields of that channel's entry in POST /api/v1/messages
    (template, data, media, buttons, providerTemplate, autoconvert, ...) may be given too."""

    channel = serializers.ChoiceField(CHANNEL_CHOICES)
    template = serializers.CharField(required=False)
    text = serializers.CharField(required=False)
    data = sc.AnyObject(required=False)
    sender = serializers.CharField(required=False)
    provider = serializers.CharField(required=False)
    validity = serializers.IntegerField(required=False, min_value=1, help_text="minutes")
    ttl = serializers.IntegerField(required=False, min_value=10, help_text="seconds")
    successStatus = serializers.ChoiceField(SUCCESS_CHOICES, required=False)


class CallbackInSerializer(sc.Closed):
    url = serializers.URLField()
    meta = serializers.JSONField(required=False)


class OmniInSerializer(sc.Closed):
    to = serializers.CharField(help_text="E.164, or a national number of the tenant's country.")
    scenarioKey = serializers.CharField(required=False)
    messages = StepInSerializer(many=True)
    callback = CallbackInSerializer(required=False)
    scheduledAt = serializers.DateTimeField(required=False)
    priority = serializers.ChoiceField(["high", "normal", "low"], required=False)
    textStore = serializers.ChoiceField(["plaintext", "sha256", "nostore"], required=False)


class OmniAcceptedMessageSerializer(serializers.Serializer):
    messageId = serializers.UUIDField()
    channel = serializers.ChoiceField(list(OMNI_CHANNELS))
    sender = serializers.CharField(allow_null=True)


class OmniAcceptedSerializer(serializers.Serializer):
    omnimessageId = serializers.UUIDField()
    to = serializers.CharField()
    messages = OmniAcceptedMessageSerializer(many=True)


class ErrorInfoSerializer(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()
    permanent = serializers.BooleanField()


class ChannelStatusSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(list(OMNI_CHANNELS))
    messageId = serializers.UUIDField()
    status = sc.StatusSerializer()
    error = ErrorInfoSerializer(allow_null=True)
    timestamp = serializers.DateTimeField()


class OmniStatusSerializer(serializers.Serializer):
    omnimessageId = serializers.UUIDField()
    to = serializers.CharField()
    state = serializers.ChoiceField(OMNI_STATES)
    statuses = ChannelStatusSerializer(many=True)


class OmniSerializer(serializers.Serializer):
    omnimessageId = serializers.UUIDField()
    to = serializers.CharField()
    state = serializers.ChoiceField(OMNI_STATES)
    scenarioKey = serializers.CharField(allow_null=True)
    scheduledAt = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    settledAt = serializers.DateTimeField(allow_null=True)
    steps = serializers.ListField(child=sc.AnyObject())


class EmptySerializer(serializers.Serializer):
    pass


_OMNI_ID = "0f8e1d2c-3b4a-4596-8778-695a4b3c2d1e"
OMNI_EXAMPLE = OpenApiExample(
    "WhatsApp until read within 10 minutes, else SMS",
    request_only=True,
    value={
        "to": "+14155550100",
        "messages": [
            {"channel": "whatsapp", "text": "Your code is {{code}}", "data": {"code": "4821"},
             "ttl": 600, "successStatus": "SEEN"},
            {"channel": "sms", "text": "Your code is {{code}}", "data": {"code": "4821"}},
        ],
        "callback": {"url": "https://app.example.com/hooks/omni", "meta": {"userId": "u-1"}},
    },
)  # fmt: skip
SCENARIO_EXAMPLE = OpenApiExample(
    "WhatsApp, then SMS",
    request_only=True,
    value={
        "name": "WhatsApp then SMS",
        "flow": [
            {"channel": "WHATSAPP", "from": "+14155550199", "validity": 10},
            {"channel": "SMS", "from": "ACME"},
        ],
        "default": True,
    },
)
_STEP_STATUS = {
    "groupName": "DELIVERED",
    "name": "DELIVERED_TO_HANDSET",
    "description": "Delivered to the recipient.",
}
_MESSAGE_IDS = ("6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", "7a2d3e4f-5b6c-4d8e-9fa0-1b2c3d4e5f60")
_SCENARIO = {
    "key": "3f9a0c1e2b4d4e6f8a0b1c2d3e4f5a6b",
    "name": "WhatsApp then SMS",
    "flow": [
        {"channel": "WHATSAPP", "from": "+14155550199", "validity": 10},
        {"channel": "SMS", "from": "ACME"},
    ],
    "default": True,
    "createdAt": "2026-12-01T09:00:00+00:00",
    "updatedAt": "2026-12-01T09:00:00+00:00",
}
_ACCEPTED = {
    "omnimessageId": _OMNI_ID,
    "to": "+14155550100",
    "messages": [
        {"messageId": _MESSAGE_IDS[0], "channel": "whatsapp", "sender": "+14155550199"},
        {"messageId": _MESSAGE_IDS[1], "channel": "sms", "sender": "ACME"},
    ],
}
_OMNI = {
    "omnimessageId": _OMNI_ID,
    "to": "+14155550100",
    "state": "DELIVERED",
    "scenarioKey": None,
    "scheduledAt": None,
    "createdAt": "2026-12-01T09:00:00+00:00",
    "settledAt": "2026-12-01T09:10:04+00:00",
    "steps": [
        {"position": 0, "channel": "whatsapp", "messageId": _MESSAGE_IDS[0], "state": "failed",
         "successStatus": "SEEN", "windowSeconds": 600,
         "startedAt": "2026-12-01T09:00:00+00:00", "deadline": "2026-12-01T09:10:00+00:00",
         "endedAt": "2026-12-01T09:10:00+00:00", "outcome": "not read within 600 s",
         "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET",
                    "description": "Delivered to the recipient."}},
        {"position": 1, "channel": "sms", "messageId": _MESSAGE_IDS[1], "state": "succeeded",
         "successStatus": "DELIVERED", "windowSeconds": 172800,
         "startedAt": "2026-12-01T09:10:00+00:00", "deadline": "2026-12-03T09:10:00+00:00",
         "endedAt": "2026-12-01T09:10:04+00:00", "outcome": None, "status": _STEP_STATUS},
    ],
}  # fmt: skip
_STATUSES = {
    "omnimessageId": _OMNI_ID,
    "to": "+14155550100",
    "state": "DELIVERED",
    "statuses": [
        {"channel": "whatsapp", "messageId": _MESSAGE_IDS[0],
         "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET",
                    "description": "Delivered to the recipient."},
         "error": None, "timestamp": "2026-12-01T09:00:02+00:00"},
        {"channel": "sms", "messageId": _MESSAGE_IDS[1], "status": _STEP_STATUS,
         "error": None, "timestamp": "2026-12-01T09:10:04+00:00"},
    ],
}  # fmt: skip
SCENARIO_LIST = [ex._ok("Scenarios", ex._page(_SCENARIO)), ex.UNAUTHORIZED]
SCENARIO_ONE = [ex._ok("Scenario", _SCENARIO), ex.NOT_FOUND]
SCENARIO_CREATED = [
    ex._ok("Created", _SCENARIO, "201"),
    ex._error(
        "Bad channel",
        "invalid_channel",
        400,
        "channel is one of SMS, WHATSAPP, VIBER, RCS (an omnimessage goes to one phone number).",
        "flow[1].channel",
    ),
]
SCENARIO_DELETE = [ex.NOT_FOUND]
OMNI_ACCEPTED = [
    ex._ok("Accepted", _ACCEPTED, "201"),
    ex._error(
        "Both validity and ttl",
        "ambiguous_validity",
        400,
        "give validity or ttl, not both.",
        "messages[0].ttl",
    ),
]
OMNI_ONE = [ex._ok("Omnimessage", _OMNI), ex.NOT_FOUND]
OMNI_CANCELLED = [
    ex._ok("Cancelled", {}, "202"),
    ex._error(
        "Already sent",
        "already_sent",
        409,
        "The omnimessage can no longer be cancelled: it is PENDING and its first message "
        "PENDING_ENROUTE.",
    ),
]
OMNI_STATUS = [ex._ok("Every channel tried", _STATUSES), ex.NOT_FOUND]
OMNI_ID = OpenApiParameter(
    "omnimessage_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
    description="The omnimessageId.",
    examples=[OpenApiExample(_OMNI_ID, value=_OMNI_ID)],
)  # fmt: skip
SCENARIO_KEY = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description="The scenario's key."
)


# --- views -----------------------------------------------------------------------------------


class ScenarioListView(TenantScoped):
    @extend_schema(
        summary="List scenarios",
        operation_id="scenarios_list",
        parameters=sc.PAGE_PARAMETERS,
        responses={200: ScenarioPageSerializer, **sc.errors(404, list_page=True)},
        examples=SCENARIO_LIST,
        tags=["omnichannel"],
    )
    def get(self, request):
        return self.paginate(
            Scenario.objects.filter(tenant=self.tenant).order_by("name", "pk"), scenario_data
        )

    @extend_schema(
        summary="Create a failover scenario (an ordered list of channels)",
        request=ScenarioInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={201: ScenarioSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[SCENARIO_EXAMPLE, *SCENARIO_CREATED],
        tags=["omnichannel"],
    )
    @idempotent
    def post(self, request):
        scenario = services.scenario_create(tenant=self.tenant, body=request.data)
        return Response(scenario_data(scenario), status=status.HTTP_201_CREATED)


class ScenarioDetailView(TenantScoped):
    def get_object(self, key: str) -> Scenario:
        return get_object_or_404(Scenario, tenant=self.tenant, key=key)

    @extend_schema(
        summary="A scenario",
        parameters=[SCENARIO_KEY],
        responses={200: ScenarioSerializer, **sc.errors(404)},
        examples=SCENARIO_ONE,
        tags=["omnichannel"],
    )
    def get(self, request, key):
        return Response(scenario_data(self.get_object(key)))

    @extend_schema(
        summary="Change a scenario",
        parameters=[SCENARIO_KEY],
        request=ScenarioPatchSerializer,
        responses={200: ScenarioSerializer, **sc.errors(404, 413, 415)},
        examples=[SCENARIO_EXAMPLE, *SCENARIO_ONE],
        tags=["omnichannel"],
    )
    def patch(self, request, key):
        scenario = services.scenario_update(scenario=self.get_object(key), body=request.data)
        return Response(scenario_data(scenario))

    @extend_schema(
        summary="Delete a scenario (omnimessages sent with it keep their steps)",
        parameters=[SCENARIO_KEY],
        responses={204: None, **sc.errors(404)},
        examples=SCENARIO_DELETE,
        tags=["omnichannel"],
    )
    def delete(self, request, key):
        self.get_object(key).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class OmniListView(TenantScoped):
    @extend_schema(
        summary="Send one message over a list of channels, each tried when the one before fails",
        request=OmniInSerializer,
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={201: OmniAcceptedSerializer, **sc.errors(409, 413, 415, post=True)},
        examples=[OMNI_EXAMPLE, *OMNI_ACCEPTED],
        tags=["omnichannel"],
    )
    @idempotent
    def post(self, request):
        omni = services.omnimessage_accept(app=request.user.app, body=request.data)
        return Response(accepted_data(omni), status=status.HTTP_201_CREATED)


def _omni(request, omnimessage_id) -> OmniMessage:
    return get_object_or_404(
        OmniMessage.objects.select_related("scenario").prefetch_related(
            Prefetch("steps", OmniStep.objects.select_related("message").order_by("position"))
        ),
        tenant=request.user.tenant,
        pk=omnimessage_id,
    )


class OmniDetailView(TenantScoped):
    @extend_schema(
        summary="An omnimessage: its state and every step",
        parameters=[OMNI_ID],
        responses={200: OmniSerializer, **sc.errors(404)},
        examples=OMNI_ONE,
        tags=["omnichannel"],
    )
    def get(self, request, omnimessage_id):
        return Response(omnimessage_data(_omni(request, omnimessage_id)))

    @extend_schema(
        summary="Cancel an omnimessage that has not left (scheduled, or not yet sent)",
        parameters=[OMNI_ID],
        responses={202: EmptySerializer, **sc.errors(404, 409)},
        examples=OMNI_CANCELLED,
        tags=["omnichannel"],
    )
    def delete(self, request, omnimessage_id):
        services.omnimessage_cancel(omni=_omni(request, omnimessage_id))
        return Response({}, status=status.HTTP_202_ACCEPTED)


class OmniStatusView(TenantScoped):
    @extend_schema(
        summary="The delivery report of every channel tried, in send order",
        parameters=[OMNI_ID],
        responses={200: OmniStatusSerializer, **sc.errors(404)},
        examples=OMNI_STATUS,
        tags=["omnichannel"],
    )
    def get(self, request, omnimessage_id):
        omni = _omni(request, omnimessage_id)
        return Response(
            {
                "omnimessageId": str(omni.pk),
                "to": omni.to,
                "state": omni.state,
                "statuses": services.statuses(omni),
            }
        )
