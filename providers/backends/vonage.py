"""Vonage (formerly Nexmo) SMS through the legacy SMS API, `POST rest.nexmo.com/sms/json`.

The send answer is HTTP 200 even when the message was refused: each part's `status` in
`messages[]` says what happened (PROVIDERS.md §5). Delivery receipts arrive at the `callback`
URL we give per message; inbound SMS at the number's inbound URL. Both are signed with the
account's signature secret when signing is enabled (HMAC md5/sha1/sha256/sha512, or the
legacy "md5hash" mode that appends the secret).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from core import status as st
from core.sms import is_gsm7

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
)
from .reference import our_ref

# messages[].status of the send answer → (permanent?, our status, Vonage's title). "0" is
# success. https://developer.vonage.com/api-errors/sms (and troubleshooting-sms).
SEND_ERRORS: dict[str, tuple[bool, str, str]] = {
    "1": (False, st.REJECTED_PROVIDER, "Throttled"),
    "2": (True, st.REJECTED_PROVIDER, "Missing parameters"),
    "3": (True, st.REJECTED_PROVIDER, "Invalid parameters"),
    "4": (True, st.REJECTED_PROVIDER, "Invalid credentials"),
    "5": (False, st.REJECTED_PROVIDER, "Internal error"),
    "6": (True, st.REJECTED_DESTINATION, "Invalid message"),  # e.g. unknown number prefix
    "7": (True, st.REJECTED_DESTINATION, "Number barred"),
    "8": (True, st.REJECTED_PROVIDER, "Partner account barred"),
    "9": (True, st.REJECTED_PROVIDER, "Partner quota violation"),  # no credit: top up
    "10": (False, st.REJECTED_PROVIDER, "Too many existing binds"),  # back off and retry
    "11": (True, st.REJECTED_PROVIDER, "Account not enabled for HTTP"),
    "12": (True, st.REJECTED_CONTENT, "Message too long"),
    "14": (True, st.REJECTED_PROVIDER, "Invalid signature"),
    "15": (True, st.REJECTED_PROVIDER, "Invalid sender address"),
    "22": (True, st.REJECTED_PROVIDER, "Invalid network code"),
    "23": (True, st.REJECTED_PROVIDER, "Invalid callback URL"),
    "29": (True, st.REJECTED_DESTINATION, "Non-whitelisted destination"),
    "32": (True, st.REJECTED_PROVIDER, "Signature and API secret disallowed"),
    "33": (True, st.REJECTED_DESTINATION, "Number de-activated"),
}
# How long to wait before retrying a throttled send (30 requests/s per key by default).
THROTTLE_RETRY_AFTER = 1.0
# `ttl`: how long Vonage attempts delivery, in milliseconds, 20000 to 604800000 (7 days)
# (vonage-python-sdk SmsMessage.ttl: ge=20000, le=604800000; Vonage's default is 72 h).
MIN_TTL_SECONDS = 20
MAX_TTL_SECONDS = 604800

# DLR `status` → our status; `accepted`/`buffered` are intermediate.
DLR_STATUSES: dict[str, str] = {
    "accepted": st.PENDING_ENROUTE,
    "buffered": st.PENDING_ENROUTE,
    "delivered": st.DELIVERED_TO_HANDSET,
    "expired": st.EXPIRED_EXPIRED,
    "failed": st.UNDELIVERABLE_NOT_DELIVERED,
    "rejected": st.UNDELIVERABLE_REJECTED_OPERATOR,
    "unknown": st.UNDELIVERABLE_NOT_DELIVERED,
}
# DLR `err-code` texts (0 is "delivered"), as Vonage's "SMS Delivery Error Codes" gives them.
DLR_ERRORS: dict[str, str] = {
    "1": "Unknown",
    "2": "Absent subscriber (temporary)",
    "3": "Absent subscriber (permanent)",
    "4": "Call barred by user",
    "5": "Portability error",
    "6": "Anti-spam rejection",
    "7": "Handset busy",
    "8": "Network error",
    "9": "Illegal number",
    "10": "Illegal message",
    "11": "Unroutable",
    "12": "Destination unreachable",
    "13": "Subscriber age restriction",
    "14": "Number blocked by carrier",
    "15": "Prepaid insufficient funds",
    "16": "Gateway quota exceeded",
    "50": "Entity filter",
    "51": "Header filter",
    "52": "Content filter",
    "53": "Consent filter",
    "54": "Regulation error",
    "99": "General error",
}
# The error codes whose DLR means the destination itself is refused: the number is gone,
# barred by its user, not to be messaged, or has no route.
DLR_REJECTED_DESTINATION = {"3", "4", "9", "11"}
# The error codes Vonage says to retry (the handset was away or busy, the network failed,
# a gateway quota was hit): a later attempt may get through. The others are final.
DLR_TRANSIENT = {"2", "7", "8", "16"}

# Signature hash by hex length; 32 hex digits is HMAC-MD5 or the legacy md5hash.
SIGNATURE_DIGESTS: dict[int, tuple[str, ...]] = {
    32: ("md5", "md5hash"),
    40: ("sha1",),
    64: ("sha256",),
    128: ("sha512",),
}


def _digits(number: str) -> str:
    """E.164 without `+` or `00`, as Vonage wants numbers."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[2:] if number.strip().startswith("00") else digits


def _sender(sender: str) -> str:
    # A phone number goes without "+"; an alphanumeric sender id goes as it is.
    stripped = sender.replace(" ", "")
    if stripped.startswith("+") and stripped[1:].isdigit():
        return stripped[1:]
    return sender


SIGNATURE_WINDOW = 300  # seconds either side of our clock


def signature(params: dict[str, str], secret: str, method: str) -> str:
    """Vonage's request signature: sorted `&key=value` pairs (`&`/`=` in values as `_`),
    HMAC-hashed with the secret, or for `md5hash` the secret appended and MD5-hashed."""
    text = "".join(
        f"&{key}={str(params[key]).replace('&', '_').replace('=', '_')}"
        for key in sorted(params)
        if key != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((text + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), text.encode(), method).hexdigest()


def _price(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _timestamp(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


@register
class VonageBackend(Backend):
    provider_type = "vonage"
    get_webhooks_carry_events = True  # receipts may come as GET with query parameters
    label = "Vonage SMS API"
    channels = ("sms",)
    reports_parts = True  # one delivery receipt per part of a long text
    credential_fields = (
        CredentialField("apiKey", secret=False, help="The API key from the Vonage dashboard."),
        CredentialField("apiSecret", help="The API secret from the Vonage dashboard."),
        CredentialField(
            "signatureSecret",
            required=False,
            help="The signature secret (Settings → API settings), when signed webhooks are "
            "enabled; webhooks without a valid `sig` are then refused.",
        ),
        api_base_url_field("https://rest.nexmo.com"),
    )

    # --- sending ---------------------------------------------------------------------------
    def build_form(self, message: OutboundMessage) -> dict[str, str]:
        form = {
            "api_key": self.credentials["apiKey"],
            "api_secret": self.credentials["apiSecret"],
            "from": _sender(self.sender_for(message)),
            "to": _digits(message.to),
            "text": message.body,
            "type": "text" if is_gsm7(message.body) else "unicode",
            "client-ref": message.id,
        }
        ttl = message.validity_seconds(MAX_TTL_SECONDS, MIN_TTL_SECONDS)
        if ttl is not None:
            form["ttl"] = str(ttl * 1000)
        if message.status_webhook_url:
            form["callback"] = message.status_webhook_url
            form["status-report-req"] = "true"
        return form

    def send(self, message: OutboundMessage) -> SendResult:
        response = self.session.post(f"{self.base_url}/sms/json", data=self.build_form(message))
        if response.status_code == 429 or response.status_code >= 500:
            raise SendError(
                f"HTTP_{response.status_code}",
                f"Vonage answered HTTP {response.status_code}.",
                permanent=False,
                retry_after=_retry_after(response),
                raw=response.text,
                outage=True,  # the provider is down or throttling: its backup may take over
            )
        try:
            body = response.json()
            parts = body["messages"]
            if not parts or not all(isinstance(p, dict) for p in parts):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise SendError(
                f"HTTP_{response.status_code}",
                f"Vonage answered HTTP {response.status_code} without a message list.",
                permanent=response.status_code < 500 and response.status_code != 408,
                raw=response.text,
            ) from None
        # One entry per part of a long text, in order (vonage-python-sdk send_long_sms.json).
        accepted = [(n, p) for n, p in enumerate(parts, 1) if str(p.get("status")) == "0"]
        refused = [(n, p) for n, p in enumerate(parts, 1) if str(p.get("status")) != "0"]
        if refused:
            raise _refusal(refused, accepted, len(parts), body)
        ids = tuple(str(p.get("message-id", "")) for _, p in accepted)
        prices = [_price(p.get("message-price")) for p in parts]
        return SendResult(
            provider_message_id=ids[0],
            price=sum(prices, Decimal(0)) if all(p is not None for p in prices) else None,
            currency="EUR" if any(p is not None for p in prices) else "",
            raw=body,
            # Vonage reports each part on its own (one DLR per part, each with its own id).
            part_ids=ids,
        )

    # --- webhooks --------------------------------------------------------------------------
    def _params(self, request: WebhookRequest) -> dict[str, str]:
        """A webhook's parameters: the query string, then a form or JSON body."""
        params = dict(request.query)
        body = request.body or b""
        content_type = next(
            (v for k, v in request.headers.items() if k.lower() == "content-type"), ""
        )
        if body.strip():
            if "json" in content_type or body.lstrip().startswith(b"{"):
                data = request.json()
                if not isinstance(data, dict):
                    raise WebhookRejected("The body must be a JSON object.", status=400)
                params.update({k: "" if v is None else str(v) for k, v in data.items()})
            else:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        self._verify(params)
        return params

    def _verify(self, params: dict[str, str]) -> None:
        secret = self.credentials.get("signatureSecret")
        if not secret:
            return
        sig = str(params.get("sig", "")).lower()
        if not sig:
            raise WebhookRejected("Missing Vonage signature (sig).")
        for method in SIGNATURE_DIGESTS.get(len(sig), ()):
            if hmac.compare_digest(signature(params, secret, method), sig):
                break
        else:
            raise WebhookRejected("Invalid Vonage signature.")
        # The signed `timestamp` ("used to ensure that the request is fresh", Vonage's
        # signing docs): a replay of a captured call outside the window is refused.
        try:
            age = abs(time.time() - int(str(params.get("timestamp", ""))))
        except ValueError:
            raise WebhookRejected("A signed Vonage call needs its timestamp.") from None
        if age > SIGNATURE_WINDOW:
            raise WebhookRejected(
                f"The Vonage call's timestamp is {int(age)} s away; at most {SIGNATURE_WINDOW}."
            )

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        params = self._params(request)
        message_id = params.get("messageId") or params.get("message-id")
        raw_status = str(params.get("status", "")).lower()
        if not message_id or raw_status not in DLR_STATUSES:
            raise WebhookRejected(
                "A Vonage delivery receipt needs messageId and a known status.", status=400
            )
        status = DLR_STATUSES[raw_status]
        err = str(params.get("err-code", "0"))
        if status == st.UNDELIVERABLE_NOT_DELIVERED and err in DLR_REJECTED_DESTINATION:
            status = st.REJECTED_DESTINATION
        failed = st.get(status).group != st.DELIVERED and status != st.PENDING_ENROUTE
        # A failure Vonage says to retry is transient; rejected and expired ones are final.
        transient = failed and raw_status in ("failed", "unknown") and err in DLR_TRANSIENT
        return [
            StatusReport(
                provider_message_id=str(message_id),
                status=status,
                error_code=f"VONAGE_DLR_{err}" if failed and err != "0" else "",
                error_description=DLR_ERRORS.get(err, "") if failed else "",
                permanent=not transient,
                price=_price(params.get("price")),
                currency="EUR" if params.get("price") else "",
                occurred_at=_timestamp(params.get("message-timestamp", "")),
                event_id=f"{message_id}:{raw_status}:{err}",
                raw=params,
                # The client-ref we sent, echoed in every receipt.
                message_ref=our_ref(params.get("client-ref")),
            )
        ]

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        params = self._params(request)
        if not params.get("msisdn") or not params.get("to"):
            raise WebhookRejected("A Vonage inbound SMS needs msisdn and to.", status=400)
        return [
            Inbound(
                channel="sms",
                sender="+" + _digits(params["msisdn"]),
                recipient=params["to"],
                text=params.get("text", ""),
                provider_message_id=params.get("messageId", ""),
                raw=params,
            )
        ]

    def test_connection(self) -> str:
        """The account balance (`GET /account/get-balance`), the cheapest authenticated call."""
        response = self.session.get(
            f"{self.base_url}/account/get-balance",
            params={
                "api_key": self.credentials["apiKey"],
                "api_secret": self.credentials["apiSecret"],
            },
        )
        if response.status_code != 200:
            raise SendError(
                f"HTTP_{response.status_code}",
                f"Vonage refused the credentials (HTTP {response.status_code}).",
                permanent=True,
                raw=response.text,
            )
        try:
            balance = response.json().get("value")
        except ValueError:
            balance = None
        return f"Vonage account {self.credentials['apiKey']}, balance {balance} EUR"


def _refusal(refused: list, accepted: list, total: int, body) -> SendError:
    """The SendError for an answer with refused parts. With none accepted, the first refusal
    decides (a throttled send is retried); once a part is accepted, never retried, since a
    resend would deliver the accepted parts twice."""
    number, first = refused[0]
    code = str(first.get("status"))
    permanent, status, title = SEND_ERRORS.get(code, (True, st.REJECTED_PROVIDER, "Unknown error"))
    why = first.get("error-text") or title
    if not accepted:
        return SendError(
            f"VONAGE_{code}",
            why,
            permanent=permanent,
            status=status,
            retry_after=THROTTLE_RETRY_AFTER if code == "1" else None,
            raw=body,
        )
    sent = ", ".join(f"{n} ({p.get('message-id', '?')})" for n, p in accepted)
    failed = ", ".join(
        f"{n} (status {p.get('status')}: {p.get('error-text') or title})" for n, p in refused
    )
    return SendError(
        f"VONAGE_{code}",
        f"Vonage accepted part(s) {sent} of {total} but refused part(s) {failed}; not resent, "
        "so that the accepted parts are not delivered twice.",
        permanent=True,
        status=status,
        raw=body,
    )


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
