"""End to end through a real worker: the API accepts, a `manage.py qcluster` process on the
test database dispatches through the sandbox, applies its delivery report, and POSTs the
signed callback to a loopback HTTP server in this process.

Runs on whatever the suite runs on: SQLite and the ORM broker (the test database is a file,
see config/settings_test.py), or PostgreSQL with Redis when DATABASE_URL / REDIS_URL say so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django_q.conf import Conf

from messaging.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE = 60.0  # seconds for the message to be delivered and its callback to arrive
DELIVERED = "DELIVERED_TO_HANDSET"


def _database_url() -> str:
    """The test database (not the configured one) as a DATABASE_URL for the worker."""
    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        if connection.is_in_memory_db():
            pytest.fail("the SQLite test database is in memory; a worker process can't see it")
        return f"sqlite:///{Path(sd['NAME']).resolve()}"  # an absolute path: four slashes
    if connection.vendor != "postgresql":
        pytest.skip(f"no worker URL for {connection.vendor}")
    user = quote(sd.get("USER") or "", safe="")
    password = quote(sd.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    return f"postgres://{auth}{sd.get('HOST') or ''}{port}/{quote(sd['NAME'], safe='')}"


class _Hooks:
    """A loopback HTTP server that records every POST (headers and raw body) and answers 200."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.put((self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/status"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hooks():
    server = _Hooks()
    yield server
    server.close()


class _Worker:
    def __init__(self, proc: subprocess.Popen, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


@pytest.fixture
def qcluster(transactional_db, monkeypatch):
    """A real `manage.py qcluster` on the test database, and enqueueing here that really goes
    to its broker (not inline). Stopped with SIGTERM, then killed, whatever happens."""
    monkeypatch.setattr(Conf, "SYNC", False)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "ALLOW_PRIVATE_URLS": "true",
        # django-q2 signs each task with SECRET_KEY: a worker with another key drops it.
        "SECRET_KEY": settings.SECRET_KEY,
        "CREDENTIALS_KEY": settings.CREDENTIALS_KEY,
        "DATABASE_URL": _database_url(),
        "Q_WORKERS": "2",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": settings.REDIS_URL,  # the same broker as here; "" means the ORM broker
    }
    fd, log_name = tempfile.mkstemp(prefix="qcluster-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the forked workers go with it
        )
    worker = _Worker(proc, log_path)
    try:
        yield worker
    finally:
        _stop(proc)
        log_path.unlink(missing_ok=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    # The cluster's forked workers share its process group; make sure none outlives it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


def _timeline(message_id) -> str:
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "message not found"
    events = "\n".join(
        f"  {e.created_at:%H:%M:%S.%f} {e.status} ({e.source}) {e.description}"
        for e in message.events.all()
    )
    callbacks = "\n".join(
        f"  callback {c.pk} {c.state} attempts={c.attempts} "
        f"{[(a.response_status, a.error) for a in c.tries.all()]}"
        for c in message.callbacks.all()
    )
    return f"status {message.status}\nevents:\n{events}\ncallbacks:\n{callbacks or '  none'}"


def test_message_delivered_and_signed_callback_by_real_qcluster(
    client, app, sandbox, templates, hooks, qcluster
):
    started = time.monotonic()
    meta = {"order": "o-42", "e2e": True}
    r = client.post(
        "/api/v1/messages",
        {
            "sms": [{"template": "otp", "data": {"otp": "4242"}, "to": ["+14155550123"]}],
            "callback": {"url": hooks.url, "meta": meta},
        },
        format="json",
    )
    assert r.status_code == 202, r.content
    message_id = r.json()["messages"][0]["messageId"]

    def failure(what: str) -> str:
        return (
            f"{what} after {time.monotonic() - started:.1f} s\n{_timeline(message_id)}\n"
            f"--- qcluster (exit {qcluster.proc.poll()}) ---\n{qcluster.log_tail()}"
        )

    deadline = started + DEADLINE

    # 1. The row: accepted, claimed and sent by the worker, then the sandbox's report applied.
    while (status := Message.objects.values_list("status", flat=True).get(pk=message_id)) != (
        DELIVERED
    ):
        if qcluster.proc.poll() is not None:
            pytest.fail(failure("qcluster exited"))
        if time.monotonic() > deadline:
            pytest.fail(failure(f"still {status}, not {DELIVERED}"))
        time.sleep(0.2)
    delivered_after = time.monotonic() - started

    # 2. Its callback; other status changes' callbacks (PENDING_ENROUTE) may come first.
    callbacks = []
    delivered = None
    while delivered is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(failure(f"no {DELIVERED} callback ({len(callbacks)} other callbacks)"))
        try:
            path, headers, body = hooks.received.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            if qcluster.proc.poll() is not None:
                pytest.fail(failure("qcluster exited"))
            continue
        callbacks.append((path, headers, body))
        payload = json.loads(body)
        if payload.get("messageId") == message_id and payload["status"]["name"] == DELIVERED:
            delivered = (path, headers, body, payload)
    print(
        f"delivered after {delivered_after:.1f} s, "
        f"callback after {time.monotonic() - started:.1f} s on {connection.vendor}"
    )

    path, headers, body, payload = delivered
    assert path == "/hooks/status"
    assert headers.get("Content-Type") == "application/json"
    expected = hmac.new(app.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    signature = headers.get("X-Signature", "")
    assert hmac.compare_digest(signature, f"sha256={expected}"), signature
    for _, other_headers, other_body in callbacks:  # every callback is signed, not just this one
        other = hmac.new(app.webhook_secret.encode(), other_body, hashlib.sha256).hexdigest()
        assert other_headers.get("X-Signature") == f"sha256={other}"
    assert payload["event"] == "message.status"
    assert payload["requestId"] == r.json()["requestId"]
    assert payload["channel"] == "sms"
    assert payload["to"] == "+14155550123"
    assert payload["status"]["groupName"] == "DELIVERED"
    assert payload["meta"] == meta

    # Through the worker, with the provider's id recorded and the full timeline.
    message = Message.objects.get(pk=message_id)
    assert message.provider_message_id.startswith("sbx-")
    statuses = [e.status for e in message.events.all()]
    assert statuses[0] == "PENDING_ACCEPTED" and statuses[-1] == DELIVERED, statuses
    got = client.get(f"/api/v1/messages/{message_id}").json()
    assert got["status"]["name"] == DELIVERED


def test_the_qcluster_ticker_releases_a_scheduled_message_on_time(client, app, sandbox, qcluster):
    """The ticker runs inside `qcluster`: a scheduled message leaves within 2 s of its time,
    not at the next once-a-minute sweep."""
    from datetime import timedelta

    from django.utils import timezone

    when = timezone.now() + timedelta(seconds=6)
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "later", "to": ["+14155550123"]}], "scheduledAt": when.isoformat()},
        format="json",
    )
    assert r.status_code == 202, r.content
    message_id = r.json()["messages"][0]["messageId"]
    deadline = time.monotonic() + 6 + DEADLINE
    while not (message := Message.objects.get(pk=message_id)).sent_at:
        if qcluster.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"not sent: {_timeline(message_id)}\n{qcluster.log_tail()}")
        time.sleep(0.1)
    late = (message.sent_at - message.scheduled_at).total_seconds()
    print(f"scheduled message sent {late:.2f} s after its time on {connection.vendor}")
    assert 0 <= late <= 2, _timeline(message_id)
    sources = [e.source for e in message.events.all()]
    assert sources[:3] == ["api", "timer", "dispatch"], sources
