"""The signed download link (no API key): what a provider fetches to send an uploaded file."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from core.errors import json_error

from . import services
from .sniff import IMAGE


@require_safe
def media_download(request: HttpRequest, token: str, filename: str) -> HttpResponse:
    """Stream the file the token names, as its sniffed type. `filename` only names the file
    for whoever reads the URL; the token alone decides."""
    try:
        media = services.media_of_link(token)
    except services.LinkExpired:
        return json_error("link_expired", "This media link has expired.", 410)
    except services.LinkInvalid:
        return json_error("not_found", "No such media link.", 404)
    try:
        handle = media.file.storage.open(media.file.name, "rb")
    except OSError:  # the row outlived its file (removed from the storage by hand)
        return json_error("not_found", "The file of this media is gone.", 404)
    response = FileResponse(
        handle,
        content_type=media.content_type,
        as_attachment=media.kind != IMAGE,
        filename=media.filename,
    )
    # Files of tenants' users served from our origin: never run as a page of it.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response
