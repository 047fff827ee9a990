"""Helpers shared by the test modules (fixtures built on them live in tests/conftest.py)."""

import base64
import hashlib
import hmac
import json

import standardwebhooks

from messaging.models import IdempotencyRecord, Message, MessageEvent, MessageRequest, Template
from providers.models import Provider

# --- stored rows --------------------------------------------------------------------------------

MODELS = (Message, MessageRequest, MessageEvent, Template, Provider, IdempotencyRecord)


def counts(models=MODELS):
    """Row count per model, to show that a refused request stored nothing."""
    return {m.__name__: m.objects.count() for m in models}


# --- the API's error document -------------------------------------------------------------------


def assert_error(r, status, source=None, code=None):
    """The error document of API.md; `source` and `code` must be those of one of the errors.

    Returns the list of errors: unpack it, `(err,) = assert_error(...)`, to require exactly one.
    """
    assert r.status_code == status, r.content
    assert r["Content-Type"].startswith("application/json"), r["Content-Type"]
    body = r.json()
    assert set(body) == {"errors"} and body["errors"], body
    for err in body["errors"]:
        assert set(err) == {"code", "title", "detail", "source"}, err
        assert err["title"] and err["detail"]
    if source is not None:
        assert source in [e["source"] for e in body["errors"]], body
    if code is not None:
        assert code in [e["code"] for e in body["errors"]], body
    return body["errors"]


# --- status callbacks to a loopback app ---------------------------------------------------------

HOOK = "http://127.0.0.1:8765/hooks/status"


def verified(call, app) -> dict:
    """One callback request (a `responses` call), signature checked, as its parsed JSON body."""
    raw = call.request.body
    expected = hmac.new(app.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
    assert call.request.headers["X-Signature"] == f"sha256={expected}"
    assert call.request.headers["Content-Type"] == "application/json"
    # The Standard Webhooks headers, checked by that project's own library as a receiver would.
    key = "whsec_" + base64.b64encode(app.webhook_secret.encode()).decode()
    standardwebhooks.Webhook(key).verify(raw, dict(call.request.headers))
    return json.loads(raw)


def verified_with(call, secret: str) -> dict:
    """A webhook request signed with its own `secret` (a conversation's or an inbound route's
    webhook), both signatures checked, as its parsed JSON body."""
    raw = call.request.body
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert call.request.headers["X-Signature"] == f"sha256={expected}"
    assert call.request.headers["Content-Type"] == "application/json"
    key = "whsec_" + base64.b64encode(secret.encode()).decode()
    standardwebhooks.Webhook(key).verify(raw, dict(call.request.headers))
    return json.loads(raw)


def received(hook, app):
    """The callbacks the loopback app got, signature checked, as parsed JSON bodies."""
    return [verified(call, app) for call in hook.calls]
