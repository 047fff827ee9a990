"""The adapter contract, like django-anymail's backends: one base class, one module per type.

An adapter knows how to validate its credentials, send one message, and read the
provider's status and inbound webhooks. It knows nothing of tenants, tasks or the database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from django.conf import settings

from core.http import pooled_session
from core.netsafe import host_is_private
from core.sms import sender_problem as sms_sender_problem
from core.status import REJECTED_PROVIDER

from .content import PLAIN, Capabilities, Content, ProviderTemplate, content_parse


@dataclass
class OutboundMessage:
    """Everything an adapter needs to send one message; plain values only."""

    id: str
    channel: str
    to: str
    body: str = ""
    sender: str = ""
    subject: str = ""
    html: str = ""
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    status_webhook_url: str = ""
    # Options of the send request that a provider may take (validity_for() caps the first).
    expires_at: datetime | None = None
    priority: str = "normal"  # "high", "normal" or "low"
    text_store: str = "plaintext"  # "plaintext", "sha256" or "nostore"

    @cached_property
    def content(self) -> Content:
        """The entry's media, location, buttons and provider template, read once (accept has
        already refused what does not parse)."""
        return content_parse(self.payload, self.body)

    def validity_seconds(self, maximum: int | None = None, minimum: int = 0) -> int | None:
        """Seconds left of the message's validity, for the provider's own expiry: capped at
        `maximum` (the provider's limit) and raised to `minimum`; None without a validity."""
        if self.expires_at is None:
            return None
        left = int((self.expires_at - datetime.now(self.expires_at.tzinfo)).total_seconds())
        if maximum is not None:
            left = min(left, maximum)
        return max(left, minimum)


@dataclass
class SendResult:
    provider_message_id: str
    status: str = "PENDING_ENROUTE"
    price: Decimal | None = None
    currency: str = ""
    raw: Any = None
    # A status report the provider will push to our status webhook (the sandbox's
    # simulated delivery report); sent through the very same webhook path.
    follow_up_report: dict | None = None
    # Every part's id, in order, when the provider split the message and reports each part
    # on its own (Vonage): the message is delivered when all parts are, failed when one is.
    part_ids: tuple[str, ...] = ()


class SendError(Exception):
    """A send that did not go through: permanent (final) or transient (retried)."""

    def __init__(
        self,
        code: str,
        description: str,
        *,
        permanent: bool,
        status: str = "REJECTED_PROVIDER",
        retry_after: float | None = None,
        raw: Any = None,
        recipient_dead: bool = False,
        outage: bool = False,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        self.raw = raw
        # The recipient is gone for good (an uninstalled app's push token): never send to it
        # through this provider again.
        self.recipient_dead = recipient_dead
        # The provider itself is down, not this message refused (a timeout, a connection
        # error, a 5xx, a 429): counts toward its circuit breaker and may fail over to a backup.
        self.outage = outage and not permanent


# A provider template's approval state, in one vocabulary for all providers (Meta's own
# words, which Infobip and Twilio follow); the provider's own word is kept beside it.
TEMPLATE_STATUSES = (
    "APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION",
    "DELETED", "LIMIT_EXCEEDED", "ARCHIVED", "FLAGGED", "UNSUBMITTED", "UNKNOWN",
)  # fmt: skip


@dataclass(frozen=True)
class ListedTemplate:
    """One template (one language of it) as the provider lists it."""

    name: str  # what a send's providerTemplate.name names (Twilio: the Content SID)
    language: str
    status: str  # one of TEMPLATE_STATUSES
    raw_status: str = ""  # the provider's own word
    category: str = ""
    components: Any = None  # the template's parts as the provider gives them (JSON)
    template_id: str = ""
    label: str = ""  # a readable name where `name` is an id (Twilio's friendly_name)


class CredentialsInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class WebhookRejected(Exception):
    """A webhook call that is not genuine (bad signature) or not understood."""

    def __init__(self, detail: str, status: int = 403) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass
class WebhookRequest:
    """A provider's webhook call, detached from Django's request object."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise WebhookRejected("The body is not valid JSON.", status=400) from exc
        except RecursionError:  # json.loads recurses once per level: `[[[[…` of a few KB
            raise WebhookRejected("The body is nested too deeply.", status=400) from None


@dataclass
class StatusReport:
    provider_message_id: str
    status: str
    error_code: str = ""
    error_description: str = ""
    permanent: bool = True
    price: Decimal | None = None
    currency: str = ""
    occurred_at: datetime | None = None
    event_id: str = ""
    raw: Any = None
    # Our own message id, where the provider echoes the reference we sent with the message
    # (Infobip callbackData, Vonage client-ref, a query parameter of Twilio's StatusCallback,
    # ...). It lets a report settle a message whose send was never recorded (a worker killed
    # between the provider's answer and our commit).
    message_ref: str = ""
    # The address the report is about, where one message has several (an email's to, cc and
    # bcc): a bounce of a cc address is recorded on the message but does not fail it.
    recipient: str = ""
    # Not a delivery status but the recipient's answer to it: "complained" (marked as spam)
    # or "unsubscribed". Recorded as an event; the status stays.
    feedback: str = ""


@dataclass
class Inbound:
    channel: str
    sender: str
    recipient: str
    text: str
    provider_message_id: str = ""
    raw: Any = None


@dataclass
class WebhookEvents:
    """What one webhook call carried: status reports, inbound messages, or both (Meta posts
    both to one URL)."""

    reports: list[StatusReport] = field(default_factory=list)
    inbound: list[Inbound] = field(default_factory=list)


@dataclass
class WebhookReply:
    """The answer a provider expects to a webhook call (most take any 2xx; some want a
    given body, such as Meta's challenge or an acknowledgement document)."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"


@dataclass(frozen=True)
class CredentialField:
    name: str
    required: bool = True
    secret: bool = True
    help: str = ""
    kind: type = str
    default: Any = None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, or None."""
    if not value:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})


def http_send_error(
    *,
    code: str,
    description: str,
    http_status: int,
    headers,
    table: dict[str, tuple[str, bool]],
    raw: Any = None,
    default_retry_after: float | None = 5.0,
) -> SendError:
    """An HTTP API's refusal: a 429 or 5xx is retried (after Retry-After, else the default for
    a 429); any other answer is looked up by code in the adapter's table of (status,
    permanent), and an unknown code is a permanent REJECTED_PROVIDER."""
    if http_status in TRANSIENT_HTTP:
        retry_after = retry_after_seconds(headers.get("Retry-After"))
        if retry_after is None and http_status == 429:
            retry_after = default_retry_after
        return SendError(
            code, description, permanent=False, retry_after=retry_after, raw=raw, outage=True
        )
    status, permanent = table.get(code, (REJECTED_PROVIDER, True))
    return SendError(code, description, permanent=permanent, status=status, raw=raw)


def api_base_url_field(default: str) -> CredentialField:
    """Every HTTP adapter's base URL is a credential with the real default, so that tests and
    the provider simulator can stand in for the provider."""
    return CredentialField(
        "apiBaseUrl",
        required=False,
        secret=False,
        default=default,
        help=f"The provider's API address; leave empty for {default}.",
    )


# A push notification as a service worker reads it (Web Push) and the sandbox keeps it; FCM
# sends the same parts as `notification` and `data`. 4,096 bytes is FCM's most for both
# ("Maximum payload for both message types is 4096 bytes",
# firebase.google.com/docs/cloud-messaging/customize-messages/set-message-type).
PUSH_MAX_BYTES = 4096


def push_payload(title: str, body: str, image: str, data: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"title": title, "body": body}
    if image:
        payload["image"] = image
    if data:
        payload["data"] = data
    return payload


class Backend:
    provider_type: ClassVar[str]
    label: ClassVar[str]
    channels: ClassVar[tuple[str, ...]]
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    # Some providers can be set to call webhooks with GET and query parameters (Vonage).
    get_webhooks_carry_events: ClassVar[bool] = False
    # How dispatch drives the adapter: at most this many sends to one provider at once from
    # one worker, each lane on its own connection (the HTTP pool keeps 16 per type).
    max_concurrency: ClassVar[int] = 16
    # Nothing leaves until dispatch commits its record (the sandbox, whose "network" is its
    # outbox, written in that transaction): a crash then leaves no outcome unknown.
    send_commits_with_record: ClassVar[bool] = False
    # The provider may say a recipient is gone for good (SendError.recipient_dead): dispatch
    # looks its recipients up among the dead before sending.
    reports_dead_recipients: ClassVar[bool] = False
    # The provider splits long messages and reports each part (SendResult.part_ids).
    reports_parts: ClassVar[bool] = False
    # What the provider carries per channel (media, location, buttons, templates): accept
    # refuses the rest with a 400. A channel not listed carries text only.
    capabilities: ClassVar[dict[str, Capabilities]] = {}
    # Push: the recipients the provider sends to (core.push: "token", an app's registration
    # token; "subscription", a browser's Web Push subscription). Accept refuses the others.
    push_recipients: ClassVar[frozenset[str]] = frozenset({"token", "subscription"})
    # Types spoken through an SDK that opens its own connections (boto3), which the guarded
    # client cannot pin: a custom apiBaseUrl must then be under one of these host suffixes
    # (the provider's own DNS) unless ALLOW_PRIVATE_URLS.
    sdk_hosts: ClassVar[tuple[str, ...]] = ()
    # WhatsApp Business's 24-hour customer-care window: free-form WhatsApp messages go only
    # to a recipient who wrote to us in the last 24 hours (Meta 131047, websms 4400); accept
    # refuses the others (session_expired), provider templates still go.
    care_window: ClassVar[bool] = False
    # The provider lists its WhatsApp templates with their approval (list_templates): the
    # catalogue is synced from it and accept refuses a providerTemplate it has not approved.
    can_list_templates: ClassVar[bool] = False
    # The catalogue statuses a send may name (Meta: "If the status changes to anything other
    # than APPROVED, the template cannot be sent"; some providers add their own).
    template_sendable: ClassVar[frozenset[str]] = frozenset({"APPROVED"})
    # The most pages one list_templates call reads (a runaway cursor ends there).
    max_template_pages: ClassVar[int] = 50
    # The provider sends an SMS with the client's own User Data Header (Messente's SMS.udh):
    # accept refuses a `udh` for the others (400), never drops it. Vonage takes `udh` "for
    # binary messages" only (vonage-python-sdk sms/src/vonage_sms/requests.py: type=binary,
    # the text as hex `body`), Infobip only in its binary SMS (hex, dataCoding, esmClass:
    # the whole payload); Twilio, websms's text API and AWS have no header field.
    sms_udh: ClassVar[bool] = False

    def __init__(
        self,
        credentials: dict[str, Any],
        *,
        default_sender: str = "",
        provider_id: int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.credentials = credentials
        self.default_sender = default_sender
        self.provider_id = provider_id
        self._session = session

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = pooled_session(self.provider_type)
        return self._session

    @classmethod
    def clean_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        """Check credentials against `credential_fields`; unknown keys are refused."""
        if not isinstance(credentials, dict):
            raise CredentialsInvalid({"": "must be an object"})
        known = {f.name: f for f in cls.credential_fields}
        errors: dict[str, str] = {}
        cleaned: dict[str, Any] = {}
        for key, value in credentials.items():
            spec = known.get(key)
            if spec is None:
                errors[key] = f"is not a credential of provider type '{cls.provider_type}'"
            elif spec.kind is bool and not isinstance(value, bool):
                errors[key] = "must be true or false"
            elif spec.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                errors[key] = "must be an integer"
            elif spec.kind is str and not isinstance(value, str):
                errors[key] = "must be a string"
            else:
                cleaned[key] = value
        for spec in cls.credential_fields:
            if spec.required and not cleaned.get(spec.name) and spec.name not in errors:
                errors[spec.name] = "is required"
        problem = cls.api_url_problem(cleaned.get("apiBaseUrl") or "")
        if problem:
            errors["apiBaseUrl"] = problem
        if errors:
            raise CredentialsInvalid(errors)
        return cleaned

    @classmethod
    def api_url_problem(cls, url: str) -> str:
        """Why `url` cannot be this type's API address ("" when it can): http(s) only, and,
        unless ALLOW_PRIVATE_URLS, not inside the network (the guarded client refuses that
        again on the connection itself) and for SDK types only the provider's own hosts."""
        if not url:
            return ""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            return "must be an http(s) URL"
        if settings.ALLOW_PRIVATE_URLS:
            return ""
        if host_is_private(host):
            return f"'{host}' is a private or loopback address"
        own = any(host == h.lstrip(".") or host.endswith(h) for h in cls.sdk_hosts)
        if cls.sdk_hosts and not own:
            return f"must be an address under {' or '.join(cls.sdk_hosts)}"
        return ""

    def enforces_care_window(self) -> bool:
        """Whether accept applies the care window to this provider's WhatsApp messages."""
        return self.care_window

    @classmethod
    def content_problems(cls, channel: str, content: Content) -> list[tuple[str, str]]:
        """What of `content` this provider cannot carry on `channel`: (field, why) pairs."""
        return cls.capabilities.get(channel, PLAIN).problems(content, f"{cls.label} ({channel})")

    @classmethod
    def push_problems(
        cls, *, title: str, body: str, image: str, data: dict[str, Any] | None
    ) -> list[tuple[str, str]]:
        """What of a push notification this provider cannot send ("payload" for the data,
        "" for the whole): its data's reserved keys, a payload over its size limit."""
        size = len(json.dumps(push_payload(title, body, image, data), separators=(",", ":")))
        if size > PUSH_MAX_BYTES:
            return [("", f"the notification is {size} bytes; at most {PUSH_MAX_BYTES}.")]
        return []

    @classmethod
    def sender_problem(cls, channel: str, sender: str) -> str:
        """Why this provider cannot send on `channel` from `sender` ("" when it can), checked
        at accept: an SMS sender id is a number or up to 11 characters (core.sms); the other
        channels' senders are the provider's own ids."""
        return sms_sender_problem(sender) if channel == "sms" else ""

    def sender_for(self, message: OutboundMessage) -> str:
        return message.sender or self.default_sender

    def sdk_endpoint(self) -> str | None:
        """The custom apiBaseUrl handed to an SDK (None: the SDK's default), checked again at
        each use, since a stored provider predates a change of ALLOW_PRIVATE_URLS."""
        url = str(self.credentials.get("apiBaseUrl") or "")
        problem = self.api_url_problem(url)
        if problem:
            raise SendError("PRIVATE_URL", f"apiBaseUrl {problem}.", permanent=True)
        return url or None

    @property
    def base_url(self) -> str:
        """The API's base URL: the `apiBaseUrl` credential, else the field's real default."""
        default = next((f.default for f in self.credential_fields if f.name == "apiBaseUrl"), "")
        return str(self.credentials.get("apiBaseUrl") or default or "").rstrip("/")

    def test_connection(self) -> str:
        """Call the provider's cheapest authenticated endpoint; return what it said (e.g. the
        account name) or raise SendError. Types without such an endpoint don't override it."""
        raise NotImplementedError

    @classmethod
    def can_test_connection(cls) -> bool:
        return cls.test_connection is not Backend.test_connection

    def list_templates(self) -> list[ListedTemplate]:
        """Every WhatsApp template the provider holds for these credentials, each language on
        its own, with its approval status; SendError when the provider refuses. Only types
        with `can_list_templates` implement it."""
        raise NotImplementedError

    def template_key(self, template: ProviderTemplate) -> tuple[str, str | None]:
        """The (name, language) of the catalogue entry a send's providerTemplate names, as
        this provider resolves it; language None: the name alone decides (Twilio's SID)."""
        return template.name, template.language

    def lookup(self, message: OutboundMessage) -> SendResult | None:
        """Ask the provider whether it has `message` (by the reference we sent with it), for a
        send whose outcome a crash left unknown: its SendResult if the provider has it, None
        if it certainly has not. Types whose provider offers no such look-up don't override
        it; their unknowns are settled by a late report or the tenant's policy."""
        raise NotImplementedError

    @classmethod
    def can_lookup(cls) -> bool:
        return cls.lookup is not Backend.lookup

    # --- webhooks --------------------------------------------------------------------------
    def parse_webhook(self, kind: str, request: WebhookRequest) -> WebhookEvents:
        """Verify and parse a webhook call to our `kind` ("status" or "inbound") URL."""
        if kind == "status":
            return WebhookEvents(reports=self.parse_status_webhook(request))
        return WebhookEvents(inbound=self.parse_inbound_webhook(request))

    def webhook_challenge(self, kind: str, request: WebhookRequest) -> WebhookReply:
        """A GET to a webhook URL: a provider's verification handshake (Meta's hub.challenge)."""
        raise WebhookRejected("This webhook takes POST only.", status=405)

    def webhook_reply(self, kind: str, request: WebhookRequest, events: WebhookEvents):
        """The answer after a handled POST, or None for our default JSON acknowledgement."""
        return None

    @classmethod
    def reply_values(cls, payload: dict[str, Any]) -> list[Any]:
        """What a stored inbound payload (Inbound.raw) says besides its text: a quick-reply
        button's payload, id or title, as this provider sends them. None by default."""
        return []

    def send(self, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    # --- windows: dispatch sends many messages through one adapter instance ---------------
    @contextmanager
    def lane(self) -> Iterator[Callable[[OutboundMessage], SendResult]]:
        """One concurrent sender's connection, used for its share of a window's sends (run
        in a thread of its own when a provider gets several lanes). HTTP adapters share the
        thread-safe pooled session, so the default is `send` itself."""
        yield self.send

    def window_begin(self) -> None:
        """Before a window's sends (dispatcher thread)."""

    def window_end(self) -> None:
        """After the window's sends, inside dispatch's record transaction (dispatcher
        thread): the place for an adapter's own rows (the sandbox's outbox)."""

    def window_close(self) -> None:
        """After the window, whatever happened (release what window_begin took)."""

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        raise WebhookRejected("This provider type has no status webhook.", status=404)

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        raise WebhookRejected("This provider type has no inbound webhook.", status=404)


_REGISTRY: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    _REGISTRY[cls.provider_type] = cls
    return cls


def get_backend_class(provider_type: str) -> type[Backend]:
    return _REGISTRY[provider_type]


def backend_types() -> dict[str, type[Backend]]:
    return dict(_REGISTRY)
