"""Email shared by the SMTP and anymail adapters: building the Django message from an
OutboundMessage, fetching attachments, and reading anymail's webhook events.

The ESP-specific work stays in django-anymail: we build one `AnymailMessage`, hand it to the
ESP's backend opened with the tenant's credentials, and read anymail's normalized events.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import posixpath
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from anymail.message import AnymailMessage
from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent
from django.core.handlers.wsgi import WSGIRequest
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest
from django.utils.html import strip_tags

from core import http
from core import status as st

from .backends.base import (
    Inbound,
    OutboundMessage,
    SendError,
    StatusReport,
    WebhookRequest,
)
from .backends.content import Capabilities, ContentInvalid

# An attachment bigger than this is refused rather than held in a worker's memory; most ESPs
# cap a whole message near 10-40 MB.
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
# core.http.fetch's refusals as the attachment error codes tenants already see.
ATTACHMENT_CODES = {
    "UNAVAILABLE": "ATTACHMENT_UNAVAILABLE",
    "NOT_FOUND": "ATTACHMENT_NOT_FOUND",
    "TOO_LARGE": "ATTACHMENT_TOO_LARGE",
}

# What an email carries besides its text: its media as attachments (fetched by URL, see
# attachment_fetch), the OS1 media object's image, document, video and audio items, a
# document's `filename` naming the file. No location, buttons or provider templates.
MAX_ATTACHMENTS = 10
EMAIL_CAPABILITIES = Capabilities(
    media_kinds=frozenset({"image", "document", "video", "audio"}),
    max_media=MAX_ATTACHMENTS,
    note="Email attaches image, document, video and audio files by URL.",
)

# anymail's normalized tracking event types (anymail.signals.EventType), each one mapped:
#   type            → (our status, permanent failure?, feedback)
# Failures are final: the ESP has already retried (a soft bounce that anymail reports as
# `bounced` is the ESP giving up), and sending the email again would duplicate it wherever
# it did arrive. `deferred` is the ESP still trying: not a failure, nothing moves.
# `opened` and `clicked` are DELIVERED_READ on a best-effort basis: privacy proxies (Apple
# Mail Privacy Protection, Gmail's image proxy) fetch the tracking pixel for the recipient
# and link scanners follow links, so a "read" email means "opened, perhaps by a machine".
# `complained` and `unsubscribed` are the recipient's feedback: recorded as an event, the
# status stays (DELIVERED_TO_HANDSET is only what the report would say: the mail arrived).
TRACKING_EVENTS: dict[str, tuple[str, bool, str]] = {
    "queued": (st.PENDING_ENROUTE, True, ""),
    "sent": (st.PENDING_ENROUTE, True, ""),
    "deferred": (st.PENDING_ENROUTE, True, ""),
    "delivered": (st.DELIVERED_TO_HANDSET, True, ""),
    "autoresponded": (st.DELIVERED_TO_HANDSET, True, ""),  # a bot replied: it arrived
    "opened": (st.DELIVERED_READ, True, ""),
    "clicked": (st.DELIVERED_READ, True, ""),
    "rejected": (st.REJECTED_DESTINATION, True, ""),  # suppressed or invalid address
    "bounced": (st.UNDELIVERABLE_NOT_DELIVERED, True, ""),
    "failed": (st.UNDELIVERABLE_NOT_DELIVERED, True, ""),  # the ESP could not send it
    "complained": (st.DELIVERED_TO_HANDSET, True, "complained"),
    "unsubscribed": (st.DELIVERED_TO_HANDSET, True, "unsubscribed"),
}
# Not about a message we sent: `subscribed` (a sign-up through an ESP-hosted form) and
# `unknown` (an ESP event anymail does not normalize). Dropped.
IGNORED_EVENTS = frozenset({"subscribed", "unknown"})

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
    for filename, content, mimetype in media_attachments(message):
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


def media_attachments(message: OutboundMessage) -> list[tuple[str, bytes, str]]:
    """(filename, content, mimetype) for each media item of the message's one content model
    (message.content: OS1's media object, from the request or the template), fetched by URL.
    What an email cannot carry (a location, buttons, a provider template, a mediaId) is a
    permanent refusal, never dropped."""
    try:
        content = message.content
    except ContentInvalid as exc:
        raise SendError(
            "INVALID_MEDIA", f"The email's media cannot be read: {exc}", permanent=True,
            status=st.REJECTED_CONTENT,
        ) from None  # fmt: skip
    problems = EMAIL_CAPABILITIES.problems(content, "Email")
    if problems:
        raise SendError(
            "UNSUPPORTED_CONTENT",
            "; ".join(f"{field}: {text}" for field, text in problems),
            permanent=True,
            status=st.REJECTED_CONTENT,
        )
    return [attachment_fetch(item.url, item.filename) for item in content.media]


def attachment_fetch(url: str, filename: Any) -> tuple[str, bytes, str]:
    """Download one attachment through the guarded client (core.http.fetch: the address is
    checked on the connection, on every redirect), refusing what is too big, not there or
    inside the network (permanently) and letting a 5xx or a network error be retried."""
    try:
        fetched = http.fetch(url, max_bytes=ATTACHMENT_MAX_BYTES)
    except http.FetchFailed as exc:
        raise SendError(
            ATTACHMENT_CODES.get(exc.code, "ATTACHMENT_URL"), f"Attachment: {exc.description}",
            permanent=exc.permanent,
            status=st.REJECTED_CONTENT if exc.permanent else st.REJECTED_PROVIDER,
        ) from None  # fmt: skip
    name = str(filename or "") or posixpath.basename(urlsplit(url).path) or "attachment"
    mimetype = fetched.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return name, fetched.content, mimetype


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


def _event_key(event: AnymailTrackingEvent, shared: bool) -> str:
    """The event's id, made one per recipient where anymail reports one ESP event for several
    recipients as several events with one id (SES's bounce of two addresses): each is a
    report of its own, and messaging keeps one report per event id."""
    event_id, recipient = _text(event.event_id), _text(event.recipient).lower()
    if not shared or not event_id or not recipient:
        return event_id
    key = f"{event_id}:{recipient}"
    if len(key) > 128:  # MessageEvent.provider_event_id
        key = f"{event_id[:64]}:{hashlib.sha256(key.encode()).hexdigest()[:63]}"
    return key


def reports_from_events(events: Iterable[AnymailTrackingEvent]) -> list[StatusReport]:
    """Our status reports for anymail's tracking events, keyed on the ESP's message id (the id
    the send stored), each naming the address it is about (`recipient`): a bounce of a cc or
    bcc address is then recorded without failing the email to its `to`."""
    events = list(events)
    seen = Counter(_text(e.event_id) for e in events if e.event_id)
    reports = []
    for event in events:
        mapped = TRACKING_EVENTS.get(event.event_type)
        if event.event_type in IGNORED_EVENTS or mapped is None or not event.message_id:
            continue  # subscribed, unknown, or an event type anymail adds later
        status, permanent, feedback = mapped
        failed = st.get(status).group not in (st.PENDING, st.DELIVERED)
        error_code = ""
        if failed:
            error_code = _text(event.reject_reason or event.event_type).upper()
        elif feedback:
            error_code = feedback.upper()
        reports.append(
            StatusReport(
                provider_message_id=str(event.message_id),
                status=status,
                error_code=error_code,
                error_description=(
                    _text(event.mta_response or event.description) if failed else ""
                ),
                permanent=permanent,
                occurred_at=event.timestamp,
                event_id=_event_key(event, seen[_text(event.event_id)] > 1),
                raw=_event_raw(event),
                recipient=_text(event.recipient),
                feedback=feedback,
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
