"""What the SSRF guard of core.http costs per request, beside the same session unguarded.

Both sides POST to one loopback keep-alive stand-in through core.http's pooled session: once
with ALLOW_PRIVATE_URLS=true (the guard steps aside) and once guarded, with the loopback
address admitted as if it were public (otherwise the guard would, rightly, refuse it). The
guarded side therefore pays everything the guard does (two resolutions of the host, the
address checks, the pinned connection pool) except the DNS round trips themselves: the
host is an IP literal. Rounds interleave; medians with min-max.

    .venv/bin/python bench/guard.py --requests 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from core import http, netsafe  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, Nagle and delayed ACKs add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


def run(url: str, n: int, guarded: bool) -> float:
    settings.ALLOW_PRIVATE_URLS = not guarded
    session = http.pooled_session(f"bench-{guarded}")
    for adapter in session.adapters.values():
        adapter._allow_loopback = True  # requests-hardened's own check admits loopback
    started = time.perf_counter()
    for _ in range(n):
        session.post(url, data=b"To=%2B14155550100&Body=hi").raise_for_status()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/send"
    # Loopback stands in for a public address on the guarded side (see the docstring).
    public = netsafe.address_is_public
    netsafe.address_is_public = http.address_is_public = lambda ip: ip.is_loopback or public(ip)
    netsafe.host_is_private = lambda host: False
    run(url, 50, False), run(url, 50, True)  # warm both pools
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for guarded in (False, True):
            times[guarded].append(run(url, args.requests, guarded))
    server.shutdown()
    per = {g: [t / args.requests * 1e6 for t in ts] for g, ts in times.items()}
    for guarded, label in ((False, "unguarded"), (True, "guarded")):
        us = per[guarded]
        print(
            f"{label:10} {statistics.median(us):7.1f} µs/request "
            f"(min {min(us):.1f}, max {max(us):.1f}) over {args.rounds} x {args.requests}"
        )
    added = statistics.median(per[True]) - statistics.median(per[False])
    print(f"guard adds {added:.1f} µs/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
