"""The webhook engine: callbacks (each status change POSTed to the app) and every other event
for an app, signed, retried with backoff until a 2xx, every attempt logged."""

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
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.http import describe_error, pooled_session
from providers.crypto import decrypt_json, encrypt_json
from tenants.models import App

from ..models import CallbackAttempt, CallbackDelivery, Message
from ..queue import DELIVER_CALLBACKS, enqueue
from .status import callback_enqueue_on_commit

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


def webhook_enqueue(
    *,
    app: App,
    url: str,
    payload: dict[str, Any],
    event: str,
    secret: str = "",
    message: Message | None = None,
) -> CallbackDelivery:
    """One webhook POST to `url` for `app`: stored now (inside the caller's transaction, with
    the change it reports), delivered by the callback worker once that commits, signed with
    `secret` or, when empty, the app's webhookSecret; retried and logged like a callback."""
    delivery = CallbackDelivery.objects.create(
        app=app,
        message=message,
        event=event,
        url=url,
        secret_encrypted=encrypt_json({"secret": secret}) if secret else "",
        payload=payload,
        next_attempt_at=timezone.now(),
    )
    callback_enqueue_on_commit(delivery.pk)
    return delivery


def delivery_secret(delivery: CallbackDelivery) -> str:
    if delivery.secret_encrypted:
        return str(decrypt_json(delivery.secret_encrypted).get("secret") or "")
    return delivery.app.webhook_secret


def webhook_redeliver(deliveries) -> int:
    """Send these deliveries again from a fresh first attempt (the admin's "Redeliver"): a
    failed one gets its full policy back, a delivered one is sent once more."""
    ids = list(
        deliveries.exclude(state=CallbackDelivery.State.DELIVERING).values_list("pk", flat=True)
    )
    CallbackDelivery.objects.filter(pk__in=ids).update(
        state=CallbackDelivery.State.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if ids:
        transaction.on_commit(lambda: enqueue(DELIVER_CALLBACKS, ids))
    return len(ids)


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
    delivery = CallbackDelivery.objects.select_related("app").get(pk=delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    secret = delivery_secret(delivery)
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
