"""A tiny callback receiver for trying the service: it listens on loopback, checks both
signatures of every callback it gets and prints one line per callback.

    WEBHOOK_SECRET=<the app's webhookSecret> python scripts/callback_receiver.py --port 8001

`make run` starts it for the demo app (on PORT+1, or CALLBACK_PORT). It is deliberately
standalone, the Python standard library only and nothing of this project: it is what an
app's own endpoint does, and can be copied as a starting point. It checks

- `X-Signature: sha256=<hex HMAC-SHA256(raw body, secret)>`, and
- the Standard Webhooks headers: `webhook-signature: v1,<base64 HMAC-SHA256(
  "{webhook-id}.{webhook-timestamp}.{raw body}", secret)>`, refusing a `webhook-timestamp`
  more than 5 minutes from this clock (a replay).

A callback whose signatures check out is answered 200 (the service stops retrying it); any
other is answered 401 and printed with the reason, so a wrong secret shows at once.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 5 * 60  # seconds a webhook-timestamp may be off this clock


def check_x_signature(body: bytes, header: str, secret: str) -> str:
    """ "ok", or why the X-Signature header does not match."""
    if not header:
        return "missing"
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(header, expected) else "MISMATCH"


def check_standard_signature(
    body: bytes, webhook_id: str, timestamp: str, header: str, secret: str, now: float
) -> str:
    """ "ok", or why the webhook-signature header fails (missing, stale timestamp, mismatch)."""
    if not (webhook_id and timestamp and header):
        return "missing"
    try:
        age = now - int(timestamp)
    except ValueError:
        return "BAD TIMESTAMP"
    if abs(age) > TOLERANCE:
        return f"REFUSED: timestamp {int(age)} s off (more than {TOLERANCE} s)"
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    # The header may carry several space-separated signatures (during a secret rotation).
    for candidate in header.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return "ok"
    return "MISMATCH"


def summary(body: bytes) -> str:
    """The callback's gist: message id, channel, recipient, status (and error code)."""
    try:
        doc = json.loads(body)
        status = doc.get("status") or {}
        name = status.get("name") if isinstance(status, dict) else status
        error = doc.get("error") or {}
        code = f" error={error.get('code')}" if isinstance(error, dict) and error else ""
        return (
            f"message {doc.get('messageId')} {doc.get('channel')} to {doc.get('to')}: {name}{code}"
        )
    except (ValueError, AttributeError):
        return f"{len(body)} bytes, not a JSON object"


def make_handler(secret: str, out):
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            x_sig = check_x_signature(body, self.headers.get("X-Signature", ""), secret)
            webhook_id = self.headers.get("webhook-id", "")
            std = check_standard_signature(
                body,
                webhook_id,
                self.headers.get("webhook-timestamp", ""),
                self.headers.get("webhook-signature", ""),
                secret,
                time.time(),
            )
            verified = x_sig == "ok" and std == "ok"
            repeat = " (repeat: already handled)" if verified and webhook_id in seen else ""
            if verified:
                seen.add(webhook_id)  # de-duplicate on webhook-id: a retry carries the same
            attempt = self.headers.get("X-Callback-Attempt", "?")
            print(
                f"[callback] {webhook_id or '-'} attempt {attempt} {summary(body)}"
                f" | X-Signature: {x_sig} | webhook-signature: {std}{repeat}",
                file=out,
                flush=True,
            )
            self.send_response(200 if verified else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if verified else b'{"ok": false}')

        def do_GET(self) -> None:  # noqa: N802 - a browser or curl poking it: say what it is
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"Callback receiver: POST callbacks here.\n")

        def log_message(self, format, *args) -> None:  # noqa: A002 - the line above says it
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("CALLBACK_PORT", 8001)))
    parser.add_argument("--secret", help="the app's webhookSecret (default: $WEBHOOK_SECRET)")
    args = parser.parse_args(argv)
    secret = args.secret or os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        parser.error("give the app's webhookSecret: --secret or WEBHOOK_SECRET")
    # Loopback only: it is a development tool, never a public endpoint.
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(secret, sys.stdout))
    print(f"[callback] listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
