"""The OpenAPI shapes every API app shares (drf-spectacular): the error document, closed
request bodies, the page envelope and the error answers of an operation.

Here, in the bottom layer, so that contacts (which may not import messaging) describes its
answers with the same components as messaging, notifications and conversations: one `Error`,
one `ErrorItem`, whoever declares them. messaging.api.schema re-exports these names.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

# The API's pagination (messaging.api.pagination.PageNumberPagination); as numbers here, since
# core imports no app. tests/test_openapi.py checks they agree.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


# A request body (or part of one) whose unknown fields the API refuses. A comment, not a
# docstring: drf-spectacular would copy an inherited docstring into every subclass.
class Closed(serializers.Serializer):
    pass


class ClosedExtension(OpenApiSerializerExtension):
    target_class = Closed
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


@extend_schema_field({"type": "object", "additionalProperties": True})
class AnyObject(serializers.DictField):
    """A JSON object of any keys (placeholder values, callback meta, media)."""


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. invalid_recipient.")
    title = serializers.CharField()
    detail = serializers.CharField()
    source = serializers.CharField(
        allow_null=True, help_text="The offending field by its path (sms[0].to[1]), or null."
    )


class ErrorSerializer(serializers.Serializer):
    """API.md's error document: every 4xx/5xx answer under /api/."""

    errors = ErrorItemSerializer(many=True)


def page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """PageNumberPagination's envelope around `item` (component `Paginated<Item>List`)."""
    name = item.__name__.removesuffix("Serializer")
    return type(
        f"Paginated{name}ListSerializer",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(min_value=0),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="1-based; a page past the last is a 404."),
    OpenApiParameter("pageSize", int, description=f"default {PAGE_SIZE}, at most {MAX_PAGE_SIZE}"),
]

WHY = {
    400: "Invalid input: the error document names each field in `source`.",
    401: "No X-API-Key, or a key that is unknown, revoked or of a disabled app.",
    403: "The key's app may not do this.",
    404: "Unknown object (also another tenant's).",
    409: "Conflict.",
    413: "The request body is over 5 MB, or makes too many messages.",
    415: "The body is not application/json.",
    429: "Too many requests for this app: retry after `Retry-After` seconds.",
}
WHY_404_LIST = "The page is past the last, or not a number."


def error_answers(*codes: int, why: dict[int, str] | None = None) -> dict[int, Any]:
    """The error answers of an operation: `codes`, plus what every operation can answer
    (400 for a NUL in the URL, 401 and 403 from the key, 429 from the rate limit); `why`
    words some of them for this operation."""
    wanted = sorted({400, 401, 403, 429, *codes})
    texts = {**WHY, **(why or {})}
    return {code: OpenApiResponse(ErrorSerializer, description=texts[code]) for code in wanted}
