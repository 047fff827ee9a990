"""How fast POST /api/v1/messages accepts a bulk request (run by hand, not in the suite).

    .venv/bin/python bench/accept.py [--db sqlite|postgres|both] [--runs 3] [--profile]

For each database, on a fresh one (a file under /tmp; a database bench_accept_<pid> on
127.0.0.1:5432 as user postgres, dropped afterwards): migrate, seed a tenant, app, key,
sandbox provider and SMS template, then POST one bulk request of N SMS from that template
in two shapes: one entry with N recipients, and N entries with one recipient each. Each case
runs --runs times through django.test.Client in process; enqueueing goes to the real broker
(the ORM broker on that database; Redis for postgres when REDIS_URL is set, on a queue of
its own that is deleted afterwards). Prints seconds (best and median), msgs/s and SQL
queries per request, and a verdict against the target: >= 5,000 msgs/s, and a query count
that does not grow with N.

Timed runs execute with settings.DEBUG off, so Django does not log every query (and format
every parameter of a 10,000-row INSERT) as it does in development; the query count comes
from one more run under CaptureQueriesContext. --debug times with DEBUG on as well.
--profile runs cProfile on the 10,000 case (N entries shape) and prints the top 25 by
cumulative time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SIZES = (1_000, 10_000)
SHAPES = ("1 entry x N to", "N entries x 1 to")
TARGET_RATE = 5_000
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


# --- the parent: one child process per database (settings are per process) ---------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--debug", action="store_true", help="also time with DEBUG on")
    parser.add_argument("--profile", action="store_true", help="cProfile the 10,000 case")
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    rows = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        rows += run_child(db, args)
    print_table(rows, args.runs)
    return 0


def run_child(db: str, args) -> list[dict]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "API_RATE_LIMIT": "1000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    cleanup = None
    if db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="bench-accept-")
        env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        env["REDIS_URL"] = ""  # the ORM broker on that file, whatever .env says

        def cleanup():
            shutil.rmtree(tmp, ignore_errors=True)

    else:
        import psycopg

        name = f"bench_accept_{os.getpid()}"
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
        env.setdefault("REDIS_URL", "")

        def cleanup():
            with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    broker = "redis" if env.get("REDIS_URL") else "orm"
    print(f"== {db} ({broker} broker): {env['DATABASE_URL']}", file=sys.stderr, flush=True)
    cmd = [sys.executable, __file__, "--child", db, "--runs", str(args.runs)]
    cmd += ["--debug"] * args.debug + ["--profile"] * args.profile
    try:
        out = subprocess.run(cmd, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, check=True)
    finally:
        cleanup()
    rows = json.loads(out.stdout.decode().strip().splitlines()[-1])
    for row in rows:
        row["db"] = f"{db}/{broker}"
    return rows


def print_table(rows: list[dict], runs: int) -> None:
    head = (
        f"{'db':<16} {'shape':<17} {'N':>6} {'best s':>7} {'median s':>8} "
        f"{'msgs/s best':>11} {'msgs/s med':>10} {'queries':>7}  verdict"
    )
    print(f"\nPOST /api/v1/messages, one bulk SMS request, {runs} runs per case")
    print(head)
    print("-" * len(head))
    by_case = {(r["db"], r["shape"], r["debug"], r["n"]): r for r in rows}
    for r in rows:
        best, median = min(r["seconds"]), statistics.median(r["seconds"])
        rate_best, rate_median = r["n"] / best, r["n"] / median
        small = by_case.get((r["db"], r["shape"], r["debug"], SIZES[0]))
        flat = small is None or r["queries"] <= small["queries"]
        verdict = []
        verdict.append("OK" if rate_median >= TARGET_RATE else f"SLOW (<{TARGET_RATE:,}/s)")
        if not flat:
            verdict.append(f"queries grow ({small['queries']} at N={SIZES[0]:,})")
        label = r["db"] + (" DEBUG" if r["debug"] else "")
        print(
            f"{label:<16} {r['shape']:<17} {r['n']:>6,} {best:>7.3f} {median:>8.3f} "
            f"{rate_best:>11,.0f} {rate_median:>10,.0f} {r['queries']:>7}  {'; '.join(verdict)}"
        )
    print(
        f"\nTarget: >= {TARGET_RATE:,} msgs/s (median) and a query count that does not grow "
        "with N. Timed with DEBUG off unless marked DEBUG."
    )


# --- the child: Django on one fresh database ---------------------------------------------


def numbers(n: int) -> list[str]:
    """n distinct, possible US numbers +1415555xxxx upwards, none ending 0001-0004 (the
    sandbox's scripted failures)."""
    out, i = [], 0
    while len(out) < n:
        if not 1 <= i % 10_000 <= 4:
            out.append(f"+1415{5_550_000 + i:07d}")
        i += 1
    return out


def body_for(shape: str, n: int) -> bytes:
    to = numbers(n)
    if shape == SHAPES[0]:
        sms = [{"template": "otp", "data": {"otp": "123456"}, "to": to}]
    else:
        sms = [
            {"template": "otp", "data": {"otp": f"{i:06d}"}, "to": [t]} for i, t in enumerate(to)
        ]
    return json.dumps({"sms": sms}).encode()


def child(args) -> int:
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    from messaging.models import Template
    from providers.models import Provider
    from tenants.models import ApiKey, App, Tenant

    # A queue of our own: on a shared Redis no worker picks these tasks up, and we delete it.
    Conf.CLUSTER_NAME = f"bench-accept-{os.getpid()}"

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"   migrated in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    tenant = Tenant.objects.create(slug="bench", name="Bench", placeholders={"company": "Acme"})
    app = App.objects.create(tenant=tenant, name="bench")
    _, key = ApiKey.issue(app)
    provider = Provider(
        tenant=tenant,
        name="sandbox",
        provider_type="sandbox",
        channels=["sms", "email", "whatsapp", "viber", "rcs", "push"],
        is_tenant_default=True,
    )
    provider.credentials = {}
    provider.save()
    Template.objects.create(
        tenant=tenant, name="otp", mode="sms", data={"body": "Your {{company}} code is {{otp}}"}
    )
    client = Client(HTTP_X_API_KEY=key)

    def post(body: bytes):
        r = client.post("/api/v1/messages", data=body, content_type="application/json")
        if r.status_code != 202:
            raise SystemExit(f"HTTP {r.status_code}: {r.content[:500]!r}")
        return r

    post(body_for(SHAPES[0], 10))  # warm-up: imports, phone metadata, connections

    rows = []
    for debug in (False, True) if args.debug else (False,):
        for shape in SHAPES:
            for n in SIZES:
                body = body_for(shape, n)
                seconds = []
                with override_settings(DEBUG=debug):
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        r = post(body)
                        seconds.append(time.perf_counter() - t0)
                        assert len(r.json()["messages"]) == n
                with CaptureQueriesContext(connection) as ctx:
                    post(body)
                rows.append(
                    {"shape": shape, "n": n, "debug": debug, "seconds": seconds,
                     "queries": len(ctx.captured_queries),
                     "query_kinds": _kinds(ctx.captured_queries)}
                )  # fmt: skip
                print(
                    f"   {shape:<17} N={n:>6,} DEBUG={debug!s:<5} "
                    f"{[round(s, 3) for s in seconds]} s, {len(ctx.captured_queries)} queries "
                    f"{rows[-1]['query_kinds']}",
                    file=sys.stderr,
                    flush=True,
                )

    if args.profile:
        import cProfile
        import pstats

        body = body_for(SHAPES[1], SIZES[-1])
        profiler = cProfile.Profile()
        with override_settings(DEBUG=False):
            profiler.enable()
            post(body)
            profiler.disable()
        dump = Path(tempfile.gettempdir()) / f"bench-accept-{connection.vendor}.prof"
        profiler.dump_stats(dump)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        print(f"\n   cProfile: {SHAPES[1]}, N={SIZES[-1]:,} (saved to {dump})", file=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("cumulative").print_callees(r"accept.py:\d+\((message_accept|_persist)\)")
        stats.sort_stats("tottime").print_stats(15)

    if Conf.REDIS:
        get_broker().delete_queue()
    print(json.dumps(rows))
    return 0


def _kinds(queries: list[dict]) -> dict[str, int]:
    """Queries by their first word and table, for the log: INSERT messaging_message: 7."""
    kinds: dict[str, int] = {}
    for q in queries:
        words = q["sql"].split()
        verb = words[0].upper() if words else "?"
        table = ""
        for marker in ("INTO", "FROM", "UPDATE"):
            upper = [w.upper() for w in words[:40]]
            if marker in upper:
                table = words[upper.index(marker) + 1].strip('"')
                break
        k = f"{verb} {table}".strip()
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


if __name__ == "__main__":
    sys.exit(main())
