from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.errors import json_error


class ApiRequestSizeMiddleware:
    """Refuse an API body over the limit with 413 before anything reads it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return json_error(
                    "request_too_large",
                    f"The request body is {length} bytes; the limit is "
                    f"{settings.API_MAX_BODY_BYTES} bytes (5 MB).",
                    413,
                )
        return self.get_response(request)
