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
    whatsapp_template_spec,
)
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
# DLR `err` → (our status for a failed report, description). 0 and 10 (seen) are no errors.
DLR_ERRORS: dict[int, tuple[str, str]] = {
    1: (st.UNDELIVERABLE_NOT_DELIVERED, "Delivery failure"),
    2: (st.EXPIRED_EXPIRED, "Expired"),
    3: (st.REJECTED_DESTINATION, "Invalid or incompatible destination number"),
    4: (st.REJECTED_PROVIDER, "Crediting error"),
    5: (st.REJECTED_DESTINATION, "Invalid destination number format"),
    6: (st.REJECTED_CONTENT, "Too many identical messages"),
    7: (st.REJECTED_PROVIDER, "Sender name not allowed"),
    8: (st.UNDELIVERABLE_REJECTED_OPERATOR, "Operator blacklisted"),
    9: (st.REJECTED_DESTINATION, "Unroutable destination"),
    999: (st.UNDELIVERABLE_NOT_DELIVERED, "Temporary error"),
}
FAILED_GROUPS = (st.UNDELIVERABLE, st.REJECTED, st.EXPIRED)

# OS1-style media keys → Messente WhatsApp media objects.
WHATSAPP_MEDIA = ("image", "video", "audio", "document", "sticker")
DEFAULT_TEMPLATE_LANGUAGE = "en"


def _e164(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"+{digits}"


def _media_link(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return str(item.get("url") or item.get("link") or "")
    return ""


def _text(value) -> str:
    return "" if value is None else str(value)


def template_spec(payload: dict, body: str) -> dict | None:
    return whatsapp_template_spec(payload, body, DEFAULT_TEMPLATE_LANGUAGE)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register
class MessenteBackend(Backend):
    provider_type = "messente"
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

    # --- sending ---------------------------------------------------------------------------
    def _channel_entry(self, message: OutboundMessage) -> dict:
        sender = self.sender_for(message)
        entry: dict = {"channel": message.channel}
        if sender:
            entry["sender"] = sender
        payload = message.payload or {}
        media = payload.get("media") if isinstance(payload.get("media"), dict) else {}
        if message.channel == "sms":
            entry["text"] = message.body
        elif message.channel == "viber":
            entry["text"] = message.body
            image = _media_link(media.get("image"))
            if image:
                entry["image_url"] = image
            button = next(iter(payload.get("buttons") or []), None)
            if isinstance(button, dict) and isinstance(button.get("url"), dict):
                entry["button_url"] = _text(button["url"].get("value") or button["url"].get("url"))
                entry["button_text"] = _text(button["url"].get("text") or "Open")
        elif spec := template_spec(payload, message.body):
            template: dict = {"name": spec["name"], "language": {"code": spec["language"]}}
            if spec["params"]:
                parameters = [{"type": "text", "text": p} for p in spec["params"]]
                template["components"] = [{"type": "body", "parameters": parameters}]
            entry["template"] = template
        else:
            kind = next((k for k in WHATSAPP_MEDIA if _media_link(media.get(k))), None)
            if kind:
                obj = {"link": _media_link(media[kind])}
                if kind in ("image", "video", "document") and message.body:
                    obj["caption"] = message.body
                if kind == "document" and isinstance(media[kind], dict):
                    if media[kind].get("filename"):
                        obj["filename"] = str(media[kind]["filename"])
                entry[kind] = obj
            else:
                entry["text"] = {"body": message.body, "preview_url": True}
        return entry

    def send(self, message: OutboundMessage) -> SendResult:
        body: dict = {"to": _e164(message.to), "messages": [self._channel_entry(message)]}
        if message.status_webhook_url:
            # An omnimessage has no reference field of ours: our id rides in the dlr_url's
            # query, which Messente posts the report to as given.
            body["dlr_url"] = with_ref(message.status_webhook_url, message.id)
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
        err = int(body["err"]) if str(body.get("err", "")).isdigit() else 0
        error_code = error_description = ""
        if st.get(status).group in FAILED_GROUPS:
            # `err` is more precise than `status` (REJECTD + 3 is a bad number).
            status, description = DLR_ERRORS.get(err, (status, ""))
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
