"""Web Push (RFC 8030) with VAPID (RFC 8292), through pywebpush: browser notifications.

A recipient is the browser's push subscription, `PushSubscription.toJSON()` as a JSON
string: `{"endpoint": "https://…", "keys": {"p256dh": "…", "auth": "…"}}`. The payload is
encrypted for that subscription (aes128gcm) and posted to its endpoint, signed with our
VAPID key. Push services send no delivery receipts: a 201 is as far as a message gets
(PENDING_ENROUTE). A gone subscription (404/410) fails permanently with SUBSCRIPTION_GONE
and is marked dead (SendError.recipient_dead), so that no later message is sent to it.

What travels: the payload `{"title", "body", "image"?, "data"?}` for the service worker (the
image is the entry's one media image URL, for showNotification's `image`); validity as the
TTL header (pywebpush's `ttl`, seconds), capped at 28 days, the most FCM (Chrome's push
service) keeps a message (RFC 8030 sets no maximum and lets a push service shorten it);
priority as the Urgency header (RFC 8030 section 5.3: high → "high", normal → "normal",
low → "low").
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from core import status as st

from .base import (
    Backend,
    CredentialField,
    CredentialsInvalid,
    OutboundMessage,
    SendError,
    SendResult,
    push_payload,
    register,
    retry_after_seconds,
)
from .content import Capabilities

DEFAULT_TTL = 24 * 3600  # seconds a push service keeps a message without a validity
MAX_TTL = 28 * 24 * 3600
URGENCIES = {"high": "high", "normal": "normal", "low": "low"}  # our priority → Urgency
# RFC 8291 section 4: a push service need not take more than 4,096 octets of body (RFC 8030
# section 7.2); less the aes128gcm header (86), the padding delimiter (1) and the AEAD tag
# (16), "this equates to, at most, 3993 octets of plaintext" (pywebpush adds no padding).
MAX_PAYLOAD = 3993

# The push service's HTTP status → (code, permanent, our status, what it means).
PUSH_STATUSES: dict[int, tuple[str, bool, str, str]] = {
    400: ("BAD_REQUEST", True, st.REJECTED_CONTENT, "The push service refused the request."),
    401: (
        "VAPID_REJECTED",
        True,
        st.REJECTED_PROVIDER,
        "The push service refused our VAPID signature.",
    ),
    403: (
        "VAPID_REJECTED",
        True,
        st.REJECTED_PROVIDER,
        "The push service refused our VAPID key (was the subscription made with another "
        "applicationServerKey?).",
    ),
    404: (
        "SUBSCRIPTION_GONE",
        True,
        st.REJECTED_DESTINATION,
        "Dead subscription: the push service no longer knows it; stop sending to it.",
    ),
    410: (
        "SUBSCRIPTION_GONE",
        True,
        st.REJECTED_DESTINATION,
        "Dead subscription: the browser unsubscribed or it expired; stop sending to it.",
    ),
    413: ("PAYLOAD_TOO_LARGE", True, st.REJECTED_CONTENT, "The message is over 4 KB."),
    429: ("RATE_LIMITED", False, st.REJECTED_PROVIDER, "The push service throttled us."),
}
SERVER_ERROR = ("PUSH_SERVICE_ERROR", False, st.REJECTED_PROVIDER, "The push service failed.")
OTHER_ERROR = ("PUSH_FAILED", True, st.REJECTED_PROVIDER, "The push service refused the message.")


def payload_text(payload: dict[str, Any]) -> str:
    """The JSON posted (encrypted) to the subscription's endpoint."""
    return json.dumps(payload, separators=(",", ":"))


def _b64url_decode(value: str) -> bytes:
    value = value.strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_key(private_key: str) -> Vapid:
    """The VAPID signer from a private key: raw base64url (as `web-push generate-vapid-keys`
    prints it), base64url DER, or PEM. Never a file path, unlike pywebpush's own loader."""
    try:
        if "-----BEGIN" in private_key:
            key = serialization.load_pem_private_key(private_key.encode(), password=None)
        else:
            raw = _b64url_decode(private_key.replace("\n", ""))
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error):
        raise CredentialsInvalid(
            {"vapidPrivateKey": "is not a P-256 private key (base64url raw or DER, or PEM)"}
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialsInvalid({"vapidPrivateKey": "must be an EC P-256 (prime256v1) key"})
    return Vapid(private_key=key)


def public_key_text(vapid: Vapid) -> str:
    """The public key as browsers take it (applicationServerKey): base64url, uncompressed."""
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


def subscription_load(to: str) -> dict[str, Any]:
    """The recipient's push subscription, checked; a permanent SendError if unusable."""
    try:
        subscription = json.loads(to)
    except ValueError:
        subscription = None
    keys = subscription.get("keys") if isinstance(subscription, dict) else None
    endpoint = subscription.get("endpoint") if isinstance(subscription, dict) else None
    if (
        not isinstance(endpoint, str)
        or urlparse(endpoint).scheme not in ("https", "http")
        or not isinstance(keys, dict)
        or not all(isinstance(keys.get(k), str) and keys[k] for k in ("p256dh", "auth"))
    ):
        raise SendError(
            "INVALID_SUBSCRIPTION",
            "The recipient is not a push subscription: give PushSubscription.toJSON(), "
            '{"endpoint": "https://…", "keys": {"p256dh": "…", "auth": "…"}}, as a JSON string.',
            permanent=True,
            status=st.REJECTED_DESTINATION,
        )
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


@register
class WebPushBackend(Backend):
    provider_type = "webpush"
    label = "Web Push (VAPID, browser notifications)"
    channels = ("push",)
    push_recipients = frozenset({"subscription"})
    reports_dead_recipients = True
    capabilities = {
        "push": Capabilities(
            media_kinds=frozenset({"image"}),
            max_media=1,
            note="A browser notification shows one image.",
        )
    }
    credential_fields = (
        CredentialField(
            "vapidPrivateKey",
            help="The VAPID private key (P-256): base64url as `web-push generate-vapid-keys` "
            "prints it, or PEM.",
        ),
        CredentialField(
            "vapidPublicKey",
            secret=False,
            help="The matching public key (base64url); your web page subscribes with it as "
            "applicationServerKey.",
        ),
        CredentialField(
            "vapidSubject",
            secret=False,
            help="How push services can reach you: mailto:ops@example.com or an https:// URL.",
        ),
    )

    @classmethod
    def clean_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        cleaned = super().clean_credentials(credentials)
        errors: dict[str, str] = {}
        subject = cleaned["vapidSubject"]
        if not subject.startswith(("mailto:", "https://")):
            errors["vapidSubject"] = "must start with mailto: or https://"
        try:
            vapid = vapid_key(cleaned["vapidPrivateKey"])
        except CredentialsInvalid as exc:
            errors.update(exc.errors)
        else:
            if cleaned["vapidPublicKey"].strip().rstrip("=") != public_key_text(vapid):
                errors["vapidPublicKey"] = "does not match vapidPrivateKey"
        if errors:
            raise CredentialsInvalid(errors)
        return cleaned

    @cached_property
    def vapid(self) -> Vapid:
        try:
            return vapid_key(str(self.credentials.get("vapidPrivateKey") or ""))
        except CredentialsInvalid as exc:
            raise SendError(
                "INVALID_CREDENTIALS", f"The stored VAPID key is unusable: {exc}", permanent=True
            ) from None

    @classmethod
    def push_problems(
        cls, *, title: str, body: str, image: str, data: dict[str, Any] | None
    ) -> list[tuple[str, str]]:
        size = len(payload_text(push_payload(title, body, image, data)))
        if size > MAX_PAYLOAD:
            text = f"the notification is {size} bytes as Web Push sends it; at most {MAX_PAYLOAD}."
            return [("", text)]
        return []

    def payload_for(self, message: OutboundMessage) -> dict[str, Any]:
        """What the service worker's `push` event reads with `event.data.json()`."""
        image = next((m.url for m in message.content.media if m.kind == "image"), "")
        return push_payload(message.subject, message.body, image, message.payload.get("data"))

    def send(self, message: OutboundMessage) -> SendResult:
        subscription = subscription_load(message.to)
        ttl = message.validity_seconds(maximum=MAX_TTL)
        if ttl is None:
            ttl = DEFAULT_TTL
        headers = {"Urgency": URGENCIES.get(message.priority, "normal")}
        try:
            response = webpush(
                subscription,
                data=payload_text(self.payload_for(message)),
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.credentials["vapidSubject"]},
                content_encoding="aes128gcm",
                ttl=ttl,
                headers=headers,
                timeout=(settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT),
                requests_session=self.session,
            )
        except WebPushException as exc:
            raise self._push_error(exc) from None
        except (ValueError, binascii.Error) as exc:  # keys that do not decode to a P-256 point
            raise SendError(
                "INVALID_SUBSCRIPTION",
                f"The subscription's keys are unusable: {exc}",
                permanent=True,
                status=st.REJECTED_DESTINATION,
            ) from None
        location = response.headers.get("Location", "")
        push_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
        return SendResult(
            provider_message_id=push_id if 0 < len(push_id) <= 128 else message.id,
            raw={"status": response.status_code, "location": location} if location else None,
        )

    @staticmethod
    def _push_error(exc: WebPushException) -> SendError:
        # The push service's answer is `exc.response` (a requests.Response). pywebpush 2.5
        # added `status_code` / `retry_after` properties over it; the 2.x versions before have
        # neither, so read the response itself (and it is None when nothing was sent).
        response = getattr(exc, "response", None)
        status_code = getattr(response, "status_code", None) if response is not None else None
        if not isinstance(status_code, int):  # refused before sending: a malformed subscription
            return SendError(
                "INVALID_SUBSCRIPTION",
                str(getattr(exc, "message", "") or exc),
                permanent=True,
                status=st.REJECTED_DESTINATION,
            )
        if status_code in PUSH_STATUSES:
            code, permanent, status, meaning = PUSH_STATUSES[status_code]
        else:
            code, permanent, status, meaning = SERVER_ERROR if status_code >= 500 else OTHER_ERROR
        text = str(getattr(response, "text", "") or "").strip()[:500]
        headers = getattr(response, "headers", None) or {}
        return SendError(
            code,
            f"{meaning} (HTTP {status_code}{': ' + text if text else ''})",
            permanent=permanent,
            status=status,
            retry_after=None if permanent else retry_after_seconds(headers.get("Retry-After")),
            raw={"status": status_code, "body": text},
            recipient_dead=code == "SUBSCRIPTION_GONE",
            outage=status_code >= 500 or status_code == 429,
        )
