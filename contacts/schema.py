"""The OpenAPI shapes of the contacts API (drf-spectacular), as messaging/api/contacts.py answers.

Requests are checked by contacts.services, not by these serializers: they only describe the
bodies. The error document, closed bodies and the page envelope are core.openapi's (contacts
may not import messaging).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema_field,
)
from rest_framework import serializers

from core.errors import TITLES
from core.openapi import (  # noqa: F401 (PAGE_PARAMETERS, error_answers: for messaging/api/contacts.py)
    PAGE_PARAMETERS,
    WHY_404_LIST,
    AnyObject,
    Closed,
    error_answers,
    page_of,
)

from .models import CHANNELS, Suppression
from .services import IMPORT_MAX_ROWS, MAX_ADDRESSES

# In the order of messaging's channel list: the same enum, one `ChannelEnum` component.
CHANNEL_NAMES = sorted(
    (c for c, _ in CHANNELS), key=["sms", "email", "whatsapp", "viber", "rcs", "push"].index
)


# --- answers ---------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": ["off"]},
            {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                    "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                },
                "required": ["start", "end"],
                "additionalProperties": False,
            },
        ],
        "nullable": True,
        "description": 'Quiet hours: null the tenant\'s, "off" none (never deferred), or a '
        'window of its own every day in local time, e.g. {"start": "22:00", "end": '
        '"07:00"}.',
    }
)
class QuietHoursField(serializers.Field):
    """null: the tenant's; "off"; or {start, end}."""


class ContactSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    externalId = serializers.CharField(allow_null=True, help_text="The app's own id, or null.")
    name = serializers.CharField(allow_blank=True)
    locale = serializers.CharField(allow_blank=True)
    phone = serializers.ListField(child=serializers.CharField(), help_text="E.164")
    email = serializers.ListField(child=serializers.CharField())
    push = serializers.ListField(child=serializers.CharField())
    attributes = AnyObject()
    timeZone = serializers.CharField(
        allow_null=True, help_text="IANA name; null: the phone number's, else the tenant's."
    )
    quietHours = QuietHoursField(allow_null=True)
    careWindowUntil = serializers.DateTimeField(
        allow_null=True, help_text="When the open WhatsApp window ends; null when none is open."
    )
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


ContactPageSerializer = page_of(ContactSerializer)


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        min_value=0, help_text="The index in the JSON list, or the CSV line (header: 1)."
    )
    source = serializers.CharField(allow_null=True)
    detail = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(min_value=0)
    updated = serializers.IntegerField(min_value=0)
    errors = ImportErrorSerializer(many=True, help_text="The rows that stored nothing.")


class SuppressionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.ChoiceField(CHANNEL_NAMES)
    address = serializers.CharField(help_text="E.164, or a lower-case email.")
    reason = serializers.ChoiceField(Suppression.Reason.values)
    source = serializers.CharField(allow_blank=True, help_text="What caused it.")
    createdAt = serializers.DateTimeField()


SuppressionPageSerializer = page_of(SuppressionSerializer)


# --- requests --------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "maxItems": MAX_ADDRESSES},
        ],
        "nullable": True,
    }
)
class AddressesField(serializers.Field):
    """One address or a list; null: none."""


class ContactInSerializer(Closed):
    externalId = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=200,
        help_text="Unique in the tenant (409 `duplicate`).",
    )  # fmt: skip
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    locale = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=35, help_text="en, de-AT"
    )
    phone = AddressesField(
        required=False, help_text=f"At most {MAX_ADDRESSES}; stored as E.164. First: sent to."
    )
    email = AddressesField(required=False, help_text=f"At most {MAX_ADDRESSES}.")
    push = AddressesField(required=False, help_text=f"At most {MAX_ADDRESSES} push tokens.")
    attributes = AnyObject(
        required=False,
        allow_null=True,
        help_text="Names of letters, digits and _; on PATCH they merge (null removes one).",
    )
    timeZone = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64,
        help_text="IANA name (Australia/Sydney); quiet hours are read in it.",
    )  # fmt: skip
    quietHours = QuietHoursField(required=False, allow_null=True)


class ContactListInSerializer(Closed):
    contacts = ContactInSerializer(many=True, max_length=IMPORT_MAX_ROWS)


IMPORT_JSON = PolymorphicProxySerializer(
    component_name="ContactImport",
    serializers=[
        ContactInSerializer(many=True, max_length=IMPORT_MAX_ROWS),
        ContactListInSerializer,
    ],
    resource_type_field_name=None,
    many=False,
)
IMPORT_REQUEST = {
    "application/json": IMPORT_JSON,
    "text/csv": {
        "type": "string",
        "description": "A header row: externalId, name, locale, timeZone, phone, email, push "
        "(several addresses separated by ;), any other column an attribute.",
    },
}


class SuppressionInSerializer(Closed):
    channel = serializers.ChoiceField(CHANNEL_NAMES)
    address = serializers.CharField(help_text="Any spelling of the number; an email.")
    source = serializers.CharField(
        required=False, allow_blank=True, help_text="What caused it (default: api)."
    )


# --- parameters ------------------------------------------------------------------------------

_CONTACT_ID = "3f0c8a2e-5b1d-4c7e-9a6f-1d2e3f4a5b6c"
_SUPPRESSION_ID = 7

CONTACT_ID = OpenApiParameter(
    "contact_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The contact's id.",
    examples=[OpenApiExample(_CONTACT_ID, value=_CONTACT_ID)],
)  # fmt: skip
SUPPRESSION_ID = OpenApiParameter(
    "suppression_id", int, OpenApiParameter.PATH, description="The suppression's id.",
    examples=[OpenApiExample(str(_SUPPRESSION_ID), value=_SUPPRESSION_ID)],
)  # fmt: skip

# --- error answers ---------------------------------------------------------------------------

# No Idempotency-Key here (it is messaging's): a 409 is the externalId's only.
LIST_ERRORS = error_answers(404, why={404: WHY_404_LIST})
CONTACT_ERRORS = error_answers(
    409, 413, 415, why={409: "The externalId is another contact's (`duplicate`)."}
)
IMPORT_ERRORS = error_answers(
    413, 415, why={
        413: f"Over {IMPORT_MAX_ROWS} rows, or a body over 5 MB.",
        415: "The body is neither application/json nor text/csv.",
    },
)  # fmt: skip


# --- examples --------------------------------------------------------------------------------

_CONTACT = {
    "id": _CONTACT_ID,
    "externalId": "u-1",
    "name": "Ann",
    "locale": "en",
    "phone": ["+14155550100"],
    "email": ["ann@example.com"],
    "push": [],
    "attributes": {"tier": "gold"},
    "timeZone": "America/Los_Angeles",
    "quietHours": {"start": "22:00", "end": "07:00"},
    "careWindowUntil": None,
    "createdAt": "2026-11-25T09:00:00+00:00",
    "updatedAt": "2026-11-25T09:00:00+00:00",
}
_SUPPRESSION = {
    "id": _SUPPRESSION_ID,
    "channel": "sms",
    "address": "+14155550100",
    "reason": "keyword",
    "source": "inbound 42: STOP",
    "createdAt": "2026-11-25T09:00:00+00:00",
}


def _ok(name: str, value, code: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[code])


def _error(name: str, code: str, status: int, detail: str, source: str | None) -> OpenApiExample:
    body = {"errors": [{"code": code, "title": TITLES[status], "detail": detail, "source": source}]}
    return OpenApiExample(name, value=body, response_only=True, status_codes=[str(status)])


def _page(name: str, item: dict) -> OpenApiExample:
    return _ok(name, {"count": 1, "next": None, "previous": None, "results": [item]})


CONTACT_IN = OpenApiExample(
    "A contact",
    request_only=True,
    value={"externalId": "u-1", "name": "Ann", "locale": "en", "phone": "(415) 555-0100",
           "email": "Ann@Example.com", "attributes": {"tier": "gold"},
           "timeZone": "America/Los_Angeles", "quietHours": {"start": "22:00", "end": "07:00"}},
)  # fmt: skip
CONTACT_PATCH = OpenApiExample(
    "Change an attribute, drop another",
    request_only=True,
    value={"attributes": {"tier": "platinum", "city": None}},
)
CONTACT_CREATED = _ok("Created", _CONTACT, "201")
CONTACT_ONE = _ok("The contact", _CONTACT)
CONTACT_LIST = _page("Contacts", _CONTACT)
CONTACT_BAD = _error(
    "Bad phone number", "invalid_address", 400, "'+1415' is not a valid phone number", "phone[0]"
)
CONTACT_DUPLICATE = _error(
    "externalId in use", "duplicate", 409,
    "A contact with externalId 'u-1' exists already.", "externalId",
)  # fmt: skip
NOT_FOUND = _error("Unknown", "not_found", 404, "Not found.", None)

IMPORT_IN = [
    OpenApiExample(
        "A JSON list",
        request_only=True,
        media_type="application/json",
        value=[
            {"externalId": "u-1", "name": "Ann", "attributes": {"tier": "gold"}},
            {"externalId": "u-2", "phone": "+1415"},
        ],
    ),
    OpenApiExample(
        "CSV",
        request_only=True,
        media_type="text/csv",
        value="externalId,name,phone,tier\nu-1,Ann,+14155550100,gold\nu-2,Bob,+1415,silver\n",
    ),
]
IMPORT_RESULT = _ok(
    "Imported",
    {"created": 1, "updated": 0,
     "errors": [{"row": 1, "source": "phone[0]", "detail": "'+1415' is not a valid phone number"}]},
)  # fmt: skip
IMPORT_TOO_MANY = _error(
    "Too many rows", "too_many_rows", 413,
    f"The import has 5001 rows; at most {IMPORT_MAX_ROWS}.", None,
)  # fmt: skip

SUPPRESSION_IN = OpenApiExample(
    "Suppress a number",
    request_only=True,
    value={"channel": "sms", "address": "(415) 555-0100", "source": "support ticket 1234"},
)
SUPPRESSION_ADDED = _ok(
    "Added", {**_SUPPRESSION, "reason": "manual", "source": "support ticket 1234"}, "201"
)
SUPPRESSION_THERE = _ok("Already there", _SUPPRESSION)
SUPPRESSION_LIST = _page("Suppressions", _SUPPRESSION)
SUPPRESSION_BAD = _error(
    "Unknown channel", "invalid_choice", 400,
    "channel is one of sms, whatsapp, viber, rcs, email, push.", "channel",
)  # fmt: skip
