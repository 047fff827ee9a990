"""Latency from the 202 to the provider request at a steady rate of one-SMS requests (by hand).

    .venv/bin/python bench/latency.py [--rate 200] [--seconds 30] [--drain-seconds 90]
        [--threads 64] [--senders 4] [--provider-delay 0] [--workers 2] [--tree PATH]

PostgreSQL + Redis, as in production: a fresh database bench_latency_<pid> on
127.0.0.1:5432 (user postgres, dropped afterwards) and Redis db --redis-db (default 13,
flushed before and after). It migrates, creates a tenant, an app, an API key, and a twilio
provider (the tenant's SMS default) whose apiBaseUrl points at a loopback stand-in in this
process, then starts gunicorn (config.wsgi, --workers sync workers, 127.0.0.1) and
`manage.py qcluster` (django-q2 on Redis), each in its own process group.

gunicorn must be installed in the venv; it is not a project dependency:
`.venv/bin/pip install gunicorn`.

The load is open-loop: request i is due at t0 + i/rate and goes out from --senders processes
of their own (--threads threads in all), each thread with a keep-alive requests.Session (gunicorn's sync workers close
the connection after each answer, so in practice each POST connects anew). Each request is
`{"sms": [{"body": "Bench <token>", "to": ["+1415…"]}]}`, the token unique; the stand-in
answers Twilio's Messages.json (201, {"sid": "SM…", "status": "queued"}) after
--provider-delay seconds and records the monotonic time each token arrived. After
--seconds of sending it waits up to --drain-seconds for every accepted message to arrive.

Prints: requests sent and accepted (202), the achieved rate, POST latency p50/p95, latency
from the 202 to the provider's request p50/p95/p99 (ms), how many accepted messages reached
the provider, and whether the backlog drained (and how long after the last 202). Writes
nothing to the repository unless --json FILE.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

BASE_DIR = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
TWILIO_SID = "AC" + "0" * 31 + "1"
TWILIO_TOKEN = "bench-auth-token"

SETUP = """
from messaging.models import Template
from providers.models import Provider
from tenants.services import tenant_app_key_issue
issued = tenant_app_key_issue(slug="bench", app_name="bench", tenant_name="Bench")
p = Provider(tenant=issued.tenant, name="stand-in", provider_type="twilio", channels=["sms"],
             is_tenant_default=True, default_sender="+14155550000")
p.credentials = {"accountSid": %r, "authToken": %r, "apiBaseUrl": %r}
p.save()
print("KEY=" + issued.raw_key)
"""


class StandIn:
    """Twilio's Messages.json on loopback: 201 after `delay`; records when each token arrived."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                now = time.monotonic()
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = parse_qs(raw.decode("utf-8", "replace")).get("Body", [""])[0]
                token = body.rpartition(" ")[2]
                with stand_in.lock:
                    stand_in.arrivals.setdefault(token, []).append(now)
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                out = json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_slice(spec: dict) -> dict:
    """A sender process: its share of the requests, each at its due time, from threads."""
    import requests

    jobs: queue.Queue = queue.Queue()
    for i in spec["indices"]:
        jobs.put(i)
    accepted: dict[str, float] = {}
    post_ms: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()

    def worker():
        session = requests.Session()
        while True:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                return
            wait = spec["t0"] + i / spec["rate"] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            token = f"t{i}"
            number = f"+1415{6_000_000 + i:07d}"
            body = json.dumps({"sms": [{"body": f"Bench {token}", "to": [number]}]})
            start_t = time.monotonic()
            try:
                resp = session.post(spec["url"], data=body, headers=spec["headers"], timeout=30)
                code = str(resp.status_code)
            except requests.RequestException as exc:
                code = type(exc).__name__
            end_t = time.monotonic()
            with lock:
                if code == "202":
                    accepted[token] = end_t
                    post_ms.append((end_t - start_t) * 1000)
                else:
                    failures[code] = failures.get(code, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, spec["hard"] - time.monotonic()))
    with lock:
        return {"accepted": dict(accepted), "post_ms": list(post_ms), "failures": dict(failures)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--drain-seconds", type=float, default=90.0, help="wait for the backlog")
    parser.add_argument("--threads", type=int, default=64, help="in all, over the senders")
    parser.add_argument("--senders", type=int, default=4, help="sender processes")
    parser.add_argument("--provider-delay", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--tree", default=str(BASE_DIR), help="checkout to run")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    # Stopped by SIGTERM or SIGINT (also when started in the background): clean up first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    import psycopg
    import redis
    import requests

    tree = Path(args.tree).resolve()
    name = f"bench_latency_{os.getpid()}"
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    stand_in = StandIn(args.provider_delay)
    secret = "bench-latency-secret-" + uuid.uuid4().hex
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret,
        "CREDENTIALS_KEY": base64.urlsafe_b64encode(
            hashlib.sha256(secret.encode()).digest()
        ).decode(),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ALLOW_PRIVATE_URLS": "true",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback, no TLS in front
        "API_RATE_LIMIT": "100000000/minute",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(tree),
    }
    manage = [sys.executable, str(tree / "manage.py")]
    procs: list[subprocess.Popen] = []
    logs = Path(f"/tmp/bench-latency-{os.getpid()}")
    logs.mkdir(exist_ok=True)
    result: dict = {}
    try:
        print(f"== migrating {name}", file=sys.stderr, flush=True)
        subprocess.run([*manage, "migrate", "-v0"], cwd=tree, env=env, check=True, timeout=300)
        out = subprocess.run(
            [*manage, "shell", "-c", SETUP % (TWILIO_SID, TWILIO_TOKEN, stand_in.url)],
            cwd=tree, env=env, check=True, timeout=120, capture_output=True,
        ).stdout.decode()  # fmt: skip
        key = next(line[4:] for line in out.splitlines() if line.startswith("KEY="))

        def start(cmd, log):
            p = subprocess.Popen(cmd, cwd=tree, env=env, start_new_session=True,
                                 stdout=open(logs / log, "wb"), stderr=subprocess.STDOUT)  # fmt: skip
            procs.append(p)
            return p

        start([sys.executable, "-m", "gunicorn", "config.wsgi", "-w", str(args.workers),
               "-b", f"127.0.0.1:{port}", "--timeout", "60"], "gunicorn.log")  # fmt: skip
        start([*manage, "qcluster"], "qcluster.log")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not come up; see {logs}/gunicorn.log")
            time.sleep(0.3)
        time.sleep(3)  # let qcluster's workers start

        # Warm-up: a few requests, wait until they arrive (imports, connections).
        post_url = f"{base}/api/v1/messages"
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        for i in range(5):
            requests.post(post_url, data=json.dumps({"sms": [{"body": f"Bench warm{i}", "to": ["+14155551000"]}]}),
                          headers=headers, timeout=30)  # fmt: skip
        warm_deadline = time.monotonic() + 30
        while (
            sum(1 for t in stand_in.arrivals if t.startswith("warm")) < 5
            and time.monotonic() < warm_deadline
        ):
            time.sleep(0.2)

        total = int(args.rate * args.seconds)
        accepted: dict[str, float] = {}
        post_ms: list[float] = []
        failures: dict[str, int] = {}
        lock = threading.Lock()
        t0 = time.monotonic() + 1.5  # the sender processes start meanwhile
        print(f"== sending {total} one-SMS requests at {args.rate:g}/s for {args.seconds:g} s "
              f"({args.senders} sender processes, {args.threads} threads in all)",
              file=sys.stderr, flush=True)  # fmt: skip
        # The load comes from processes of their own: one Python process cannot make 200
        # requests a second and time them (its GIL, shared with this stand-in, would be the
        # bottleneck, and its queueing would count as our latency). CLOCK_MONOTONIC is
        # system-wide, so their times compare with the stand-in's.
        ctx = multiprocessing.get_context("spawn")
        spec = {"url": post_url, "headers": headers, "rate": args.rate, "t0": t0,
                "threads": max(1, args.threads // args.senders), "hard": t0 + args.seconds + 60}  # fmt: skip
        with ctx.Pool(args.senders) as pool:
            parts = pool.map(
                send_slice,
                [{**spec, "indices": list(range(k, total, args.senders))} for k in range(args.senders)],
            )  # fmt: skip
        for part in parts:
            accepted.update(part["accepted"])
            post_ms += part["post_ms"]
            for code, n in part["failures"].items():
                failures[code] = failures.get(code, 0) + n
        send_end = time.monotonic()
        last_202 = max(accepted.values()) if accepted else send_end
        print(f"== sent in {send_end - t0:.1f} s; waiting up to {args.drain_seconds:g} s for the backlog",
              file=sys.stderr, flush=True)  # fmt: skip
        drain_deadline = time.monotonic() + args.drain_seconds
        while time.monotonic() < drain_deadline:
            with stand_in.lock:
                missing = [t for t in list(accepted) if t not in stand_in.arrivals]
            if not missing:
                break
            time.sleep(0.5)
        drained_at = time.monotonic()
        with lock, stand_in.lock:
            arrivals = {t: v[0] for t, v in stand_in.arrivals.items()}
            dup = sum(1 for t, v in stand_in.arrivals.items() if len(v) > 1 and t in accepted)
            # A message that never arrived counts as infinitely late (not left out).
            arrived_lat = [(arrivals[t] - a) * 1000 for t, a in accepted.items() if t in arrivals]
            lat = [
                (arrivals[t] - a) * 1000 if t in arrivals else float("inf")
                for t, a in accepted.items()
            ]
            reached = sum(1 for t in accepted if t in arrivals)
            window = max(1e-9, last_202 - t0)
            result = {
                "rate_asked": args.rate, "seconds": args.seconds, "requests": total, "sent": len(accepted) + sum(failures.values()), "unsent": total - len(accepted) - sum(failures.values()),
                "accepted": len(accepted), "failures": failures,
                "achieved_rate": len(accepted) / window,
                "post_p50_ms": pct(post_ms, 50), "post_p95_ms": pct(post_ms, 95),
                "lat_p50_ms": pct(lat, 50), "lat_p95_ms": pct(lat, 95), "lat_p99_ms": pct(lat, 99),
                "lat_max_ms": max(lat) if lat else float("nan"),
                "arrived_p50_ms": pct(arrived_lat, 50), "arrived_p95_ms": pct(arrived_lat, 95), "arrived_p99_ms": pct(arrived_lat, 99),
                "reached": reached, "duplicates": dup, "drained": reached == len(accepted),
                "drain_s_after_last_202": drained_at - last_202 if reached == len(accepted) else None,
                "provider_rate": reached / max(1e-9, (max(arrivals[t] for t in accepted if t in arrivals) - t0)) if reached else 0,
            }  # fmt: skip
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        stand_in.stop()
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        r.flushdb()

    if not result:
        return 1
    print(f"\nLatency, PostgreSQL + Redis, gunicorn {args.workers} sync workers + qcluster; "
          f"ours = {tree}; provider stand-in delay {args.provider_delay * 1000:g} ms")  # fmt: skip
    rows = [
        ("one-SMS requests sent", f"{result['sent']:,} of {result['requests']:,} "
         f"({args.rate:g}/s for {args.seconds:g} s asked)"
         + (f"; {result['unsent']:,} never sent (bound)" if result["unsent"] else "")),
        ("accepted (202)", f"{result['accepted']:,}" + (f"; other answers {result['failures']}" if result["failures"] else "")),
        ("achieved rate (202s/s)", f"{result['achieved_rate']:.1f}"),
        ("POST latency p50 / p95", f"{result['post_p50_ms']:.0f} / {result['post_p95_ms']:.0f} ms"),
        ("202 → provider p50 / p95 / p99", f"{result['lat_p50_ms']:.0f} / {result['lat_p95_ms']:.0f} / {result['lat_p99_ms']:.0f} ms (max {result['lat_max_ms']:.0f})"),
        ("  of those that arrived", f"{result['arrived_p50_ms']:.0f} / {result['arrived_p95_ms']:.0f} / {result['arrived_p99_ms']:.0f} ms"),
        ("reached the provider", f"{result['reached']:,} of {result['accepted']:,} accepted"
         + (f", {result['duplicates']} twice" if result["duplicates"] else "")),
        ("provider-side rate", f"{result['provider_rate']:.1f}/s"),
        ("backlog drained", (f"yes, {result['drain_s_after_last_202']:.1f} s after the last 202" if result["drained"]
                             else f"NO: {result['accepted'] - result['reached']:,} still pending after {args.drain_seconds:g} s")),
    ]  # fmt: skip
    for k, v in rows:
        print(f"  {k:<32} {v}")
    print(
        f"(percentiles over all {result['accepted']:,} accepted; one that never arrived counts as inf; logs in {logs})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
