"""Twilio Programmable Messaging: SMS/MMS and WhatsApp (PROVIDERS.md §1).

Sends are form posts to the Messages resource with HTTP Basic (Account SID : Auth Token);
every webhook Twilio makes is signed with X-Twilio-Signature, keyed by the Auth Token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from core import status as st

from .base import (
    Backend,
    CredentialField,
    Inbound,
    ListedTemplate,
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
from .content import Capabilities, Content, ProviderTemplate
from .reference import query_ref, with_ref

API_VERSION = "2010-04-01"
CONTENT_API = "https://content.twilio.com"  # twilio-python rest/content/ContentBase.py
WHATSAPP_PREFIX = "whatsapp:"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# A Content template's SID (Content API; error 21655 names the pattern).
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# ValidityPeriod: whole seconds, 1 to 36000 (10 h) (twilio-python MessageList.create; errors
# 21624/90007). It needs no Messaging Service: a plain From takes it too.
MAX_VALIDITY_SECONDS = 36000
MIN_VALIDITY_SECONDS = 1
MAX_MMS_MEDIA = 10  # "up to ten media_url parameters per message" (twilio-python)

_RICH = "For buttons and other rich content use providerTemplate (a Content template, HX…)."

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
    # Only a message scheduled at Twilio can be canceled, before it is sent, by the account
    # (Message update Status=canceled). Nothing was attempted: not a delivery failure.
    "canceled": st.CANCELLED_BY_CLIENT,
}
# The callback statuses an ErrorCode refines.
FAILED_STATUSES = frozenset({"undelivered", "failed"})

# Error codes that refine a failed/undelivered callback: (our status, permanent, Twilio's
# title). Each checked against https://www.twilio.com/docs/api/errors/<code>.
CALLBACK_ERRORS: dict[str, tuple[str, bool, str]] = {
    "30001": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Queue overflow (Twilio's own queue)"),
    "30002": (st.REJECTED_PROVIDER, True, "Account suspended"),
    "30003": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Unreachable destination handset"),
    "30004": (st.REJECTED_DESTINATION, True, "Message blocked"),
    "30005": (st.UNDELIVERABLE_NOT_DELIVERED, True, "Unknown destination handset"),
    "30006": (st.UNDELIVERABLE_NOT_DELIVERED, True, "Landline or unreachable carrier"),
    "30007": (st.UNDELIVERABLE_REJECTED_OPERATOR, True, "Message filtered by the carrier"),
    "30008": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Unknown error"),
    "30022": (st.UNDELIVERABLE_REJECTED_OPERATOR, False, "US A2P 10DLC rate limits exceeded"),
    "30034": (st.REJECTED_PROVIDER, True, "US A2P 10DLC: message from an unregistered number"),
    "30036": (st.EXPIRED_EXPIRED, False, "Validity period expired"),
    "30500": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Twilio internal error"),
    "30610": (st.UNDELIVERABLE_REJECTED_OPERATOR, False, "Local regulation (quiet hours)"),
    "14107": (st.UNDELIVERABLE_NOT_DELIVERED, False, "SMS send rate limit exceeded"),
    "21610": (st.REJECTED_DESTINATION, True, "Recipient unsubscribed (STOP)"),
    "63003": (st.REJECTED_NOT_ON_CHANNEL, True, "Channel could not find the To address"),
    "63016": (
        st.REJECTED_CONTENT,
        True,
        "Outside the WhatsApp 24-hour window: free-form content is refused; send an "
        "approved template (providerTemplate with its Content SID)",
    ),
    "63017": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Rate limit exceeded"),
    "63018": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Rate limit exceeded for the channel"),
    "63024": (st.REJECTED_NOT_ON_CHANNEL, True, "Invalid message recipient"),
    "63038": (st.UNDELIVERABLE_NOT_DELIVERED, False, "Account exceeded the daily limit"),
}

# Error codes of a refused create (HTTP 4xx): (our status, permanent). Unlisted 4xx codes are
# permanent provider rejections; 429 and 5xx are transient whatever their code.
SEND_ERRORS = {
    "20003": (st.REJECTED_PROVIDER, True),  # authentication failed
    "20429": (st.REJECTED_PROVIDER, False),  # too many concurrent requests
    "21211": (st.REJECTED_DESTINATION, True),  # invalid To
    "21408": (st.REJECTED_DESTINATION, True),  # sending to the To's region not enabled
    "21606": (st.REJECTED_PROVIDER, True),  # From cannot send messages
    "21608": (st.REJECTED_DESTINATION, True),  # unverified To on a trial account
    "21610": (st.REJECTED_DESTINATION, True),  # recipient unsubscribed (STOP)
    "21611": (st.REJECTED_PROVIDER, False),  # the From's queue is full: back off
    "21612": (st.REJECTED_DESTINATION, True),  # To/From combination cannot be sent
    "21614": (st.REJECTED_DESTINATION, True),  # To not a valid mobile number
    "21635": (st.REJECTED_DESTINATION, True),  # To is a landline
    "21617": (st.REJECTED_CONTENT, True),  # body over 1600 characters
    "21655": (st.REJECTED_CONTENT, True),  # ContentSid invalid
    "21656": (st.REJECTED_CONTENT, True),  # ContentVariables invalid
    "63016": (st.REJECTED_CONTENT, True),  # free-form WhatsApp outside the 24 h window
    "63024": (st.REJECTED_NOT_ON_CHANNEL, True),  # not a valid WhatsApp recipient
    "63038": (st.REJECTED_PROVIDER, False),  # daily limit: try again later
}

WHATSAPP_CAPABILITIES = Capabilities(
    # One MediaUrl per WhatsApp message ("unlike MMS, a WhatsApp media message can only
    # contain one media attachment"); stickers are image/webp.
    media_kinds=frozenset({"image", "document", "video", "audio", "sticker"}),
    max_media=1,
    location=True,  # PersistentAction geo:<lat>,<lon>|<label>
    templates=True,  # ContentSid + ContentVariables
    note=_RICH,
)
SMS_CAPABILITIES = Capabilities(
    # MMS: up to ten MediaUrl (Twilio's accepted MIME types cover images, audio, video, PDF,
    # vCard). Where MMS reaches (US/CA) is Twilio's business, not refused here.
    media_kinds=frozenset({"image", "document", "video", "audio"}),
    max_media=MAX_MMS_MEDIA,
    templates=True,  # twilio/text and twilio/media Content templates work on SMS too
)


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


# approval_requests.status (twilio-oai examples: unsubmitted, approved, rejected; Twilio's
# "Message template approvals and statuses" page adds pending, paused, disabled) → the
# catalogue's vocabulary; any other word is UNKNOWN (not sendable).
TEMPLATE_STATUS = {
    "approved": "APPROVED",
    "pending": "PENDING",
    "rejected": "REJECTED",
    "paused": "PAUSED",
    "disabled": "DISABLED",
    "unsubmitted": "UNSUBMITTED",
}


def _listed(item: dict) -> ListedTemplate:
    """One ContentAndApprovals record. Its approval_requests is flat in twilio-oai's
    example ({name, category, content_type, status, rejection_reason, ...}); the Approval
    Fetch resource nests the same under `whatsapp`: both are read."""
    approval = (
        item.get("approval_requests") if isinstance(item.get("approval_requests"), dict) else {}
    )
    if isinstance(approval.get("whatsapp"), dict):
        approval = approval["whatsapp"]
    raw = str(approval.get("status") or "unsubmitted")
    return ListedTemplate(
        name=str(item["sid"]),
        language=str(item.get("language") or ""),
        status=TEMPLATE_STATUS.get(raw.lower(), "UNKNOWN"),
        raw_status=raw,
        category=str(approval.get("category") or ""),
        components={
            "types": item.get("types") or {},
            "variables": item.get("variables") or {},
            **(
                {"rejection_reason": approval["rejection_reason"]}
                if approval.get("rejection_reason")
                else {}
            ),
        },
        template_id=str(item["sid"]),
        label=str(item.get("friendly_name") or approval.get("name") or ""),
    )


def content_variables(params: tuple[str, ...]) -> str:
    """A Content template's variables as Twilio numbers them: {"1": p1, "2": p2, ...}."""
    return json.dumps({str(n): p for n, p in enumerate(params, 1)}, ensure_ascii=False)


def inbound_id(params: list[tuple[str, str]]) -> str:
    """A stable id for an inbound call that names no MessageSid: a hash of its signed
    parameters, so that Twilio's retries of the same call are stored once."""
    data = "&".join(f"{k}={v}" for k, v in sorted(params))
    return "twilio-sha256:" + hashlib.sha256(data.encode("utf-8")).hexdigest()


@register
class TwilioBackend(Backend):
    provider_type = "twilio"
    care_window = True  # WhatsApp Business: free-form only inside the 24-hour window
    label = "Twilio (SMS, WhatsApp)"
    channels = ("sms", "whatsapp")
    capabilities = {"sms": SMS_CAPABILITIES, "whatsapp": WHATSAPP_CAPABILITIES}
    # A number's inbound webhook may be set to HTTP GET, its parameters in the query.
    get_webhooks_carry_events = True
    credential_fields = (
        CredentialField("accountSid", secret=False, help="Account SID, AC followed by 32 hex."),
        CredentialField("authToken", help="Auth Token; also verifies Twilio's webhook calls."),
        api_base_url_field("https://api.twilio.com"),
    )
    can_list_templates = True
    # An unsubmitted Content template was never meant for WhatsApp's approval: it is Twilio's
    # way to send buttons and other rich content inside the 24-hour window ("Content Types
    # Overview": twilio/text, media, quick-reply, list-picker need no approval in a session;
    # outside it an approved template is required, TW-ERR-63016), so the catalogue lets it go.
    template_sendable = frozenset({"APPROVED", "UNSUBMITTED"})

    @classmethod
    def content_problems(cls, channel: str, content: Content) -> list[tuple[str, str]]:
        """The capability checks, plus what Twilio's form has no field for."""
        out = super().content_problems(channel, content)
        who = f"{cls.label} ({channel})"
        for m in content.media:
            if m.filename:
                # "Twilio does not support setting a filename or caption for documents".
                out.append(
                    (
                        f"media.{m.kind}.filename",
                        f"{who} takes a file's name from its URL; it has no filename field.",
                    )
                )
            if m.caption:
                out.append(
                    (
                        f"media.{m.kind}.caption",
                        f"{who} shows the message text with the media: give it as the body.",
                    )
                )
        t = content.template
        if t is not None and channel in cls.capabilities:
            if not CONTENT_SID.match(t.name):
                out.append(
                    (
                        "providerTemplate.name",
                        f"{who} names a Content template by its SID: HX and 32 hex digits.",
                    )
                )
            if t.buttons:
                out.append(
                    (
                        "providerTemplate.buttons",
                        f"{who} numbers every variable of a Content template, a button's too: "
                        "give the button values in providerTemplate.params at their numbers.",
                    )
                )
            if t.header_text:
                out.append(
                    (
                        "providerTemplate.header",
                        f"{who}: a Content template's header is part of the template; give "
                        "its variables in providerTemplate.params.",
                    )
                )
        return out

    @classmethod
    def sender_problem(cls, channel: str, sender: str) -> str:
        # A Messaging Service SID is no sender id: its pool picks the From (build_form).
        if MESSAGING_SERVICE_SID.match(sender):
            return ""
        return super().sender_problem(channel, sender)

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
        if MESSAGING_SERVICE_SID.match(sender):
            form.append(("MessagingServiceSid", sender))
        elif sender:
            form.append(("From", _address(message.channel, sender)))
        content = message.content
        template = content.template
        if template is not None:
            # A Content template (an approved one opens WhatsApp outside the 24 h window):
            # no Body or MediaUrl then (error 63016's advice); variables only when given.
            form.append(("ContentSid", template.name))
            if template.params:
                form.append(("ContentVariables", content_variables(template.params)))
        else:
            body = message.body
            location = content.location
            geo = ""
            if location is not None:
                geo = f"geo:{location.latitude},{location.longitude}"
                # A message needs a Body, MediaUrl or ContentSid (21602); Twilio's location
                # examples give a Body with the PersistentAction.
                body = body or location.name or location.address or geo[4:]
            if body:
                form.append(("Body", body))
            form.extend(("MediaUrl", m.url) for m in content.media)
            if location is not None:
                # twilio-python: PersistentAction "used for sending location in WhatsApp
                # messages", as geo:<latitude>,<longitude>|<label>.
                label = location.name or location.address
                form.append(("PersistentAction", f"{geo}|{label}" if label else geo))
        validity = message.validity_seconds(MAX_VALIDITY_SECONDS, MIN_VALIDITY_SECONDS)
        if validity is not None:
            form.append(("ValidityPeriod", str(validity)))
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

    # --- the template catalogue ------------------------------------------------------------
    def template_key(self, template: ProviderTemplate) -> tuple[str, str | None]:
        return template.name, None  # ContentSid names one Content resource, its language too

    @property
    def content_api_url(self) -> str:
        """The Content API's host (twilio-python ContentBase: https://content.twilio.com);
        a custom apiBaseUrl (a stand-in such as the simulator) serves both APIs."""
        custom = str(self.credentials.get("apiBaseUrl") or "").rstrip("/")
        return custom or CONTENT_API

    def list_templates(self) -> list[ListedTemplate]:
        """`GET /v1/ContentAndApprovals` (twilio-oai twilio_content_v1.yaml: PageSize up to
        1000; records under `meta.key` = "contents"; `meta.next_page_url`, null on the last
        page, as twilio-python's Page.next_page_url follows it), each with its WhatsApp
        `approval_requests`. The next page's path and query are asked of our own base URL,
        so the Auth Token only ever goes to the host we were configured with."""
        base = self.content_api_url
        url, params = f"{base}/v1/ContentAndApprovals", {"PageSize": 1000}
        out: list[ListedTemplate] = []
        for _ in range(self.max_template_pages):
            response = self.session.get(url, params=params, auth=self.auth)
            try:
                body = response.json()
            except ValueError:
                body = response.text
            if response.status_code != 200 or not isinstance(body, dict):
                raise self.send_error(response.status_code, body, response.headers)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            records = body.get(meta.get("key") or "contents") or []
            out.extend(
                _listed(item) for item in records if isinstance(item, dict) and item.get("sid")
            )
            next_url = meta.get("next_page_url")
            if not next_url:
                return out
            parts = urlsplit(str(next_url))
            url, params = f"{base}{parts.path}" + (f"?{parts.query}" if parts.query else ""), None
        raise SendError(
            "TOO_MANY_PAGES",
            f"Twilio's content list did not end within {self.max_template_pages} pages.",
            permanent=False,
        )

    # --- webhooks --------------------------------------------------------------------------
    def verified_params(self, request: WebhookRequest) -> list[tuple[str, str]]:
        """The parameters of a genuine Twilio call, in order; WebhookRejected otherwise."""
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
                return params
        raise WebhookRejected("The X-Twilio-Signature does not match.")

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        params = dict(self.verified_params(request))
        sid = params.get("MessageSid") or params.get("SmsSid")
        raw_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if params.get("EventType") == "READ":
            raw_status = "read"
        status = STATUS_MAP.get(raw_status)
        if not sid or status is None:
            raise WebhookRejected(f"Not a message status callback ({raw_status!r}).", 400)
        error_code = params.get("ErrorCode") or ""
        permanent, title = True, ""
        if error_code and raw_status in FAILED_STATUSES:
            status, permanent, title = CALLBACK_ERRORS.get(error_code, (status, True, ""))
        return [
            StatusReport(
                provider_message_id=sid,
                status=status,
                error_code=error_code,
                error_description=params.get("ErrorMessage")
                or params.get("ChannelStatusMessage")
                or title,
                permanent=permanent,
                price=_decimal(params.get("Price")),
                currency=params.get("PriceUnit", ""),
                event_id=f"{sid}:{raw_status}:{error_code}",
                raw=params,
                # The `ref` of the StatusCallback URL: signed, as the whole URL is.
                message_ref=query_ref(request),
            )
        ]

    @classmethod
    def reply_values(cls, payload: dict) -> list:
        return [payload.get("ButtonPayload"), payload.get("ButtonText")]  # a quick reply

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        signed = self.verified_params(request)
        params = dict(signed)
        sender, recipient = params.get("From", ""), params.get("To", "")
        if not sender:
            raise WebhookRejected("Not an inbound message (no From).", status=400)
        channel, sender = _strip(sender)
        sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
        return [
            Inbound(
                channel=channel,
                sender=sender,
                recipient=_strip(recipient)[1],
                text=params.get("Body", "") or params.get("ButtonText", ""),
                provider_message_id=sid or inbound_id(signed),
                raw=params,
            )
        ]

    def webhook_reply(self, kind: str, request: WebhookRequest, events: WebhookEvents):
        # Twilio reads the inbound answer as TwiML: an empty Response sends no reply.
        if kind == "inbound":
            return WebhookReply(status=200, body=EMPTY_TWIML, content_type="text/xml")
        return None
