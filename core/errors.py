"""The error document of API.md: `{"errors": [{"code", "title", "detail", "source"}]}`.

`source` names the offending field by its path (`sms[0].to[1]`, `data.otp`). Services of every
layer raise ApiError / ApiErrors; the API's exception handler (messaging.api.errors) and the
plain-Django views turn them into the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import JsonResponse

TITLES = {
    400: "Invalid data",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Server error",
    503: "Service unavailable",
}


class ApiError(Exception):
    """One problem with a request; raise it (or ApiErrors) from a service or a view."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        source: str | None = None,
        status: int = 400,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.source = source
        self.status = status
        self.title = title or TITLES.get(status, "Error")

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": self.source,
        }


class ApiErrors(Exception):
    """Several problems found in one pass over a request; all share one status code."""

    def __init__(self, errors: Iterable[ApiError], status: int | None = None) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(e.detail for e in self.errors))
        self.status = status or (self.errors[0].status if self.errors else 400)


def error_body(errors: Iterable[ApiError]) -> dict[str, Any]:
    return {"errors": [e.as_dict() for e in errors]}


def json_error(code: str, detail: str, status: int, source: str | None = None) -> JsonResponse:
    """The error document outside DRF (middleware, Django's 404/500 handlers)."""
    return JsonResponse(
        error_body([ApiError(code, detail, status=status, source=source)]), status=status
    )
