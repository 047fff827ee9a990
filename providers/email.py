"""Email shared by the SMTP and anymail adapters: building the Django message from an
OutboundMessage, fetching attachments, and reading anymail's webhook events.

The ESP-specific work stays in django-anymail: we build one `AnymailMessage`, hand it to the
ESP's backend opened with the tenant's credentials, and read anymail's normalized events.
"""

from __future__ import annotations

import io
import mimetypes
import posixpath
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from anymail.message import AnymailMessage
from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest
from django.utils.html import strip_tags

from core import status as st
from core.netsafe import host_is_private

from .backends.base import (
    Inbound,
    OutboundMessage,
    SendError,
    StatusReport,
    WebhookRequest,
)

# An attachment bigger than this is refused rather than held in a worker's memory; most ESPs
# cap a whole message near 10-40 MB.
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024

# anymail's normalized tracking event types → our status; types not listed (queued, sent,
# deferred, autoresponded, complained, unsubscribed, subscribed, unknown) move nothing.
TRACKING_STATUSES = {
    "delivered": st.DELIVERED_TO_HANDSET,
    "opened": st.DELIVERED_READ,
    "clicked": st.DELIVERED_READ,
    "bounced": st.UNDELIVERABLE_NOT_DELIVERED,
    "failed": st.UNDELIVERABLE_NOT_DELIVERED,
    "rejected": st.REJECTED_DESTINATION,
}

# anymail's per-recipient send status → (our status, permanent failure?).
RECIPIENT_STATUSES = {
    "queued": (st.PENDING_ENROUTE, False),
    "sent": (st.PENDING_ENROUTE, False),
    "scheduled": (st.PENDING_ENROUTE, False),
    "unknown": (st.PENDING_ENROUTE, False),
    "rejected": (st.REJECTED_DESTINATION, True),
    "invalid": (st.REJECTED_DESTINATION, True),
}


def _addresses(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def email_recipients(message: OutboundMessage) -> list[str]:
    """The email's "to" addresses: all of them (payload["to"]), else the message's one."""
    return _addresses(message.payload.get("to")) or _addresses(message.to)


def email_message_build(
    message: OutboundMessage,
    *,
    sender: str,
    session: requests.Session | None,
    headers: dict[str, str] | None = None,
    max_tags: int | None = None,
) -> AnymailMessage:
    """The Django/anymail message for `message`: text and HTML parts, to/cc/bcc, reply-to,
    attachments from media, tags, and our message id in anymail's metadata."""
    if not sender:
        # Else Django would fall back to the global DEFAULT_FROM_EMAIL: never another's address.
        raise SendError(
            "NO_SENDER",
            "The email has no From address: give 'from' in the request or the template, or "
            "set the provider's defaultSender.",
            permanent=True,
            status=st.REJECTED_CONTENT,
        )
    payload = message.payload or {}
    text = message.body or (strip_tags(message.html) if message.html else "")
    email = AnymailMessage(
        subject=message.subject,
        body=text,
        from_email=sender,
        to=email_recipients(message),
        cc=_addresses(message.cc),
        bcc=_addresses(message.bcc),
        reply_to=_addresses(payload.get("replyTo")),
        headers=headers or {},
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    for filename, content, mimetype in media_attachments(payload.get("media"), session):
        email.attach(filename, content, mimetype)
    tags = [t for t in payload.get("tags") or [] if isinstance(t, str) and t]
    if max_tags is not None:
        tags = tags[:max_tags]
    if tags:
        email.tags = tags
    email.metadata = {"message_id": message.id}
    return email


def plain_email(email: AnymailMessage) -> EmailMultiAlternatives:
    """The same message without anymail's extras, for Django's own (SMTP) backend."""
    plain = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body,
        from_email=email.from_email,
        to=email.to,
        cc=email.cc,
        bcc=email.bcc,
        reply_to=email.reply_to,
        headers=email.extra_headers,
        alternatives=email.alternatives,
    )
    plain.attachments = list(email.attachments)
    return plain


# --- attachments from media -----------------------------------------------------------------


def media_attachments(media: Any, session: requests.Session | None) -> list[tuple[str, bytes, str]]:
    """(filename, content, mimetype) for each of media's `document` and `image` URLs."""
    if not isinstance(media, dict):
        return []
    attachments = []
    for kind in ("document", "image", "video", "audio"):
        item = media.get(kind)
        if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
            attachments.append(attachment_fetch(item["url"], item.get("filename"), session))
    return attachments


def attachment_fetch(
    url: str, filename: Any, session: requests.Session | None
) -> tuple[str, bytes, str]:
    """Download one attachment, refusing what is too big or not there (permanently) and
    letting the provider's 5xx or a network error be retried."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SendError(
            "ATTACHMENT_URL", f"'{url}' is not an http(s) URL.", permanent=True,
            status=st.REJECTED_CONTENT,
        )  # fmt: skip
    if not settings.ALLOW_PRIVATE_URLS and host_is_private(parts.hostname):
        raise SendError(
            "ATTACHMENT_URL", f"'{parts.hostname}' is a private or loopback address.",
            permanent=True, status=st.REJECTED_CONTENT,
        )  # fmt: skip
    http = session or requests
    with http.get(url, stream=True) as response:
        if response.status_code >= 500 or response.status_code == 429:
            raise SendError(
                "ATTACHMENT_UNAVAILABLE",
                f"Fetching the attachment {url} answered HTTP {response.status_code}.",
                permanent=False,
            )
        if response.status_code >= 400:
            raise SendError(
                "ATTACHMENT_NOT_FOUND",
                f"Fetching the attachment {url} answered HTTP {response.status_code}.",
                permanent=True,
                status=st.REJECTED_CONTENT,
            )
        buffer = io.BytesIO()
        for chunk in response.iter_content(64 * 1024):
            buffer.write(chunk)
            if buffer.tell() > ATTACHMENT_MAX_BYTES:
                raise SendError(
                    "ATTACHMENT_TOO_LARGE",
                    f"The attachment {url} is larger than {ATTACHMENT_MAX_BYTES} bytes.",
                    permanent=True,
                    status=st.REJECTED_CONTENT,
                )
        mimetype = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    name = str(filename or "") or posixpath.basename(parts.path) or "attachment"
    mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return name, buffer.getvalue(), mimetype


# --- webhooks ---------------------------------------------------------------------------------


def django_request(request: WebhookRequest) -> HttpRequest:
    """A real Django request carrying the provider's call, for anymail's webhook views (which
    read `body`, `POST`, `headers` and `META`), built the way Django's WSGI handler builds one."""
    parts = urlsplit(request.url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.upper(),
        "PATH_INFO": parts.path or "/",
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": parts.scheme or "https",
        "wsgi.input": io.BytesIO(request.body or b""),
        "CONTENT_LENGTH": str(len(request.body or b"")),
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if key == "CONTENT_TYPE":
                environ[key] = value
            continue
        environ[f"HTTP_{key}"] = value
    return WSGIRequest(environ)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def reports_from_events(events: Iterable[AnymailTrackingEvent]) -> list[StatusReport]:
    """Our status reports for anymail's tracking events, keyed on the ESP's message id (the id
    the send stored). Events that move nothing are dropped."""
    reports = []
    for event in events:
        status = TRACKING_STATUSES.get(event.event_type)
        if status is None or not event.message_id:
            continue
        failed = st.get(status).group != st.DELIVERED
        reports.append(
            StatusReport(
                provider_message_id=str(event.message_id),
                status=status,
                error_code=_text(event.reject_reason or event.event_type).upper() if failed else "",
                error_description=(
                    _text(event.mta_response or event.description) if failed else ""
                ),
                occurred_at=event.timestamp,
                event_id=_text(event.event_id),
                raw=_event_raw(event),
            )
        )
    return reports


def _event_raw(event: AnymailTrackingEvent) -> dict:
    raw = {
        "eventType": event.event_type,
        "recipient": event.recipient,
        "messageId": _text(event.message_id),
        "metadata": event.metadata or {},
        "description": event.description,
        "mtaResponse": event.mta_response,
        "rejectReason": event.reject_reason,
    }
    if isinstance(event.esp_event, dict | list):
        raw["espEvent"] = event.esp_event
    return raw


def inbound_from_events(events: Iterable[AnymailInboundEvent]) -> list[Inbound]:
    """Our inbound messages for anymail's inbound events."""
    inbound = []
    for event in events:
        message = event.message
        if message is None:
            continue
        sender = message.from_email.addr_spec if message.from_email else ""
        to = [a.addr_spec for a in message.to or []]
        text = message.text or (strip_tags(message.html) if message.html else "")
        message_id = _text(message.get("Message-ID") or event.event_id).strip()
        inbound.append(
            Inbound(
                channel="email",
                sender=sender,
                recipient=", ".join(to),
                text=text or "",
                provider_message_id=message_id,
                raw={
                    "from": sender,
                    "to": to,
                    "cc": [a.addr_spec for a in message.cc or []],
                    "subject": message.subject or "",
                    "text": message.text or "",
                    "html": message.html or "",
                    "messageId": message_id,
                    "attachments": [
                        {"filename": a.get_filename(), "contentType": a.get_content_type()}
                        for a in message.attachments
                    ],
                },
            )
        )
    return inbound
