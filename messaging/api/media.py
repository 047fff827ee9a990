"""The media API (API.md): POST /api/v1/media (a multipart `file`, or JSON {"url"}) and
GET /api/v1/media/{mediaId}. The files are the uploads app's; the views sit here for the
Idempotency-Key store, as the contacts' do.

A file is sniffed, checked and stored before the short transaction that writes its row (and
the idempotency record): a 100 MB upload or a slow remote server never holds the database's
write lock. A repeat with the same key is answered before any of that work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import parsers, status
from rest_framework.response import Response

from uploads import services
from uploads.models import Media

from . import schema as sc
from .errors import ApiError, ApiErrors
from .idempotency import idempotent, replayed
from .parsers import JSONParser
from .validation import check_object
from .views import TenantScoped

URL_FIELDS = {"url": (str, True), "filename": (str, False)}
_EXAMPLE = {
    "mediaId": "med_5f0c3a9e1b2d4c6e8f0a1b2c3d4e5f60",
    "kind": "document",
    "filename": "receipt.pdf",
    "contentType": "application/pdf",
    "size": 48213,
    "sha256": "9f2c0d7a4b1e6c3f8a5d2b9e0c7f4a1d6b3e8c5f2a9d0b7e4c1f8a5d2b9e6c3f",
    "createdAt": "2026-11-25T09:00:00+00:00",
    "url": "https://msg.example.com/media/eyJ...:1tX.../receipt.pdf",
    "urlExpiresAt": "2026-11-25T10:00:00+00:00",
}


def _error(name: str, code: str, status_code: int, title: str, detail: str, source: str):
    body = {"errors": [{"code": code, "title": title, "detail": detail, "source": source}]}
    return OpenApiExample(name, value=body, response_only=True, status_codes=[str(status_code)])


UPLOAD_EXAMPLES = [
    OpenApiExample(
        "Fetch a remote file",
        value={"url": "https://files.example.com/receipts/o-1.pdf", "filename": "receipt.pdf"},
        request_only=True,
    ),
    OpenApiExample("Uploaded", value=_EXAMPLE, response_only=True, status_codes=["201"]),
    _error(
        "Not an allowed type", "unsupported_media_type", 400, "Invalid data",
        "The file is a .exe file (application/x-msdownload): the API takes images (jpg, jpeg, "
        "png) up to 5 MB and documents (pdf, doc, docx) up to 100 MB.", "file",
    ),
    _error(
        "Over its limit", "file_too_large", 413, "Request too large",
        "The file is a PNG image of 6291456 bytes; images are at most 5242880 bytes (5 MB).",
        "file",
    ),
]  # fmt: skip
ERROR_ANSWERS = sc.error_answers(
    409, 413, 415,
    why={
        400: "Invalid input, a type the API does not take, or a url that could not be fetched "
        "(`url_unavailable`: try again later).",
        409: "The Idempotency-Key was used with a different request.",
        413: "A file over its type's limit (images 5 MB, documents 100 MB).",
        415: "The body is neither multipart/form-data nor application/json.",
    },
)  # fmt: skip


def media_data(media: Media) -> dict[str, Any]:
    url, expires = services.download_link(
        media, max_age=timedelta(seconds=settings.MEDIA_URL_MAX_AGE)
    )
    return {
        "mediaId": media.pk,
        "kind": media.kind,
        "filename": media.filename,
        "contentType": media.content_type,
        "size": media.size,
        "sha256": media.sha256,
        "createdAt": media.created_at.isoformat(),
        "url": url,
        "urlExpiresAt": expires.isoformat(),
    }


class MediaListView(TenantScoped):
    parser_classes = [parsers.MultiPartParser, JSONParser]

    @extend_schema(
        summary="Upload a file (image or document)",
        description=(
            'A multipart `file`, or JSON `{"url"}` to fetch it from. The type is read from the '
            "content, never from the name: images jpg/jpeg/png up to 5 MB, documents "
            "pdf/doc/docx up to 100 MB; any other type is a 400, a file over its limit a 413. "
            'Send it with `{"mediaId"}` wherever a send\'s media takes one.'
        ),
        operation_id="media_create",
        request={
            "multipart/form-data": sc.MediaUploadSerializer,
            "application/json": sc.MediaUrlInSerializer,
        },
        parameters=[sc.IDEMPOTENCY_KEY],
        responses={201: sc.MediaSerializer, **ERROR_ANSWERS},
        examples=UPLOAD_EXAMPLES,
        tags=["media"],
    )
    def post(self, request):
        replay = replayed(request)
        if replay is not None:
            return replay
        staged = self._stage(request)
        try:
            response = self._save(request, staged)
        except BaseException:
            staged.discard()
            raise
        if response.headers.get("Idempotent-Replayed"):  # a concurrent twin got there first
            staged.discard()
        return response

    def _stage(self, request) -> services.Staged:
        app = request.user.app
        if not request.content_type.startswith("multipart/"):
            body = check_object(request.data, URL_FIELDS)
            return services.media_fetch(app=app, url=body["url"], filename=body.get("filename"))
        unknown = [
            ApiError("unknown_field", f"'{key}' is not a field of an upload (file).", source=key)
            for key in request.data
            if key != "file"
        ]
        if unknown:
            raise ApiErrors(unknown)
        files = request.FILES.getlist("file")
        if len(files) != 1:
            raise ApiError("required", "Give one file as the multipart part `file`.", source="file")
        return services.media_stage(app=app, file=files[0], filename=files[0].name, source="file")

    @idempotent
    def _save(self, request, staged: services.Staged) -> Response:
        media = services.media_save(staged)
        return Response(media_data(media), status=status.HTTP_201_CREATED)


class MediaDetailView(TenantScoped):
    @extend_schema(
        summary="Get an uploaded file's details and download link",
        operation_id="media_retrieve",
        parameters=[sc.MEDIA_ID],
        responses={200: sc.MediaSerializer, **sc.errors(404)},
        examples=[
            OpenApiExample("Media", value=_EXAMPLE, response_only=True, status_codes=["200"]),
            _error("Unknown", "not_found", 404, "Not found", "Not found.", None),
        ],
        tags=["media"],
    )
    def get(self, request, media_id: str):
        media = get_object_or_404(Media, tenant=self.tenant, pk=media_id)
        return Response(media_data(media))
