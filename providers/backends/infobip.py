"""Infobip: SMS, WhatsApp (text, media, location, buttons, templates) and Viber (PROVIDERS.md §2).

JSON over HTTPS with `Authorization: App <apiKey>`. Each send names our status webhook URL
as the message's delivery-report URL, so the reports come back pushed, one `results` list
per call. Infobip does not sign per-message report URLs; the unguessable token in our URL
is what makes a call genuine.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from core import status as st

from .base import (
    TEMPLATE_STATUSES,
    Backend,
    CredentialField,
    Inbound,
    ListedTemplate,
    OutboundMessage,
    SendError,
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
    api_base_url_field,
    http_send_error,
    register,
)
from .content import Capabilities, Content, Media, ProviderTemplate
from .reference import our_ref

SMS_PATH = "/sms/3/messages"
VIBER_PATH = "/viber/2/messages"
# WhatsAppApi (infobip-api-java-client): one endpoint per message type.
WHATSAPP_PATHS = {
    "text": "/whatsapp/1/message/text",
    "image": "/whatsapp/1/message/image",
    "document": "/whatsapp/1/message/document",
    "video": "/whatsapp/1/message/video",
    "audio": "/whatsapp/1/message/audio",
    "sticker": "/whatsapp/1/message/sticker",
    "location": "/whatsapp/1/message/location",
    "buttons": "/whatsapp/1/message/interactive/buttons",
    "url-button": "/whatsapp/1/message/interactive/url-button",
    "template": "/whatsapp/1/message/template",
}
# WhatsApp{Image,Document,Video}Content take a caption; audio and sticker do not.
CAPTIONED = frozenset({"image", "document", "video"})
# The header types of WhatsAppInteractiveButtons/UrlButton messages (besides TEXT).
INTERACTIVE_HEADERS = frozenset({"image", "document", "video"})
# WhatsApp's limit on a reply button's title and a URL button's display text.
MAX_BUTTON_TITLE = 20
# ValidityPeriod: "Validity period longer than 48h is not supported".
MAX_VALIDITY_SECONDS = 48 * 3600
TEMPLATE_BUTTON_TYPES = {"url": "URL", "quick_reply": "QUICK_REPLY", "copy_code": "COPY_CODE"}

# status.id → our status (Infobip's status ids, §2.5); a report whose id is not listed falls
# back to its groupName.
STATUS_BY_ID = {
    3: st.PENDING_ENROUTE,  # PENDING_WAITING_DELIVERY
    7: st.PENDING_ENROUTE,  # PENDING_ENROUTE
    26: st.PENDING_ENROUTE,  # PENDING_ACCEPTED
    2: st.DELIVERED_TO_OPERATOR,
    5: st.DELIVERED_TO_HANDSET,
    4: st.UNDELIVERABLE_REJECTED_OPERATOR,
    9: st.UNDELIVERABLE_NOT_DELIVERED,
    31: st.UNDELIVERABLE_NOT_DELIVERED,  # UNDELIVERABLE_NOT_SENT
    15: st.EXPIRED_EXPIRED,
    29: st.EXPIRED_EXPIRED,  # EXPIRED_DLR_UNKNOWN
    6: st.REJECTED_DESTINATION,  # REJECTED_NETWORK
    8: st.REJECTED_DESTINATION,  # REJECTED_PREFIX_MISSING
    10: st.REJECTED_DESTINATION,  # REJECTED_DND
    11: st.REJECTED_PROVIDER,  # REJECTED_SOURCE
    12: st.REJECTED_PROVIDER,  # REJECTED_NOT_ENOUGH_CREDITS
    13: st.REJECTED_PROVIDER,  # REJECTED_SENDER
    14: st.REJECTED_DESTINATION,  # REJECTED_DESTINATION_BLOCKLISTED
    18: st.REJECTED_NOT_ON_CHANNEL,  # REJECTED_DESTINATION_NOT_REGISTERED
    19: st.REJECTED_DESTINATION,  # REJECTED_ROUTE_NOT_AVAILABLE
    20: st.REJECTED_PROVIDER,  # REJECTED_FLOODING_FILTER
    21: st.REJECTED_PROVIDER,  # REJECTED_SYSTEM_ERROR
    23: st.REJECTED_PROVIDER,  # REJECTED_DUPLICATE_MESSAGE_ID
    25: st.REJECTED_CONTENT,  # REJECTED_MESSAGE_TOO_LONG
    51: st.REJECTED_DESTINATION,  # MISSING_TO
    52: st.REJECTED_DESTINATION,  # REJECTED_DESTINATION
}
STATUS_BY_GROUP = {
    "ACCEPTED": st.PENDING_ENROUTE,
    "PENDING": st.PENDING_ENROUTE,
    "DELIVERED": st.DELIVERED_TO_HANDSET,
    "UNDELIVERABLE": st.UNDELIVERABLE_NOT_DELIVERED,
    "EXPIRED": st.EXPIRED_EXPIRED,
    "REJECTED": st.REJECTED_PROVIDER,
}
# Groups that are final refusals when they come back in the send response itself.
REFUSED_GROUPS = {"REJECTED", "UNDELIVERABLE"}
# Rejections that a later attempt may get past (flooding filter, system error, credit).
TRANSIENT_STATUS_IDS = {12, 20, 21}
# REJECTED_DUPLICATE_MESSAGE_ID: Infobip already has a message with the messageId we set.
DUPLICATE_MESSAGE_ID = 23
# Outbound message logs, searchable by messageId (the last 48 hours only).
LOG_PATHS = {"sms": "/sms/3/logs"}

# Error ids that make a delivered-group-less report more precise: error.id → our status.
ERROR_STATUS = {
    1: st.UNDELIVERABLE_NOT_DELIVERED,  # EC_UNKNOWN_SUBSCRIBER
    351: st.REJECTED_DESTINATION,  # EC_INVALID_DESTINATION_ADDRESS
    355: st.REJECTED_CONTENT,  # EC_MSG_TEXT_TOO_LONG
    573: st.REJECTED_DESTINATION,  # EC_SC_BLOCKED_BY_END_USER
    603: st.REJECTED_DESTINATION,  # EC_CONTENT_BLOCKED (STOP opt-out)
    607: st.REJECTED_CONTENT,  # EC_REJECTED_SPAM_BY_OPERATOR
}

# API error codes (the current `errorCode` and the older serviceException `messageId`).
API_ERRORS = {
    "E400": (st.REJECTED_PROVIDER, True),
    "BAD_REQUEST": (st.REJECTED_PROVIDER, True),
    "E401": (st.REJECTED_PROVIDER, True),
    "UNAUTHORIZED": (st.REJECTED_PROVIDER, True),
    "E403": (st.REJECTED_PROVIDER, True),
    "FORBIDDEN": (st.REJECTED_PROVIDER, True),
    "E404": (st.REJECTED_PROVIDER, True),
    "NOT_FOUND": (st.REJECTED_PROVIDER, True),
    "E429": (st.REJECTED_PROVIDER, False),
    "TOO_MANY_REQUESTS": (st.REJECTED_PROVIDER, False),
    "E500": (st.REJECTED_PROVIDER, False),
    "GENERAL_ERROR": (st.REJECTED_PROVIDER, False),
}
INBOUND_CHANNELS = {"WHATSAPP": "whatsapp", "VIBER": "viber", "SMS": "sms"}


def _number(value: str) -> str:
    """Infobip takes international numbers without the plus."""
    return value[1:] if value.startswith("+") else value


# WhatsAppStatus (IB-J model/WhatsAppStatus.java) → the catalogue's vocabulary. Infobip
# splits Meta's PAUSED in two (3 and 6 hours); REINSTATED is a paused template back in use
# (Meta: "a paused template changes to approved automatically").
TEMPLATE_STATUS = {
    "FIRST_PAUSED": "PAUSED",
    "SECOND_PAUSED": "PAUSED",
    "REINSTATED": "APPROVED",
}


def _listed(item: dict) -> ListedTemplate:
    raw = str(item.get("status") or "").upper()
    status = TEMPLATE_STATUS.get(raw, raw)
    return ListedTemplate(
        name=str(item["name"]),
        language=str(item["language"]),
        status=status if status in TEMPLATE_STATUSES else "UNKNOWN",
        raw_status=str(item.get("status") or ""),
        category=str(item.get("category") or ""),
        components=item.get("structure") or {},
        template_id=str(item.get("id") or ""),
    )


def _e164(value) -> str:
    """Infobip's numbers back in our form: a leading plus on an all-digit number."""
    value = str(value or "")
    return f"+{value}" if value.isdigit() else value


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _when(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:  # yyyy-MM-dd'T'HH:mm:ss.SSS+0000
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def _ref(item: dict) -> str:
    """Our id from a report: the callbackData we sent, else the messageId we set."""
    return our_ref(item.get("callbackData")) or our_ref(item.get("messageId"))


def _filename(media: Media) -> str:
    return media.filename or media.url.rstrip("/").rsplit("/", 1)[-1] or "document"


def _header(media: Media) -> dict:
    """An interactive message's or a template's media header."""
    header = {"type": media.kind.upper(), "mediaUrl": media.url}
    if media.kind == "document":
        header["filename"] = _filename(media)
    return header


def _interactive(text: str, action: dict, media: Media | None) -> dict:
    """WhatsAppInteractiveButtonsContent / WhatsAppInteractiveUrlButtonContent."""
    content: dict = {"body": {"text": text}, "action": action}
    if media is not None:
        content["header"] = _header(media)
    return content


def _template_content(template: ProviderTemplate) -> dict:
    """WhatsAppTemplateContent: body.placeholders is required, [] for a template without
    placeholders; header and buttons only where the template has them."""
    data: dict = {"body": {"placeholders": list(template.params)}}
    if template.header_text:
        data["header"] = {"type": "TEXT", "placeholder": template.header_text}
    elif template.header_media is not None:
        data["header"] = _header(template.header_media)
    elif template.header_location is not None:
        place = template.header_location
        data["header"] = {
            "type": "LOCATION",
            "latitude": place.latitude,
            "longitude": place.longitude,
        }
    if template.buttons:
        # Infobip has no index: the buttons go "in the correct order" of the template.
        data["buttons"] = [
            {"type": TEMPLATE_BUTTON_TYPES[b.kind], "parameter": b.value}
            for b in sorted(template.buttons, key=lambda b: b.index)
        ]
    return {
        "templateName": template.name,
        "templateData": data,
        "language": template.language or "en",
    }


def _viber_content(content: Content, text: str) -> dict:
    """ViberOutboundTextContent or ViberOutboundImageContent, with a URL button if given."""
    image = next(iter(content.media), None)
    body: dict = {"type": "IMAGE", "mediaUrl": image.url} if image else {"type": "TEXT"}
    if text or not image:
        body["text"] = text
    if content.url_buttons:
        button = content.url_buttons[0]
        body["button"] = {"title": button.text, "action": button.url}
    return body


def status_for(status: dict, error: dict | None = None) -> str:
    """Our status for an Infobip status object (and its error object, which can sharpen an
    undeliverable or rejected outcome)."""
    ours = STATUS_BY_ID.get(status.get("id"))
    if ours is None:
        ours = STATUS_BY_GROUP.get(str(status.get("groupName", "")).upper(), st.PENDING_ENROUTE)
    group = str(status.get("groupName", "")).upper()
    if error and group in ("UNDELIVERABLE", "REJECTED") and error.get("id") in ERROR_STATUS:
        return ERROR_STATUS[error["id"]]
    return ours


def is_permanent(status: dict, error: dict | None = None) -> bool:
    """Infobip's own verdict on a failed report: the error object's `permanent` ("whether the
    error is recoverable or not"), else the status: the rejections a later attempt may get
    past (credit, flooding filter, system error) are transient, every other failure is final.
    A report that is no failure is not retried in any case (True)."""
    if error and error.get("id") not in (0, None) and isinstance(error.get("permanent"), bool):
        return error["permanent"]
    group = str(status.get("groupName", "")).upper()
    if group in ("UNDELIVERABLE", "REJECTED", "EXPIRED"):
        return status.get("id") not in TRANSIENT_STATUS_IDS
    return True


@register
class InfobipBackend(Backend):
    provider_type = "infobip"
    care_window = True  # WhatsApp Business: free-form only inside the 24-hour window
    label = "Infobip (SMS, WhatsApp, Viber)"
    channels = ("sms", "whatsapp", "viber")
    # WhatsApp: one media item (by URL: the contents take mediaUrl only) or a location per
    # message; up to 3 reply buttons or one URL button, with an image, document or video as
    # the interactive header. Viber: an image and/or one URL button. SMS: text only.
    capabilities = {
        "whatsapp": Capabilities(
            uncaptioned=frozenset({"audio", "sticker", "location"}),
            media_kinds=frozenset({"image", "document", "video", "audio", "sticker"}),
            max_media=1,
            location=True,
            quick_replies=3,
            url_buttons=1,
            # WhatsApp's reply titles are 1-20 characters, unique; displayText is required.
            button_title_max=MAX_BUTTON_TITLE,
            unique_button_titles=True,
            url_button_title_required=True,
            button_header_media=INTERACTIVE_HEADERS,
            templates=True,
            template_header_media=frozenset({"image", "document", "video", "location"}),
        ),
        "viber": Capabilities(
            media_kinds=frozenset({"image"}),
            max_media=1,
            url_buttons=1,
            url_button_title_required=True,  # Viber's button title
        ),
    }
    credential_fields = (
        CredentialField("apiKey", help="API key, sent as `Authorization: App <apiKey>`."),
        api_base_url_field("https://api.infobip.com"),
    )
    can_list_templates = True
    # FLAGGED: quality is low and Meta names a date to disable it, but it is still approved
    # and sends until then (Meta's message_template_status_update: FLAGGED keeps APPROVED).
    template_sendable = frozenset({"APPROVED", "FLAGGED"})

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"App {self.credentials.get('apiKey', '')}",
            "Accept": "application/json",
        }

    # --- send ------------------------------------------------------------------------------
    def build_request(self, message: OutboundMessage) -> tuple[str, dict]:
        """The path and JSON body for one message."""
        sender = self.sender_for(message)
        to = _number(message.to)
        if message.channel in ("sms", "viber"):
            destination = {"to": to}
            if message.channel == "sms":
                # Our id as Infobip's own messageId (SmsDestination.messageId): it comes back
                # in every report and finds the message in the logs.
                destination["messageId"] = message.id
            content = (
                {"text": message.body}
                if message.channel == "sms"
                else _viber_content(message.content, message.body)
            )
            entry = {
                "destinations": [destination],
                "content": content,
                "webhooks": {
                    "delivery": {"url": message.status_webhook_url, "intermediateReport": True},
                    "contentType": "application/json",
                    "callbackData": message.id,
                },
            }
            if sender:
                entry = {"sender": sender, **entry}
            if not message.status_webhook_url:
                entry["webhooks"].pop("delivery")
            # SmsMessageOptions / ViberMessageOptions.validityPeriod: {amount, timeUnit}; more
            # than 48 hours is not supported (Infobip sets it to 48 h), so we cap there.
            seconds = message.validity_seconds(maximum=MAX_VALIDITY_SECONDS, minimum=1)
            if seconds is not None:
                entry["options"] = {"validityPeriod": {"amount": seconds, "timeUnit": "SECONDS"}}
            return (SMS_PATH if message.channel == "sms" else VIBER_PATH), {"messages": [entry]}
        return self._whatsapp(message, _number(sender), to)

    def _whatsapp(self, message: OutboundMessage, sender: str, to: str) -> tuple[str, dict]:
        common = {"from": sender, "to": to, "messageId": message.id, "callbackData": message.id}
        if message.status_webhook_url:
            common["notifyUrl"] = message.status_webhook_url
        content = message.content
        if content.template is not None:
            body = {"messages": [{**common, "content": _template_content(content.template)}]}
            return WHATSAPP_PATHS["template"], body
        media = next(iter(content.media), None)
        if content.quick_replies:
            action = {
                "buttons": [
                    {"type": "REPLY", "id": b.text, "title": b.text} for b in content.quick_replies
                ]
            }
            return WHATSAPP_PATHS["buttons"], {
                **common,
                "content": _interactive(message.body, action, media),
            }
        if content.url_buttons:
            button = content.url_buttons[0]
            action = {"displayText": button.text, "url": button.url}
            return WHATSAPP_PATHS["url-button"], {
                **common,
                "content": _interactive(message.body, action, media),
            }
        if content.location is not None:
            place = content.location
            body = {"latitude": place.latitude, "longitude": place.longitude}
            if place.name:
                body["name"] = place.name
            if place.address:
                body["address"] = place.address
            return WHATSAPP_PATHS["location"], {**common, "content": body}
        if media is not None:
            body = {"mediaUrl": media.url}
            caption = media.caption or message.body
            if caption and media.kind in CAPTIONED:
                body["caption"] = caption
            if media.kind == "document":
                body["filename"] = _filename(media)
            return WHATSAPP_PATHS[media.kind], {**common, "content": body}
        return WHATSAPP_PATHS["text"], {**common, "content": {"text": message.body}}

    def send(self, message: OutboundMessage) -> SendResult:
        path, body = self.build_request(message)
        response = self.session.post(self.base_url + path, json=body, headers=self.headers)
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        if response.status_code >= 300 or not isinstance(answer, dict):
            raise self.api_error(response.status_code, answer, response.headers)
        # WhatsApp text/media answer with one message object; the bulk endpoints with a list.
        results = answer.get("messages") if "messages" in answer else [answer]
        first = results[0] if results and isinstance(results[0], dict) else {}
        status = first.get("status") or {}
        if not first.get("messageId"):
            raise SendError(
                "NO_MESSAGE_ID", "Infobip's answer names no messageId.", permanent=False, raw=answer
            )
        if status.get("id") == DUPLICATE_MESSAGE_ID and self.can_lookup_channel(message.channel):
            # A retry of a send Infobip took (its answer lost): the message is there already.
            found = self.lookup(message)
            if found is not None:
                return found
        if str(status.get("groupName", "")).upper() in REFUSED_GROUPS:
            raise SendError(
                str(status.get("name") or status.get("id")),
                str(status.get("description") or "Infobip refused the message."),
                permanent=status.get("id") not in TRANSIENT_STATUS_IDS,
                status=status_for(status),
                raw=answer,
            )
        return SendResult(provider_message_id=str(first["messageId"]), raw=answer)

    @staticmethod
    def api_error(http_status: int, body, headers) -> SendError:
        info = body if isinstance(body, dict) else {}
        exception = (info.get("requestError") or {}).get("serviceException") or {}
        code = str(info.get("errorCode") or exception.get("messageId") or f"HTTP_{http_status}")
        description = str(info.get("description") or exception.get("text") or "")
        return http_send_error(
            code=code,
            description=description or f"Infobip answered HTTP {http_status}.",
            http_status=http_status,
            headers=headers,
            table=API_ERRORS,
            raw=body,
        )

    def test_connection(self) -> str:
        response = self.session.get(self.base_url + "/account/1/balance", headers=self.headers)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code != 200 or not isinstance(body, dict):
            raise self.api_error(response.status_code, body, response.headers)
        return f"Balance {body.get('balance')} {body.get('currency', '')}".strip()

    # --- the template catalogue ------------------------------------------------------------
    def template_key(self, template: ProviderTemplate) -> tuple[str, str | None]:
        return template.name, template.language or "en"  # as _template_content sends it

    def list_templates(self) -> list[ListedTemplate]:
        """`GET /whatsapp/2/senders/{sender}/templates` (IB-J WhatsAppApi.getWhatsAppTemplates:
        no query parameters, one answer `{templates: [WhatsAppTemplateApiResponse]}` with
        id, name, language, status, category and structure), for the provider's default
        sender, "in international format" (digits, as we send it)."""
        sender = _number(self.default_sender.strip())
        if not sender:
            raise SendError(
                "NO_SENDER",
                "Infobip lists templates per WhatsApp sender: set the provider's default "
                "sender (the WhatsApp number) to sync them.",
                permanent=True,
            )
        url = f"{self.base_url}/whatsapp/2/senders/{quote(sender, safe='')}/templates"
        response = self.session.get(url, headers=self.headers)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code != 200 or not isinstance(body, dict):
            raise self.api_error(response.status_code, body, response.headers)
        return [
            _listed(item)
            for item in body.get("templates") or []
            if isinstance(item, dict) and item.get("name") and item.get("language")
        ]

    # --- look-up ---------------------------------------------------------------------------
    @staticmethod
    def can_lookup_channel(channel: str) -> bool:
        return channel in LOG_PATHS

    def lookup(self, message: OutboundMessage) -> SendResult | None:
        """The message's log entry, found by the messageId we set (our id). Infobip keeps
        logs for 48 hours; WhatsApp and Viber sends carry no messageId of ours that a log
        search could use, so they have no look-up (NotImplementedError)."""
        path = LOG_PATHS.get(message.channel)
        if path is None:
            raise NotImplementedError(f"Infobip has no look-up for {message.channel} here.")
        response = self.session.get(
            self.base_url + path, params={"messageId": message.id}, headers=self.headers
        )
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code != 200 or not isinstance(body, dict):
            raise self.api_error(response.status_code, body, response.headers)
        results = body.get("results")
        if not isinstance(results, list):
            raise SendError(
                "BAD_LOGS", "Infobip's logs answer has no results list.", permanent=False, raw=body
            )
        log = next(
            (r for r in results if isinstance(r, dict) and r.get("messageId") == message.id),
            None,
        )
        if log is None:
            return None
        status = log.get("status") if isinstance(log.get("status"), dict) else {}
        error = log.get("error") if isinstance(log.get("error"), dict) else {}
        price = log.get("price") if isinstance(log.get("price"), dict) else {}
        return SendResult(
            provider_message_id=str(log["messageId"]),
            status=status_for(status, error) if status else st.PENDING_ENROUTE,
            price=_decimal(price.get("pricePerMessage")),
            currency=str(price.get("currency") or ""),
            raw=log,
        )

    # --- webhooks --------------------------------------------------------------------------
    @staticmethod
    def _results(request: WebhookRequest) -> list[dict]:
        body = request.json()
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise WebhookRejected('Expected {"results": [...]}.', status=400)
        return results

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        reports = []
        for item in self._results(request):
            mid = item.get("messageId")
            if not mid:
                raise WebhookRejected("Each report needs a messageId.", status=400)
            if "seenAt" in item and "status" not in item:  # a WhatsApp seen report
                reports.append(
                    StatusReport(
                        provider_message_id=str(mid),
                        status=st.DELIVERED_READ,
                        occurred_at=_when(item.get("seenAt")),
                        event_id=f"{mid}:seen",
                        raw=item,
                        message_ref=_ref(item),
                    )
                )
                continue
            status = item.get("status") if isinstance(item.get("status"), dict) else {}
            error = item.get("error") if isinstance(item.get("error"), dict) else {}
            has_error = bool(error) and error.get("id") not in (0, None)
            price = item.get("price") if isinstance(item.get("price"), dict) else {}
            reports.append(
                StatusReport(
                    provider_message_id=str(mid),
                    status=status_for(status, error),
                    error_code=str(error.get("name") or error.get("id")) if has_error else "",
                    error_description=str(error.get("description") or "") if has_error else "",
                    permanent=is_permanent(status, error),
                    price=_decimal(price.get("pricePerMessage")),
                    currency=str(price.get("currency") or ""),
                    occurred_at=_when(item.get("doneAt")),
                    event_id=f"{mid}:{status.get('id', status.get('groupName', ''))}",
                    raw=item,
                    message_ref=_ref(item),
                )
            )
        return reports

    @classmethod
    def reply_values(cls, payload: dict) -> list:
        # BUTTON (a template's quick reply) and INTERACTIVE_*_REPLY messages.
        message = payload.get("message")
        if not isinstance(message, dict) or str(message.get("type") or "").upper() not in (
            "BUTTON", "INTERACTIVE_BUTTON_REPLY", "INTERACTIVE_LIST_REPLY",
        ):  # fmt: skip
            return []
        return [
            message.get("payload"),
            message.get("id"),
            message.get("title"),
            message.get("text"),
        ]

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        inbound = []
        for item in self._results(request):
            message = item.get("message") if isinstance(item.get("message"), dict) else None
            channel = INBOUND_CHANNELS.get(str(item.get("integrationType", "")).upper())
            if channel is None:
                channel = "whatsapp" if message is not None else "sms"
            if message is not None:
                text = message.get("text") or message.get("caption") or message.get("title") or ""
            else:
                text = item.get("text") or item.get("cleanText") or ""
            inbound.append(
                Inbound(
                    channel=channel,
                    sender=_e164(item.get("from")),
                    recipient=_e164(item.get("to")),
                    text=str(text),
                    provider_message_id=str(item.get("messageId") or ""),
                    raw=item,
                )
            )
        return inbound
