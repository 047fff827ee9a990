"""websms (LINK Mobility): SMS, WhatsApp (text, media, template) and RCS text.

Authentication is OAuth2 client credentials: a bearer token from `auth.websms.com/oauth/token`
(Basic clientId:clientSecret), cached in Django's cache until shortly before it expires and
shared by every worker. Every answer carries a numeric `statusCode` (2000 is OK). websms
retries its status and inbound webhooks until it gets `{"statusCode": 2000, ...}` back, so
`webhook_reply` answers exactly that. websms does not sign its webhooks: the unguessable
token in our webhook URLs is what authenticates them.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.core.cache import cache

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
    whatsapp_template_spec,
)
from .reference import our_ref

DEFAULT_API = "https://api.websms.com"
DEFAULT_TOKEN_URL = "https://auth.websms.com/oauth/token"
SCOPES = "messaging:whatsapp messaging:rcs media:create media:read"
# Renew this long before the token's expiry (at most a fifth of its lifetime).
TOKEN_MARGIN_SECONDS = 60

OK_CODES = {2000, 2001, 2002}
# statusCode → (permanent?, our status, name).
SEND_ERRORS: dict[int, tuple[bool, str, str]] = {
    4000: (True, st.REJECTED_PROVIDER, "Malformed request data"),
    4001: (True, st.REJECTED_PROVIDER, "Invalid credentials or application"),
    4002: (True, st.REJECTED_DESTINATION, "Invalid recipient"),
    4003: (True, st.REJECTED_PROVIDER, "Invalid sender"),
    4004: (True, st.REJECTED_CONTENT, "Invalid message type"),
    4008: (True, st.REJECTED_PROVIDER, "Invalid message id"),
    4009: (True, st.REJECTED_CONTENT, "Invalid text"),
    4013: (True, st.REJECTED_PROVIDER, "Message limit exceeded"),
    4014: (True, st.REJECTED_PROVIDER, "Unauthorized IP"),
    4015: (True, st.REJECTED_PROVIDER, "Invalid priority"),
    4016: (True, st.REJECTED_PROVIDER, "Invalid callback URL"),
    4019: (True, st.REJECTED_PROVIDER, "Parameter missing"),
    4020: (True, st.REJECTED_PROVIDER, "Invalid API key"),
    4021: (True, st.REJECTED_PROVIDER, "Invalid auth token or account"),
    4022: (True, st.REJECTED_PROVIDER, "Access denied"),
    4023: (False, st.REJECTED_PROVIDER, "Throttling: IP spam check"),
    4024: (False, st.REJECTED_PROVIDER, "Throttling: too many requests"),
    4025: (False, st.REJECTED_PROVIDER, "Throttling: too many recipients"),
    4026: (True, st.REJECTED_CONTENT, "Max SMS per message exceeded"),
    4028: (True, st.REJECTED_CONTENT, "Invalid content"),
    4029: (True, st.REJECTED_DESTINATION, "Recipients not allowed"),
    4031: (True, st.REJECTED_DESTINATION, "All recipients blacklisted"),
    4034: (True, st.REJECTED_CONTENT, "Invalid media"),
    4040: (True, st.REJECTED_CONTENT, "Invalid content category"),
    4041: (True, st.REJECTED_PROVIDER, "Invalid validity period"),
    4120: (True, st.REJECTED_PROVIDER, "Entity not found"),
    4400: (True, st.REJECTED_CONTENT, "Customer care session window expired"),
    4401: (True, st.REJECTED_CONTENT, "Invalid localizable params"),
    5000: (False, st.REJECTED_PROVIDER, "Internal error"),
    5003: (False, st.REJECTED_PROVIDER, "Service unavailable"),
}
THROTTLE_RETRY_AFTER = 5.0
TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}

# SMS delivery reports (`deliveryReportMessageStatus`) and messenger status messages
# (`messageStatus`) → our status.
REPORT_STATUSES: dict[str, str] = {
    "accepted": st.PENDING_ENROUTE,
    "dispatched": st.DELIVERED_TO_OPERATOR,
    "delivered": st.DELIVERED_TO_HANDSET,
    "read": st.DELIVERED_READ,
    "undelivered": st.UNDELIVERABLE_NOT_DELIVERED,
    "failed": st.UNDELIVERABLE_NOT_DELIVERED,
    "deleted": st.UNDELIVERABLE_NOT_DELIVERED,
    "rejected": st.UNDELIVERABLE_REJECTED_OPERATOR,
    "expired": st.EXPIRED_EXPIRED,
}
FAILED_GROUPS = (st.UNDELIVERABLE, st.REJECTED, st.EXPIRED)

ACKNOWLEDGEMENT = {"statusCode": 2000, "statusMessage": "Request processed"}

WHATSAPP_MEDIA = ("image", "document", "video", "audio")
DEFAULT_TEMPLATE_LANGUAGE = "en"


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _text(value) -> str:
    return "" if value is None else str(value)


def template_spec(payload: dict, body: str) -> dict | None:
    return whatsapp_template_spec(payload, body, DEFAULT_TEMPLATE_LANGUAGE)


def _sender_fields(sender: str) -> dict:
    """websms's sender and its type: a phone number (international) or an alphanumeric id."""
    if not sender:
        return {}
    compact = sender.replace(" ", "")
    if compact.lstrip("+").isdigit():
        kind = "shortcode" if len(compact.lstrip("+")) <= 6 else "international"
        return {"senderAddress": compact.lstrip("+"), "senderAddressType": kind}
    return {"senderAddress": sender, "senderAddressType": "alphanumeric"}


@register
class WebsmsBackend(Backend):
    provider_type = "websms"
    label = "websms (LINK Mobility)"
    channels = ("sms", "whatsapp", "rcs")
    credential_fields = (
        CredentialField("clientId", secret=False, help="The OAuth2 client id from websms."),
        CredentialField("clientSecret", help="The OAuth2 client secret from websms."),
        CredentialField(
            "applicationId",
            required=False,
            secret=False,
            help="The UUID of the sending WhatsApp/RCS application (not needed for SMS).",
        ),
        api_base_url_field(DEFAULT_API),
    )

    # --- the access token ------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        # The real token endpoint lives on its own host; a stand-in (tests, the simulator)
        # serves it under the API base URL.
        if self.base_url == DEFAULT_API:
            return DEFAULT_TOKEN_URL
        return f"{self.base_url}/oauth/token"

    @property
    def token_cache_key(self) -> str:
        return f"websms:token:{self.provider_id}:{self.credentials['clientId']}"

    def access_token(self, *, renew: bool = False) -> str:
        if not renew:
            token = cache.get(self.token_cache_key)
            if token:
                return token
        response = self.session.post(
            self.token_url,
            data={"grant_type": "client_credentials", "scope": SCOPES},
            auth=(self.credentials["clientId"], self.credentials["clientSecret"]),
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict) or "access_token" not in data:
            raise SendError(
                f"WEBSMS_TOKEN_HTTP_{response.status_code}",
                "websms refused the client credentials"
                if response.status_code in (400, 401, 403)
                else f"The websms token endpoint answered HTTP {response.status_code}.",
                permanent=response.status_code in (400, 401, 403),
                retry_after=_retry_after(response),
                raw=data if data is not None else response.text,
            )
        lifetime = int(data.get("expires_in") or 300)
        margin = min(TOKEN_MARGIN_SECONDS, lifetime // 5)
        cache.set(self.token_cache_key, data["access_token"], timeout=max(lifetime - margin, 1))
        return data["access_token"]

    def _post(self, path: str, body: dict) -> tuple[object, object]:
        """POST with the bearer token; a 401 renews the token once (revoked or expired)."""
        url = f"{self.base_url}{path}"
        response = self.session.post(url, json=body, headers=self._auth())
        if response.status_code == 401:
            response = self.session.post(url, json=body, headers=self._auth(renew=True))
        try:
            data = response.json()
        except ValueError:
            data = None
        return response, data

    def _auth(self, *, renew: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token(renew=renew)}"}

    # --- sending ---------------------------------------------------------------------------
    def send(self, message: OutboundMessage) -> SendResult:
        if message.channel == "sms":
            path, body = "/rest/smsmessaging/text", self._sms(message)
        else:
            application = self.credentials.get("applicationId")
            if not application:
                raise SendError(
                    "WEBSMS_NO_APPLICATION",
                    f"Sending {message.channel} through websms needs the applicationId credential.",
                    permanent=True,
                )
            if message.channel == "rcs":
                path, body = f"/messaging/rcs/{application}/messages", self._rcs(message)
            else:
                path, body = self._whatsapp(message, application)
        response, data = self._post(path, body)
        return self._result(message, response, data)

    def _sms(self, message: OutboundMessage) -> dict:
        body = {
            "recipientAddressList": [int(_digits(message.to))],
            "messageContent": message.body,
            "clientMessageId": message.id,
            **_sender_fields(self.sender_for(message)),
        }
        if message.status_webhook_url:
            body["notificationCallbackUrl"] = message.status_webhook_url
        return body

    def _whatsapp(self, message: OutboundMessage, application: str) -> tuple[str, dict]:
        payload = message.payload or {}
        common = {
            "applicationId": application,
            "recipient": f"+{_digits(message.to)}",
            "clientMessageId": message.id,
        }
        spec = template_spec(payload, message.body)
        if spec:
            body = {**common, "templateName": spec["name"], "templateLocale": spec["language"]}
            if spec["params"]:
                body["localizableParams"] = [{"default": p} for p in spec["params"]]
            return "/messaging/whatsapp/send_template", body
        media = payload.get("media") if isinstance(payload.get("media"), dict) else {}
        item = next((media[k] for k in WHATSAPP_MEDIA if media.get(k)), None)
        if item is not None:
            body = {**common, "mediaId": self._media_id(item)}
            if message.body:
                body["content"] = message.body
            return "/messaging/whatsapp/send_media", body
        return "/messaging/whatsapp/send_text", {**common, "content": message.body}

    def _media_id(self, item) -> str:
        """A media item's websms id: given as `mediaId`, or its `url` fetched and uploaded."""
        if isinstance(item, dict) and item.get("mediaId"):
            return str(item["mediaId"])
        url = item.get("url") if isinstance(item, dict) else item
        if not url:
            raise SendError("WEBSMS_NO_MEDIA", "The media item has no url.", permanent=True)
        fetched = self.session.get(str(url))
        if fetched.status_code != 200:
            raise SendError(
                "MEDIA_FETCH_FAILED",
                f"Fetching {url} answered HTTP {fetched.status_code}.",
                permanent=fetched.status_code < 500,
            )
        content_type = fetched.headers.get("Content-Type", "application/octet-stream")
        url_up = f"{self.base_url}/messaging/media"
        headers = {**self._auth(), "Content-Type": content_type}
        response = self.session.post(url_up, data=fetched.content, headers=headers)
        if response.status_code == 401:
            headers.update(self._auth(renew=True))
            response = self.session.post(url_up, data=fetched.content, headers=headers)
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("statusCode") in OK_CODES and data.get("mediaId"):
            return str(data["mediaId"])
        raise self._error(response, data)

    def _rcs(self, message: OutboundMessage) -> dict:
        # RCS MaaP Chatbot API 3.1.2.1: a text RCSMessage to a messageContact.
        return {
            "RCSMessage": {"msgId": message.id, "textMessage": message.body},
            "messageContact": {"userContact": f"+{_digits(message.to)}"},
        }

    def _result(self, message: OutboundMessage, response, data) -> SendResult:
        if response.status_code < 300 and isinstance(data, dict):
            if message.channel == "rcs" and isinstance(data.get("RCSMessage"), dict):
                rcs = data["RCSMessage"]
                return SendResult(
                    provider_message_id=_text(rcs.get("msgId") or message.id), raw=data
                )
            if data.get("statusCode") in OK_CODES and data.get("transferId"):
                return SendResult(provider_message_id=str(data["transferId"]), raw=data)
        raise self._error(response, data)

    def _error(self, response, data) -> SendError:
        code = data.get("statusCode") if isinstance(data, dict) else None
        if isinstance(code, int) and code in SEND_ERRORS:
            permanent, status, name = SEND_ERRORS[code]
        else:
            permanent, status, name = True, st.REJECTED_PROVIDER, ""
        if response.status_code in TRANSIENT_HTTP:
            permanent = False
        retry_after = _retry_after(response)
        if retry_after is None and code in (4023, 4024, 4025):
            retry_after = THROTTLE_RETRY_AFTER
        detail = data.get("statusMessage") if isinstance(data, dict) else None
        return SendError(
            f"WEBSMS_{code}" if code is not None else f"HTTP_{response.status_code}",
            _text(detail) or name or f"websms answered HTTP {response.status_code}.",
            permanent=permanent,
            status=status,
            retry_after=retry_after,
            raw=data if data is not None else response.text,
        )

    def test_connection(self) -> str:
        """Fetch a fresh token: proves the client credentials without sending anything."""
        self.access_token(renew=True)
        return f"websms client {self.credentials['clientId']}: token issued"

    # --- webhooks --------------------------------------------------------------------------
    def parse_webhook(self, kind: str, request: WebhookRequest) -> WebhookEvents:
        body = request.json()
        if not isinstance(body, dict):
            raise WebhookRejected("The body must be a JSON object.", status=400)
        # websms may post SMS replies to the notification URL we give with each SMS: read
        # any document by its shape, whichever of our two URLs it reached.
        if body.get("transferId") and (
            body.get("messageStatus") or body.get("deliveryReportMessageStatus")
        ):
            return WebhookEvents(reports=[self._report(body)])
        if body.get("messageType") in ("text", "binary") or body.get("type"):
            return WebhookEvents(inbound=[self._inbound(body)])
        raise WebhookRejected("Not a websms status or inbound document.", status=400)

    def _report(self, body: dict) -> StatusReport:
        raw_status = _text(body.get("messageStatus") or body.get("deliveryReportMessageStatus"))
        status = REPORT_STATUSES.get(raw_status.lower())
        if status is None:
            raise WebhookRejected(f"Unknown websms status {raw_status!r}.", status=400)
        failed = st.get(status).group in FAILED_GROUPS
        when = _text(body.get("deliveredOn") or body.get("sentOn"))
        return StatusReport(
            provider_message_id=str(body["transferId"]),
            status=status,
            error_code=f"WEBSMS_{raw_status.upper()}" if failed else "",
            error_description=f"websms reported the message {raw_status}." if failed else "",
            occurred_at=_timestamp(when),
            event_id=_text(body.get("notificationId"))
            or f"{body['transferId']}:{raw_status}:{when}",
            raw=body,
            # The clientMessageId we sent, echoed in SMS delivery reports and status messages.
            message_ref=our_ref(body.get("clientMessageId")),
        )

    def _inbound(self, body: dict) -> Inbound:
        if body.get("messageType") in ("text", "binary"):
            return Inbound(
                channel="sms",
                sender=f"+{_digits(_text(body.get('senderAddress')))}",
                recipient=_text(body.get("recipientAddress")),
                text=_text(body.get("textMessageContent")),
                provider_message_id=_text(body.get("notificationId")),
                raw=body,
            )
        channel = _text(body.get("type")).lower()
        if channel not in self.channels:
            raise WebhookRejected(f"Unsupported websms messenger {channel!r}.", status=400)
        return Inbound(
            channel=channel,
            sender=_text(body.get("sender")),
            recipient=_text(body.get("recipient")),
            text=_text(body.get("content")),
            provider_message_id=_text(body.get("messageId") or body.get("notificationId")),
            raw=body,
        )

    def webhook_reply(self, kind: str, request: WebhookRequest, events: WebhookEvents):
        return WebhookReply(status=200, body=json.dumps(ACKNOWLEDGEMENT).encode())


def _timestamp(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
