"""AWS End User Messaging SMS (formerly Pinpoint SMS): boto3's `pinpoint-sms-voice-v2`.

Send: `SendTextMessage` (SigV4 through boto3, never raw HTTP). Delivery events come from a
configuration set's SNS event destination, and two-way replies from a number's SNS topic; an
HTTPS subscription of either topic to our URL delivers them, each SNS message signature
verified (providers/sns.py) before anything is read or any subscription confirmed.

SMS carries text only (no capabilities declared). A message's validity travels as
`TimeToLive` (5..259200 s); its priority does not: `MessageType` is a regulatory class
(TRANSACTIONAL vs PROMOTIONAL decides routing, quiet hours and registrations, and an
origination identity registered for one refuses the other with MESSAGE_TYPE_MISMATCH),
not an urgency, so every message goes TRANSACTIONAL as it always has.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from core import status as st

from .. import sns
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
    WebhookRequest,
    register,
)
from .reference import our_ref

SERVICE = "pinpoint-sms-voice-v2"
MESSAGE_TYPE = "TRANSACTIONAL"  # not from priority: see above
# SendTextMessage's TimeToLive (botocore's service model: integer seconds, min 5, max
# 259200 = 72 hours, AWS's default when it is not given).
TTL_MIN, TTL_MAX = 5, 259200
AWS_IDENTITY_PREFIXES = ("arn:", "phone-", "pool-")

# ClientError code → (permanent, our status, retry after in seconds when transient). The
# operation's error shapes in botocore's pinpoint-sms-voice-v2 service model are
# ServiceQuotaExceeded, Throttling, AccessDenied, ResourceNotFound, Validation, Conflict and
# InternalServer; the rest are the AWS JSON protocol's own (credentials, signature).
ERRORS: dict[str, tuple[bool, str, float | None]] = {
    # Per-second throughput (MPS): retried with dispatch's backoff.
    "ThrottlingException": (False, st.REJECTED_PROVIDER, None),
    # By its Reason (QUOTA_REASONS); an unknown reason is a quota no retry will lift.
    "ServiceQuotaExceededException": (True, st.REJECTED_PROVIDER, None),
    "InternalServerException": (False, st.REJECTED_PROVIDER, 10),
    "ServiceUnavailableException": (False, st.REJECTED_PROVIDER, 10),
    "ValidationException": (True, st.REJECTED_PROVIDER, None),
    "ResourceNotFoundException": (True, st.REJECTED_PROVIDER, None),
    "AccessDeniedException": (True, st.REJECTED_PROVIDER, None),
    "ConflictException": (True, st.REJECTED_PROVIDER, None),
    "UnrecognizedClientException": (True, st.REJECTED_PROVIDER, None),
    "InvalidSignatureException": (True, st.REJECTED_PROVIDER, None),
    "ExpiredTokenException": (True, st.REJECTED_PROVIDER, None),
}
# ServiceQuotaExceededException's Reason → (permanent, retry after). A monthly spend limit
# stays reached until someone raises it in the console (or the month ends): every message
# would fail again, so it fails now, permanently. A daily limit lifts within a day: retried
# in an hour, within the message's attempts and validity.
QUOTA_REASONS: dict[str, tuple[bool, float | None]] = {
    "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT": (True, None),
    "DAILY_NOTIFY_TIER_MESSAGE_LIMIT": (False, 3600),
    "DAILY_DESTINATION_CALL_LIMIT": (False, 3600),
}
# The `Reason` of a ValidationException / ConflictException that blames the recipient or the
# text rather than our account.
REASON_STATUSES = {
    "DESTINATION_PHONE_NUMBER_OPTED_OUT": st.REJECTED_DESTINATION,
    "DESTINATION_PHONE_NUMBER_NOT_VERIFIED": st.REJECTED_DESTINATION,
    "DESTINATION_COUNTRY_BLOCKED": st.REJECTED_DESTINATION,
    "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION": st.REJECTED_DESTINATION,
    "DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE": st.REJECTED_DESTINATION,
    "COUNTRY_NOT_ENABLED": st.REJECTED_DESTINATION,
    "INTERNATIONAL_SENDING_NOT_SUPPORTED": st.REJECTED_DESTINATION,
    "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY": st.REJECTED_DESTINATION,
    "MAXIMUM_SIZE_EXCEEDED": st.REJECTED_CONTENT,
}

# SMS event `eventType` → our status (configuration-set event types).
EVENT_STATUSES = {
    "TEXT_QUEUED": st.PENDING_ENROUTE,
    "TEXT_PENDING": st.PENDING_ENROUTE,
    "TEXT_SUCCESSFUL": st.DELIVERED_TO_OPERATOR,
    "TEXT_DELIVERED": st.DELIVERED_TO_HANDSET,
    "TEXT_BLOCKED": st.UNDELIVERABLE_REJECTED_OPERATOR,
    "TEXT_CARRIER_BLOCKED": st.UNDELIVERABLE_REJECTED_OPERATOR,
    "TEXT_SPAM": st.UNDELIVERABLE_REJECTED_OPERATOR,
    "TEXT_TTL_EXPIRED": st.EXPIRED_EXPIRED,
    "TEXT_CARRIER_UNREACHABLE": st.UNDELIVERABLE_NOT_DELIVERED,
    "TEXT_UNREACHABLE": st.UNDELIVERABLE_NOT_DELIVERED,
    "TEXT_UNKNOWN": st.UNDELIVERABLE_NOT_DELIVERED,
    "TEXT_INVALID": st.REJECTED_DESTINATION,
    "TEXT_INVALID_MESSAGE": st.REJECTED_CONTENT,
    "TEXT_PROTECT_BLOCKED": st.REJECTED_PROVIDER,
}
# Final failures that a later attempt may get past (the handset was off, the carrier's
# network down): retried within attempts and validity. TEXT_UNKNOWN is not among them: AWS
# sends it when no carrier receipt came in 72 hours, and the text may well have arrived.
TRANSIENT_EVENTS = frozenset({"TEXT_CARRIER_UNREACHABLE", "TEXT_UNREACHABLE"})

_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def error_outcome(code: str, reason: str = "", http_status: int | None = None):
    """(permanent, status, retry_after) for a ClientError; unknown codes by HTTP status."""
    if code == "ServiceQuotaExceededException" and reason in QUOTA_REASONS:
        permanent, retry_after = QUOTA_REASONS[reason]
        status = st.REJECTED_PROVIDER
    elif code in ERRORS:
        permanent, status, retry_after = ERRORS[code]
    elif http_status is not None and (http_status >= 500 or http_status == 429):
        permanent, status, retry_after = False, st.REJECTED_PROVIDER, None
    else:
        permanent, status, retry_after = True, st.REJECTED_PROVIDER, None
    if permanent and reason in REASON_STATUSES:
        status = REASON_STATUSES[reason]
    return permanent, status, retry_after


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@register
class AwsSmsBackend(Backend):
    provider_type = "aws_sms"
    sdk_hosts = sns.AWS_HOSTS
    label = "AWS End User Messaging SMS"
    channels = ("sms",)
    credential_fields = (
        CredentialField("accessKeyId", secret=False, help="An IAM access key id."),
        CredentialField("secretAccessKey", help="That key's secret."),
        CredentialField("region", secret=False, help="The AWS region, e.g. us-east-1."),
        CredentialField(
            "originationIdentity",
            secret=False,
            help="Phone number (toll-free, 10DLC), pool id, sender id, or its ARN.",
        ),
        CredentialField(
            "configurationSetName",
            required=False,
            secret=False,
            help="The configuration set whose SNS event destination posts delivery events.",
        ),
        CredentialField(
            "snsTopicArn",
            required=False,
            secret=False,
            help="If given, SNS messages from any other topic are refused.",
        ),
        CredentialField(
            "apiBaseUrl",
            required=False,
            secret=False,
            default="",
            help="The API address; leave empty for AWS's regional endpoint.",
        ),
    )

    # --- sending ---------------------------------------------------------------------------
    def client(self):
        """The boto3 client (tests patch this to hand in a Stubber-wrapped one)."""
        creds = self.credentials
        endpoint = self.sdk_endpoint()
        secret_hash = hashlib.sha256(str(creds.get("secretAccessKey", "")).encode()).hexdigest()
        key = (
            creds.get("accessKeyId"),
            secret_hash,
            creds.get("region"),
            endpoint,
        )
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = boto3.client(
                    SERVICE,
                    region_name=creds.get("region"),
                    aws_access_key_id=creds.get("accessKeyId"),
                    aws_secret_access_key=creds.get("secretAccessKey"),
                    endpoint_url=endpoint,
                    config=Config(
                        connect_timeout=settings.HTTP_CONNECT_TIMEOUT,
                        read_timeout=settings.HTTP_READ_TIMEOUT,
                        # Retries are ours (on the message, with backoff), not botocore's.
                        retries={"total_max_attempts": 1, "mode": "standard"},
                    ),
                )
        return client

    @classmethod
    def sender_problem(cls, channel: str, sender: str) -> str:
        # OriginationIdentity "can be either the PhoneNumber, PhoneNumberId, PhoneNumberArn,
        # [...] SenderId, SenderIdArn, PoolId, or PoolArn" (botocore data
        # pinpoint-sms-voice-v2/2022-03-31/service-2.json, SendTextMessageRequest): the ids
        # (phone-…, pool-…) and ARNs are AWS's own, not sender ids.
        if sender.startswith(AWS_IDENTITY_PREFIXES):
            return ""
        return super().sender_problem(channel, sender)

    def sender_for(self, message: OutboundMessage) -> str:
        # The request's or template's sender, else the provider's, else the credential's.
        return (
            message.sender
            or self.default_sender
            or str(self.credentials.get("originationIdentity") or "")
        )

    def request_for(self, message: OutboundMessage) -> dict[str, Any]:
        params: dict[str, Any] = {
            "DestinationPhoneNumber": message.to,
            "OriginationIdentity": self.sender_for(message),
            "MessageBody": message.body,
            "MessageType": MESSAGE_TYPE,
            # Echoed in every event's `context`: our id beside AWS's.
            "Context": {"messageId": message.id},
        }
        if self.credentials.get("configurationSetName"):
            params["ConfigurationSetName"] = self.credentials["configurationSetName"]
        ttl = message.validity_seconds(maximum=TTL_MAX, minimum=TTL_MIN)
        if ttl is not None:
            params["TimeToLive"] = ttl
        return params

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            response = self.client().send_text_message(**self.request_for(message))
        except ClientError as exc:
            raise self._error(exc) from exc
        except BotoCoreError as exc:  # connection failures and timeouts: try again later
            raise SendError(
                "NETWORK_ERROR", f"{type(exc).__name__}: {exc}", permanent=False, outage=True
            ) from exc
        message_id = response.get("MessageId")
        if not message_id:
            raise SendError(
                "NO_MESSAGE_ID", "AWS returned no MessageId.", permanent=False, raw=response
            )
        raw = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        return SendResult(provider_message_id=str(message_id), raw=raw)

    @staticmethod
    def _error(exc: ClientError) -> SendError:
        error = exc.response.get("Error") or {}
        code = _text(error.get("Code")) or "ClientError"
        reason = _text(exc.response.get("Reason") or error.get("Reason"))
        http_status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        permanent, status, retry_after = error_outcome(code, reason, http_status)
        description = _text(error.get("Message")) or code
        if reason:
            description = f"{description} ({reason})"
        raw = {"Error": error, **({"Reason": reason} if reason else {})}
        return SendError(
            code,
            description,
            permanent=permanent,
            status=status,
            retry_after=retry_after,
            raw=raw,
            # AWS down or throttling us (ThrottlingException is a 400): a backup may take over.
            outage=code == "ThrottlingException"
            or (http_status is not None and (http_status >= 500 or http_status == 429)),
        )

    def test_connection(self) -> str:
        try:
            response = self.client().describe_account_attributes()
        except ClientError as exc:
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise SendError("NETWORK_ERROR", str(exc), permanent=False) from exc
        attributes = ", ".join(
            f"{a.get('Name')}={a.get('Value')}" for a in response.get("AccountAttributes", [])
        )
        return f"AWS End User Messaging SMS in {self.credentials.get('region')}" + (
            f": {attributes}" if attributes else ""
        )

    # --- webhooks (SNS HTTPS subscription) -------------------------------------------------
    def parse_webhook(self, kind: str, request: WebhookRequest) -> WebhookEvents:
        """Delivery events and two-way replies alike, whichever of our URLs the topic calls."""
        message = request.json()
        sns.verify(message, self.session)
        topic = self.credentials.get("snsTopicArn")
        if topic and message.get("TopicArn") != topic:
            raise WebhookRejected(f"SNS topic {message.get('TopicArn')!r} is not ours.")
        kind_of = message.get("Type")
        if kind_of == "SubscriptionConfirmation":
            sns.confirm_subscription(message, self.session)
            return WebhookEvents()
        if kind_of != "Notification":
            return WebhookEvents()  # UnsubscribeConfirmation: nothing to do
        try:
            event = json.loads(message.get("Message") or "")
        except ValueError as exc:
            raise WebhookRejected("The SNS Message is not JSON.", status=400) from exc
        if not isinstance(event, dict):
            raise WebhookRejected("The SNS Message is not a JSON object.", status=400)
        if "eventType" in event:
            report = _report(event, sns_message_id=_text(message.get("MessageId")))
            return WebhookEvents(reports=[report] if report else [])
        if "originationNumber" in event and "messageBody" in event:
            return WebhookEvents(inbound=[_inbound(event)])
        raise WebhookRejected("The SNS Message is neither an SMS event nor a reply.", 400)


def _report(event: dict[str, Any], *, sns_message_id: str) -> StatusReport | None:
    status = EVENT_STATUSES.get(_text(event.get("eventType")))
    message_id = _text(event.get("messageId"))
    if status is None or not message_id:
        return None  # voice, MMS or registration events: not ours to apply
    if event.get("isFinal") is False and st.get(status).group != st.DELIVERED:
        # AWS is still trying (e.g. the carrier is unreachable for now).
        status = st.PENDING_ENROUTE
    price = None
    if event.get("totalMessagePrice") is not None:
        try:
            price = Decimal(str(event["totalMessagePrice"]))
        except InvalidOperation:
            price = None
    occurred_at = None
    if isinstance(event.get("eventTimestamp"), int | float):
        occurred_at = datetime.fromtimestamp(event["eventTimestamp"] / 1000, tz=UTC)
    failed = st.get(status).group not in (st.PENDING, st.DELIVERED)
    event_type = _text(event.get("eventType"))
    # The Context we sent, echoed in every event.
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    return StatusReport(
        provider_message_id=message_id,
        status=status,
        error_code=event_type if failed else "",
        error_description=_text(event.get("messageStatusDescription")) if failed else "",
        permanent=event_type not in TRANSIENT_EVENTS,
        price=price,
        currency="USD" if price is not None else "",
        occurred_at=occurred_at,
        event_id=sns_message_id or f"{message_id}:{event.get('eventType')}",
        raw=event,
        message_ref=our_ref(context.get("messageId")),
    )


def _inbound(event: dict[str, Any]) -> Inbound:
    return Inbound(
        channel="sms",
        sender=_text(event.get("originationNumber")),
        recipient=_text(event.get("destinationNumber")),
        text=_text(event.get("messageBody")),
        provider_message_id=_text(event.get("inboundMessageId")),
        raw=event,
    )
