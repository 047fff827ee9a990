"""Email through django-anymail: one provider type per ESP, all from one table.

Each tenant's credentials go to anymail's backend as connection arguments
(`get_connection("anymail.backends.<esp>.EmailBackend", api_key=...)`), never through
global settings. Webhooks run anymail's own view for that ESP (its validators, then its
`parse_events`) with the provider's secrets, and its normalized events become our status
reports and inbound messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailNotSupportedWarning,
    AnymailRecipientsRefused,
    AnymailWebhookValidationFailure,
)
from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent
from django.conf import settings
from django.core.mail import get_connection
from django.utils.module_loading import import_string

from core import status as st
from providers import email as email_kit
from providers import sns

from .base import (
    Backend,
    CredentialField,
    OutboundMessage,
    SendError,
    SendResult,
    WebhookEvents,
    WebhookRejected,
    WebhookRequest,
    api_base_url_field,
    register,
    retry_after_seconds,
)

# --- credentials ------------------------------------------------------------------------------


def _secret(name: str, help: str, required: bool = True) -> CredentialField:
    return CredentialField(name, required=required, secret=True, help=help)


def _setting(name: str, help: str, required: bool = False) -> CredentialField:
    return CredentialField(name, required=required, secret=False, help=help)


BASIC_AUTH_HELP = (
    "Optional 'user:password' that the ESP sends as HTTP basic auth (put it in the webhook "
    "URL as https://user:password@host/...); without it, the token in our URL is the secret."
)


def _webhook_secret(help: str) -> CredentialField:
    return _secret("webhookSecret", help, required=False)


INBOUND_SECRET = _secret(
    "inboundWebhookSecret",
    "The inbound webhook's own secret, where it differs from webhookSecret.",
    required=False,
)

# --- error tables -----------------------------------------------------------------------------

# An ESP's HTTP answer → (our status, permanent?). 5xx, 408 and 429 are retried.
HTTP_ERRORS: dict[int, tuple[str, bool]] = {
    400: (st.REJECTED_CONTENT, True),
    401: (st.REJECTED_PROVIDER, True),
    402: (st.REJECTED_PROVIDER, True),
    403: (st.REJECTED_PROVIDER, True),
    404: (st.REJECTED_PROVIDER, True),
    408: (st.REJECTED_PROVIDER, False),
    413: (st.REJECTED_CONTENT, True),
    422: (st.REJECTED_CONTENT, True),
    429: (st.REJECTED_PROVIDER, False),
}

# Amazon SES (boto3 ClientError codes) → (our status, permanent?).
SES_ERRORS: dict[str, tuple[str, bool]] = {
    "MessageRejected": (st.REJECTED_CONTENT, True),
    "BadRequestException": (st.REJECTED_CONTENT, True),
    "MailFromDomainNotVerifiedException": (st.REJECTED_PROVIDER, True),
    "AccountSuspendedException": (st.REJECTED_PROVIDER, True),
    "SendingPausedException": (st.REJECTED_PROVIDER, True),
    "NotFoundException": (st.REJECTED_PROVIDER, True),
    "AccessDeniedException": (st.REJECTED_PROVIDER, True),
    "UnrecognizedClientException": (st.REJECTED_PROVIDER, True),
    "InvalidClientTokenId": (st.REJECTED_PROVIDER, True),
    "SignatureDoesNotMatch": (st.REJECTED_PROVIDER, True),
    "TooManyRequestsException": (st.REJECTED_PROVIDER, False),
    "LimitExceededException": (st.REJECTED_PROVIDER, False),
    "Throttling": (st.REJECTED_PROVIDER, False),
    "ThrottlingException": (st.REJECTED_PROVIDER, False),
    "InternalFailure": (st.REJECTED_PROVIDER, False),
    "ServiceUnavailable": (st.REJECTED_PROVIDER, False),
}

# --- the ESP table ----------------------------------------------------------------------------

# How a webhook proves it is genuine:
#   basic     anymail's WEBHOOK_SECRET ("user:password" as HTTP basic auth), optional
#   mailgun   HMAC-SHA256 with the webhook signing key (anymail's webhook_signing_key)
#   sendgrid  ECDSA with the signed event webhook's public key (anymail's verification key)
#   svix      Svix HMAC (Resend's signing secret "whsec_..."), checked here
#   sns       Amazon SNS's own RSA signature (providers/sns.py); no secret to configure
SIGNED = ("mailgun", "sendgrid", "svix")


@dataclass(frozen=True)
class Probe:
    """The ESP's cheapest authenticated GET, for "test connection"."""

    path: str  # relative to the API base URL
    headers: Callable[[dict], dict[str, str]]
    describe: Callable[[Any], str]


@dataclass(frozen=True)
class Esp:
    provider_type: str
    label: str
    module: str  # anymail's module name under anymail.backends / anymail.webhooks
    view_prefix: str  # e.g. "SendGrid" for SendGridTrackingWebhookView
    credential_fields: tuple[CredentialField, ...]
    # our credential → anymail's connection argument
    connection_args: dict[str, str]
    api_url: str = ""  # anymail's api_url default; "" for SES (boto3)
    tracking_auth: str = "basic"
    inbound_auth: str = "basic"
    # the inbound view's own arguments (credential → anymail argument)
    inbound_args: dict[str, str] = field(default_factory=dict)
    max_tags: int | None = None  # ESPs that take fewer tags than a message may carry
    probe: Probe | None = None

    @property
    def backend_path(self) -> str:
        return f"anymail.backends.{self.module}.EmailBackend"

    def view_path(self, kind: str) -> str:
        suffix = "TrackingWebhookView" if kind == "status" else "InboundWebhookView"
        return f"anymail.webhooks.{self.module}.{self.view_prefix}{suffix}"


ESPS: tuple[Esp, ...] = (
    Esp(
        provider_type="ses",
        label="Amazon SES (through django-anymail)",
        module="amazon_ses",
        view_prefix="AmazonSES",
        credential_fields=(
            _setting("accessKeyId", "The IAM access key id.", required=True),
            _secret("secretAccessKey", "The IAM secret access key."),
            _setting("region", "The SES region, e.g. eu-west-1.", required=True),
            _setting(
                "configurationSetName",
                "The configuration set whose event destination (an SNS topic) reports "
                "deliveries; needed for status webhooks.",
            ),
            _setting(
                "snsTopicArn",
                "If given, SNS messages from any other topic are refused (both webhooks).",
            ),
            CredentialField(
                "apiBaseUrl",
                required=False,
                secret=False,
                default="",
                help="An SES endpoint URL; leave empty for the region's own endpoint.",
            ),
        ),
        connection_args={"configurationSetName": "configuration_set_name"},
        tracking_auth="sns",
        inbound_auth="sns",
    ),
    Esp(
        provider_type="sendgrid",
        label="SendGrid (through django-anymail)",
        module="sendgrid",
        view_prefix="SendGrid",
        credential_fields=(
            _secret("apiKey", "A SendGrid API key with Mail Send access."),
            _webhook_secret(
                "The Signed Event Webhook's verification key (the public key SendGrid shows)."
            ),
            _secret(
                "inboundWebhookSecret",
                "Optional 'user:password' for the Inbound Parse webhook (basic auth).",
                required=False,
            ),
            api_base_url_field("https://api.sendgrid.com/v3/"),
        ),
        connection_args={"apiKey": "api_key"},
        api_url="https://api.sendgrid.com/v3/",
        tracking_auth="sendgrid",
        probe=Probe(
            "scopes",
            lambda c: {"Authorization": f"Bearer {c['apiKey']}"},
            lambda j: f"API key accepted ({len(j.get('scopes', []))} scopes).",
        ),
    ),
    Esp(
        provider_type="mailgun",
        label="Mailgun (through django-anymail)",
        module="mailgun",
        view_prefix="Mailgun",
        credential_fields=(
            _secret("apiKey", "A Mailgun sending or private API key."),
            _setting(
                "senderDomain",
                "The Mailgun sending domain; by default the domain of the From address.",
            ),
            _webhook_secret("The HTTP webhook signing key (Mailgun: Sending → Webhooks)."),
            INBOUND_SECRET,
            api_base_url_field("https://api.mailgun.net/v3"),
        ),
        connection_args={"apiKey": "api_key", "senderDomain": "sender_domain"},
        api_url="https://api.mailgun.net/v3",
        tracking_auth="mailgun",
        inbound_auth="mailgun",
        inbound_args={"apiKey": "api_key"},
        max_tags=3,
    ),
    Esp(
        provider_type="postmark",
        label="Postmark (through django-anymail)",
        module="postmark",
        view_prefix="Postmark",
        credential_fields=(
            _secret("serverToken", "The Postmark server API token."),
            _setting("messageStream", "The message stream; by default 'outbound'."),
            _webhook_secret(BASIC_AUTH_HELP),
            INBOUND_SECRET,
            api_base_url_field("https://api.postmarkapp.com/"),
        ),
        connection_args={"serverToken": "server_token", "messageStream": "message_stream"},
        api_url="https://api.postmarkapp.com/",
        max_tags=1,
        probe=Probe(
            "server",
            lambda c: {"X-Postmark-Server-Token": c["serverToken"], "Accept": "application/json"},
            lambda j: f"Server '{j.get('Name', '?')}'.",
        ),
    ),
    Esp(
        provider_type="brevo",
        label="Brevo (through django-anymail)",
        module="brevo",
        view_prefix="Brevo",
        credential_fields=(
            _secret("apiKey", "A Brevo API v3 key."),
            _webhook_secret(BASIC_AUTH_HELP),
            INBOUND_SECRET,
            api_base_url_field("https://api.brevo.com/v3/"),
        ),
        connection_args={"apiKey": "api_key"},
        api_url="https://api.brevo.com/v3/",
        inbound_args={"apiKey": "api_key", "apiBaseUrl": "api_url"},
        probe=Probe(
            "account",
            lambda c: {"api-key": c["apiKey"], "Accept": "application/json"},
            lambda j: f"Account {j.get('email', '?')} ({j.get('companyName', '')}).",
        ),
    ),
    Esp(
        provider_type="mailjet",
        label="Mailjet (through django-anymail)",
        module="mailjet",
        view_prefix="Mailjet",
        credential_fields=(
            _setting("apiKey", "The Mailjet API key (public part).", required=True),
            _secret("secretKey", "The Mailjet API secret key."),
            _webhook_secret(BASIC_AUTH_HELP),
            INBOUND_SECRET,
            api_base_url_field("https://api.mailjet.com/v3.1/"),
        ),
        connection_args={"apiKey": "api_key", "secretKey": "secret_key"},
        api_url="https://api.mailjet.com/v3.1/",
        max_tags=1,
    ),
    Esp(
        provider_type="resend",
        label="Resend (through django-anymail)",
        module="resend",
        view_prefix="Resend",
        credential_fields=(
            _secret("apiKey", "A Resend API key."),
            _webhook_secret("The webhook's signing secret (whsec_...)."),
            INBOUND_SECRET,
            api_base_url_field("https://api.resend.com/"),
        ),
        connection_args={"apiKey": "api_key"},
        api_url="https://api.resend.com/",
        tracking_auth="svix",
        inbound_auth="svix",
        inbound_args={"apiKey": "api_key", "apiBaseUrl": "api_url"},
    ),
    Esp(
        provider_type="sparkpost",
        label="SparkPost (through django-anymail)",
        module="sparkpost",
        view_prefix="SparkPost",
        credential_fields=(
            _secret("apiKey", "A SparkPost API key with Transmissions: Read/Write."),
            _setting("subaccount", "A subaccount id to send as."),
            _webhook_secret(BASIC_AUTH_HELP),
            INBOUND_SECRET,
            api_base_url_field("https://api.sparkpost.com/api/v1/"),
        ),
        connection_args={"apiKey": "api_key", "subaccount": "subaccount"},
        api_url="https://api.sparkpost.com/api/v1/",
        max_tags=1,
        probe=Probe(
            "account",
            lambda c: {"Authorization": c["apiKey"], "Accept": "application/json"},
            lambda j: f"Account '{(j.get('results') or {}).get('company_name', '?')}'.",
        ),
    ),
)


# --- errors -----------------------------------------------------------------------------------


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    return retry_after_seconds(headers.get("Retry-After"))


def send_error_for(exc: AnymailError) -> SendError:
    """Our SendError for an anymail exception, by the tables above."""
    description = str(exc).strip() or type(exc).__name__
    if isinstance(exc, AnymailRecipientsRefused):
        return SendError(
            "RECIPIENTS_REFUSED", description, permanent=True, status=st.REJECTED_DESTINATION
        )
    if not isinstance(exc, AnymailAPIError):
        # Invalid addresses, unsupported features, unserializable data: retrying won't help.
        return SendError(
            type(exc).__name__, description, permanent=True, status=st.REJECTED_CONTENT
        )
    response = exc.response
    if isinstance(response, dict):  # boto3's parsed ClientError (SES)
        code = str(response.get("Error", {}).get("Code", ""))
        http_status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        status, permanent = SES_ERRORS.get(code) or _by_http_status(http_status)
        return SendError(code or "SES_ERROR", description, permanent=permanent, status=status,
                         raw=response)  # fmt: skip
    http_status = exc.status_code
    if http_status is None:  # no answer at all: a connection error or timeout
        return SendError("NETWORK_ERROR", description, permanent=False, outage=True)
    status, permanent = _by_http_status(http_status)
    raw = getattr(response, "text", None)
    return SendError(
        f"HTTP_{http_status}",
        description,
        permanent=permanent,
        status=status,
        retry_after=None if permanent else _retry_after(response),
        raw=raw,
        outage=http_status >= 500 or http_status == 429,
    )


def _by_http_status(http_status: Any) -> tuple[str, bool]:
    if not isinstance(http_status, int):
        return st.REJECTED_PROVIDER, False
    if http_status >= 500:
        return st.REJECTED_PROVIDER, False
    return HTTP_ERRORS.get(http_status, (st.REJECTED_PROVIDER, True))


# --- Svix (Resend's webhook signatures) -------------------------------------------------------

SVIX_TOLERANCE_SECONDS = 5 * 60


def svix_verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    """Svix's scheme: base64 HMAC-SHA256 of "{svix-id}.{svix-timestamp}.{body}" keyed with the
    base64 part of "whsec_...", in a "v1,<sig>" list; timestamps older than 5 minutes fail."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("svix-id") or lower.get("webhook-id")
    stamp = lower.get("svix-timestamp") or lower.get("webhook-timestamp")
    signatures = lower.get("svix-signature") or lower.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookRejected("The Svix signature headers are missing.")
    try:
        sent_at = int(stamp)
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except ValueError as exc:
        raise WebhookRejected("The Svix timestamp or signing secret is malformed.") from exc
    if abs(time.time() - sent_at) > SVIX_TOLERANCE_SECONDS:
        raise WebhookRejected("The Svix timestamp is too old or in the future.")
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + (body or b"")
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise WebhookRejected("The Svix signature does not match.")


# --- the adapter ------------------------------------------------------------------------------


class AnymailBackend(Backend):
    """One ESP through django-anymail; subclasses only name their `esp`."""

    esp: Esp
    # Attachments from the entry's (or template's) media; see providers/email.py.
    capabilities = {"email": email_kit.EMAIL_CAPABILITIES}

    def connection_kwargs(self) -> dict[str, Any]:
        """anymail's connection arguments from this provider's credentials only."""
        creds = self.credentials
        kwargs: dict[str, Any] = {
            arg: creds[name]
            for name, arg in self.esp.connection_args.items()
            if creds.get(name) not in (None, "")
        }
        if self.esp.provider_type == "ses":
            kwargs["session_params"] = {
                "aws_access_key_id": creds.get("accessKeyId"),
                "aws_secret_access_key": creds.get("secretAccessKey"),
                "region_name": creds.get("region"),
            }
            endpoint = self.sdk_endpoint()
            kwargs["client_params"] = {"endpoint_url": endpoint} if endpoint else {}
        else:
            kwargs["api_url"] = self.base_url + ("/" if not self.base_url.endswith("/") else "")
            kwargs["timeout"] = (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)
        return kwargs

    def connection(self):
        with warnings.catch_warnings():
            # anymail warns that SendGrid is community-supported; not a tenant's concern.
            warnings.simplefilter("ignore", AnymailNotSupportedWarning)
            connection = get_connection(self.esp.backend_path, **self.connection_kwargs())
        if hasattr(connection, "create_session"):
            # Our pooled session (keep-alive, timeouts) instead of one per send.
            connection.session = self.session
        return connection

    def send(self, message: OutboundMessage) -> SendResult:
        email = email_kit.email_message_build(
            message,
            sender=self.sender_for(message),
            max_tags=self.esp.max_tags,
        )
        if not email.recipients():
            raise SendError(
                "NO_RECIPIENTS", "The email has no recipient.", permanent=True,
                status=st.REJECTED_DESTINATION,
            )  # fmt: skip
        try:
            self.connection().send_messages([email])
        except AnymailError as exc:
            raise send_error_for(exc) from exc
        return self._result(message, email.anymail_status)

    def _result(self, message: OutboundMessage, status) -> SendResult:
        recipients = {
            addr: {"status": rs.status, "messageId": rs.message_id}
            for addr, rs in (status.recipients or {}).items()
        }
        message_id = status.message_id
        if not isinstance(message_id, str):
            # Per-recipient ids (Mailjet): the primary recipient's id joins the reports.
            primary = email_kit.email_recipients(message)[0].lower()
            match = next(
                (rs for addr, rs in status.recipients.items() if addr.lower() == primary), None
            )
            match = match or next(iter(status.recipients.values()))
            message_id = match.message_id
        response = status.esp_response
        raw: dict[str, Any] = {"messageId": message_id, "recipients": recipients}
        if isinstance(response, requests.Response):
            try:
                raw["response"] = response.json()
            except ValueError:
                raw["response"] = response.text
        elif isinstance(response, dict):
            raw["response"] = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        return SendResult(provider_message_id=str(message_id or ""), raw=raw)

    def test_connection(self) -> str:
        if self.esp.provider_type == "ses":
            return self._ses_account()
        probe = self.esp.probe
        if probe is None:
            raise SendError(
                "NOT_SUPPORTED", f"{self.label} has no connection test.", permanent=True
            )
        url = f"{self.base_url}/{probe.path}"
        response = self.session.get(url, headers=probe.headers(self.credentials))
        if response.status_code >= 400:
            status, permanent = _by_http_status(response.status_code)
            raise SendError(
                f"HTTP_{response.status_code}",
                f"{self.label} answered HTTP {response.status_code}: {response.text[:300]}",
                permanent=permanent,
                status=status,
            )
        try:
            return probe.describe(response.json())
        except ValueError:
            return f"{self.label} accepted the credentials."

    def _ses_account(self) -> str:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs = self.connection_kwargs()
        try:
            client = boto3.session.Session(**kwargs["session_params"]).client(
                "sesv2", **kwargs["client_params"]
            )
            account = client.get_account()
        except ClientError as exc:
            raise send_error_for(AnymailAPIError(str(exc), response=exc.response)) from exc
        except BotoCoreError as exc:
            raise SendError("SES_ERROR", str(exc), permanent=False) from exc
        quota = account.get("SendQuota", {})
        return (
            f"Sending {'enabled' if account.get('SendingEnabled') else 'DISABLED'}; "
            f"{quota.get('SentLast24Hours', 0):.0f} of {quota.get('Max24HourSend', 0):.0f} "
            "sent in the last 24 hours."
        )

    @classmethod
    def can_test_connection(cls) -> bool:
        return cls.esp.provider_type == "ses" or cls.esp.probe is not None

    # --- webhooks -----------------------------------------------------------------------------

    def _webhook_auth(self, kind: str) -> tuple[str, str]:
        """(how the ESP authenticates this webhook, the secret to check it with)."""
        creds = self.credentials
        if kind == "status":
            return self.esp.tracking_auth, creds.get("webhookSecret") or ""
        auth = self.esp.inbound_auth
        secret = creds.get("inboundWebhookSecret") or ""
        if not secret and auth == self.esp.tracking_auth:
            secret = creds.get("webhookSecret") or ""
        return auth, secret

    def _view(self, kind: str, auth: str, secret: str):
        kwargs: dict[str, Any] = {"webhook_secret": [secret] if auth == "basic" and secret else []}
        if auth == "mailgun":
            kwargs["webhook_signing_key"] = secret
        elif auth == "sendgrid":
            kwargs["tracking_webhook_verification_key"] = secret
        elif auth == "svix":
            # Checked by svix_verify (anymail's check needs the svix package).
            kwargs["inbound_secret" if kind == "inbound" else "signing_secret"] = None
        if kind == "inbound":
            for name, arg in self.esp.inbound_args.items():
                value = self.base_url if name == "apiBaseUrl" else self.credentials.get(name)
                if value:
                    kwargs[arg] = value
        if self.esp.provider_type == "ses":
            kwargs.update(
                {k: v for k, v in self.connection_kwargs().items() if k.endswith("_params")}
            )
        view_class = import_string(self.esp.view_path(kind))
        with warnings.catch_warnings():
            # anymail warns about unsecured webhooks and SendGrid's support status; our
            # token in the URL stands in for the former.
            warnings.simplefilter("ignore")
            return view_class(**kwargs)

    def _sns_notification(self, request: WebhookRequest) -> bool:
        """Verify an SNS delivery (SES events and inbound mail come through SNS); confirm a
        subscription. True when it is a notification for anymail's view to read."""
        message = request.json()
        sns.verify(message, self.session)
        topic = self.credentials.get("snsTopicArn")
        if topic and message.get("TopicArn") != topic:
            raise WebhookRejected(f"SNS topic {message.get('TopicArn')!r} is not ours.")
        if message.get("Type") == "SubscriptionConfirmation":
            sns.confirm_subscription(message, self.session)
            return False
        return message.get("Type") == "Notification"

    def parse_webhook(self, kind: str, request: WebhookRequest) -> WebhookEvents:
        auth, secret = self._webhook_auth(kind)
        if auth in SIGNED and not secret:
            raise WebhookRejected(
                f"{self.label}: set the provider's "
                f"{'webhookSecret' if kind == 'status' else 'inboundWebhookSecret'} "
                "credential to accept its signed webhooks."
            )
        if auth == "svix":
            svix_verify(secret, request.headers, request.body)
        if auth == "sns" and not self._sns_notification(request):
            return WebhookEvents()
        view = self._view(kind, auth, secret)
        django_request = email_kit.django_request(request)
        try:
            view.run_validators(django_request)
        except AnymailWebhookValidationFailure as exc:
            raise WebhookRejected(str(exc) or "The webhook's signature is not valid.") from exc
        except (AnymailError, ValueError, KeyError) as exc:
            raise WebhookRejected(f"Not a {self.label} webhook: {exc}", status=400) from exc
        try:
            events = view.parse_events(django_request)
        except AnymailWebhookValidationFailure as exc:
            raise WebhookRejected(str(exc)) from exc
        except (AnymailError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise WebhookRejected(f"Could not read the {self.label} webhook: {exc}", 400) from exc
        return WebhookEvents(
            reports=email_kit.reports_from_events(
                e for e in events if isinstance(e, AnymailTrackingEvent)
            ),
            inbound=email_kit.inbound_from_events(
                e for e in events if isinstance(e, AnymailInboundEvent)
            ),
        )


def _backend_class(esp: Esp) -> type[AnymailBackend]:
    name = "".join(part.capitalize() for part in esp.provider_type.split("_")) + "Backend"
    return type(
        name,
        (AnymailBackend,),
        {
            "__module__": __name__,
            "__doc__": f"{esp.label}.",
            "esp": esp,
            "provider_type": esp.provider_type,
            "label": esp.label,
            "channels": ("email",),
            "credential_fields": esp.credential_fields,
            # SES goes through boto3, which opens its own connections: AWS's hosts only.
            "sdk_hosts": sns.AWS_HOSTS if esp.provider_type == "ses" else (),
        },
    )


BACKENDS: dict[str, type[AnymailBackend]] = {
    esp.provider_type: register(_backend_class(esp)) for esp in ESPS
}
