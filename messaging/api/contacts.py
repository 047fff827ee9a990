"""API of contacts and suppressions: check input, call one service, shape the output.

X-API-Key auth, the app's tenant scope, the error document and pagination are the API's
defaults (config.settings REST_FRAMEWORK)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from contacts import schema as sc
from contacts import services
from contacts.models import (
    CHANNELS,
    KIND_EMAIL,
    KIND_PHONE,
    KIND_PUSH,
    Contact,
    ContactAddress,
    Suppression,
)
from core.errors import ApiError

from . import schema as msc
from .idempotency import idempotent

CHANNEL_NAMES = [c for c, _ in CHANNELS]


class CSVParser(parsers.BaseParser):
    """text/csv bodies, as text (the import reads them with csv_rows)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError("malformed_body", "The CSV must be UTF-8.", source="body") from None
        if "\x00" in text:  # PostgreSQL's text holds no NUL (UTF-8 decoding left no surrogate)
            raise ApiError("malformed_body", "The CSV holds a NUL character.", source="body")
        return text


def contact_data(c: Contact, care_until=None) -> dict[str, Any]:
    addresses = list(c.addresses.all())

    def of(kind: str) -> list[str]:
        return [a.normalized for a in addresses if a.channel == kind]

    return {
        "id": str(c.id),
        "externalId": c.external_id or None,
        "name": c.name,
        "locale": c.locale,
        "phone": of(KIND_PHONE),
        "email": of(KIND_EMAIL),
        "push": of(KIND_PUSH),
        "attributes": c.attributes,
        "timeZone": c.time_zone or None,
        "quietHours": services.quiet_hours_data(c),
        "careWindowUntil": care_until.isoformat() if care_until else None,
        "createdAt": c.created_at.isoformat(),
        "updatedAt": c.updated_at.isoformat(),
    }


def suppression_data(s: Suppression) -> dict[str, Any]:
    return {
        "id": s.id,
        "channel": s.channel,
        "address": s.address,
        "reason": s.reason,
        "source": s.source,
        "createdAt": s.created_at.isoformat(),
    }


def _contacts(tenant):
    return Contact.objects.filter(tenant=tenant).prefetch_related(
        Prefetch("addresses", queryset=ContactAddress.objects.order_by("id"))
    )


class _Scoped(APIView):
    @property
    def tenant(self):
        return self.request.user.tenant

    def paginate(self, queryset, shape):
        paginator = api_settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(shape(page))


def _contacts_shaped(contacts) -> list[dict[str, Any]]:
    contacts = list(contacts)
    until = services.care_windows_until(contacts)
    return [contact_data(c, until.get(c.pk)) for c in contacts]


class ContactListView(_Scoped):
    @extend_schema(
        summary="List contacts",
        operation_id="contacts_list",
        parameters=[
            OpenApiParameter("externalId", str, description="only the contact of this id"),
            *sc.PAGE_PARAMETERS,
        ],
        responses={200: sc.ContactPageSerializer, **sc.LIST_ERRORS},
        examples=[sc.CONTACT_LIST],
        tags=["contacts"],
    )
    def get(self, request):
        qs = _contacts(self.tenant).order_by("created_at", "id")
        ext = request.query_params.get("externalId")
        if ext is not None:
            qs = qs.filter(external_id=ext)
        return self.paginate(qs, _contacts_shaped)

    @extend_schema(
        summary="Create a contact",
        request=sc.ContactInSerializer,
        parameters=[msc.IDEMPOTENCY_KEY],
        responses={201: sc.ContactSerializer, **sc.CONTACT_ERRORS},
        examples=[sc.CONTACT_IN, sc.CONTACT_CREATED, sc.CONTACT_BAD, sc.CONTACT_DUPLICATE],
        tags=["contacts"],
    )
    @idempotent
    def post(self, request):
        contact = services.contact_create(tenant=self.tenant, body=request.data)
        contact = _contacts(self.tenant).get(pk=contact.pk)
        return Response(_contacts_shaped([contact])[0], status=status.HTTP_201_CREATED)


@extend_schema(parameters=[sc.CONTACT_ID], tags=["contacts"])
class ContactDetailView(_Scoped):
    def get_object(self, contact_id) -> Contact:
        return get_object_or_404(_contacts(self.tenant), pk=contact_id)

    @extend_schema(
        summary="Get a contact",
        responses={200: sc.ContactSerializer, **sc.error_answers(404)},
        examples=[sc.CONTACT_ONE, sc.NOT_FOUND],
    )
    def get(self, request, contact_id):
        return Response(_contacts_shaped([self.get_object(contact_id)])[0])

    @extend_schema(
        summary="Change a contact",
        description="The fields given change: an address field replaces that kind's "
        "addresses; attributes merge (a null value removes one).",
        request=sc.ContactInSerializer,
        responses={200: sc.ContactSerializer, **sc.CONTACT_ERRORS, **sc.error_answers(404)},
        examples=[sc.CONTACT_PATCH, sc.CONTACT_ONE, sc.CONTACT_DUPLICATE],
    )
    def patch(self, request, contact_id):
        services.contact_update(contact=self.get_object(contact_id), body=request.data)
        return Response(_contacts_shaped([self.get_object(contact_id)])[0])

    @extend_schema(
        summary="Delete a contact",
        responses={204: None, **sc.error_answers(404)},
        examples=[sc.NOT_FOUND],
    )
    def delete(self, request, contact_id):
        self.get_object(contact_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactImportView(_Scoped):
    parser_classes = [*api_settings.DEFAULT_PARSER_CLASSES, CSVParser]

    @extend_schema(
        summary="Import contacts (upsert by externalId)",
        description='A JSON list of contacts (or {"contacts": [...]}), or text/csv. Row by '
        "row: a bad row stores nothing and is reported in `errors`, the others go on.",
        request=sc.IMPORT_REQUEST,
        parameters=[msc.IDEMPOTENCY_KEY],
        responses={
            200: sc.ImportResultSerializer,
            **sc.IMPORT_ERRORS,
            **msc.errors(409, post=True),
        },
        examples=[*sc.IMPORT_IN, sc.IMPORT_RESULT, sc.IMPORT_TOO_MANY],
        tags=["contacts"],
    )
    @idempotent
    def post(self, request):
        data = request.data
        if isinstance(data, str):  # text/csv
            rows = services.csv_rows(data)
        elif isinstance(data, list):
            rows = list(enumerate(data))
        elif isinstance(data, dict) and isinstance(data.get("contacts"), list):
            # Unknown fields are refused, as in every body (not silently dropped).
            for key in sorted(data.keys() - {"contacts"}):
                raise ApiError("unknown_field", f"'{key}' is not a known field.", source=key)
            rows = list(enumerate(data["contacts"]))
        else:
            raise ApiError(
                "invalid_type",
                'Give a JSON list of contacts ({"contacts": [...]} also works) or text/csv.',
            )
        result = services.contacts_import(tenant=self.tenant, rows=rows)
        return Response(result.as_dict())


def _channel(value: Any, source: str = "channel") -> str:
    if not isinstance(value, str) or value.lower() not in CHANNEL_NAMES:
        raise ApiError(
            "invalid_choice", f"channel is one of {', '.join(CHANNEL_NAMES)}.", source=source
        )
    return value.lower()


class SuppressionListView(_Scoped):
    @extend_schema(
        summary="List suppressions, newest first",
        operation_id="suppressions_list",
        parameters=[
            OpenApiParameter("channel", str, enum=sc.CHANNEL_NAMES),
            OpenApiParameter("address", str, description="any spelling of the number"),
            *sc.PAGE_PARAMETERS,
        ],
        responses={200: sc.SuppressionPageSerializer, **sc.LIST_ERRORS},
        examples=[sc.SUPPRESSION_LIST, sc.SUPPRESSION_BAD],
        tags=["suppressions"],
    )
    def get(self, request):
        qs = Suppression.objects.filter(tenant=self.tenant)
        q = request.query_params
        channel = _channel(q["channel"]) if q.get("channel") else None
        if channel:
            qs = qs.filter(channel=channel)
        if q.get("address"):
            # Any spelling of the number finds it: read as the channel's addresses are.
            kind = channel or ("email" if "@" in q["address"] else "sms")
            address = services.channel_address(kind, q["address"], self.tenant.default_country)
            qs = qs.filter(address=services.suppression_key(kind, address))
        return self.paginate(qs.order_by("-created_at", "-id"), lambda page: [
            suppression_data(s) for s in page
        ])  # fmt: skip

    @extend_schema(
        summary="Suppress an address on a channel",
        description="201 with reason manual; 200 with the suppression when it was there.",
        request=sc.SuppressionInSerializer,
        responses={
            201: sc.SuppressionSerializer,
            200: sc.SuppressionSerializer,
            **sc.error_answers(413, 415),
            **msc.errors(409, post=True),
        },
        parameters=[msc.IDEMPOTENCY_KEY],
        examples=[sc.SUPPRESSION_IN, sc.SUPPRESSION_ADDED, sc.SUPPRESSION_THERE],
        tags=["suppressions"],
    )
    @idempotent
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise ApiError("invalid_type", "The request body must be a JSON object.")
        for key in body:
            if key not in ("channel", "address", "source"):
                raise ApiError("unknown_field", f"'{key}' is not a known field.", source=key)
        channel = _channel(body.get("channel"))
        kind = {"email": KIND_EMAIL, "push": KIND_PUSH}.get(channel, KIND_PHONE)
        try:
            address = services.address_normalize(
                kind, body.get("address"), self.tenant.default_country
            )
        except ValueError as exc:
            raise ApiError("invalid_address", str(exc), source="address") from None
        source = body.get("source") or "api"
        if not isinstance(source, str):
            raise ApiError("invalid_type", "must be a string.", source="source")
        suppression, created = services.suppression_add(
            tenant=self.tenant,
            channel=channel,
            address=address,
            reason=Suppression.Reason.MANUAL,
            source=source,
        )
        return Response(
            suppression_data(suppression),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SuppressionDetailView(_Scoped):
    @extend_schema(
        summary="Lift a suppression",
        parameters=[sc.SUPPRESSION_ID],
        responses={204: None, **sc.error_answers(404)},
        examples=[sc.NOT_FOUND],
        tags=["suppressions"],
    )
    def delete(self, request, suppression_id: int):
        get_object_or_404(Suppression, tenant=self.tenant, pk=suppression_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
