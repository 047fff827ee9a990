"""Push recipients in one form, shared by the send API (messaging) and the contacts below it.

A push recipient is one of two kinds:

- "token": an app's registration token (FCM), an opaque string;
- "subscription": a browser's Web Push subscription, `PushSubscription.toJSON()`:
  `{"endpoint": "https://…", "expirationTime"?: null, "keys": {"p256dh", "auth"}}`, given as
  that object or as its JSON text. It is kept as compact JSON of endpoint and keys (the form
  providers.backends.webpush reads), so that one subscription is one address whatever its
  key order or spacing: suppressions and dead recipients are keyed by it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from .netsafe import host_is_private

TOKEN, SUBSCRIPTION = "token", "subscription"
KIND_LABELS = {TOKEN: "app registration tokens (FCM)", SUBSCRIPTION: "Web Push subscriptions"}
MAX_ADDRESS = 2048  # Message.to and ContactAddress hold at most this
# FCM tokens are base64url text with ':' (they have no documented length): no spaces, quotes
# or control characters, which only a pasting mistake puts in one.
_TOKEN = re.compile(r"[A-Za-z0-9_:.~+/=-]+")
SUBSCRIPTION_KEYS = ("endpoint", "expirationTime", "keys")
# RFC 8291 section 3.1/3.2: the user agent's public key is an uncompressed P-256 point
# (65 octets, 0x04 first), the authentication secret 16 octets, both base64url.
P256DH_LENGTH, AUTH_LENGTH = 65, 16


class PushRecipientInvalid(ValueError):
    """Not a push recipient: (path below the recipient, "" for itself; why) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(text for _, text in problems))
        self.problems = problems


@dataclass(frozen=True)
class PushRecipient:
    kind: str  # TOKEN or SUBSCRIPTION
    address: str  # the token, or the subscription's compact JSON


def _b64url(value: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        raise ValueError("not base64url")
    text = value.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _subscription(value: dict[str, Any]) -> PushRecipient:
    problems: list[tuple[str, str]] = []
    for key in value:
        if key not in SUBSCRIPTION_KEYS:
            problems.append(
                (key, f"'{key}' is not a field of a push subscription (endpoint, keys).")
            )
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.strip():
        problems.append(("endpoint", "endpoint is required: the push service's https URL."))
    else:
        endpoint = endpoint.strip()
        parts = urlsplit(endpoint)
        schemes = ("https", "http") if settings.ALLOW_PRIVATE_URLS else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            problems.append(("endpoint", f"'{endpoint[:100]}' is not an https URL."))
        elif not settings.ALLOW_PRIVATE_URLS and host_is_private(parts.hostname):
            problems.append(("endpoint", f"'{parts.hostname}' is a private or loopback address."))
    expires = value.get("expirationTime")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int | float)):
        problems.append(("expirationTime", "expirationTime is null or a number."))
    keys = value.get("keys")
    if not isinstance(keys, dict):
        problems.append(("keys", "keys is required: {p256dh, auth}."))
        keys = {}
    for key in keys:
        if key not in ("p256dh", "auth"):
            problems.append((f"keys.{key}", f"'{key}' is not a field of a subscription's keys."))
    for name, length in (("p256dh", P256DH_LENGTH), ("auth", AUTH_LENGTH)):
        if not isinstance(value.get("keys"), dict):
            break
        raw = keys.get(name)
        try:
            decoded = _b64url(raw) if isinstance(raw, str) else None
        except (ValueError, binascii.Error):
            decoded = None
        if decoded is None or len(decoded) != length:
            problems.append((f"keys.{name}", f"keys.{name} must be {length} bytes in base64url."))
        elif name == "p256dh":
            try:  # a point on the curve: pywebpush could not encrypt for any other
                ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decoded)
            except ValueError:
                problems.append(("keys.p256dh", "keys.p256dh is not a P-256 public key."))
    if problems:
        raise PushRecipientInvalid(problems)
    address = json.dumps(
        {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}},
        separators=(",", ":"),
    )
    if len(address) > MAX_ADDRESS:
        raise PushRecipientInvalid(
            [("", f"the subscription is {len(address)} characters; at most {MAX_ADDRESS}.")]
        )
    return PushRecipient(SUBSCRIPTION, address)


def push_recipient(value: Any) -> PushRecipient:
    """A push recipient, checked and in its one form; PushRecipientInvalid says why not."""
    if isinstance(value, dict):
        return _subscription(value)
    if not isinstance(value, str) or not value.strip():
        raise PushRecipientInvalid(
            [("", "must be a registration token or a push subscription {endpoint, keys}.")]
        )
    text = value.strip()
    if text.startswith("{"):  # a subscription as its JSON text (as a contact stores it)
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            raise PushRecipientInvalid([("", "is not a push subscription's JSON.")])
        try:
            return _subscription(parsed)
        except PushRecipientInvalid as exc:  # the text has no fields to name: say which
            raise PushRecipientInvalid(
                [("", f"{(path + ': ') if path else ''}{why}") for path, why in exc.problems]
            ) from None
    if len(text) > MAX_ADDRESS:
        raise PushRecipientInvalid(
            [("", f"the token is {len(text)} characters; at most {MAX_ADDRESS}.")]
        )
    if not _TOKEN.fullmatch(text):
        raise PushRecipientInvalid(
            [("", "is not a registration token (letters, digits and -_:.~+/= only).")]
        )
    return PushRecipient(TOKEN, text)
