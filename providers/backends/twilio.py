"""Twilio Programmable Messaging: SMS and WhatsApp (PROVIDERS.md §1).

Sends are form posts to the Messages resource with HTTP Basic (Account SID : Auth Token);
every webhook Twilio makes is signed with X-Twilio-Signature, keyed by the Auth Token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
    http_send_error,
    register,
)
from .reference import query_ref, with_ref

API_VERSION = "2010-04-01"
WHATSAPP_PREFIX = "whatsapp:"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# MessageStatus of a status callback → our status. Absent ones (received, receiving) are
# inbound states and never reach the status webhook of an outbound message.
STATUS_MAP = {
    "accepted": st.PENDING_ENROUTE,
    "scheduled": st.PENDING_ENROUTE,
    "queued": st.PENDING_ENROUTE,
    "sending": st.PENDING_ENROUTE,
    "sent": st.DELIVERED_TO_OPERATOR,
    "delivered": st.DELIVERED_TO_HANDSET,
    "partially_delivered": st.DELIVERED_TO_HANDSET,
    "read": st.DELIVERED_READ,
    "undelivered": st.UNDELIVERABLE_NOT_DELIVERED,
    "failed": st.UNDELIVERABLE_NOT_DELIVERED,
    "canceled": st.UNDELIVERABLE_NOT_DELIVERED,
}

# Error codes that refine a failed/undelivered callback: (our status, permanent).
CALLBACK_ERRORS = {
    "30001": (st.UNDELIVERABLE_NOT_DELIVERED, False),  # carrier queue overflow
    "30003": (st.UNDELIVERABLE_NOT_DELIVERED, False),  # unreachable handset
    "30005": (st.UNDELIVERABLE_NOT_DELIVERED, True),  # unknown destination handset
    "30006": (st.UNDELIVERABLE_NOT_DELIVERED, True),  # landline or unreachable carrier
    "30007": (st.UNDELIVERABLE_REJECTED_OPERATOR, True),  # filtered by the carrier
    "30008": (st.UNDELIVERABLE_NOT_DELIVERED, False),  # unknown error
    "30036": (st.EXPIRED_EXPIRED, False),  # validity period passed in Twilio's queue
    "30610": (st.UNDELIVERABLE_REJECTED_OPERATOR, False),  # local regulation (quiet hours)
    "14107": (st.UNDELIVERABLE_NOT_DELIVERED, False),  # reply rate limit
    "21610": (st.REJECTED_DESTINATION, True),  # recipient replied STOP
    "63016": (st.REJECTED_CONTENT, True),  # free-form WhatsApp outside the 24 h window
    "63018": (st.UNDELIVERABLE_NOT_DELIVERED, False),  # WhatsApp rate limit
    "63024": (st.REJECTED_NOT_ON_CHANNEL, True),  # not a WhatsApp user
    "63038": (st.UNDELIVERABLE_NOT_DELIVERED, False),  # account daily limit
}

# Error codes of a refused create (HTTP 4xx): (our status, permanent). Unlisted 4xx codes are
# permanent provider rejections; 429 and 5xx are transient whatever their code.
SEND_ERRORS = {
    "20003": (st.REJECTED_PROVIDER, True),  # authentication failed
    "20429": (st.REJECTED_PROVIDER, False),  # too many concurrent requests
    "21211": (st.REJECTED_DESTINATION, True),  # invalid To
    "21408": (st.REJECTED_DESTINATION, True),  # region not enabled
    "21606": (st.REJECTED_PROVIDER, True),  # From cannot send SMS
    "21608": (st.REJECTED_DESTINATION, True),  # unverified To on a trial account
    "21610": (st.REJECTED_DESTINATION, True),  # recipient unsubscribed (STOP)
    "21612": (st.REJECTED_DESTINATION, True),  # To unroutable
    "21614": (st.REJECTED_DESTINATION, True),  # To not SMS-capable
    "63016": (st.REJECTED_CONTENT, True),
    "63024": (st.REJECTED_NOT_ON_CHANNEL, True),
    "63038": (st.REJECTED_PROVIDER, False),  # daily limit: try again later
}


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature: Base64 HMAC-SHA1 of the URL followed by each POST parameter's
    name and value, names sorted; a repeated name's values de-duplicated and sorted."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    data = url + "".join(name + v for name in sorted(values) for v in sorted(values[name]))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port: Twilio may
    have signed any of them."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url, urlunsplit(parts._replace(netloc=host))]
    if default_port and parts.port in (None, default_port):
        variants.append(urlunsplit(parts._replace(netloc=f"{host}:{default_port}")))
    return list(dict.fromkeys(variants))


def _address(channel: str, number: str) -> str:
    if channel == "whatsapp" and not number.startswith(WHATSAPP_PREFIX):
        return WHATSAPP_PREFIX + number
    return number


def _strip(address: str) -> tuple[str, str]:
    """A Twilio address as (channel, plain address)."""
    if address.startswith(WHATSAPP_PREFIX):
        return "whatsapp", address[len(WHATSAPP_PREFIX) :]
    return "sms", address


def _decimal(value) -> Decimal | None:
    try:
        return abs(Decimal(str(value))) if value not in (None, "") else None
    except InvalidOperation:
        return None


@register
class TwilioBackend(Backend):
    provider_type = "twilio"
    label = "Twilio (SMS, WhatsApp)"
    channels = ("sms", "whatsapp")
    # A number's inbound webhook may be set to HTTP GET, its parameters in the query.
    get_webhooks_carry_events = True
    credential_fields = (
        CredentialField("accountSid", secret=False, help="Account SID, AC followed by 32 hex."),
        CredentialField("authToken", help="Auth Token; also verifies Twilio's webhook calls."),
        api_base_url_field("https://api.twilio.com"),
    )

    @property
    def account_sid(self) -> str:
        return self.credentials.get("accountSid", "")

    @property
    def auth(self) -> tuple[str, str]:
        return (self.account_sid, self.credentials.get("authToken", ""))

    # --- send ------------------------------------------------------------------------------
    def build_form(self, message: OutboundMessage) -> list[tuple[str, str]]:
        sender = self.sender_for(message)
        form = [("To", _address(message.channel, message.to))]
        # A Messaging Service SID as sender lets the service's pool pick the From.
        if sender.startswith("MG") and len(sender) == 34:
            form.append(("MessagingServiceSid", sender))
        elif sender:
            form.append(("From", _address(message.channel, sender)))
        template = message.payload.get("providerTemplate") or {}
        if isinstance(template, dict) and template.get("contentSid"):
            # An approved Content Template (WhatsApp outside the 24 h window): no Body then.
            form.append(("ContentSid", str(template["contentSid"])))
            if template.get("variables"):
                form.append(("ContentVariables", json.dumps(template["variables"])))
        else:
            if message.body:
                form.append(("Body", message.body))
            media = message.payload.get("media") or {}
            if isinstance(media, dict) and media.get("url"):
                form.append(("MediaUrl", str(media["url"])))
        if message.status_webhook_url:
            # Twilio has no reference field of its own: our id rides in the callback URL's
            # query, which Twilio calls (and signs) exactly as given.
            form.append(("StatusCallback", with_ref(message.status_webhook_url, message.id)))
        return form

    def send(self, message: OutboundMessage) -> SendResult:
        url = f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        response = self.session.post(url, data=self.build_form(message), auth=self.auth)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 300 or not isinstance(body, dict) or not body.get("sid"):
            raise self.send_error(response.status_code, body, response.headers)
        return SendResult(
            provider_message_id=body["sid"],
            status=st.PENDING_ENROUTE,
            price=_decimal(body.get("price")),
            currency=body.get("price_unit") or "",
            raw=body,
        )

    @staticmethod
    def send_error(http_status: int, body, headers) -> SendError:
        info = body if isinstance(body, dict) else {}
        code = str(info.get("code") or f"HTTP_{http_status}")
        description = str(info.get("message") or info.get("detail") or info.get("title") or "")
        return http_send_error(
            code=code,
            description=description or f"Twilio answered HTTP {http_status}.",
            http_status=http_status,
            headers=headers,
            table=SEND_ERRORS,
            raw=body,
        )

    def test_connection(self) -> str:
        url = f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}.json"
        response = self.session.get(url, auth=self.auth)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code != 200 or not isinstance(body, dict):
            raise self.send_error(response.status_code, body, response.headers)
        return f"{body.get('friendly_name') or self.account_sid} ({body.get('status', '?')})"

    # --- webhooks --------------------------------------------------------------------------
    def verified_params(self, request: WebhookRequest) -> dict[str, str]:
        """The form parameters of a genuine Twilio call; WebhookRejected otherwise."""
        signature = request.headers.get("X-Twilio-Signature") or next(
            (v for k, v in request.headers.items() if k.lower() == "x-twilio-signature"), ""
        )
        if not signature:
            raise WebhookRejected("The X-Twilio-Signature header is missing.")
        if request.method == "GET":
            # An inbound URL configured for GET: the parameters are in the signed URL.
            signed: list[tuple[str, str]] = []
            params = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        else:
            signed = params = parse_qsl(
                request.body.decode("utf-8", "replace"), keep_blank_values=True
            )
        token = self.credentials.get("authToken", "")
        for url in _url_variants(request.url):
            expected = twilio_signature(token, url, signed)
            if hmac.compare_digest(expected, signature):
                return dict(params)
        raise WebhookRejected("The X-Twilio-Signature does not match.")

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        params = self.verified_params(request)
        sid = params.get("MessageSid") or params.get("SmsSid")
        raw_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if params.get("EventType") == "READ":
            raw_status = "read"
        status = STATUS_MAP.get(raw_status)
        if not sid or status is None:
            raise WebhookRejected(f"Not a message status callback ({raw_status!r}).", 400)
        error_code = params.get("ErrorCode") or ""
        permanent = True
        if error_code and status not in (st.DELIVERED_TO_HANDSET, st.DELIVERED_READ):
            status, permanent = CALLBACK_ERRORS.get(error_code, (status, True))
        return [
            StatusReport(
                provider_message_id=sid,
                status=status,
                error_code=error_code,
                error_description=params.get("ErrorMessage")
                or params.get("ChannelStatusMessage")
                or "",
                permanent=permanent,
                price=_decimal(params.get("Price")),
                currency=params.get("PriceUnit", ""),
                event_id=f"{sid}:{raw_status}:{error_code}",
                raw=params,
                # The `ref` of the StatusCallback URL: signed, as the whole URL is.
                message_ref=query_ref(request),
            )
        ]

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        params = self.verified_params(request)
        sender, recipient = params.get("From", ""), params.get("To", "")
        if not sender:
            raise WebhookRejected("Not an inbound message (no From).", status=400)
        channel, sender = _strip(sender)
        return [
            Inbound(
                channel=channel,
                sender=sender,
                recipient=_strip(recipient)[1],
                text=params.get("Body", "") or params.get("ButtonText", ""),
                provider_message_id=params.get("MessageSid") or params.get("SmsSid", ""),
                raw=params,
            )
        ]

    def webhook_reply(self, kind: str, request: WebhookRequest, events: WebhookEvents):
        # Twilio reads the inbound answer as TwiML: an empty Response sends no reply.
        if kind == "inbound":
            return WebhookReply(status=200, body=EMPTY_TWIML, content_type="text/xml")
        return None
