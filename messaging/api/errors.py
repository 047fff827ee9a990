"""The error document of API.md for every 4xx/5xx under /api/.

`{"errors": [{"code", "title", "detail", "source"}]}`, with `source` naming the offending
field by its path (`sms[0].to[1]`, `data.otp`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.errors import TITLES, ApiError, ApiErrors, error_body, json_error

__all__ = [
    "ApiError",
    "ApiErrors",
    "TITLES",
    "error_body",
    "error_response",
    "exception_handler",
    "json_error",
]

logger = logging.getLogger(__name__)


def error_response(
    errors: Iterable[ApiError], status: int, headers: dict | None = None
) -> Response:
    return Response(error_body(errors), status=status, headers=headers)


def _flatten(detail: Any, path: str = "") -> list[ApiError]:
    """Turn DRF's nested ValidationError detail into errors with dotted/indexed sources."""
    if isinstance(detail, dict):
        out: list[ApiError] = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                out += _flatten(value, path)
            else:
                out += _flatten(value, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(detail, list):
        if all(not isinstance(d, dict | list) for d in detail):
            return [
                ApiError(getattr(d, "code", None) or "invalid", str(d), source=path or None)
                for d in detail
            ]
        out = []
        for i, value in enumerate(detail):
            if value:
                out += _flatten(value, f"{path}[{i}]")
        return out
    return [ApiError(getattr(detail, "code", None) or "invalid", str(detail), source=path or None)]


_DRF_CODES = {
    exceptions.NotAuthenticated: ("unauthorized", 401),
    exceptions.AuthenticationFailed: ("unauthorized", 401),
    exceptions.PermissionDenied: ("forbidden", 403),
    exceptions.NotFound: ("not_found", 404),
    exceptions.MethodNotAllowed: ("method_not_allowed", 405),
    exceptions.NotAcceptable: ("not_acceptable", 406),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", 415),
    exceptions.Throttled: ("throttled", 429),
    exceptions.ParseError: ("malformed_body", 400),
}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error as API.md's error document."""
    if isinstance(exc, ApiErrors):
        return error_response(exc.errors, exc.status)
    if isinstance(exc, ApiError):
        return error_response([exc], exc.status)
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            [ApiError("request_too_large", "The request body exceeds 5 MB.", status=413)], 413
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return error_response(_flatten(exc.detail), 400)
    if isinstance(exc, exceptions.APIException):
        code, status_code = _DRF_CODES.get(type(exc), (exc.default_code, exc.status_code))
        for cls, (c, s) in _DRF_CODES.items():
            if isinstance(exc, cls):
                code, status_code = c, s
                break
        headers = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait + 0.999))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(
            [ApiError(code, str(detail), status=status_code)], status_code, headers
        )
    logger.exception("Unhandled error in API view", exc_info=exc)
    return error_response(
        [ApiError("server_error", "An unexpected error occurred.", status=500)],
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
