"""websms (LINK Mobility): SMS, WhatsApp (text, media, template) and RCS (text, media, rich
card, carousel, with a capability check before each send).

Two APIs with two kinds of authentication:

- SMS goes through the REST SMS API, `/rest/smsmessaging/text`, which takes HTTP Basic
  (the account's username and password) or an access token generated in the websms web
  interface (`Authorization: Bearer <token>`) -- not the OAuth2 token of the messaging API
  (PROVIDERS.md §6; the unofficial OpenAPI of jshmrtn/websms `priv/schema.yaml`,
  securitySchemes basicAuth/bearerAuth; AMANDA-Technology/WebSmsNet `HttpClientExtension.cs`).
- WhatsApp, RCS and media go through the messaging API (seed 002), authenticated with
  OAuth2 client credentials: a bearer token from `auth.websms.com/oauth/token` (Basic
  clientId:clientSecret), cached in Django's cache until shortly before it expires and
  shared by every worker.

Every answer carries a numeric `statusCode` (2000 is OK). websms retries its status and
inbound webhooks until it gets `{"statusCode": 2000, ...}` back, so `webhook_reply` answers
exactly that. websms does not sign its webhooks: the unguessable token in our webhook URLs
is what authenticates them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from datetime import datetime
from urllib.parse import urlsplit

import requests
from django.core.cache import cache

from core import http
from core import status as st

from .base import (
    Backend,
    CredentialField,
    CredentialsInvalid,
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
)
from .content import RCS_CARDS, Button, Capabilities, Card, Media
from .reference import our_ref

# A media URL fetched for upload is read up to this (WhatsApp's largest media, video, is
# 16 MB), never held whole in a worker's memory beyond it.
MEDIA_MAX_BYTES = 16 * 1024 * 1024

DEFAULT_API = "https://api.websms.com"
DEFAULT_TOKEN_URL = "https://auth.websms.com/oauth/token"
SMS_PATH = "/rest/smsmessaging/text"
SCOPES = "messaging:whatsapp messaging:rcs media:create media:read"
# Renew this long before the token's expiry (at most a fifth of its lifetime).
TOKEN_MARGIN_SECONDS = 60
# validityPeriode (sic), seconds: "a minimum of 1 minute and a maximum of 3 days".
MIN_VALIDITY = 60
MAX_VALIDITY = 259_200
LOW_PRIORITY = 1  # websms priorities run 1..9, capped by the account's configured maximum

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
    4027: (True, st.REJECTED_CONTENT, "Invalid message segment"),
    4028: (True, st.REJECTED_CONTENT, "Invalid content"),
    4029: (True, st.REJECTED_DESTINATION, "Recipients not allowed"),
    4031: (True, st.REJECTED_DESTINATION, "All recipients blacklisted"),
    4034: (True, st.REJECTED_CONTENT, "Invalid media"),
    4035: (True, st.REJECTED_PROVIDER, "Not allowed to send SMS"),
    4040: (True, st.REJECTED_CONTENT, "Invalid content category"),
    4041: (True, st.REJECTED_PROVIDER, "Invalid validity period"),
    4042: (True, st.REJECTED_DESTINATION, "All recipients blocked by quality rating"),
    4043: (True, st.REJECTED_DESTINATION, "All recipients blocked by spam check"),
    4120: (True, st.REJECTED_PROVIDER, "Entity not found"),
    4400: (True, st.REJECTED_CONTENT, "Customer care session window expired"),
    4401: (True, st.REJECTED_CONTENT, "Invalid localizable params"),
    5000: (False, st.REJECTED_PROVIDER, "Internal error"),
    5003: (False, st.REJECTED_PROVIDER, "Service unavailable"),
}
# The statusCodes that mean the credentials (or the calling IP) are not accepted.
CREDENTIAL_CODES = frozenset({4001, 4014, 4020, 4021, 4022})
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

DEFAULT_TEMPLATE_LANGUAGE = "en"
# send_media takes one uploaded mediaId and an optional text (seed 002); the kind is the
# uploaded file's Content-Type. A document's filename has no field there.
WHATSAPP = Capabilities(
    media_kinds=frozenset({"image", "document", "video", "audio"}),
    max_media=1,
    media_by_id=True,  # a websms mediaId (POST /messaging/media)
    templates=True,  # send_template: templateName, templateLocale, localizableParams
    template_header_text=False,  # send_template has no header or button parameters
    template_buttons=False,
    note="websms's WhatsApp API sends text, one media item or a template.",
)
# RCS (seed 002: the body is the RCSMessage of the RCS MaaP Chatbot API 3.1.2.1): a text with
# suggestions, one file (fileMessage: no caption, so no text with it), a standalone rich card
# or a carousel; by URL only (fileUrl, mediaUrl).
RCS = Capabilities(
    media_kinds=frozenset({"image", "video", "document"}),
    max_media=1,
    uncaptioned=frozenset({"image", "video", "document"}),
    quick_replies=11,
    url_buttons=11,
    mixed_buttons=True,
    video_thumbnail=True,  # fileMessage.thumbnailUrl, a card media's thumbnailUrl
    **RCS_CARDS,
)
# MaaP names for our card options; what a card gets when the request says nothing.
CARD_HEIGHTS = {"short": "SHORT_HEIGHT", "medium": "MEDIUM_HEIGHT", "tall": "TALL_HEIGHT"}
CARD_WIDTHS = {"small": "SMALL_WIDTH", "medium": "MEDIUM_WIDTH"}
DEFAULT_HEIGHT, DEFAULT_WIDTH = "MEDIUM_HEIGHT", "MEDIUM_WIDTH"
# How long a capability answer is trusted: RCS is switched on and off on a phone rarely.
CAPABILITY_CACHE_SECONDS = 3600
# The messaging API's "Entity not found": an RCS capability query for a number RCS cannot reach.
NOT_FOUND = 4120


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _text(value) -> str:
    return "" if value is None else str(value)


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
    care_window = True  # WhatsApp Business: free-form only inside the 24-hour window
    label = "websms (LINK Mobility)"
    channels = ("sms", "whatsapp", "rcs")
    capabilities = {"whatsapp": WHATSAPP, "rcs": RCS}  # SMS: text only
    credential_fields = (
        CredentialField(
            "username",
            required=False,
            secret=False,
            help="SMS: the websms account's API username (HTTP Basic with password).",
        ),
        CredentialField("password", required=False, help="SMS: that account's password."),
        CredentialField(
            "accessToken",
            required=False,
            help="SMS: an API access token generated in the websms web interface (instead "
            "of username and password).",
        ),
        CredentialField(
            "clientId",
            required=False,
            secret=False,
            help="WhatsApp/RCS: the OAuth2 client id of websms's messaging API.",
        ),
        CredentialField("clientSecret", required=False, help="WhatsApp/RCS: its client secret."),
        CredentialField(
            "applicationId",
            required=False,
            secret=False,
            help="The UUID of the sending WhatsApp/RCS application (not needed for SMS).",
        ),
        CredentialField(
            "maxPriority",
            required=False,
            secret=False,
            kind=int,
            help="SMS: the highest priority (1-9) your websms account allows; high-priority "
            "messages are sent with it. Empty: no priority for them.",
        ),
        CredentialField(
            "rcsCapabilityCheck",
            required=False,
            secret=False,
            kind=bool,
            default=True,
            help="RCS: ask websms whether the recipient can receive RCS before each send, and "
            "refuse it at once (REJECTED_NOT_ON_CHANNEL, so a scenario moves on) when not.",
        ),
        api_base_url_field(DEFAULT_API),
    )

    @classmethod
    def clean_credentials(cls, credentials):
        cleaned = super().clean_credentials(credentials)
        errors: dict[str, str] = {}
        for one, other in (("username", "password"), ("clientId", "clientSecret")):
            if bool(cleaned.get(one)) != bool(cleaned.get(other)):
                missing = other if cleaned.get(one) else one
                errors[missing] = f"is required with {one if missing == other else other}"
        sms = (cleaned.get("username") and cleaned.get("password")) or cleaned.get("accessToken")
        oauth = cleaned.get("clientId") and cleaned.get("clientSecret")
        if not errors and not sms and not oauth:
            errors["username"] = (
                "give username and password or accessToken (SMS), and/or clientId and "
                "clientSecret (WhatsApp, RCS)"
            )
        priority = cleaned.get("maxPriority")
        if priority is not None and not 1 <= priority <= 9:
            errors["maxPriority"] = "must be from 1 to 9"
        if errors:
            raise CredentialsInvalid(errors)
        return cleaned

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
        if not (self.credentials.get("clientId") and self.credentials.get("clientSecret")):
            raise SendError(
                "WEBSMS_NO_CLIENT",
                "websms's messaging API (WhatsApp, RCS, media) needs the clientId and "
                "clientSecret credentials.",
                permanent=True,
            )
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

    def _sms_auth(self) -> dict[str, str]:
        """The REST SMS API's own credentials: Basic username:password, else the web
        interface's access token as a bearer token."""
        username, password = self.credentials.get("username"), self.credentials.get("password")
        if username and password:
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        if self.credentials.get("accessToken"):
            return {"Authorization": f"Bearer {self.credentials['accessToken']}"}
        raise SendError(
            "WEBSMS_NO_SMS_CREDENTIALS",
            "websms's SMS API needs username and password or an accessToken from the websms "
            "web interface (the messaging API's OAuth2 client does not cover it).",
            permanent=True,
        )

    def _post(self, path: str, body: dict) -> tuple[object, object]:
        """POST to the API: SMS with its own credentials; the messaging API with the OAuth2
        bearer token, where a 401 renews the token once (revoked or expired)."""
        url = f"{self.base_url}{path}"
        if path == SMS_PATH:
            response = self.session.post(url, json=body, headers=self._sms_auth())
        else:
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
            path, body = SMS_PATH, self._sms(message)
        else:
            application = self.credentials.get("applicationId")
            if not application:
                raise SendError(
                    "WEBSMS_NO_APPLICATION",
                    f"Sending {message.channel} through websms needs the applicationId credential.",
                    permanent=True,
                )
            if message.channel == "rcs":
                self._rcs_precheck(message, application)
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
        validity = message.validity_seconds(maximum=MAX_VALIDITY, minimum=MIN_VALIDITY)
        if validity is not None:
            body["validityPeriode"] = validity  # sic: websms's spelling
        priority = self._priority(message.priority)
        if priority is not None:
            body["priority"] = priority
        return body

    def _priority(self, ours: str) -> int | None:
        """websms's priority must not exceed the account's configured value: low is 1, high
        the account's maximum (the maxPriority credential), normal the account's default."""
        if ours == "low":
            return LOW_PRIORITY
        if ours == "high" and self.credentials.get("maxPriority"):
            return int(self.credentials["maxPriority"])
        return None

    def _whatsapp(self, message: OutboundMessage, application: str) -> tuple[str, dict]:
        content = message.content
        common = {
            "applicationId": application,
            "recipient": f"+{_digits(message.to)}",
            "clientMessageId": message.id,
        }
        template = content.template
        if template is not None:
            body = {
                **common,
                "templateName": template.name,
                "templateLocale": template.language or DEFAULT_TEMPLATE_LANGUAGE,
            }
            if template.params:
                body["localizableParams"] = [{"default": p} for p in template.params]
            return "/messaging/whatsapp/send_template", body
        if content.media:
            (item,) = content.media  # capabilities: one item
            body = {**common, "mediaId": self._media_id(item)}
            text = message.body or item.caption
            if text:
                body["content"] = text
            return "/messaging/whatsapp/send_media", body
        return "/messaging/whatsapp/send_text", {**common, "content": message.body}

    def _media_id(self, item: Media) -> str:
        """A media item's websms id: given as `mediaId`, or its `url` fetched and uploaded."""
        if item.media_id:
            return item.media_id
        try:  # the guarded client: a tenant's URL never reaches inside our network
            fetched = http.fetch(item.url, max_bytes=MEDIA_MAX_BYTES)
        except http.FetchFailed as exc:
            raise SendError(
                "MEDIA_FETCH_FAILED", exc.description, permanent=exc.permanent,
                status=st.REJECTED_CONTENT if exc.permanent else st.REJECTED_PROVIDER,
            ) from None  # fmt: skip
        content_type = fetched.content_type or "application/octet-stream"
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
        """RCS MaaP Chatbot API 3.1.2.1: an RCSMessage (text, file, rich card or carousel, and
        the message's suggestions as its suggestedChipList) to a messageContact."""
        content = message.content
        rcs: dict = {"msgId": message.id}
        if content.card is not None:
            card = content.card
            layout = {"cardOrientation": card.orientation.upper()}
            if card.image_alignment:
                layout["imageAlignment"] = card.image_alignment.upper()
            general = {"layout": layout, "content": _card_content(card)}
            rcs["richcardMessage"] = {"message": {"generalPurposeCard": general}}
        elif content.carousel is not None:
            carousel = content.carousel
            width = CARD_WIDTHS.get(carousel.width, DEFAULT_WIDTH)
            rcs["richcardMessage"] = {
                "message": {
                    "generalPurposeCardCarousel": {
                        "layout": {"cardWidth": width},
                        "content": [_card_content(c) for c in carousel.cards],
                    }
                }
            }
        elif content.media:
            (item,) = content.media  # capabilities: one item, sent without text
            rcs["fileMessage"] = _file_message(item)
        else:
            rcs["textMessage"] = message.body
        if content.buttons:
            rcs["suggestedChipList"] = {"suggestions": _suggestions(content.buttons)}
        return {"RCSMessage": rcs, "messageContact": {"userContact": f"+{_digits(message.to)}"}}

    # --- the RCS capability check -----------------------------------------------------------
    def rcs_capable(self, number: str) -> bool | None:
        """Whether `number` can receive RCS from our application (seed 002, "Check for RCS
        capabilities": applicationId, `userContact`, an answer `{"capabilities": [...]}`):
        True with a non-empty list, False with an empty one or when websms cannot find the
        number (4120 ENTITY_NOT_FOUND), None when websms gives no verdict (an error, a bare
        404, a timeout). Verdicts are cached for an hour, keyed by the number's hash."""
        application = self.credentials.get("applicationId")
        user = f"+{_digits(number)}"
        key = f"websms:rcs:{self.provider_id}:{hashlib.sha256(user.encode()).hexdigest()[:32]}"
        known = cache.get(key)
        if known is not None:
            return known
        url = f"{self.base_url}/messaging/rcs/{application}/contactCapabilities"
        try:
            response = self.session.get(url, params={"userContact": user}, headers=self._auth())
            if response.status_code == 401:
                response = self.session.get(
                    url, params={"userContact": user}, headers=self._auth(renew=True)
                )
        except requests.RequestException:
            return None
        try:
            data = response.json()
        except ValueError:
            data = None
        code = data.get("statusCode") if isinstance(data, dict) else None
        verdict: bool | None = None
        if response.status_code == 200 and isinstance(data, dict):
            listed = data.get("capabilities")
            verdict = bool(listed) if isinstance(listed, list) else None
        elif code == NOT_FOUND:
            # Only websms's own "not found" (4120) is a verdict: a bare 404 may be a path this
            # account does not have, and must not reject every RCS message.
            verdict = False
        if verdict is not None:
            cache.set(key, verdict, timeout=CAPABILITY_CACHE_SECONDS)
        return verdict

    def _rcs_precheck(self, message: OutboundMessage, application: str) -> None:
        """Refuse an RCS message to a number that cannot receive RCS before sending it, so the
        next channel of a scenario is tried at once; without a verdict, send anyway."""
        if self.credentials.get("rcsCapabilityCheck") is False:
            return
        if self.rcs_capable(message.to) is False:
            raise SendError(
                "WEBSMS_NOT_RCS_CAPABLE",
                f"websms says {message.to} cannot receive RCS (capability check).",
                permanent=True,
                status=st.REJECTED_NOT_ON_CHANNEL,
                raw={"capabilities": [], "userContact": f"+{_digits(message.to)}"},
            )

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
            outage=response.status_code in TRANSIENT_HTTP,
        )

    def test_connection(self) -> str:
        """Prove the credentials without sending anything: a fresh OAuth2 token for the
        messaging API; for SMS a `"test": true` request (websms only simulates it) with no
        recipient, which websms answers with a credential error (401, 4001, 4021...) or a
        complaint about the request itself."""
        said = []
        if self.credentials.get("clientId"):
            self.access_token(renew=True)
            said.append(f"websms client {self.credentials['clientId']}: token issued")
        if self.credentials.get("username") or self.credentials.get("accessToken"):
            probe = {"test": True, "recipientAddressList": [], "messageContent": "test"}
            response, data = self._post(SMS_PATH, probe)
            code = data.get("statusCode") if isinstance(data, dict) else None
            if response.status_code in (401, 403) or code in CREDENTIAL_CODES:
                raise self._error(response, data)
            said.append("SMS credentials accepted")
        return "; ".join(said)

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
                provider_message_id=_text(body.get("notificationId")) or _content_id(body),
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
            provider_message_id=_text(body.get("messageId") or body.get("notificationId"))
            or _content_id(body),
            raw=body,
        )

    def webhook_reply(self, kind: str, request: WebhookRequest, events: WebhookEvents):
        return WebhookReply(status=200, body=json.dumps(ACKNOWLEDGEMENT).encode())


def _suggestions(buttons: tuple[Button, ...]) -> list[dict]:
    """MaaP suggestions: a quick reply as a reply (its text is its postback), a URL button as
    an openUrl action."""
    out = []
    for button in buttons:
        if button.kind == "url":
            action = {
                "displayText": button.text,
                "postback": {"data": button.url},
                "urlAction": {"openUrl": {"url": button.url}},
            }
            out.append({"action": action})
        else:
            out.append({"reply": {"displayText": button.text, "postback": {"data": button.text}}})
    return out


def _content_type(media: Media) -> str:
    """The file's MIME type, by its URL's extension ("" when it says nothing)."""
    return mimetypes.guess_type(urlsplit(media.url).path)[0] or ""


def _file_message(media: Media) -> dict:
    """MaaP fileMessage: fileUrl, and what is known of the file."""
    out: dict = {"fileUrl": media.url}
    if _content_type(media):
        out["fileMIMEType"] = _content_type(media)
    if media.size:
        out["fileSize"] = media.size
    if media.filename:
        out["fileName"] = media.filename
    if media.thumbnail:
        out["thumbnailUrl"] = media.thumbnail
    return out


def _card_content(card: Card) -> dict:
    """A generalPurposeCard's content: media, title, description, suggestions (those given)."""
    out: dict = {}
    if card.media is not None:
        media: dict = {
            "mediaUrl": card.media.url,
            "height": CARD_HEIGHTS.get(card.height, DEFAULT_HEIGHT),
        }
        if _content_type(card.media):
            media["mediaContentType"] = _content_type(card.media)
        if card.media.size:
            media["mediaFileSize"] = card.media.size
        if card.media.thumbnail:
            media["thumbnailUrl"] = card.media.thumbnail
        out["media"] = media
    if card.title:
        out["title"] = card.title
    if card.description:
        out["description"] = card.description
    if card.buttons:
        out["suggestions"] = _suggestions(card.buttons)
    return out


def _content_id(body: dict) -> str:
    """A stable id for an inbound document that carries none (seed 002's messenger inbound
    has no id): the hash of its fields, so websms's retries of it are stored once. Two
    identical documents (same sender, recipient, text and media) count as one."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


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
