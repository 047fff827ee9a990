"""Callbacks: POST each status change to the app, signed, retried with backoff until a 2xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from datetime import timedelta

import requests
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from core.http import describe_error, pooled_session

from ..models import CallbackAttempt, CallbackDelivery

logger = logging.getLogger(__name__)

USER_AGENT = "omnichannel-messaging-callbacks/1"


def sign(body: bytes, secret: str) -> str:
    """X-Signature as API.md defines it: the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(webhook_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """webhook-signature in the Standard Webhooks manner: the id and timestamp are signed with
    the body, so a receiver can refuse a replayed or re-dated callback."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def callback_delay(attempt: int) -> float:
    """30 s, 1 min, 2 min ... capped at 2 hours, with jitter; 12 attempts span about a day."""
    base = min(30 * 2 ** (attempt - 1), 7200)
    return base * random.uniform(0.8, 1.2)


def callback_deliver(*, delivery_id: int) -> str:
    """One attempt at one callback; returns the delivery's state afterwards."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = CallbackDelivery.objects.filter(
        Q(state=CallbackDelivery.State.PENDING, next_attempt_at__lte=now),
        pk=delivery_id,
    ).update(
        state=CallbackDelivery.State.DELIVERING,
        claim_token=token,
        claimed_until=now + timedelta(seconds=120),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return "skipped"
    delivery = CallbackDelivery.objects.select_related("message__app").get(pk=delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    secret = delivery.message.app.webhook_secret
    webhook_id = f"cb_{delivery.pk}"  # the same on every retry: receivers de-duplicate on it
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": sign(body, secret),
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(webhook_id, timestamp, body, secret),
        "X-Callback-Id": str(delivery.pk),
        "X-Callback-Attempt": str(delivery.attempts),
    }
    attempt = CallbackAttempt(delivery=delivery, number=delivery.attempts)
    started = time.monotonic()
    ok = False
    try:
        # The guarded client: the address is checked on the connection it makes, and a
        # redirect is an answer (a failure), never followed.
        response = pooled_session("callbacks").post(
            delivery.url, data=body, headers=headers, timeout=(5, 10)
        )
        attempt.response_status = response.status_code
        attempt.response_body = response.text[:2000]
        ok = 200 <= response.status_code < 300
    except requests.RequestException as exc:
        attempt.error = describe_error(exc)[:2000]
    except Exception as exc:  # recorded and retried like any failure, never left "delivering"
        logger.exception("Callback %s failed unexpectedly", delivery.pk)
        attempt.error = f"{type(exc).__name__}: {exc}"[:2000]
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.save()
    if ok:
        state = CallbackDelivery.State.DELIVERED
        changes = {"delivered_at": timezone.now()}
    elif delivery.attempts >= settings.CALLBACK_MAX_ATTEMPTS:
        state, changes = CallbackDelivery.State.FAILED, {}
    else:
        state = CallbackDelivery.State.PENDING
        changes = {
            "next_attempt_at": timezone.now() + timedelta(seconds=callback_delay(delivery.attempts))
        }
    CallbackDelivery.objects.filter(pk=delivery.pk, claim_token=token).update(
        state=state, claim_token=None, claimed_until=None, **changes
    )
    return state
