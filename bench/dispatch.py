"""Dispatch rate of one worker process, next to django-post-office and bare loops (by hand).

    .venv/bin/python bench/dispatch.py [--db sqlite|postgres|both] [--n 5000,20000]
        [--variants sandbox,smtp,twilio,twilio-100ms] [--rounds 3] [--max-seconds 30]
        [--tree PATH] [--peer-python /tmp/bench-peer/bin/python] [--json FILE]

Every case runs ours and its baselines in the same run, one subprocess each, interleaved
(the order alternates per round), --rounds times; the table shows medians with min–max.

ours: a fresh database (a file under /tmp, or a database bench_dispatch_<pid>_<k> on
127.0.0.1:5432 as user postgres, dropped afterwards), migrated; a tenant, an app, a
provider and a template; N messages accepted through messaging.services.accept.
message_accept in one bulk request (API_MAX_MESSAGES raised to N) with the workers'
wake-ups held (messaging.queue.async_task is a no-op while accepting). Then the dispatch
alone is timed in process: dispatch_backlog() when messaging.services.dispatch has it
(the new core), else dispatch_chunk(message_ids=chunk) over the backlog in chunks of 100
(the old core), stopping after the chunk that passes --max-seconds. While dispatching,
tasks the dispatcher enqueues (sandbox reports, callbacks) go to the real ORM broker of
that database with no cluster running (--hold-enqueue makes them no-ops too). SQL
statements are counted with connection.execute_wrapper (every execute/executemany, the
broker's included), peak RSS with resource.getrusage, and a sampler notes the peak RSS when
the 2,000th message was handed to the provider. --tree PATH runs ours against another
checkout (e.g. `git worktree add /tmp/old c48459e`) with this venv's Python.

Variants (the provider of ours, and its baselines):
  sandbox        providerType sandbox, N templated emails  | post-office send_queued to
                 Django's locmem backend, N templated emails
  smtp           providerType smtp → a local aiosmtpd Sink | post-office send_queued through
                 Django's SMTP backend to the same sink; a bare smtplib loop on one
                 connection sending the same N messages
  twilio         providerType twilio, apiBaseUrl → a loopback stand-in answering Twilio's
                 Messages.json at once (201, {"sid": "SM…", "status": "queued"}), N SMS
                 | a bare sequential keep-alive requests.Session loop POSTing the same forms
  twilio-100ms   the same, the stand-in answering after 100 ms

Bounds: every timed phase stops after --max-seconds (default 30; a rate is then the
messages done over the time taken, and the table marks it "capped"), and every subprocess
is killed after a hard timeout. Ours runs as two processes on one database: the accept
phase, then the dispatch phase in a fresh process (so RSS is the dispatcher's own, as in a
worker, not the 20,000-message request's). At the old core's 25–95 msgs/s a 20,000 backlog would
take minutes, so those runs are capped: the rate is over the first --max-seconds.

post-office and aiosmtpd live in a throwaway venv, never in the project: --setup-peer
creates it (python3 -m venv /tmp/bench-peer; pip install django-post-office django
psycopg[binary] aiosmtpd). Nothing is written to the repository unless --json FILE.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PEER_PYTHON = "/tmp/bench-peer/bin/python"
VARIANTS = ("sandbox", "smtp", "twilio", "twilio-100ms")
TWILIO_SID = "AC" + "0" * 31 + "1"
TWILIO_TOKEN = "bench-auth-token"
SENDER_NUMBER = "+14155550000"
SENDER_EMAIL = "bench@example.com"
CHUNK = 100
SUBJECT = "Your {{company}} order {{order}}"
TEXT = "Hello {{name}}, your order {{order}} has shipped. Thank you for choosing {{company}}."
SMS = "Your {{company}} code is {{otp}}"


def numbers(n: int) -> list[str]:
    """n distinct US numbers, none ending 0001-0006 (sandbox and simulator magic)."""
    out, i = [], 0
    while len(out) < n:
        if not 1 <= i % 10_000 <= 6:
            out.append(f"+1415{5_550_000 + i:07d}")
        i += 1
    return out


def emails(n: int) -> list[str]:
    return [f"user{i}@example.com" for i in range(n)]


def render(text: str, data: dict) -> str:
    for k, v in data.items():
        text = text.replace("{{" + k + "}}", str(v))
    return text


def email_data(i: int) -> dict:
    return {"name": f"Customer {i}", "order": f"A{i:06d}", "company": "Acme"}


def sms_data(i: int) -> dict:
    return {"otp": f"{i % 1_000_000:06d}", "company": "Acme"}


# --- the loopback Twilio stand-in (in the parent) -------------------------------------------


class StandIn:
    """Answers any POST like Twilio's Messages.json (201), after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.count = 0
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait out a delayed ACK

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                with stand_in.lock:
                    stand_in.count += 1
                body = json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the parent ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )  # fmt: skip
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--n", default="5000,20000", help="backlog sizes, comma-separated")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=", ".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="cap per timed phase")
    parser.add_argument("--tree", default=str(BASE_DIR), help="checkout that 'ours' runs")
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--setup-peer", action="store_true", help="create the peer venv first")
    parser.add_argument("--hold-enqueue", action="store_true", help="no-op async_task in dispatch")
    parser.add_argument("--no-peer", action="store_true", help="run ours only")
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.spec)
        result = {"ours": child_ours, "peer": child_peer, "bare-smtp": child_bare_smtp,
                  "bare-http": child_bare_http}[args.child](spec)  # fmt: skip
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    sizes = [int(x) for x in args.n.split(",") if x]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v}")
    dbs = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    tree = Path(args.tree).resolve()
    if args.setup_peer and not Path(args.peer_python).exists():
        venv = Path(args.peer_python).parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "django-post-office", "django",
                        "psycopg[binary]", "aiosmtpd"], check=True)  # fmt: skip
    needs_peer_venv = not args.no_peer and ({"sandbox", "smtp"} & set(variants))
    if (needs_peer_venv or "smtp" in variants) and not Path(args.peer_python).exists():
        parser.error(f"{args.peer_python} is missing: run with --setup-peer")

    sink = smtp_port = None
    stand_ins: dict[str, StandIn] = {}
    if "smtp" in variants:
        smtp_port = free_port()
        sink = subprocess.Popen(
            [args.peer_python, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
             "-l", f"127.0.0.1:{smtp_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_port(smtp_port)
    if "twilio" in variants:
        stand_ins["twilio"] = StandIn(0.0)
    if "twilio-100ms" in variants:
        stand_ins["twilio-100ms"] = StandIn(0.1)

    started = time.monotonic()
    results: list[dict] = []
    try:
        for rnd in range(args.rounds):
            for db in dbs:
                for n in sizes:
                    for variant in variants:
                        runners = ["ours"]
                        if not args.no_peer:
                            runners += {"sandbox": ["peer"], "smtp": ["peer", "bare-smtp"],
                                        "twilio": ["bare-http"],
                                        "twilio-100ms": ["bare-http"]}[variant]  # fmt: skip
                        if rnd % 2:
                            runners.reverse()
                        for who in runners:
                            spec = {"db": db, "n": n, "variant": variant, "who": who,
                                    "max_seconds": args.max_seconds, "tree": str(tree),
                                    "smtp_port": smtp_port, "hold_enqueue": args.hold_enqueue,
                                    "url": stand_ins[variant].url if variant in stand_ins
                                    else None}  # fmt: skip
                            stand_in = stand_ins.get(variant)
                            before = stand_in.count if stand_in else 0
                            r = run_child(who, spec, args)
                            if stand_in:
                                r["requests_seen"] = stand_in.count - before
                            r.update(round=rnd + 1, db=db, n=n, variant=variant, who=who)
                            results.append(r)
                            log(r, time.monotonic() - started)
    finally:
        if sink:
            os.killpg(sink.pid, 15)
            sink.wait(10)
        for s in stand_ins.values():
            s.stop()
        drop_templates()
    print_table(results, args, tree)
    print(f"\nWall time {time.monotonic() - started:.0f} s.")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def run_child(who: str, spec: dict, args) -> dict:
    cleanup = None
    db = spec["db"]
    if db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="bench-dispatch-")
        spec["db_url"] = f"sqlite:///{tmp}/bench.sqlite3"
        spec["db_path"] = f"{tmp}/bench.sqlite3"

        def cleanup():
            shutil.rmtree(tmp, ignore_errors=True)

    else:
        import psycopg

        name = f"bench_dispatch_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        spec["db_url"] = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
        spec["db_name"] = name

        def cleanup():
            with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    if who == "ours":
        # A copy of a migrated template database: migrate once per database and tree.
        key = (db, spec["tree"])
        if key not in TEMPLATES:
            TEMPLATES[key] = make_template(db, spec, args)
        if db == "sqlite":
            for suffix in ("", "-wal"):
                if Path(TEMPLATES[key] + suffix).exists():
                    shutil.copy(TEMPLATES[key] + suffix, spec["db_path"] + suffix)
        else:
            with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
                conn.execute(f'DROP DATABASE "{name}"')
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATES[key]}"')
    try:
        if who != "ours":
            return run_child_raw(who, spec, args)
        # Two processes on one database: accept, then dispatch in a fresh process (so the
        # dispatcher's RSS is its own, not the 20,000-message request's).
        accepted = run_child_raw(who, {**spec, "phase": "accept"}, args)
        if "error" in accepted:
            return accepted
        r = run_child_raw(who, {**spec, "phase": "dispatch"}, args)
        r.update(accepted)
        return r
    finally:
        if cleanup:
            cleanup()


def run_child_raw(who: str, spec: dict, args, timeout: float | None = None) -> dict:
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    python, cwd = sys.executable, BASE_DIR
    if who == "ours":
        cwd = Path(spec["tree"])
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=spec["db_url"], REDIS_URL="",
            DEBUG="false", SECRET_KEY="bench-dispatch-secret-" + "x" * 40,
            ALLOWED_HOSTS="127.0.0.1,localhost", ALLOW_PRIVATE_URLS="true",
            PUBLIC_BASE_URL="http://127.0.0.1:9",
        )  # fmt: skip
        import base64
        import hashlib

        env["CREDENTIALS_KEY"] = base64.urlsafe_b64encode(
            hashlib.sha256(env["SECRET_KEY"].encode()).digest()
        ).decode()
    elif who == "peer":
        python = args.peer_python
    cmd = [python, str(Path(__file__).resolve()), "--child", who, "--spec", json.dumps(spec)]
    # Hard bound: setup (accept) plus twice the cap, plus a margin.
    timeout = timeout or 240 + 2 * spec["max_seconds"] + spec["n"] / 200
    try:
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(out.stdout.decode().splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    err = out.stderr.decode()[-2000:]
    return {"error": f"exit {out.returncode}: {err}"}


TEMPLATES: dict[tuple[str, str], str] = {}
TEMPLATE_DIR: list[str] = []  # made on first use (children import this module too)


def make_template(db: str, spec: dict, args) -> str:
    """Migrate a fresh database once; later runs start from a copy of it."""
    tpl = {**spec, "migrate_only": True}
    if db == "sqlite":
        if not TEMPLATE_DIR:
            TEMPLATE_DIR.append(tempfile.mkdtemp(prefix="bench-dispatch-tpl-"))
        path = f"{TEMPLATE_DIR[0]}/{len(TEMPLATES)}.sqlite3"
        tpl["db_url"], tpl["db_path"] = f"sqlite:///{path}", path
        r = run_child_raw("ours", tpl, args, timeout=600)
        if "error" in r:
            raise SystemExit(f"migrate failed: {r['error']}")
        return path
    import psycopg

    name = f"bench_dispatch_tpl_{os.getpid()}_{len(TEMPLATES)}"
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    tpl["db_url"] = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    r = run_child_raw("ours", tpl, args, timeout=600)
    if "error" in r:
        raise SystemExit(f"migrate failed: {r['error']}")
    return name


def drop_templates() -> None:
    for d in TEMPLATE_DIR:
        shutil.rmtree(d, ignore_errors=True)
    names = [v for (db, _), v in TEMPLATES.items() if db == "postgres"]
    if names:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def log(r: dict, elapsed: float) -> None:
    if "error" in r:
        what = "ERROR " + r["error"].strip().splitlines()[-1][:300]
        print(f"[{elapsed:5.0f}s] r{r['round']} {r['db']:<8} N={r['n']:<6} {r['variant']:<13} "
              f"{r['who']:<9} {what}", file=sys.stderr, flush=True)  # fmt: skip
        return
    extra = ""
    if r.get("statements") is not None and r.get("done"):
        extra += f" {r['statements'] / r['done']:.2f} stmt/msg"
    if r.get("rss_peak_kb"):
        extra += f" RSS {r['rss_peak_kb'] / 1024:.0f} MiB"
    if "requests_seen" in r:
        extra += f" stand-in saw {r['requests_seen']}"
    print(
        f"[{elapsed:5.0f}s] r{r['round']} {r['db']:<8} N={r['n']:<6} {r['variant']:<13} "
        f"{r['who']:<9} {r['done']:>6} in {r['seconds']:6.2f} s = {r['rate']:8.1f}/s"
        f"{' capped' if r.get('capped') else ''}{extra} {r.get('note', '')}",
        file=sys.stderr,
        flush=True,
    )


def med(values: list[float]) -> str:
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:,.1f}"
    return f"{m:,.1f} ({min(values):,.1f}–{max(values):,.1f})"


def print_table(results: list[dict], args, tree: Path) -> None:
    print(f"\nDispatch, one worker process; ours = {tree}; {args.rounds} round(s), interleaved; "
          f"each timed phase capped at {args.max_seconds:g} s")  # fmt: skip
    head = (f"{'db':<8} {'N':>6} {'variant':<13} {'ours msgs/s':>26} {'baseline':<10} "
            f"{'baseline msgs/s':>28} {'ratio':>17} {'stmt/msg':>9} {'RSS MiB':>9} "
            f"{'RSS@2k':>7} {'done/N (ours)':>14}")  # fmt: skip
    print(head)
    print("-" * len(head))
    cases = []
    for r in results:
        key = (r["db"], r["n"], r["variant"])
        if key not in cases:
            cases.append(key)
    errors = [r for r in results if "error" in r]
    for db, n, variant in cases:
        runs = [r for r in results if (r["db"], r["n"], r["variant"]) == (db, n, variant)]
        ours = [r for r in runs if r["who"] == "ours" and "error" not in r]
        rates = [r["rate"] for r in ours]
        stmts = [r["statements"] / r["done"] for r in ours if r.get("done")]
        rss = [r["rss_peak_kb"] / 1024 for r in ours if r.get("rss_peak_kb")]
        rss2k = [r["rss_2k_kb"] / 1024 for r in ours if r.get("rss_2k_kb")]
        done = [r["done"] for r in ours]
        capped = any(r.get("capped") for r in ours)
        peers = sorted({r["who"] for r in runs if r["who"] != "ours"}) or ["-"]
        for i, who in enumerate(peers):
            base = [r for r in runs if r["who"] == who and "error" not in r]
            brates = [r["rate"] for r in base]
            # Ratio per round (same round, neighbouring runs), then median (min–max).
            ratios = []
            for rnd in {r["round"] for r in ours}:
                o = [r["rate"] for r in ours if r["round"] == rnd]
                b = [r["rate"] for r in base if r["round"] == rnd]
                if o and b and b[0]:
                    ratios.append(o[0] / b[0])
            rt = (f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
                  if len(ratios) > 1 else (f"{ratios[0]:.2f}×" if ratios else "-"))  # fmt: skip
            bcap = " c" if any(r.get("capped") for r in base) else ""
            if i == 0:
                donestr = (
                    f"{statistics.median(done):,.0f}/{n:,}{' c' if capped else ''}" if done else "-"
                )
                print(f"{db:<8} {n:>6,} {variant:<13} {med(rates):>26} {who:<10} "
                      f"{med(brates) + bcap:>28} {rt:>17} {med(stmts):>9} "
                      f"{med(rss) if rss else '-':>9} {med(rss2k) if rss2k else '-':>7} "
                      f"{donestr:>14}")  # fmt: skip
            else:
                print(f"{'':<8} {'':>6} {'':<13} {'':>26} {who:<10} {med(brates) + bcap:>28} "
                      f"{rt:>17}")  # fmt: skip
    peer_stmts = [r["statements"] / r["done"] for r in results
                  if r["who"] == "peer" and r.get("done") and r.get("statements") is not None]  # fmt: skip
    if peer_stmts:
        print(f"\npost-office statements/message: {med(peer_stmts)}")
    print("c = capped at --max-seconds (rate over what was done in that time). Ratio = ours / "
          "baseline per round, median (min–max). RSS = peak of the ours process (ru_maxrss); "
          "RSS@2k = peak when the 2,000th message was handed over.")  # fmt: skip
    for r in errors:
        print(f"ERROR {r['db']} N={r['n']} {r['variant']} {r['who']} round {r['round']}: "
              f"{r['error'].strip().splitlines()[-1][:300]}")  # fmt: skip


# --- children ----------------------------------------------------------------------------


def rss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Counter:
    """Statements through the connection (execute_wrapper): cheap, no SQL kept."""

    def __init__(self) -> None:
        self.n = 0
        self.kinds: dict[str, int] = {}

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        words = sql.split(None, 4)
        verb = words[0].upper() if words else "?"
        table = ""
        upper = sql[:400].upper()
        for marker in (" INTO ", " FROM ", "UPDATE "):
            at = upper.find(marker)
            if at >= 0:
                table = sql[at + len(marker) : at + len(marker) + 60].split()[0].strip('"')
                break
        k = f"{verb} {table}".strip()
        self.kinds[k] = self.kinds.get(k, 0) + 1
        return execute(sql, params, many, context)


def accept_backlog(spec: dict, ptype: str) -> dict:
    """The accept phase (its own process, so its memory is not the dispatcher's): a tenant,
    an app, a provider and a template, then N messages in one bulk request, wake-ups held."""
    from django.conf import settings

    from messaging import queue

    try:
        from core import status as st
    except ImportError:  # a checkout from before core/ (--tree)
        from messaging import status as st
    from messaging.models import Message, Template
    from messaging.services.accept import message_accept
    from providers.models import Provider
    from tenants.services import tenant_app_key_issue

    n, variant = spec["n"], spec["variant"]
    issued = tenant_app_key_issue(slug="bench", app_name="bench", tenant_name="Bench")
    tenant, app = issued.tenant, issued.app
    if variant == "sandbox":
        channels, creds, sender = ["email", "sms"], {}, SENDER_EMAIL
    elif variant == "smtp":
        channels, sender = ["email"], SENDER_EMAIL
        creds = {"host": "127.0.0.1", "port": spec["smtp_port"], "useTls": False}
    else:
        channels, sender = ["sms"], SENDER_NUMBER
        creds = {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN, "apiBaseUrl": spec["url"]}
    provider = Provider(tenant=tenant, name="bench", provider_type=ptype, channels=channels,
                        is_tenant_default=True, default_sender=sender)  # fmt: skip
    provider.credentials = creds
    provider.save()
    if variant in ("sandbox", "smtp"):
        Template.objects.create(tenant=tenant, name="t", mode="email",
                                data={"subject": SUBJECT, "body": TEXT, "format": "text/plain"})  # fmt: skip
        body = {"email": [{"template": "t", "data": email_data(i), "to": [to]}
                          for i, to in enumerate(emails(n))]}  # fmt: skip
    else:
        Template.objects.create(tenant=tenant, name="t", mode="sms", data={"body": SMS})
        body = {"sms": [{"template": "t", "data": sms_data(i), "to": [to]}
                        for i, to in enumerate(numbers(n))]}  # fmt: skip

    settings.API_MAX_MESSAGES = max(settings.API_MAX_MESSAGES, n)
    real_async = getattr(queue, "async_task", None)
    held = []

    def noop(*a, **k):
        held.append(a[:1])

    queue.async_task = noop
    t0 = time.perf_counter()
    message_accept(app=app, body=body)
    accept_s = time.perf_counter() - t0
    queue.async_task = real_async
    backlog = Message.objects.filter(status__in=st.SENDABLE).count()
    assert backlog == n, (backlog, n)
    return {"accept_s": accept_s, "accepted": backlog, "accept_rss_kb": rss_kb()}


def child_ours(spec: dict) -> dict:
    tree = spec["tree"]
    sys.path.insert(0, tree)
    os.chdir(tree)
    import django

    django.setup()
    import messaging

    if not Path(messaging.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"messaging imported from {messaging.__file__}, not {tree}")

    from django.core.management import call_command
    from django.db import connection

    from messaging import queue

    try:
        from core import status as st
    except ImportError:  # a checkout from before core/ (--tree)
        from messaging import status as st
    from messaging.models import Message
    from messaging.services import dispatch

    n, variant = spec["n"], spec["variant"]
    call_command("migrate", verbosity=0)
    if spec.get("migrate_only"):
        connection.close()
        return {"migrated": True}
    ptype = {"sandbox": "sandbox", "smtp": "smtp"}.get(variant, "twilio")
    if spec["phase"] == "accept":
        return accept_backlog(spec, ptype)
    # The dispatch phase: a fresh process on the accepted backlog, like a worker.
    if spec["hold_enqueue"]:
        queue.async_task = lambda *a, **k: None
    backlog = Message.objects.filter(status__in=st.SENDABLE).count()
    assert backlog == n, (backlog, n)
    accept_s = None

    # Count hand-overs to the provider (for RSS at 2,000) by wrapping the backend's send.
    from providers.backends import get_backend_class

    cls = get_backend_class(ptype)
    handed = {"n": 0, "rss_2k": None}
    real_send = cls.send

    def counting_send(self, message, *a, **k):
        handed["n"] += 1
        if handed["n"] == 2000:
            handed["rss_2k"] = rss_kb()
        return real_send(self, message, *a, **k)

    cls.send = counting_send

    counter = Counter()
    cap = spec["max_seconds"]
    rss_before = rss_kb()
    capped = False
    with connection.execute_wrapper(counter):
        t0 = time.perf_counter()
        if hasattr(dispatch, "dispatch_backlog"):
            how = "dispatch_backlog()"
            if os.environ.get("BENCH_PROFILE"):  # a cProfile of the dispatch, for by-hand digging
                import cProfile

                with cProfile.Profile() as prof:
                    counts = dispatch.dispatch_backlog()
                prof.dump_stats(os.environ["BENCH_PROFILE"])
            else:
                counts = dispatch.dispatch_backlog()
        else:
            how = f"dispatch_chunk x {CHUNK}"
            ids = [str(i) for i in Message.objects.filter(status__in=st.SENDABLE)
                   .order_by("created_at", "id").values_list("id", flat=True)]  # fmt: skip
            counts = {}
            for start in range(0, len(ids), CHUNK):
                c = dispatch.dispatch_chunk(message_ids=ids[start : start + CHUNK])
                for k, v in c.items():
                    counts[k] = counts.get(k, 0) + v
                if time.perf_counter() - t0 > cap and start + CHUNK < len(ids):
                    capped = True
                    break
        seconds = time.perf_counter() - t0
    statuses = dict(Message.objects.values_list("status").annotate(c=django.db.models.Count("id")))
    done = sum(c for s, c in statuses.items() if s not in (*st.SENDABLE, st.PENDING_PROCESSING))
    return {
        "done": done, "seconds": seconds, "rate": done / seconds, "capped": capped,
        "statements": counter.n, "kinds": dict(sorted(counter.kinds.items(), key=lambda kv: -kv[1])[:12]),
        "rss_peak_kb": rss_kb(), "rss_before_kb": rss_before, "rss_2k_kb": handed["rss_2k"],
        "handed": handed["n"], "accept_s": accept_s, "statuses": statuses, "counts": counts,
        "note": how, "vendor": connection.vendor,
    }  # fmt: skip


def child_peer(spec: dict) -> dict:
    """django-post-office in its own venv and settings: send_queued until done or capped."""
    import django
    from django.conf import settings

    if spec["db"] == "sqlite":
        db = {"ENGINE": "django.db.backends.sqlite3", "NAME": spec["db_path"],
              "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                          "transaction_mode": "IMMEDIATE", "timeout": 30}}  # fmt: skip
    else:
        db = {"ENGINE": "django.db.backends.postgresql", "NAME": spec["db_name"], "USER": "postgres",
              "HOST": PG["host"], "PORT": PG["port"]}  # fmt: skip
    if spec["variant"] == "smtp":
        backend = "django.core.mail.backends.smtp.EmailBackend"
    else:
        backend = "django.core.mail.backends.locmem.EmailBackend"
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "post_office"],
        DATABASES={"default": db}, USE_TZ=True, TIME_ZONE="UTC",
        EMAIL_HOST="127.0.0.1", EMAIL_PORT=spec.get("smtp_port") or 25, EMAIL_USE_TLS=False,
        POST_OFFICE={"BACKENDS": {"default": backend}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LOGGING_CONFIG=None,
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True}],
    )  # fmt: skip
    django.setup()
    import logging

    logging.disable(logging.WARNING)
    from django.core.management import call_command
    from django.db import connection
    from post_office import mail
    from post_office.models import STATUS, Email, EmailTemplate

    n = spec["n"]
    call_command("migrate", verbosity=0)
    EmailTemplate.objects.create(name="t", subject=SUBJECT, content=TEXT)
    tpl = EmailTemplate.objects.get(name="t")
    kwargs = [{"sender": SENDER_EMAIL, "recipients": [to], "template": tpl, "context": email_data(i)}
              for i, to in enumerate(emails(n))]  # fmt: skip
    for start in range(0, n, 1000):
        mail.send_many(kwargs[start : start + 1000])
    assert Email.objects.filter(status=STATUS.queued).count() == n
    counter = Counter()
    cap = spec["max_seconds"]
    capped = False
    with connection.execute_wrapper(counter):
        t0 = time.perf_counter()
        while True:  # send_queued_mail_until_done, without its file lock
            mail.send_queued(1, 0)
            connection.close()
            if not mail.get_queued().exists():
                break
            if time.perf_counter() - t0 > cap:
                capped = True
                break
        seconds = time.perf_counter() - t0
    done = Email.objects.exclude(status=STATUS.queued).count()
    sent = Email.objects.filter(status=STATUS.sent).count()
    return {"done": done, "sent": sent, "seconds": seconds, "rate": done / seconds,
            "capped": capped, "statements": counter.n, "rss_peak_kb": rss_kb(),
            "note": "post-office " + ".".join(map(str, __import__("post_office").VERSION))}  # fmt: skip


def child_bare_smtp(spec: dict) -> dict:
    """The same N messages on one smtplib connection (what a keep-alive sender costs)."""
    import smtplib
    from email.message import EmailMessage

    n, cap = spec["n"], spec["max_seconds"]
    msgs = []
    for i, to in enumerate(emails(n)):
        m = EmailMessage()
        m["Subject"], m["From"], m["To"] = render(SUBJECT, email_data(i)), SENDER_EMAIL, to
        m["Message-ID"] = f"<{uuid.uuid4()}@example.com>"
        m.set_content(render(TEXT, email_data(i)))
        msgs.append(m)
    t0 = time.perf_counter()
    done, capped = 0, False
    with smtplib.SMTP("127.0.0.1", spec["smtp_port"], timeout=30) as smtp:
        for m in msgs:
            smtp.send_message(m)
            done += 1
            if time.perf_counter() - t0 > cap and done < n:
                capped = True
                break
    seconds = time.perf_counter() - t0
    return {"done": done, "seconds": seconds, "rate": done / seconds, "capped": capped,
            "note": "smtplib, one connection"}  # fmt: skip


def child_bare_http(spec: dict) -> dict:
    """The same Twilio forms POSTed sequentially on one keep-alive requests.Session."""
    import requests

    n, cap = spec["n"], spec["max_seconds"]
    url = f"{spec['url']}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    status_url = "http://127.0.0.1:9/webhooks/providers/" + uuid.uuid4().hex + "/status"
    forms = [[("To", to), ("From", SENDER_NUMBER), ("Body", render(SMS, sms_data(i))),
              ("StatusCallback", status_url)] for i, to in enumerate(numbers(n))]  # fmt: skip
    session = requests.Session()
    t0 = time.perf_counter()
    done, capped = 0, False
    for form in forms:
        r = session.post(url, data=form, auth=(TWILIO_SID, TWILIO_TOKEN), timeout=(5, 15))
        if r.status_code != 201 or not r.json().get("sid"):
            raise SystemExit(f"stand-in answered {r.status_code}")
        done += 1
        if time.perf_counter() - t0 > cap and done < n:
            capped = True
            break
    seconds = time.perf_counter() - t0
    return {"done": done, "seconds": seconds, "rate": done / seconds, "capped": capped,
            "note": "requests.Session, sequential"}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
