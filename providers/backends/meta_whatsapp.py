"""Meta WhatsApp Cloud API: text, approved templates, media and reply buttons.

Send: `POST {base}/{version}/{phoneNumberId}/messages` with a bearer token. One webhook
carries both statuses and inbound messages (Meta has one callback URL per app), so either of
our URLs takes both; a GET is Meta's `hub.challenge` handshake. Every POST is signed with
`X-Hub-Signature-256` (HMAC-SHA256 of the raw body keyed with the app secret).

A message is sent as a template when `externalRef` names one (`name` or `name:language`) or
its media carries `"template": {"name", "language"?, "components"?}`. Without explicit
components, each line of the rendered body is one body parameter (Meta refuses new lines
inside a parameter, so a line is the natural unit).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import requests

from core import status as st

from .base import (
    Backend,
    CredentialField,
    Inbound,
    OutboundMessage,
    SendError,
    SendResult,
    StatusReport,
    WebhookEvents,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    api_base_url_field,
    register,
    retry_after_seconds,
)
from .reference import our_ref

DEFAULT_VERSION = "v23.0"
DEFAULT_LANGUAGE = "en_US"
MEDIA_TYPES = ("image", "document", "video", "audio", "sticker")
CAPTIONED = ("image", "document", "video")
HEADER_MEDIA = ("image", "document", "video")
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_INTERACTIVE_BODY = 1024

# statuses[].status → our status name; `failed` is refined by ERRORS.
STATUSES = {
    "sent": st.DELIVERED_TO_OPERATOR,
    "delivered": st.DELIVERED_TO_HANDSET,
    "read": st.DELIVERED_READ,
    "failed": st.UNDELIVERABLE_NOT_DELIVERED,
}

# Graph / WhatsApp error code → (permanent, our status, retry after in seconds when transient).
# Synchronous answers and `failed` statuses use the same table.
ERRORS: dict[int, tuple[bool, str, float | None]] = {
    1: (False, st.REJECTED_PROVIDER, 30),  # API unknown
    2: (False, st.REJECTED_PROVIDER, 30),  # API service
    4: (False, st.REJECTED_PROVIDER, 60),  # application request limit
    10: (True, st.REJECTED_PROVIDER, None),  # permission denied
    100: (True, st.REJECTED_PROVIDER, None),  # invalid parameter
    190: (True, st.REJECTED_PROVIDER, None),  # access token expired or invalid
    200: (True, st.REJECTED_PROVIDER, None),  # permissions
    368: (True, st.REJECTED_PROVIDER, None),  # temporarily blocked for policy violations
    80007: (False, st.REJECTED_PROVIDER, 60),  # WABA rate limit
    130429: (False, st.REJECTED_PROVIDER, 1),  # throughput limit of the phone number
    130472: (True, st.UNDELIVERABLE_NOT_DELIVERED, None),  # user is part of an experiment
    131000: (False, st.REJECTED_PROVIDER, 30),  # something went wrong
    131005: (True, st.REJECTED_PROVIDER, None),  # access denied
    131008: (True, st.REJECTED_CONTENT, None),  # required parameter missing
    131009: (True, st.REJECTED_CONTENT, None),  # parameter value invalid
    131016: (False, st.REJECTED_PROVIDER, 60),  # service unavailable
    131021: (True, st.REJECTED_DESTINATION, None),  # recipient is the sender
    131026: (True, st.UNDELIVERABLE_NOT_DELIVERED, None),  # not on WhatsApp, old app, blocked
    131031: (True, st.REJECTED_PROVIDER, None),  # business account locked
    # The 24-hour customer-service window is closed: free-form text cannot be sent until the
    # user writes again; retrying the same message cannot help, a template would.
    131047: (True, st.REJECTED_PROVIDER, None),
    131048: (False, st.REJECTED_PROVIDER, 300),  # spam rate limit
    131049: (True, st.UNDELIVERABLE_NOT_DELIVERED, None),  # Meta chose not to deliver
    131050: (True, st.REJECTED_DESTINATION, None),  # user stopped marketing messages
    131051: (True, st.REJECTED_CONTENT, None),  # unsupported message type
    131052: (True, st.REJECTED_CONTENT, None),  # media download error
    131053: (True, st.REJECTED_CONTENT, None),  # media upload error
    131056: (False, st.REJECTED_PROVIDER, 6),  # (business, user) pair rate limit
    132000: (True, st.REJECTED_CONTENT, None),  # template parameter count mismatch
    132001: (True, st.REJECTED_CONTENT, None),  # template does not exist
    132005: (True, st.REJECTED_CONTENT, None),  # translated text too long
    132007: (True, st.REJECTED_CONTENT, None),  # template format policy
    132012: (True, st.REJECTED_CONTENT, None),  # template parameter format mismatch
    132015: (True, st.REJECTED_CONTENT, None),  # template paused
    132016: (True, st.REJECTED_CONTENT, None),  # template disabled
    132018: (True, st.REJECTED_CONTENT, None),  # template parameter has new lines or tabs
    133010: (True, st.REJECTED_PROVIDER, None),  # phone number not registered
}

WINDOW_CLOSED = 131047
WINDOW_HINT = (
    "More than 24 hours have passed since the user last wrote: free-form messages are "
    "refused until they write again; send an approved template instead."
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _phone(value: Any) -> str:
    """A WhatsApp id or display number as E.164 (Meta gives digits, sometimes spaced)."""
    digits = "".join(ch for ch in _text(value) if ch.isdigit())
    return f"+{digits}" if digits else ""


def error_outcome(
    code: int | None, http_status: int | None = None, is_transient: bool | None = None
) -> tuple[bool, str, float | None]:
    """(permanent, status, retry_after) for a Graph error code; unknown codes by HTTP status."""
    if code in ERRORS:
        return ERRORS[code]
    if is_transient or (http_status is not None and (http_status >= 500 or http_status == 429)):
        return False, st.REJECTED_PROVIDER, None
    return True, st.REJECTED_PROVIDER, None


def _button_title(button: Any) -> str:
    if isinstance(button, str):
        return button
    if isinstance(button, dict):
        for key in ("title", "text", "label", "value"):
            if isinstance(button.get(key), str):
                return button[key]
        for value in button.values():  # OS1 style: {"quickReply": {"value": "Yes"}}
            if isinstance(value, dict):
                title = _button_title(value)
                if title:
                    return title
    return ""


def _button_id(button: Any, title: str) -> str:
    if isinstance(button, dict):
        for key in ("id", "payload"):
            if button.get(key) not in (None, ""):
                return str(button[key])
        for value in button.values():
            if isinstance(value, dict) and value.get("payload") not in (None, ""):
                return str(value["payload"])
    return title


def _invalid(description: str) -> SendError:
    return SendError("INVALID_CONTENT", description, permanent=True, status=st.REJECTED_CONTENT)


def media_object(media: dict[str, Any], caption: str = "") -> tuple[str, dict[str, Any]]:
    """(type, object) for a media dict: `{"type"?, "url"|"link"|"id", "caption"?,
    "filename"?}`; the type defaults to image for picture URLs, else document."""
    source = media.get("id")  # a WhatsApp media id (uploaded to Meta), not one of ours
    link = media.get("url") or media.get("link")
    if not source and not link:
        raise _invalid("The media needs a url (or a WhatsApp media id).")
    kind = _text(media.get("type")).lower()
    if not kind:
        path = urlparse(_text(link)).path.lower()
        kind = "image" if path.endswith((".jpg", ".jpeg", ".png", ".webp")) else "document"
    if kind not in MEDIA_TYPES:
        raise _invalid(f"Media type {kind!r} is not one of {', '.join(MEDIA_TYPES)}.")
    obj: dict[str, Any] = {"id": str(source)} if source else {"link": str(link)}
    caption = _text(media.get("caption")) or caption
    if kind in CAPTIONED and caption:
        obj["caption"] = caption
    if kind == "document":
        filename = _text(media.get("filename")) or urlparse(_text(link)).path.rsplit("/", 1)[-1]
        if filename:
            obj["filename"] = filename
    return kind, obj


def template_spec(payload: dict[str, Any], language: str) -> dict[str, Any] | None:
    """The Meta template to send, or None for a free-form message (see the module doc)."""
    media = payload.get("media") if isinstance(payload.get("media"), dict) else {}
    spec = payload.get("providerTemplate") or payload.get("template") or media.get("template")
    if isinstance(spec, dict) and spec.get("name"):
        out = {"name": str(spec["name"]), "language": spec.get("language") or language}
        if "components" in spec:
            out["components"] = spec["components"]
        return out
    ref = _text(payload.get("externalRef")).strip()
    if not ref:
        return None
    name, _, lang = ref.partition(":")
    return {"name": name.strip(), "language": lang.strip() or language}


def reply_buttons(buttons: list[Any]) -> list[dict[str, Any]]:
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise _invalid(f"WhatsApp takes 1 to {MAX_BUTTONS} reply buttons, not {len(buttons)}.")
    out = []
    for button in buttons:
        title = _button_title(button).strip()
        if not title or len(title) > MAX_BUTTON_TITLE:
            raise _invalid(f"A button title needs 1 to {MAX_BUTTON_TITLE} characters: {title!r}.")
        out.append({"type": "reply", "reply": {"id": _button_id(button, title), "title": title}})
    if len({b["reply"]["title"] for b in out}) != len(out):
        raise _invalid("Button titles must be unique.")
    return out


@register
class MetaWhatsAppBackend(Backend):
    provider_type = "meta_whatsapp"
    label = "Meta WhatsApp Cloud API"
    channels = ("whatsapp",)
    credential_fields = (
        CredentialField("accessToken", help="A system-user access token with whatsapp rights."),
        CredentialField(
            "phoneNumberId", secret=False, help="The Phone number ID (not the number itself)."
        ),
        CredentialField("appSecret", help="The Meta app's secret; signs the webhook calls."),
        CredentialField(
            "verifyToken", help="Any string; paste the same into Meta's webhook 'Verify token'."
        ),
        CredentialField(
            "apiVersion",
            required=False,
            secret=False,
            default=DEFAULT_VERSION,
            help=f"The Graph API version; leave empty for {DEFAULT_VERSION}.",
        ),
        CredentialField(
            "templateLanguage",
            required=False,
            secret=False,
            default=DEFAULT_LANGUAGE,
            help=f"Language of templates named without one; empty means {DEFAULT_LANGUAGE}.",
        ),
        api_base_url_field("https://graph.facebook.com"),
    )

    # --- sending ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        version = self.credentials.get("apiVersion") or DEFAULT_VERSION
        return f"{self.base_url}/{version}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['accessToken']}"}

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The JSON body of `/messages` for this message."""
        payload = message.payload or {}
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
            # Echoed in every status webhook of this message (Cloud API does not process it).
            "biz_opaque_callback_data": message.id,
        }
        media = payload.get("media") if isinstance(payload.get("media"), dict) else None
        buttons = payload.get("buttons") if isinstance(payload.get("buttons"), list) else None
        language = self.credentials.get("templateLanguage") or DEFAULT_LANGUAGE
        spec = template_spec(payload, language)
        if spec is not None:
            body.update(type="template", template=self._template(spec, message, media, buttons))
        elif buttons:
            body.update(type="interactive", interactive=self._interactive(message, media, buttons))
        elif media and (media.get("url") or media.get("link") or media.get("id")):
            kind, obj = media_object(media, caption=message.body)
            body.update({"type": kind, kind: obj})
        else:
            body.update(
                type="text", text={"body": message.body, "preview_url": "://" in message.body}
            )
        return body

    def _template(self, spec, message, media, buttons) -> dict[str, Any]:
        template = {
            "name": spec["name"],
            "language": {"policy": "deterministic", "code": spec["language"]},
        }
        if "components" in spec:
            template["components"] = spec["components"]
            return template
        components: list[dict[str, Any]] = []
        if media and (media.get("url") or media.get("link") or media.get("id")):
            kind, obj = media_object(media)
            obj.pop("caption", None)
            if kind in HEADER_MEDIA:
                components.append({"type": "header", "parameters": [{"type": kind, kind: obj}]})
        lines = [line.strip() for line in message.body.splitlines() if line.strip()]
        if lines:
            components.append(
                {"type": "body", "parameters": [{"type": "text", "text": t} for t in lines]}
            )
        for index, button in enumerate(buttons or []):
            # Only buttons that carry their own payload: a template's quick replies are fixed
            # at approval, the send only sets what a tap reports back.
            if isinstance(button, dict) and (button.get("payload") or button.get("id")):
                components.append(
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": str(index),
                        "parameters": [
                            {
                                "type": "payload",
                                "payload": str(button.get("payload") or button["id"]),
                            }
                        ],
                    }
                )
        template["components"] = components
        return template

    def _interactive(self, message, media, buttons) -> dict[str, Any]:
        if len(message.body) > MAX_INTERACTIVE_BODY:
            raise _invalid(
                f"A message with buttons takes at most {MAX_INTERACTIVE_BODY} characters of text."
            )
        interactive: dict[str, Any] = {
            "type": "button",
            "body": {"text": message.body},
            "action": {"buttons": reply_buttons(buttons)},
        }
        if media and (media.get("url") or media.get("link") or media.get("id")):
            kind, obj = media_object(media)
            obj.pop("caption", None)
            if kind not in HEADER_MEDIA:
                raise _invalid(f"A {kind} cannot head a message with buttons.")
            interactive["header"] = {"type": kind, kind: obj}
        return interactive

    def send(self, message: OutboundMessage) -> SendResult:
        body = self.build_body(message)
        url = f"{self.api_url}/{self.credentials['phoneNumberId']}/messages"
        response = self.session.post(url, json=body, headers=self._auth)
        data = self._json(response)
        if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
            raise self._error(response, data)
        messages = data.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise SendError(
                "NO_MESSAGE_ID",
                "Meta accepted the call but returned no message id.",
                permanent=False,
                raw=data,
            )
        return SendResult(provider_message_id=str(messages[0]["id"]), raw=data)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return response.text

    def _error(self, response: requests.Response, data: Any) -> SendError:
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            permanent = not (response.status_code >= 500 or response.status_code == 429)
            return SendError(
                f"HTTP_{response.status_code}",
                f"Meta answered HTTP {response.status_code}.",
                permanent=permanent,
                retry_after=_retry_after(response),
                raw=data,
            )
        code = error.get("code")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        permanent, status, retry_after = error_outcome(
            code, response.status_code, error.get("is_transient")
        )
        details = (
            (error.get("error_data") or {}).get("details")
            if isinstance(error.get("error_data"), dict)
            else None
        )
        description = _text(error.get("message")) or f"Meta answered HTTP {response.status_code}."
        if details and details not in description:
            description = f"{description} {details}"
        if code == WINDOW_CLOSED:
            description = f"{description} ({WINDOW_HINT})"
        return SendError(
            str(code if code is not None else f"HTTP_{response.status_code}"),
            description,
            permanent=permanent,
            status=status,
            retry_after=None if permanent else (_retry_after(response) or retry_after),
            raw=data,
        )

    def test_connection(self) -> str:
        url = f"{self.api_url}/{self.credentials['phoneNumberId']}"
        response = self.session.get(
            url, params={"fields": "display_phone_number,verified_name"}, headers=self._auth
        )
        data = self._json(response)
        if response.status_code >= 400 or not isinstance(data, dict):
            raise self._error(response, data)
        return f"{data.get('verified_name', '?')} ({data.get('display_phone_number', '?')})"

    # --- webhooks --------------------------------------------------------------------------
    def webhook_challenge(self, kind: str, request: WebhookRequest) -> WebhookReply:
        expected = str(self.credentials.get("verifyToken") or "")
        token = request.query.get("hub.verify_token", "")
        if (
            request.query.get("hub.mode") == "subscribe"
            and expected
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            return WebhookReply(
                status=200, body=request.query.get("hub.challenge", ""), content_type="text/plain"
            )
        raise WebhookRejected("The verify token does not match.", status=403)

    def verify_signature(self, request: WebhookRequest) -> None:
        header = next(
            (v for k, v in request.headers.items() if k.lower() == "x-hub-signature-256"), ""
        )
        if not header:
            raise WebhookRejected("The X-Hub-Signature-256 header is missing.", status=403)
        secret = str(self.credentials.get("appSecret") or "").encode()
        expected = "sha256=" + hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
            raise WebhookRejected("The X-Hub-Signature-256 signature does not match.", status=403)

    def parse_webhook(self, kind: str, request: WebhookRequest) -> WebhookEvents:
        """Statuses and inbound messages alike, whichever of our two URLs Meta calls."""
        self.verify_signature(request)
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("entry", []), list):
            raise WebhookRejected("Not a WhatsApp webhook envelope.", status=400)
        events = WebhookEvents()
        ours = str(self.credentials.get("phoneNumberId") or "")
        changes = [
            change
            for entry in body.get("entry") or []
            if isinstance(entry, dict)
            for change in entry.get("changes") or []
            if isinstance(change, dict) and change.get("field") == "messages"
        ]
        for change in changes:
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            number_id = _text(metadata.get("phone_number_id"))
            if ours and number_id and number_id != ours:
                continue  # another number of the same Meta app
            events.reports.extend(_status_reports(value))
            events.inbound.extend(_inbound(value, metadata))
        return events


def _retry_after(response: requests.Response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _status_reports(value: dict[str, Any]) -> list[StatusReport]:
    reports = []
    for item in value.get("statuses") or []:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        name = STATUSES.get(_text(item.get("status")).lower())
        if name is None:
            continue  # e.g. "deleted" or "warning": nothing to move
        code, description, permanent = "", "", True
        errors = item.get("errors") or []
        if errors and isinstance(errors[0], dict):
            error = errors[0]
            raw_code = error.get("code")
            code = _text(raw_code)
            numeric = int(raw_code) if code.isdigit() else None
            if name == st.UNDELIVERABLE_NOT_DELIVERED and numeric in ERRORS:
                permanent, name, _ = ERRORS[numeric]
            details = (
                (error.get("error_data") or {}).get("details")
                if isinstance(error.get("error_data"), dict)
                else ""
            )
            description = " ".join(
                t for t in (_text(error.get("title")), _text(error.get("message"))) if t
            )
            if details and details not in description:
                description = f"{description}: {details}" if description else details
            if numeric == WINDOW_CLOSED:
                description = f"{description} ({WINDOW_HINT})".strip()
        reports.append(
            StatusReport(
                provider_message_id=str(item["id"]),
                status=name,
                error_code=code,
                error_description=description,
                permanent=permanent,
                occurred_at=_timestamp(item.get("timestamp")),
                event_id=f"{item['id']}:{item.get('status')}:{_text(item.get('timestamp'))}",
                raw=item,
                message_ref=our_ref(item.get("biz_opaque_callback_data")),
            )
        )
    return reports


def _inbound_text(message: dict[str, Any]) -> str:
    kind = _text(message.get("type"))
    part = message.get(kind) if isinstance(message.get(kind), dict) else {}
    if kind == "text":
        return _text(part.get("body"))
    if kind == "button":  # a template's quick reply
        return _text(part.get("text") or part.get("payload"))
    if kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        return _text(reply.get("title") or reply.get("id"))
    if kind == "reaction":
        return _text(part.get("emoji"))
    if kind in MEDIA_TYPES:
        return _text(part.get("caption")) or f"[{kind}]"
    return f"[{kind or 'unknown'}]"


def _inbound(value: dict[str, Any], metadata: dict[str, Any]) -> list[Inbound]:
    recipient = _phone(metadata.get("display_phone_number"))
    out = []
    for message in value.get("messages") or []:
        if not isinstance(message, dict) or not message.get("from"):
            continue
        out.append(
            Inbound(
                channel="whatsapp",
                sender=_phone(message["from"]),
                recipient=recipient,
                text=_inbound_text(message),
                provider_message_id=_text(message.get("id")),
                raw={"message": message, "contacts": value.get("contacts") or []},
            )
        )
    return out
