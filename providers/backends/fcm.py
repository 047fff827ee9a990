"""Firebase Cloud Messaging, HTTP v1 API: push notifications to app registration tokens.

Auth is OAuth2 with a service account: we sign a JWT (RS256) with its private key, trade it
at its `token_uri` for an access token, and keep that token in Django's cache until shortly
before it expires. FCM sends no delivery receipts: a 200 is as far as a message gets
(PENDING_ENROUTE). A dead token (`UNREGISTERED`, `SENDER_ID_MISMATCH`, or an
`INVALID_ARGUMENT` that says the registration token is not valid) fails permanently and is
marked dead (SendError.recipient_dead), so that no later message is sent to it.

What travels (FCM HTTP v1 `Message`, firebase.google.com/docs/reference/fcm/rest/v1):
  - one image: `notification.image` (the entry's media image URL);
  - validity: `android.ttl` ("600s"), `apns.headers.apns-expiration` (epoch seconds) and
    `webpush.headers.TTL` (seconds), capped at FCM's 28 days (2,419,200 s);
  - priority: high → android.priority "high", apns-priority "10", Urgency "high"; low →
    "normal", "5", "low"; normal → none of them, FCM's own defaults (high for notification
    messages on Android, 10 on APNs), so an ordinary notification is not demoted.
"""

from __future__ import annotations

import base64
import json
import time
from functools import cached_property
from hashlib import sha256
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.cache import cache

from core import status as st

from .base import (
    PUSH_MAX_BYTES,
    Backend,
    CredentialField,
    CredentialsInvalid,
    OutboundMessage,
    SendError,
    SendResult,
    api_base_url_field,
    register,
    retry_after_seconds,
)
from .content import Capabilities

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SERVICE_ACCOUNT_KEYS = ("project_id", "client_email", "private_key", "token_uri")
ASSERTION_LIFETIME = 3600  # Google's maximum for the signed assertion
TOKEN_EARLY_RENEWAL = 300  # renew a cached access token this many seconds before it expires
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# FCM keeps a message for an offline device at most 4 weeks (AndroidConfig.ttl; the same
# limit for the web, and ours for APNs's expiration).
MAX_TTL = 28 * 24 * 3600
# The message FCM's error-codes page gives for a registration token that is not valid (an
# INVALID_ARGUMENT whose details carry no google.rpc.BadRequest, unlike a bad payload's).
TOKEN_INVALID_TEXT = "registration token is not a valid fcm registration token"
QUOTA_RETRY_AFTER = 60  # FCM: back off QUOTA_EXCEEDED at least a minute
# Data keys FCM refuses (firebase.google.com/docs/cloud-messaging/concept-options#data_messages;
# the check kreait/firebase-php makes, src/Firebase/Messaging/MessageData.php assertValidKey:
# "from", "message_type", and any key starting with "google" or "gcm", case-insensitively).
RESERVED_DATA_KEYS = frozenset({"from", "message_type"})
RESERVED_DATA_PREFIXES = ("google", "gcm")

# FCM's `errorCode` → (permanent, our status, what it means). The dead-token codes say so
# in their description: the caller should stop sending to that token.
DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
ERROR_CODES: dict[str, tuple[bool, str, str]] = {
    "UNREGISTERED": (
        True,
        st.REJECTED_DESTINATION,
        "Dead token: the app was uninstalled or the token expired; stop sending to it.",
    ),
    "SENDER_ID_MISMATCH": (
        True,
        st.REJECTED_DESTINATION,
        "Dead token: it belongs to another Firebase project; stop sending to it.",
    ),
    "INVALID_ARGUMENT": (True, st.REJECTED_CONTENT, "FCM refused the message as invalid."),
    "THIRD_PARTY_AUTH_ERROR": (
        True,
        st.REJECTED_PROVIDER,
        "FCM could not authenticate with APNs or the web push service; fix the credentials "
        "in the Firebase console.",
    ),
    "APNS_AUTH_ERROR": (
        True,
        st.REJECTED_PROVIDER,
        "FCM could not authenticate with APNs; fix the APNs key in the Firebase console.",
    ),
    "PERMISSION_DENIED": (
        True,
        st.REJECTED_PROVIDER,
        "The service account may not send through this project.",
    ),
    "QUOTA_EXCEEDED": (
        False,
        st.REJECTED_PROVIDER,
        "FCM's sending quota (of the project or the device) was exceeded.",
    ),
    "UNAVAILABLE": (False, st.REJECTED_PROVIDER, "FCM is overloaded; retrying later."),
    "INTERNAL": (False, st.REJECTED_PROVIDER, "FCM had an internal error; retrying later."),
    "UNSPECIFIED_ERROR": (False, st.REJECTED_PROVIDER, "FCM gave no reason."),
}

# By HTTP status when the body names no known errorCode.
HTTP_STATUSES: dict[int, tuple[bool, str]] = {
    400: (True, st.REJECTED_CONTENT),
    401: (True, st.REJECTED_PROVIDER),
    403: (True, st.REJECTED_PROVIDER),
    404: (True, st.REJECTED_DESTINATION),
    429: (False, st.REJECTED_PROVIDER),
}
TRANSIENT_HTTP = (False, st.REJECTED_PROVIDER)  # 5xx and anything unknown


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_load(value: Any) -> dict[str, Any]:
    """The service-account JSON (a string or an object), checked; CredentialsInvalid if not."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise CredentialsInvalid({"serviceAccount": "is not valid JSON"}) from None
    if not isinstance(value, dict):
        raise CredentialsInvalid({"serviceAccount": "must be the service account's JSON object"})
    missing = [k for k in SERVICE_ACCOUNT_KEYS if not isinstance(value.get(k), str) or not value[k]]
    if missing:
        raise CredentialsInvalid({"serviceAccount": f"lacks {', '.join(missing)}"})
    try:
        key = serialization.load_pem_private_key(value["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise CredentialsInvalid(
            {"serviceAccount": "has a private_key that is not a PEM private key"}
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsInvalid({"serviceAccount": "has a private_key that is not an RSA key"})
    return value


def signed_assertion(account: dict[str, Any], now: int | None = None) -> str:
    """The JWT (RS256) a service account trades for an access token."""
    now = int(time.time()) if now is None else now
    header = {"alg": "RS256", "typ": "JWT"}
    if account.get("private_key_id"):
        header["kid"] = account["private_key_id"]
    claims = {
        "iss": account["client_email"],
        "scope": SCOPE,
        "aud": account["token_uri"],
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _data_strings(data: Any) -> dict[str, str]:
    """FCM's `data` is a string → string map: other values travel as JSON."""
    if not isinstance(data, dict):
        return {}
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        for k, v in data.items()
    }


@register
class FcmBackend(Backend):
    provider_type = "fcm"
    label = "Firebase Cloud Messaging (FCM HTTP v1)"
    channels = ("push",)
    push_recipients = frozenset({"token"})
    reports_dead_recipients = True
    capabilities = {
        "push": Capabilities(
            media_kinds=frozenset({"image"}),
            max_media=1,
            note="A push notification shows one image (notification.image).",
        )
    }
    credential_fields = (
        CredentialField(
            "serviceAccount",
            help="The service account's JSON key file (Firebase console → Project settings → "
            "Service accounts → Generate new private key), pasted whole.",
        ),
        api_base_url_field("https://fcm.googleapis.com"),
    )

    @classmethod
    def clean_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        if isinstance(credentials, dict) and isinstance(credentials.get("serviceAccount"), dict):
            # Accept the JSON as an object too; store it as the text the admin form edits.
            credentials = {
                **credentials,
                "serviceAccount": json.dumps(credentials["serviceAccount"]),
            }
        cleaned = super().clean_credentials(credentials)
        service_account_load(cleaned["serviceAccount"])
        return cleaned

    @cached_property
    def account(self) -> dict[str, Any]:
        try:
            return service_account_load(self.credentials.get("serviceAccount"))
        except CredentialsInvalid as exc:
            raise SendError(
                "INVALID_CREDENTIALS",
                f"The stored service account is unusable: {exc}",
                permanent=True,
            ) from None

    # --- OAuth2 ----------------------------------------------------------------------------
    def _token_cache_key(self, account: dict[str, Any]) -> str:
        # Keyed by the key too: a replaced service account must not reuse the old token.
        key_digest = sha256(account["private_key"].encode()).hexdigest()[:16]
        return f"fcm-token:{self.provider_id}:{account['client_email']}:{key_digest}"

    def access_token(self, *, fresh: bool = False) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        account = self.account
        cache_key = self._token_cache_key(account)
        if not fresh:
            cached = cache.get(cache_key)
            # The renewal time is checked here, not left to the cache's expiry: the same
            # moment on every cache backend (Redis keeps its own clock).
            if isinstance(cached, dict) and cached.get("renew_at", 0) > time.time():
                return cached["token"]
        response = self.session.post(
            account["token_uri"],
            data={"grant_type": JWT_BEARER, "assertion": signed_assertion(account)},
            headers={"Accept": "application/json"},
        )
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise self._token_error(response, body)
        token = body.get("access_token")
        if not token:
            raise SendError(
                "AUTH_FAILED", "The token endpoint gave no access_token.", permanent=True, raw=body
            )
        expires_in = int(body.get("expires_in") or 3600)
        lifetime = max(expires_in - TOKEN_EARLY_RENEWAL, 1)
        cache.set(cache_key, {"token": token, "renew_at": time.time() + lifetime}, timeout=lifetime)
        return token

    @staticmethod
    def _token_error(response: requests.Response, body: Any) -> SendError:
        if response.status_code >= 500 or response.status_code == 429:
            return SendError(
                "AUTH_UNAVAILABLE",
                f"Google's token endpoint answered {response.status_code}; retrying later.",
                permanent=False,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                raw=body,
                outage=True,
            )
        detail = body if isinstance(body, dict) else {}
        reason = detail.get("error_description") or detail.get("error") or response.reason
        return SendError(
            "AUTH_FAILED",
            f"Google refused the service account's credentials: {reason}",
            permanent=True,
            status=st.REJECTED_PROVIDER,
            raw=body,
        )

    def _forget_token(self) -> None:
        cache.delete(self._token_cache_key(self.account))

    @classmethod
    def push_problems(
        cls, *, title: str, body: str, image: str, data: dict[str, Any] | None
    ) -> list[tuple[str, str]]:
        problems = []
        for key in data or {}:
            lowered = str(key).lower()
            if lowered in RESERVED_DATA_KEYS or lowered.startswith(RESERVED_DATA_PREFIXES):
                problems.append(
                    (f"payload.{key}", f"'{key}' is a key FCM reserves; name it otherwise.")
                )
        # FCM counts the keys and values of the notification and of the data map.
        parts = {"title": title, "body": body, "image": image, **_data_strings(data)}
        size = sum(len(k.encode()) + len(v.encode()) for k, v in parts.items() if v)
        if size > PUSH_MAX_BYTES:
            problems.append(("", f"the notification is {size} bytes; FCM takes {PUSH_MAX_BYTES}."))
        return problems

    # --- send -------------------------------------------------------------------------------
    def build_message(self, message: OutboundMessage) -> dict[str, Any]:
        notification = {"title": message.subject, "body": message.body}
        image = next((m.url for m in message.content.media if m.kind == "image"), "")
        if image:
            notification["image"] = image
        notification = {k: v for k, v in notification.items() if v}
        fcm_message: dict[str, Any] = {"token": message.to, "notification": notification}
        data = _data_strings(message.payload.get("data"))
        if data:
            fcm_message["data"] = data
        android: dict[str, Any] = {}
        apns: dict[str, str] = {}
        webpush: dict[str, str] = {}
        ttl = message.validity_seconds(maximum=MAX_TTL)
        if ttl is not None:
            android["ttl"] = f"{ttl}s"
            apns["apns-expiration"] = str(int(time.time()) + ttl)
            webpush["TTL"] = str(ttl)
        if message.priority == "high":
            android["priority"] = "high"
            if notification.get("title") or notification.get("body"):
                # FCM refuses priority 10 for a data-only message to an Apple device.
                apns["apns-priority"] = "10"
            webpush["Urgency"] = "high"
        elif message.priority == "low":
            android["priority"] = "normal"
            apns["apns-priority"] = "5"
            webpush["Urgency"] = "low"
        if android:
            fcm_message["android"] = android
        if apns:
            fcm_message["apns"] = {"headers": apns}
        if webpush:
            fcm_message["webpush"] = {"headers": webpush}
        return {"message": fcm_message}

    def send(self, message: OutboundMessage) -> SendResult:
        account = self.account
        url = f"{self.base_url}/v1/projects/{account['project_id']}/messages:send"
        body = self.build_message(message)
        response = self._post(url, body, self.access_token())
        if response.status_code == 401 and not self._fcm_error_code(_json(response)):
            # The cached token was revoked or expired early: one more try with a new one.
            self._forget_token()
            response = self._post(url, body, self.access_token(fresh=True))
        answer = _json(response)
        if response.status_code != 200:
            raise self._send_error(response, answer)
        name = answer.get("name", "") if isinstance(answer, dict) else ""
        return SendResult(provider_message_id=name.rsplit("/", 1)[-1] or name, raw=answer)

    def _post(self, url: str, body: dict[str, Any], token: str) -> requests.Response:
        return self.session.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-GOOG-API-FORMAT-VERSION": "2"},
        )

    @staticmethod
    def _fcm_error_code(answer: Any) -> str:
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            return ""
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
                return str(detail.get("errorCode") or "")
        return ""

    def _send_error(self, response: requests.Response, answer: Any) -> SendError:
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        code = self._fcm_error_code(answer) or str(error.get("status") or "")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        known = ERROR_CODES.get(code)
        if known is not None:
            permanent, status, meaning = known
        else:
            permanent, status = HTTP_STATUSES.get(response.status_code, TRANSIENT_HTTP)
            meaning = f"FCM answered {response.status_code}."
            code = code or f"HTTP_{response.status_code}"
        dead = code in DEAD_TOKEN_CODES
        if code == "INVALID_ARGUMENT" and self._token_invalid(error):
            status, dead = st.REJECTED_DESTINATION, True
            meaning = "Dead token: it is not a valid registration token; stop sending to it."
        if code == "QUOTA_EXCEEDED" and retry_after is None:
            retry_after = QUOTA_RETRY_AFTER
        detail = error.get("message")
        description = f"{meaning} {detail}" if detail else meaning
        return SendError(
            code,
            description,
            permanent=permanent,
            status=status,
            retry_after=None if permanent else retry_after,
            raw=answer,
            recipient_dead=dead,
            outage=response.status_code >= 500 or response.status_code == 429,
        )

    @staticmethod
    def _token_invalid(error: dict[str, Any]) -> bool:
        """An INVALID_ARGUMENT about the registration token, not the payload. FCM answers a bad
        token with that message and an FcmError detail only (its error-codes page, example 2);
        a bad payload names the field in a google.rpc.BadRequest (example 1). firebase-admin
        raises both as InvalidArgumentError, so the message and the field are what tell."""
        if TOKEN_INVALID_TEXT in str(error.get("message") or "").lower():
            return True
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("@type") == BAD_REQUEST_TYPE:
                for violation in detail.get("fieldViolations") or []:
                    if isinstance(violation, dict) and violation.get("field") == "message.token":
                        return True
        return False

    def test_connection(self) -> str:
        account = self.account
        self.access_token(fresh=True)
        return (
            f"Signed in to Google as {account['client_email']} "
            f"(Firebase project {account['project_id']})."
        )
