"""scripts/callback_receiver.py, the loopback receiver `make run` starts: it must accept
exactly the callbacks our service signs, and say why it refuses any other."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from standardwebhooks import Webhook

from messaging.services.callbacks import sign, standard_signature

SECRET = "demo-webhook-secret"
BODY = json.dumps(
    {
        "messageId": "m-1",
        "channel": "sms",
        "to": "+14155550100",
        "status": {"name": "DELIVERED_TO_HANDSET"},
        "error": None,
    }  # fmt: skip
).encode()


def _load():
    path = Path(__file__).resolve().parents[1] / "scripts" / "callback_receiver.py"
    spec = importlib.util.spec_from_file_location("callback_receiver", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver = _load()


@pytest.fixture
def listening():
    out = io.StringIO()
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.make_handler(SECRET, out))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", out
    server.shutdown()
    server.server_close()


def headers(secret: str = SECRET, *, timestamp: int | None = None, body: bytes = BODY) -> dict:
    """The headers messaging.services.callbacks sends."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "X-Signature": sign(body, secret),
        "webhook-id": "cb_7",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature("cb_7", timestamp, body, secret),
        "X-Callback-Attempt": "1",
    }


def test_a_callback_signed_by_the_service_is_accepted_and_printed(listening):
    url, out = listening
    r = requests.post(url, data=BODY, headers=headers(), timeout=5)
    assert r.status_code == 200
    assert out.getvalue().strip() == (
        "[callback] cb_7 attempt 1 message m-1 sms to +14155550100: DELIVERED_TO_HANDSET"
        " | X-Signature: ok | webhook-signature: ok"
    )
    # A retry carries the same webhook-id: shown as a repeat.
    requests.post(url, data=BODY, headers=headers(), timeout=5)
    assert out.getvalue().strip().splitlines()[-1].endswith("(repeat: already handled)")


def test_the_standard_webhooks_library_agrees():
    """Both ways: the library's signature passes our check, ours passes the library's."""
    now = int(time.time())
    wh = Webhook("whsec_" + base64.b64encode(SECRET.encode()).decode())
    theirs = wh.sign("cb_7", datetime.fromtimestamp(now, UTC), BODY.decode())
    assert receiver.check_standard_signature(BODY, "cb_7", str(now), theirs, SECRET, now) == "ok"
    wh.verify(BODY, headers())  # raises if our service's signature were wrong


def test_a_wrong_secret_is_refused_with_the_reason(listening):
    url, out = listening
    r = requests.post(url, data=BODY, headers=headers("another-secret"), timeout=5)
    assert r.status_code == 401
    assert "X-Signature: MISMATCH | webhook-signature: MISMATCH" in out.getvalue()


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_more_than_5_minutes_off_is_refused(listening, skew):
    url, out = listening
    r = requests.post(url, data=BODY, headers=headers(timestamp=int(time.time()) + skew), timeout=5)
    assert r.status_code == 401
    assert "webhook-signature: REFUSED: timestamp" in out.getvalue()


def test_a_tampered_body_is_refused(listening):
    url, out = listening
    r = requests.post(url, data=BODY.replace(b"m-1", b"m-2"), headers=headers(), timeout=5)
    assert r.status_code == 401
    assert "X-Signature: MISMATCH" in out.getvalue()


def test_unsigned_is_missing_not_a_crash(listening):
    url, out = listening
    r = requests.post(url, data=b"not json", timeout=5)
    assert r.status_code == 401
    assert "X-Signature: missing | webhook-signature: missing" in out.getvalue()
