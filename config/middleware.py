from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from core.errors import json_error


class NulInUrlMiddleware:
    """A NUL character in the path or the query string (`%00`) is a 400: PostgreSQL cannot
    compare or store it, so it would otherwise be a 500 wherever the value is looked up."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            detail = "The URL holds a NUL character (%00)."
            if request.path.startswith("/api/") or request.path.startswith("/webhooks/"):
                return json_error("invalid_url", detail, 400)
            return HttpResponseBadRequest(detail)
        return self.get_response(request)


MEDIA_UPLOAD_PATH = "/api/v1/media"


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
            if request.path == MEDIA_UPLOAD_PATH:  # a file upload: the documents' limit
                if length > settings.MEDIA_MAX_BODY_BYTES:
                    return json_error(
                        "file_too_large",
                        f"The upload is {length} bytes; files are at most "
                        f"{settings.MEDIA_MAX_DOCUMENT_BYTES} bytes (100 MB).",
                        413,
                        source="file",
                    )
            elif length > settings.API_MAX_BODY_BYTES:
                return json_error(
                    "request_too_large",
                    f"The request body is {length} bytes; the limit is "
                    f"{settings.API_MAX_BODY_BYTES} bytes (5 MB).",
                    413,
                )
        return self.get_response(request)
