"""`Idempotency-Key` on POST: a repeat with the same request within 24 hours replays the first
answer and creates nothing; the same key with another request is a 409. "The same" is the
parsed JSON (canonical: keys sorted, no whitespace), not its bytes: a client that
re-serialises its body on retry is still retrying."""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.response import Response

from ..models import IdempotencyRecord
from .errors import ApiError

WINDOW = timedelta(hours=24)


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise ApiError(
            "idempotency_conflict",
            "This Idempotency-Key was used with a different request.",
            source="Idempotency-Key",
            status=409,
        )
    return Response(
        record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"}
    )


def canonical(request) -> bytes:
    """The request's JSON in one spelling (parsed once: the view reads the same request.data).
    A multipart body (a media upload) is its fields, each file by its name and content hash."""
    data = request.data
    if isinstance(data, QueryDict):
        data = {key: [_part(v) for v in data.getlist(key)] for key in data}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _part(value):
    if not isinstance(value, UploadedFile):
        return value
    digest = hashlib.sha256()
    for chunk in value.chunks():
        digest.update(chunk)
    value.seek(0)
    return {"name": value.name, "sha256": digest.hexdigest()}


def _digest(request) -> str:
    digest = getattr(request, "_idempotency_digest", None)  # a file is hashed once
    if digest is None:
        digest = request._idempotency_digest = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + canonical(request)
        ).hexdigest()
    return digest


def replayed(request) -> Response | None:
    """The answer recorded for this request's Idempotency-Key, if any: for a view that does
    slow work (a file to store) before the short transaction @idempotent runs it in."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return None
    _check_key(key)
    digest = _digest(request)  # now, while the request's files are as they came
    record = IdempotencyRecord.objects.filter(app=request.user.app, key=key).first()
    if record and record.created_at > timezone.now() - WINDOW:
        return _replay(record, digest)
    return None


def _check_key(key: str) -> None:
    if len(key) > 255:
        raise ApiError(
            "invalid_header", "Idempotency-Key is at most 255 characters.", source="Idempotency-Key"
        )


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            with transaction.atomic():
                return view_method(self, request, *args, **kwargs)
        _check_key(key)
        app = request.user.app
        digest = _digest(request)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.filter(app=app, key=key).first()
                if record and record.created_at > timezone.now() - WINDOW:
                    return _replay(record, digest)
                if record:
                    record.delete()
                response = view_method(self, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    IdempotencyRecord.objects.create(
                        app=app,
                        key=key,
                        request_hash=digest,
                        response_status=response.status_code,
                        response_body=response.data,
                    )
                return response
        except IntegrityError:
            # A concurrent request with the same key won; ours rolled back whole.
            record = IdempotencyRecord.objects.filter(app=app, key=key).first()
            if record is None:
                raise
            return _replay(record, digest)

    return wrapper
