"""Meta WhatsApp Cloud API: text, media, location, reply and URL buttons, approved templates.

Send: `POST {base}/{version}/{phoneNumberId}/messages` with a bearer token. One webhook
carries both statuses and inbound messages (Meta has one callback URL per app), so either of
our URLs takes both; a GET is Meta's `hub.challenge` handshake. Every POST is signed with
`X-Hub-Signature-256` (HMAC-SHA256 of the raw body keyed with the app secret).

What a message carries comes from `message.content` (backends.content), one shape for all:
its provider template (providerTemplate; accept turns externalRef into one) is a `template`;
buttons are an `interactive` (reply buttons, or one URL button as `cta_url`) headed by its
media; one media item is an image/document/video/audio/sticker message (the text as its
caption where the kind takes one); a location is a `location` message; else `text`.
Shapes: facebook/openapi `business-messaging-api_v23.0.yaml` (META-OAI) and Meta's
"Interactive Call-to-Action URL Button Messages" page for `cta_url`.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

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
    WebhookEvents,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    api_base_url_field,
    register,
    retry_after_seconds,
)
from .content import Capabilities, Content, Location, Media, ProviderTemplate
from .reference import our_ref

DEFAULT_VERSION = "v23.0"
DEFAULT_LANGUAGE = "en_US"
MEDIA_TYPES = ("image", "document", "video", "audio", "sticker")
CAPTIONED = ("image", "document", "video")  # audio and stickers take no caption
HEADER_MEDIA = ("image", "document", "video")
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20  # reply-button title and cta_url display_text
MAX_INTERACTIVE_BODY = 1024
MAX_CAPTION = 1024
DEFAULT_URL_LABEL = "Open link"  # a URL button given without a title

CAPABILITIES = Capabilities(
    uncaptioned=frozenset({"audio", "sticker", "location"}),  # Meta gives them no caption
    media_kinds=frozenset(MEDIA_TYPES),
    max_media=1,
    media_by_id=True,  # an id from Meta's /media upload
    location=True,
    quick_replies=MAX_BUTTONS,
    url_buttons=1,  # interactive cta_url takes exactly one
    mixed_buttons=False,
    buttons_with_media=True,  # as the interactive header (image, document, video)
    button_header_media=frozenset(HEADER_MEDIA),
    button_title_max=MAX_BUTTON_TITLE,  # reply titles 1-20, unique; cta_url display_text
    unique_button_titles=True,
    media_with_location=False,
    templates=True,
    template_header_media=frozenset({"image", "document", "video", "location"}),
)

# providerTemplate.buttons[].type → the button component's one parameter (META-OAI
# ButtonParameterObject; copy_code per Meta's coupon code templates page).
TEMPLATE_BUTTON_PARAMETER = {
    "url": lambda value: {"type": "text", "text": value},
    "quick_reply": lambda value: {"type": "payload", "payload": value},
    "copy_code": lambda value: {"type": "coupon_code", "coupon_code": value},
}

# statuses[].status → our status name; `failed` is refined by ERRORS.
STATUSES = {
    "sent": st.DELIVERED_TO_OPERATOR,
    "delivered": st.DELIVERED_TO_HANDSET,
    "read": st.DELIVERED_READ,
    "failed": st.UNDELIVERABLE_NOT_DELIVERED,
}

# Graph / WhatsApp error code → (permanent, our status, retry after in seconds when transient).
# Synchronous answers and `failed` statuses use the same table.
# Checked against Meta's Cloud API error codes page (developers.facebook.com/documentation/
# business-messaging/whatsapp/support/error-codes, as mirrored by integrators): throttling
# and "something went wrong" are transient, a retry (now, or after Retry-After) may pass.
ERRORS: dict[int, tuple[bool, str, float | None]] = {
    0: (True, st.REJECTED_PROVIDER, None),  # AuthException: the token was not accepted
    1: (False, st.REJECTED_PROVIDER, 30),  # API unknown
    2: (False, st.REJECTED_PROVIDER, 30),  # API service
    3: (True, st.REJECTED_PROVIDER, None),  # API method: capability or permission issue
    4: (False, st.REJECTED_PROVIDER, 60),  # application request limit
    10: (True, st.REJECTED_PROVIDER, None),  # permission denied
    100: (True, st.REJECTED_PROVIDER, None),  # invalid parameter
    190: (True, st.REJECTED_PROVIDER, None),  # access token expired or invalid
    33: (True, st.REJECTED_PROVIDER, None),  # the business phone number was deleted
    200: (True, st.REJECTED_PROVIDER, None),  # permissions
    368: (True, st.REJECTED_PROVIDER, None),  # temporarily blocked for policy violations
    80007: (False, st.REJECTED_PROVIDER, 60),  # WABA rate limit
    130429: (False, st.REJECTED_PROVIDER, 1),  # throughput limit of the phone number
    130497: (True, st.REJECTED_DESTINATION, None),  # no messaging users in that country
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
    131037: (True, st.REJECTED_PROVIDER, None),  # display name not approved
    131042: (True, st.REJECTED_PROVIDER, None),  # business eligibility: payment issue
    131045: (True, st.REJECTED_PROVIDER, None),  # incorrect certificate (number registration)
    131048: (False, st.REJECTED_PROVIDER, 300),  # spam rate limit
    131049: (True, st.UNDELIVERABLE_NOT_DELIVERED, None),  # Meta chose not to deliver
    131050: (True, st.REJECTED_DESTINATION, None),  # user stopped marketing messages
    131051: (True, st.REJECTED_CONTENT, None),  # unsupported message type
    131052: (True, st.REJECTED_CONTENT, None),  # media download error
    131053: (True, st.REJECTED_CONTENT, None),  # media upload error
    131056: (False, st.REJECTED_PROVIDER, 6),  # (business, user) pair rate limit
    131057: (False, st.REJECTED_PROVIDER, 60),  # business account in maintenance mode
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


def _invalid(description: str) -> SendError:
    return SendError("INVALID_CONTENT", description, permanent=True, status=st.REJECTED_CONTENT)


def media_object(media: Media, caption: str = "") -> dict[str, Any]:
    """Meta's media object (MediaObject: exactly one of `id` and `link`), with the caption
    where the kind takes one and a document's filename (META-OAI MediaMessageProperties)."""
    obj: dict[str, Any] = {"id": media.media_id} if media.media_id else {"link": media.url}
    if caption and media.kind in CAPTIONED:
        obj["caption"] = caption
    if media.kind == "document":
        filename = media.filename or (
            posixpath.basename(urlsplit(media.url).path) if media.url else ""
        )
        if filename:
            obj["filename"] = filename
    return obj


def location_object(location: Location) -> dict[str, Any]:
    """LocationMessage.location (META-OAI): latitude and longitude as strings, name and
    address when given."""
    obj: dict[str, Any] = {
        "latitude": str(location.latitude),
        "longitude": str(location.longitude),
    }
    if location.name:
        obj["name"] = location.name
    if location.address:
        obj["address"] = location.address
    return obj


@register
class MetaWhatsAppBackend(Backend):
    provider_type = "meta_whatsapp"
    care_window = True  # WhatsApp Business: free-form only inside the 24-hour window
    label = "Meta WhatsApp Cloud API"
    channels = ("whatsapp",)
    capabilities = {"whatsapp": CAPABILITIES}
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
        CredentialField(
            "wabaId",
            required=False,
            secret=False,
            help="The WhatsApp Business Account ID (WhatsApp Manager, account settings); "
            "needed to sync the approved templates. Optional: sending works without it.",
        ),
        api_base_url_field("https://graph.facebook.com"),
    )
    can_list_templates = True

    # --- sending ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        version = self.credentials.get("apiVersion") or DEFAULT_VERSION
        return f"{self.base_url}/{version}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['accessToken']}"}

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The JSON body of `/messages` for this message (see the module doc)."""
        content = message.content
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
            # Echoed in every status webhook of this message (Cloud API does not process it).
            "biz_opaque_callback_data": message.id,
        }
        text = message.body
        if content.template is not None:
            body.update(type="template", template=self._template(content.template))
        elif content.buttons:
            body.update(type="interactive", interactive=self._interactive(text, content))
        elif content.media:
            (media,) = content.media  # capabilities: one item
            if text and media.kind not in CAPTIONED:
                raise _invalid(
                    f"A WhatsApp {media.kind} message carries no text: send the text as a "
                    "message of its own."
                )
            caption = text or media.caption
            if len(caption) > MAX_CAPTION:
                raise _invalid(f"A WhatsApp caption takes at most {MAX_CAPTION} characters.")
            body.update({"type": media.kind, media.kind: media_object(media, caption)})
        elif content.location is not None:
            if text:
                raise _invalid(
                    "A WhatsApp location message carries no text: send the text as a "
                    "message of its own."
                )
            body.update(type="location", location=location_object(content.location))
        else:
            body.update(type="text", text={"body": text, "preview_url": "://" in text})
        return body

    def _template(self, template: ProviderTemplate) -> dict[str, Any]:
        """TemplateObject (META-OAI): header only if given, body parameters only if any,
        one button component per providerTemplate.buttons entry."""
        language = template.language or self.credentials.get("templateLanguage") or DEFAULT_LANGUAGE
        components: list[dict[str, Any]] = []
        header: dict[str, Any] | None = None
        if template.header_text:
            header = {"type": "text", "text": template.header_text}
        elif template.header_media is not None:
            kind = template.header_media.kind  # capabilities: image, document or video
            obj = media_object(template.header_media)  # header parameters take no caption
            header = {"type": kind, kind: obj}
        elif template.header_location is not None:
            header = {"type": "location", "location": location_object(template.header_location)}
        if header is not None:
            components.append({"type": "header", "parameters": [header]})
        if template.params:
            components.append(
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in template.params],
                }
            )
        for button in template.buttons:
            components.append(
                {
                    "type": "button",
                    "sub_type": button.kind,
                    "index": str(button.index),
                    "parameters": [TEMPLATE_BUTTON_PARAMETER[button.kind](button.value)],
                }
            )
        out: dict[str, Any] = {
            "name": template.name,
            "language": {"policy": "deterministic", "code": language},
        }
        if components:
            out["components"] = components
        return out

    def _interactive(self, text: str, content: Content) -> dict[str, Any]:
        if not text:
            raise _invalid("A WhatsApp message with buttons needs its text (the body).")
        if len(text) > MAX_INTERACTIVE_BODY:
            raise _invalid(
                f"A message with buttons takes at most {MAX_INTERACTIVE_BODY} characters of text."
            )
        interactive: dict[str, Any]
        urls = content.url_buttons
        if urls:  # capabilities: one URL button, not mixed with quick replies
            interactive = {
                "type": "cta_url",
                "body": {"text": text},
                "action": {
                    "name": "cta_url",
                    "parameters": {
                        "display_text": urls[0].text or DEFAULT_URL_LABEL,
                        "url": urls[0].url,
                    },
                },
            }
        else:
            interactive = {
                "type": "button",
                "body": {"text": text},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": b.text, "title": b.text}}
                        for b in content.quick_replies
                    ]
                },
            }
        if content.media:
            (media,) = content.media  # an image, document or video (content_problems)
            interactive["header"] = {"type": media.kind, media.kind: media_object(media)}
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
        # messages[0].message_status (META-OAI MessageStatus) is accepted,
        # held_for_quality_assessment ("held for quality assessment before delivery") or
        # paused ("delivery has been paused"): Meta has the message in all three and sends it
        # or drops it later (a `failed` status then follows), so all are PENDING_ENROUTE.
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
                outage=not permanent,
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
            outage=response.status_code >= 500 or response.status_code == 429,
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

    # --- the template catalogue ------------------------------------------------------------
    def template_key(self, template: ProviderTemplate) -> tuple[str, str | None]:
        # The language _template() sends: Meta finds a template by name and language.
        language = template.language or self.credentials.get("templateLanguage")
        return template.name, language or DEFAULT_LANGUAGE

    def list_templates(self) -> list[ListedTemplate]:
        """`GET /{Version}/{WABA-ID}/message_templates` (META-OAI operation
        getTemplateByNameDefaultFields: its default fields are id, name, language, status,
        category and components; `paging.cursors.after`). Pages are followed with `after`
        while the answer has `paging.next`: Graph's "Paginated Results" page says a page
        without `next` is the last, and that fewer than `limit` items prove nothing."""
        waba = str(self.credentials.get("wabaId") or "").strip()
        if not waba:
            raise SendError(
                "NO_WABA_ID",
                "Set the WhatsApp Business Account ID (wabaId) in the provider's credentials "
                "to sync its templates.",
                permanent=True,
            )
        url = f"{self.api_url}/{waba}/message_templates"
        params: dict[str, Any] = {"limit": 100}
        out: list[ListedTemplate] = []
        for _ in range(self.max_template_pages):
            response = self.session.get(url, params=params, headers=self._auth)
            data = self._json(response)
            if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
                raise self._error(response, data)
            out.extend(_listed(item) for item in data.get("data") or [] if _listed_ok(item))
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after = cursors.get("after")
            if not paging.get("next") or not after:
                return out
            params = {"limit": 100, "after": after}
        raise SendError(
            "TOO_MANY_PAGES",
            f"Meta's template list did not end within {self.max_template_pages} pages.",
            permanent=False,
        )

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

    @classmethod
    def reply_values(cls, payload: dict[str, Any]) -> list[Any]:
        # A template's quick reply: `button {payload, text}`; an interactive message's reply
        # button or list row: `interactive.button_reply|list_reply {id, title}`.
        message = payload.get("message")
        if not isinstance(message, dict):
            return []
        found: list[Any] = []
        button = message.get("button")
        if isinstance(button, dict):
            found += [button.get("payload"), button.get("text")]
        interactive = message.get("interactive")
        if isinstance(interactive, dict):
            for kind in ("button_reply", "list_reply"):
                reply = interactive.get(kind)
                if isinstance(reply, dict):
                    found += [reply.get("id"), reply.get("title")]
        return found

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


def _listed_ok(item: Any) -> bool:
    return isinstance(item, dict) and bool(item.get("name")) and bool(item.get("language"))


def _listed(item: dict[str, Any]) -> ListedTemplate:
    raw = _text(item.get("status")).upper()
    return ListedTemplate(
        name=_text(item["name"]),
        language=_text(item["language"]),
        status=raw if raw in TEMPLATE_STATUSES else "UNKNOWN",
        raw_status=_text(item.get("status")),
        category=_text(item.get("category")),
        components=item.get("components") or [],
        template_id=_text(item.get("id")),
    )


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
