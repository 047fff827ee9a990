"""Amazon SNS HTTP(S) deliveries: verify a message's signature, confirm a subscription.

SNS signs the canonical string of a message's documented fields with the key of a
certificate it names in `SigningCertURL` (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA).
The certificate is fetched only over https from an `sns.<region>.amazonaws.com(.cn)` host, and
kept per URL: SNS rotates certificates by changing the URL.
"""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .backends.base import WebhookRejected

# AWS's own host names: where an SDK-spoken AWS provider's custom endpoint may point.
AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn")
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# The fields each message type signs, in this (alphabetical) order; Subject only if present.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
MAX_CACHED_CERTIFICATES = 32

_certificates: dict[str, x509.Certificate] = {}
_lock = threading.Lock()


class SnsMessageInvalid(WebhookRejected):
    """An SNS delivery whose signature, certificate or shape does not hold."""


def clear_certificate_cache() -> None:
    with _lock:
        _certificates.clear()


def is_sns_url(url: str) -> bool:
    """An https URL on an SNS host (where certificates and SubscribeURLs live)."""
    parsed = urlparse(url or "")
    return parsed.scheme == "https" and bool(SNS_HOST.match(parsed.hostname or ""))


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS.get(message.get("Type", ""))
    if fields is None:
        raise SnsMessageInvalid(f"Unknown SNS message type {message.get('Type')!r}.", status=400)
    parts = []
    for name in fields:
        if name == "Subject" and message.get(name) is None:
            continue
        value = message.get(name)
        if not isinstance(value, str):
            raise SnsMessageInvalid(f"The SNS message lacks {name}.", status=400)
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def certificate(url: str, session: requests.Session) -> x509.Certificate:
    if not is_sns_url(url):
        raise SnsMessageInvalid(f"SigningCertURL {url!r} is not an https Amazon SNS address.")
    with _lock:
        cached = _certificates.get(url)
    if cached is not None:
        return cached
    try:
        response = session.get(url)
        response.raise_for_status()
        cert = x509.load_pem_x509_certificate(response.content)
    except (requests.RequestException, ValueError) as exc:
        # Our side or AWS's is failing, not the sender: let SNS retry later.
        raise SnsMessageInvalid(f"Could not load the SNS certificate: {exc}", status=503) from exc
    with _lock:
        if len(_certificates) >= MAX_CACHED_CERTIFICATES:
            _certificates.clear()
        _certificates[url] = cert
    return cert


def verify(message: dict[str, Any], session: requests.Session) -> None:
    """Raise SnsMessageInvalid unless `message` (the parsed POST body) is signed by SNS."""
    if not isinstance(message, dict):
        raise SnsMessageInvalid("The body is not an SNS message.", status=400)
    algorithm = HASHES.get(str(message.get("SignatureVersion", "")))
    if algorithm is None:
        raise SnsMessageInvalid(
            f"Unsupported SignatureVersion {message.get('SignatureVersion')!r}."
        )
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (ValueError, TypeError) as exc:
        raise SnsMessageInvalid("The SNS signature is not base64.") from exc
    if not signature:
        raise SnsMessageInvalid("The SNS message is not signed.")
    signed = string_to_sign(message)
    cert = certificate(str(message.get("SigningCertURL") or ""), session)
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SnsMessageInvalid("The SNS signing certificate is not valid now.")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsMessageInvalid("The SNS signing certificate does not hold an RSA key.")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise SnsMessageInvalid("The SNS signature does not match.") from exc


def confirm_subscription(message: dict[str, Any], session: requests.Session) -> None:
    """Visit a verified SubscriptionConfirmation's SubscribeURL (on an SNS host only)."""
    url = str(message.get("SubscribeURL") or "")
    if not is_sns_url(url):
        raise SnsMessageInvalid(f"SubscribeURL {url!r} is not an https Amazon SNS address.")
    try:
        session.get(url).raise_for_status()
    except requests.RequestException as exc:
        raise SnsMessageInvalid(f"Confirming the subscription failed: {exc}", status=503) from exc
