"""Media: upload (a file, or a URL fetched through the guarded client), the signed download
link handed to providers, and our `mediaId`s in a send's content resolved to that link.

A file is sniffed (uploads.sniff), held to API.md's limits (images 5 MB, documents 100 MB),
hashed and put in Django's storage (STORAGES["default"]: the file system, or S3 through
django-storages) before its row is written: `media_stage` does the slow part outside any
transaction, `media_save` writes the row, `Staged.discard` takes the file back when the row
is not written, so a refused or rolled-back upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit
from weakref import WeakKeyDictionary

import requests
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile, File
from django.urls import reverse
from django.utils import timezone

from core import http
from core.errors import ApiError
from core.netsafe import host_is_private
from tenants.models import App, Tenant

from .models import MEDIA_ID_PREFIX, Media
from .sniff import ALLOWED, DOCUMENT, IMAGE, FileType, NotAllowed, sniff

MAX_URL_LENGTH = 2000
MAX_FILENAME = 200
# A link in a send lives as long as the message may wait for its provider to fetch it: sent
# up to 180 days after it was accepted (scheduledAt) and within a validity of at most 7 days
# (messaging.services.accept); tests/uploads checks the two agree.
SEND_LINK_MAX_AGE = timedelta(days=190)
_SALT = "uploads.media.download"
# The send content's media kinds (providers.backends.content.MEDIA_KINDS, which this layer may
# not import): an uploaded image may be sent as an image or as a document, a document only
# as a document; nothing uploaded here is a video, an audio or a sticker.
_ACCEPTS: dict[str, set[str]] = {
    "image": {IMAGE}, "document": {IMAGE, DOCUMENT}, "video": set(), "audio": set(),
    "sticker": set(),
}  # fmt: skip


def max_bytes(kind: str) -> int:
    return settings.MEDIA_MAX_IMAGE_BYTES if kind == IMAGE else settings.MEDIA_MAX_DOCUMENT_BYTES


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def allowed_text() -> str:
    return (
        f"images (jpg, jpeg, png) up to {_megabytes(settings.MEDIA_MAX_IMAGE_BYTES)} and "
        f"documents (pdf, doc, docx) up to {_megabytes(settings.MEDIA_MAX_DOCUMENT_BYTES)}"
    )


# --- names -------------------------------------------------------------------------------------


def file_named(given: str, ftype: FileType) -> str:
    """The name a file keeps: the client's, its extension that of its real type (a PDF sent
    as scan.png is scan.pdf), without path parts or control characters."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "", unicodedata.normalize("NFC", given or ""))
    stem, dot, ext = name.strip().rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = stem.strip(" .")[:MAX_FILENAME] or "file"  # no hidden files, no ".." names
    if ext.lower() in ftype.extensions:
        return f"{stem}.{ext}"
    return f"{stem}.{ftype.extension}"


def url_name(filename: str) -> str:
    """The filename as the link's last path segment: ASCII, nothing to escape, so that a
    provider that names the file from its URL (Meta, Infobip, Twilio) names it well."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    stem, dot, ext = ascii_name.rpartition(".")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:100] or "file"
    return f"{stem}.{re.sub(r'[^A-Za-z0-9]', '', ext) or 'bin'}" if dot else stem


# --- upload ------------------------------------------------------------------------------------


@dataclass
class Staged:
    """A file sniffed, checked and stored, and its row not yet written."""

    media: Media

    def discard(self) -> None:
        self.media.file.delete(save=False)


def media_stage(*, app: App, file: BinaryIO, filename: str, source: str) -> Staged:
    """Sniff, check, hash and store `file` (seekable). Refusals are ApiError naming `source`:
    400 for a type the API does not take, 413 for a file over its type's limit."""
    try:
        ftype = sniff(file)
    except NotAllowed as exc:
        raise ApiError(
            "unsupported_media_type",
            f"The file is {exc.what}: the API takes {allowed_text()}.",
            source=source,
        ) from None
    digest, size = hashlib.sha256(), 0
    file.seek(0)
    while chunk := file.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    limit = max_bytes(ftype.kind)
    if size > limit:
        raise ApiError(
            "file_too_large",
            f"The file is {ftype.label} of {size} bytes; {ftype.kind}s are at most {limit} "
            f"bytes ({_megabytes(limit)}).",
            source=source,
            status=413,
        )
    media = Media(
        tenant_id=app.tenant_id,
        app=app,
        kind=ftype.kind,
        content_type=ftype.content_type,
        filename=file_named(filename, ftype),
        size=size,
        sha256=digest.hexdigest(),
    )
    # An upload Django spooled to a temporary file is moved into a local storage, not copied.
    media.file.save(media.filename, file if isinstance(file, File) else File(file), save=False)
    return Staged(media)


def media_save(staged: Staged) -> Media:
    """Write the staged file's row (inside the caller's transaction)."""
    staged.media.save(force_insert=True)
    return staged.media


def media_fetch(*, app: App, url: Any, filename: Any = None) -> Staged:
    """Stage the file at `url`, fetched through the guarded outbound client (core.http: every
    connection and redirect hop checked against private addresses unless ALLOW_PRIVATE_URLS),
    read up to the documents' limit, then sniffed and checked as an upload is."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError("required", "url is required.", source="url")
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(
            "invalid_url", f"url must be an http(s) URL of at most {MAX_URL_LENGTH} characters.",
            source="url",
        )  # fmt: skip
    if not settings.ALLOW_PRIVATE_URLS and host_is_private(parts.hostname):
        raise ApiError(
            "private_url", f"'{parts.hostname}' is a private or loopback address.", source="url"
        )
    if filename is not None and not isinstance(filename, str):
        raise ApiError("invalid_type", "filename must be a string.", source="filename")
    try:
        fetched = http.fetch(url, max_bytes=settings.MEDIA_MAX_DOCUMENT_BYTES)
    except http.FetchFailed as exc:
        raise _fetch_refusal(exc) from None
    except requests.RequestException as exc:
        raise ApiError(
            "url_unavailable", f"{http.describe_error(exc)} Try again later.", source="url"
        ) from None
    name = filename or posixpath.basename(unquote(parts.path))
    return media_stage(app=app, file=ContentFile(fetched.content), filename=name, source="url")


def _fetch_refusal(exc: http.FetchFailed) -> ApiError:
    if exc.code == "TOO_LARGE":
        return ApiError(
            "file_too_large",
            f"{exc.description} The API takes {allowed_text()}.",
            source="url",
            status=413,
        )
    if exc.code == "PRIVATE_URL":
        return ApiError("private_url", exc.description, source="url")
    if exc.code == "INVALID_URL":
        return ApiError("invalid_url", exc.description, source="url")
    if not exc.permanent:
        return ApiError("url_unavailable", f"{exc.description} Try again later.", source="url")
    return ApiError("url_not_fetched", exc.description, source="url")


# --- the signed download link ------------------------------------------------------------------


class LinkInvalid(Exception):
    """A download token that is forged, damaged, or names no media."""


class LinkExpired(LinkInvalid):
    pass


def download_link(media: Media, *, max_age: timedelta) -> tuple[str, datetime]:
    """An unguessable URL under PUBLIC_BASE_URL that serves the file without an API key until
    it expires (a signature over the id and the expiry, keyed with SECRET_KEY)."""
    expires = timezone.now() + max_age
    token = signing.dumps([media.pk, int(expires.timestamp())], salt=_SALT, compress=True)
    path = reverse("media-download", args=[token, url_name(media.filename)])
    return settings.PUBLIC_BASE_URL + path, expires


def media_of_link(token: str) -> Media:
    """The media a download token names; LinkInvalid (or LinkExpired) otherwise."""
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise LinkInvalid("forged or damaged") from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    ):
        raise LinkInvalid("not a media token")
    if value[1] < timezone.now().timestamp():
        raise LinkExpired("expired")
    media = Media.objects.filter(pk=value[0]).first()
    if media is None:
        raise LinkInvalid("no such media")
    return media


# --- our mediaIds in a send's content ----------------------------------------------------------


class ErrorSink(Protocol):
    """Accept's error collector (one per request): `add(code, detail, source)`."""

    def add(self, code: str, detail: str, source: str | None) -> None: ...


# Per request (keyed by its error collector, gone with it): each id is looked up once.
_found: WeakKeyDictionary[Any, dict[tuple[int, str], Media | None]] = WeakKeyDictionary()


def is_ours(media_id: Any) -> bool:
    return isinstance(media_id, str) and media_id.strip().startswith(MEDIA_ID_PREFIX)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if is_ours(value.get("mediaId")):
            yield value["mediaId"].strip()
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def content_media_resolve(
    *, tenant: Tenant, content: dict[str, Any] | None, path: str, errors: ErrorSink
) -> dict[str, Any] | None:
    """`content` (a send entry's media, providerTemplate header, cards ...) with each of our
    mediaIds (`med_…`) replaced by the file's signed link, before any adapter reads it; a
    provider's own ids pass untouched. An id that is not this tenant's, or a file that cannot
    be the kind it is given as, is added to `errors` (source: the field's path) and None is
    returned. One query per request for the ids first seen in it, none without ids."""
    ids = set(_refs(content))
    if not ids:
        return content
    found = _found.setdefault(errors, {})
    new = {i for i in ids if (tenant.pk, i) not in found}
    if new:
        rows = {m.pk: m for m in Media.objects.filter(tenant=tenant, pk__in=new)}
        found.update({(tenant.pk, i): rows.get(i) for i in new})
    resolver = _Resolver(tenant.pk, found, errors, top=f"{path}.media")
    out = resolver.walk(content, path, "")
    return out if resolver.ok else None


class _Resolver:
    def __init__(self, tenant_id: int, found: dict, errors: ErrorSink, top: str) -> None:
        self.tenant_id, self.found, self.errors, self.top = tenant_id, found, errors, top
        self.ok = True
        self.links: dict[str, str] = {}

    def walk(self, value: Any, source: str, key: str) -> Any:
        if isinstance(value, dict):
            if is_ours(value.get("mediaId")):
                return self.resolve(value, source, key)
            return {k: self.walk(v, f"{source}.{k}", k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, f"{source}[{j}]", key) for j, v in enumerate(value)]
        return value

    def resolve(self, item: dict[str, Any], source: str, key: str) -> dict[str, Any]:
        media_id = item["mediaId"].strip()
        media = self.found.get((self.tenant_id, media_id))
        if media is None:
            return self.refuse(
                item, "unknown_media",
                f"No media '{media_id}': upload the file with POST /api/v1/media first.",
                f"{source}.mediaId",
            )  # fmt: skip
        flat = source == self.top  # OS1's flat {"mediaId", "type"?} form of one item
        kind = item.get("type") if flat else key
        if kind in _ACCEPTS and media.kind not in _ACCEPTS[kind]:
            labels = {t.content_type: t.label for t in ALLOWED}
            what = labels.get(media.content_type, media.content_type)
            hint = " Give it as a document." if media.kind == DOCUMENT and kind == "image" else ""
            return self.refuse(
                item, "media_kind", f"'{media_id}' is {what}, not {kind}.{hint}",
                f"{source}.mediaId",
            )  # fmt: skip
        out = {k: v for k, v in item.items() if k != "mediaId"}
        out["url"] = self.link(media)
        if flat and "type" not in item:
            out["type"] = media.kind  # else the flat form would guess the kind from the URL
        return out

    def refuse(self, item: dict, code: str, detail: str, source: str) -> dict:
        self.errors.add(code, detail, source)
        self.ok = False
        return item

    def link(self, media: Media) -> str:
        if media.pk not in self.links:
            self.links[media.pk] = download_link(media, max_age=SEND_LINK_MAX_AGE)[0]
        return self.links[media.pk]
