"""Messente Omnichannel API: `POST /v1/omnimessage` with HTTP Basic (API username/password).

One omnimessage per message, with one channel entry (sms, viber or whatsapp): our own
scenarios do the failover. Delivery reports are posted to the `dlr_url` we give per message
and signed with `X-Messente-Signature` = hex HMAC-SHA256(API password, raw body); inbound
messages are signed the same way with the inbound number's shared secret (PROVIDERS.md §4).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from core import status as st

from .base import (
    Backend,
    CredentialField,
    Inbound,
    OutboundMessage,
    SendError,
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
    api_base_url_field,
    register,
    retry_after_seconds,
)
from .content import VIBER_VIDEO, Capabilities, Content, Media, ProviderTemplate
from .reference import query_ref, with_ref

SIGNATURE_HEADER = "X-Messente-Signature"

# API error `code` → (permanent?, our status, title).
API_ERRORS: dict[str, tuple[bool, str, str]] = {
    "101": (True, st.REJECTED_PROVIDER, "Not found"),
    "102": (True, st.REJECTED_PROVIDER, "Forbidden"),
    "103": (True, st.REJECTED_PROVIDER, "Unauthorized"),
    "104": (False, st.REJECTED_PROVIDER, "Internal Server Error"),
    "105": (True, st.REJECTED_CONTENT, "Invalid data"),
    "106": (True, st.REJECTED_CONTENT, "Missing data"),
    "107": (True, st.REJECTED_PROVIDER, "Method not allowed"),
}
# HTTP statuses that are worth another attempt later.
TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}

# DLR `status` → our status.
DLR_STATUSES: dict[str, str] = {
    "ACK": st.PENDING_ENROUTE,
    "ACCEPTD": st.PENDING_ENROUTE,
    "DELIVRD": st.DELIVERED_TO_HANDSET,
    "SEEN": st.DELIVERED_READ,
    "UNDELIV": st.UNDELIVERABLE_NOT_DELIVERED,
    "FAILED": st.UNDELIVERABLE_NOT_DELIVERED,
    "UNKNOWN": st.UNDELIVERABLE_NOT_DELIVERED,
    "DELETED": st.UNDELIVERABLE_NOT_DELIVERED,
    "REJECTD": st.REJECTED_PROVIDER,
    "NACK": st.REJECTED_PROVIDER,
    "EXPIRED": st.EXPIRED_EXPIRED,
}
# DLR `err` → (our status for a failed report, description, permanent?). 0 and 10 (seen) are
# no errors. messente-api-python ErrorCodeOmnichannelMachine: "999 - General temporary error";
# 4 "Error crediting account" passes once the account is topped up.
DLR_ERRORS: dict[int, tuple[str, str, bool]] = {
    1: (st.UNDELIVERABLE_NOT_DELIVERED, "Delivery failure", True),
    2: (st.EXPIRED_EXPIRED, "Sending message expired", True),
    3: (st.REJECTED_DESTINATION, "Invalid number", True),
    4: (st.REJECTED_PROVIDER, "Error crediting account", False),
    5: (st.REJECTED_DESTINATION, "Invalid number format", True),
    6: (st.REJECTED_CONTENT, "Too many identical messages", True),
    7: (st.REJECTED_PROVIDER, "Sender name not allowed", True),
    8: (st.UNDELIVERABLE_REJECTED_OPERATOR, "Operator blacklisted", True),
    9: (st.REJECTED_DESTINATION, "Unroutable", True),
    999: (st.UNDELIVERABLE_NOT_DELIVERED, "General temporary error", False),
}
# Statuses that say nothing final: UNKNOWN (no verdict from the network) is retried unless
# its `err` says otherwise.
TRANSIENT_STATUSES = frozenset({"UNKNOWN"})
FAILED_GROUPS = (st.UNDELIVERABLE, st.REJECTED, st.EXPIRED)

# WhatsApp{Image,Document,Video,Audio,Sticker} of messente-api-python: each takes `link` or
# `id`; image, video and document a caption; the document's name is `file_name`.
WHATSAPP_MEDIA = ("image", "video", "audio", "document", "sticker")
CAPTIONED = frozenset({"image", "video", "document"})
DEFAULT_TEMPLATE_LANGUAGE = "en"
# Omnimessage.priority (Priority: low, regular, high) for ours.
PRIORITIES = {"high": "high", "normal": "regular", "low": "low"}
# WhatsAppComponent "button" sub_type and WhatsAppParameter for each template button type.
TEMPLATE_BUTTONS = {
    "url": lambda v: {"type": "text", "text": v},
    "quick_reply": lambda v: {"type": "payload", "payload": v},
    "copy_code": lambda v: {"type": "coupon_code", "coupon_code": v},
}


def _e164(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"+{digits}"


def _media_object(media: Media) -> dict:
    """WhatsAppMedia / WhatsApp<kind>: the provider's `id` or our URL as `link`."""
    return {"id": media.media_id} if media.media_id else {"link": media.url}


def _template(template: ProviderTemplate) -> dict:
    """WhatsAppTemplate {name, language{code}, components}: a header, body and button
    component only for what the request gives (no params: no body component)."""
    components: list[dict] = []
    header = None
    if template.header_text:
        header = {"type": "text", "text": template.header_text}
    elif template.header_media is not None:
        media = template.header_media
        obj = _media_object(media)
        if media.kind == "document" and media.filename:
            obj["filename"] = media.filename  # WhatsAppMedia.filename
        header = {"type": media.kind, media.kind: obj}
    if header is not None:
        components.append({"type": "header", "parameters": [header]})
    if template.params:
        parameters = [{"type": "text", "text": p} for p in template.params]
        components.append({"type": "body", "parameters": parameters})
    for button in sorted(template.buttons, key=lambda b: b.index):
        components.append(
            {
                "type": "button",
                "sub_type": button.kind,
                "index": button.index,
                "parameters": [TEMPLATE_BUTTONS[button.kind](button.value)],
            }
        )
    language = template.language or DEFAULT_TEMPLATE_LANGUAGE
    return {"name": template.name, "language": {"code": language}, "components": components}


def _text(value) -> str:
    return "" if value is None else str(value)


def _viber_problems(content: Content, who: str) -> list[tuple[str, str]]:
    """Messente's Viber combinations (messente-api-python Viber.image_url: "1) image_url, 2)
    text, image_url, button_url, button_text"; button_url/button_text "must be specified along
    with text"; ViberVideo: "video; video + text; video + text + button_text (button redirects
    to video); video + text + button_text + button_url")."""
    out: list[tuple[str, str]] = []
    text = bool(content.text.strip())
    kinds = {m.kind for m in content.media}
    if "image" in kinds and text and not content.url_buttons:
        out.append(("media.image", f"{who} sends an image alone, or with text and a URL button."))
    if content.buttons and not text:
        out.append(("buttons", f"{who} sends a button only with text."))
    if content.quick_replies and "video" not in kinds:
        out.append(("buttons", f"{who} takes a text-only button only with a video (it opens "
                    'the video); give a URL button {"url": {"value", "title"}}.'))  # fmt: skip
    return out


def _viber_entry(message: OutboundMessage, entry: dict) -> None:
    """Viber's fields (messente-api-python Viber, ViberVideo) into the channel entry."""
    content = message.content
    if message.body.strip():
        entry["text"] = message.body
    for media in content.media:
        if media.kind == "image":
            entry["image_url"] = media.url
        elif media.kind == "video":
            entry["video"] = {
                "url": media.url,
                "thumbnail": media.thumbnail,
                "file_size": media.size,
                "duration": media.duration,
            }
    for button in content.buttons:
        entry["button_text"] = button.text
        if button.kind == "url":  # without it, the button opens the video
            entry["button_url"] = button.url


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register
class MessenteBackend(Backend):
    provider_type = "messente"
    care_window = True  # WhatsApp Business: free-form only inside the 24-hour window
    sms_udh = True  # SMS.udh
    label = "Messente Omnichannel API"
    channels = ("sms", "viber", "whatsapp")
    credential_fields = (
        CredentialField("username", secret=False, help="The API username (Account → API)."),
        CredentialField(
            "password",
            help="The API password; it also signs the delivery reports (X-Messente-Signature).",
        ),
        CredentialField(
            "inboundSecret",
            required=False,
            help="The inbound number's Shared Secret; when set, inbound messages without a "
            "valid X-Messente-Signature are refused.",
        ),
        api_base_url_field("https://api.messente.com/v1"),
    )

    # WhatsApp: one media item (by link or Messente's id) or a template; no location and no
    # interactive buttons (the WhatsApp channel object has none). Viber: text, one image or one
    # video, one button, in Messente's combinations (content_problems). SMS: text only.
    capabilities = {
        "whatsapp": Capabilities(
            uncaptioned=frozenset({"audio", "sticker"}),
            media_kinds=frozenset(WHATSAPP_MEDIA),
            max_media=1,
            media_by_id=True,
            templates=True,
            template_header_media=frozenset({"image", "document", "video"}),
        ),
        "viber": Capabilities(
            media_kinds=frozenset({"image", "video"}),
            max_media=1,
            url_buttons=1,
            quick_replies=1,  # a text-only button: only with a video (it opens the video)
            max_buttons=1,
            url_button_title_required=True,
            **VIBER_VIDEO,
        ),
    }

    @classmethod
    def content_problems(cls, channel: str, content: Content) -> list[tuple[str, str]]:
        problems = super().content_problems(channel, content)
        if channel == "viber":
            problems += _viber_problems(content, f"{cls.label} (viber)")
        return problems

    # --- sending ---------------------------------------------------------------------------
    def _channel_entry(self, message: OutboundMessage) -> dict:
        sender = self.sender_for(message)
        entry: dict = {"channel": message.channel}
        if sender:
            entry["sender"] = sender
        content = message.content
        if message.channel == "sms":
            entry["text"] = message.body
            # SMS.autoconvert ("on", "full", "off") and SMS.udh ("hex-encoded string containing
            # SMS UDH"), messente-api-python messente_api/models/sms.py. Accept has converted
            # the text already; the client's mode goes along so that "off" is sent as given
            # (without it Messente applies "on", the account's table), and none is Messente's
            # default.
            for key in ("autoconvert", "udh"):
                if message.payload.get(key):
                    entry[key] = str(message.payload[key])
        elif message.channel == "viber":
            _viber_entry(message, entry)
        elif content.template is not None:
            entry["template"] = _template(content.template)
        elif content.media:
            media = content.media[0]
            obj = _media_object(media)
            caption = media.caption or message.body
            if media.kind in CAPTIONED and caption:
                obj["caption"] = caption
            if media.kind == "document" and media.filename:
                obj["file_name"] = media.filename
            entry[media.kind] = obj
        else:
            entry["text"] = {"body": message.body, "preview_url": True}
        # SMS/Viber/WhatsApp `ttl`: "after how many seconds this channel is considered as
        # failed"; Messente documents no maximum.
        ttl = message.validity_seconds(minimum=1)
        if ttl is not None:
            entry["ttl"] = ttl
        return entry

    def send(self, message: OutboundMessage) -> SendResult:
        body: dict = {"to": _e164(message.to), "messages": [self._channel_entry(message)]}
        if message.status_webhook_url:
            # An omnimessage has no reference field of ours: our id rides in the dlr_url's
            # query, which Messente posts the report to as given.
            body["dlr_url"] = with_ref(message.status_webhook_url, message.id)
        body["text_store"] = message.text_store  # TextStore: nostore, plaintext, sha256
        body["priority"] = PRIORITIES.get(message.priority, "regular")
        response = self.session.post(
            f"{self.base_url}/omnimessage",
            json=body,
            auth=(self.credentials["username"], self.credentials["password"]),
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code in (200, 201) and isinstance(data, dict):
            sent = data.get("messages") or []
            if sent and sent[0].get("message_id"):
                return SendResult(provider_message_id=str(sent[0]["message_id"]), raw=data)
        raise self._error(response, data)

    def _error(self, response, data) -> SendError:
        errors = data.get("errors") if isinstance(data, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        first = first if isinstance(first, dict) else {}
        code = _text(first.get("code"))
        permanent, status, title = API_ERRORS.get(code, (True, st.REJECTED_PROVIDER, ""))
        if response.status_code in TRANSIENT_HTTP:
            permanent = False
        if str(first.get("source", "")).lstrip("/").split("/")[-1] == "to":
            status = st.REJECTED_DESTINATION
        detail = first.get("detail") or first.get("title") or title
        return SendError(
            f"MESSENTE_{code}" if code else f"HTTP_{response.status_code}",
            detail or f"Messente answered HTTP {response.status_code}.",
            permanent=permanent,
            status=status,
            retry_after=_retry_after(response),
            raw=data if data is not None else response.text,
            outage=response.status_code in TRANSIENT_HTTP,
        )

    # --- webhooks --------------------------------------------------------------------------
    def _verify(self, request: WebhookRequest, secret: str) -> None:
        given = next(
            (v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER.lower()), ""
        )
        if not given:
            raise WebhookRejected(f"Missing {SIGNATURE_HEADER}.")
        if not hmac.compare_digest(sign(secret, request.body or b""), given.strip().lower()):
            raise WebhookRejected(f"Invalid {SIGNATURE_HEADER}.")

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        self._verify(request, self.credentials["password"])
        body = request.json()
        if not isinstance(body, dict) or not body.get("message_id"):
            raise WebhookRejected("A Messente delivery report needs a message_id.", status=400)
        raw_status = str(body.get("status") or "").upper()
        status = DLR_STATUSES.get(raw_status)
        if status is None:
            raise WebhookRejected(f"Unknown Messente status {raw_status!r}.", status=400)
        raw_err = str(body.get("err", ""))
        # isdigit() admits "²" and other digits int() refuses: ASCII digits only.
        err = int(raw_err) if raw_err.isascii() and raw_err.isdigit() else 0
        error_code = error_description = ""
        permanent = True
        if st.get(status).group in FAILED_GROUPS:
            # `err` is more precise than `status` (REJECTD + 3 is a bad number), and says
            # whether the failure passes (999, a general temporary error).
            permanent = raw_status not in TRANSIENT_STATUSES
            status, description, permanent = DLR_ERRORS.get(err, (status, "", permanent))
            error_code = f"MESSENTE_{raw_status}" + (f"_{err}" if err else "")
            error_description = _text(body.get("error")) or description
        price_info = body.get("price_info") if isinstance(body.get("price_info"), dict) else {}
        price = _decimal(price_info.get("total_price"))
        return [
            StatusReport(
                provider_message_id=str(body["message_id"]),
                status=status,
                error_code=error_code,
                error_description=error_description,
                permanent=permanent,
                price=price,
                currency="EUR" if price is not None else "",
                occurred_at=_timestamp(body.get("timestamp")),
                event_id=f"{body['message_id']}:{raw_status}:{_text(body.get('timestamp'))}",
                raw=body,
                message_ref=query_ref(request),
            )
        ]

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        secret = self.credentials.get("inboundSecret")
        if secret:
            self._verify(request, secret)
        body = request.json()
        if not isinstance(body, dict) or not body.get("sender"):
            raise WebhookRejected("A Messente inbound message needs a sender.", status=400)
        channel = str(body.get("channel") or "sms").lower()
        if channel not in self.channels:
            raise WebhookRejected(f"Unsupported Messente channel {channel!r}.", status=400)
        return [
            Inbound(
                channel=channel,
                sender=_text(body.get("sender")),
                recipient=_text(body.get("recipient")),
                text=_text(body.get("text")),
                provider_message_id=_text(body.get("sub_msg_id") or body.get("msg_id")),
                raw=body,
            )
        ]


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _timestamp(value) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _retry_after(response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))
