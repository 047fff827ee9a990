"""What SIGKILLs of the worker mid-send cost: lost, sent twice, unknown, time to settle (by hand).

    .venv/bin/python bench/crash.py [--configs sqlite-orm,pg-orm,pg-redis] [--n 2000]
        [--kills 3] [--settle-seconds 600] [--tree PATH] [--json FILE]

Per configuration (SQLite + the ORM broker; PostgreSQL + the ORM broker; PostgreSQL +
Redis db --redis-db, default 13, flushed before and after), on a fresh database (a file
under /tmp, or bench_crash_<pid>_<k> on 127.0.0.1:5432 as postgres, dropped afterwards):
migrate; a tenant, an app, a key and a twilio provider whose apiBaseUrl is
`manage.py provider_simulator --port P` (providers/simulator.py: it answers as Twilio and
posts signed status reports to each message's StatusCallback, so a web server runs too:
gunicorn, 2 workers, on loopback, with PUBLIC_BASE_URL pointing at it; gunicorn is not a
project dependency: `.venv/bin/pip install gunicorn`); then `manage.py qcluster`.

One bulk request accepts --n SMS, each body unique ("Crash <i>"), so the simulator's log
(GET /_control) counts sends per message. When the simulator has received 15 %, 35 % and
55 % of --n sends (or 60 s after the previous kill, whichever is first), the qcluster's
whole process group gets SIGKILL, and a fresh qcluster starts at once. Then it waits until
every message is final or PENDING_UNKNOWN ("settled"), then until the unknowns too are final
(the default `resend` policy sends them again after the grace period: "all final"), at most
--settle-seconds after the last kill.

Reports per configuration: messages, lost (neither final nor PENDING_UNKNOWN at the end;
the breakdown shows their statuses), sent twice (bodies the simulator received more than
once), never sent, unknown (status PENDING_UNKNOWN, which the new core adds), and the time
from the last kill until everything settled; then one closing line
`N messages, lost L, sent twice D, unknown K, settled in S s` over all configurations.
Every process runs in its own process group and is ended by its id. Writes nothing to the
repository unless --json FILE.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
CONFIGS = ("sqlite-orm", "pg-orm", "pg-redis")
SIM_SID = "AC" + "0" * 31 + "1"  # providers.simulator's defaults
SIM_TOKEN = "simulator-auth-token"
KILL_AT = (0.15, 0.35, 0.55)
UNKNOWN = "PENDING_UNKNOWN"

SETUP = """
from providers.models import Provider
from tenants.services import tenant_app_key_issue
issued = tenant_app_key_issue(slug="bench", app_name="bench", tenant_name="Bench")
p = Provider(tenant=issued.tenant, name="simulator", provider_type="twilio", channels=["sms"],
             is_tenant_default=True, default_sender="+14155550000")
p.credentials = {"accountSid": %r, "authToken": %r, "apiBaseUrl": %r}
p.save()
print("KEY=" + issued.raw_key)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Group:
    """A child in its own process group, ended by its id."""

    def __init__(self, cmd, cwd, env, logfile: Path) -> None:
        self.out = open(logfile, "ab")
        self.p = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True,
                                  stdout=self.out, stderr=subprocess.STDOUT)  # fmt: skip

    def kill(self, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.p.wait(5)
        self.kill(signal.SIGKILL)  # stragglers of the group
        self.out.close()


def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def run_config(config: str, args, k: int) -> dict:
    import psycopg
    import requests

    tree = Path(args.tree).resolve()
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-crash-{config}-"))
    secret = "bench-crash-secret-" + uuid.uuid4().hex
    web_port, sim_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}" if config == "pg-redis" else ""
    name = f"bench_crash_{os.getpid()}_{k}"
    if config.startswith("pg"):
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db_url = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    else:
        db_url = f"sqlite:///{tmp}/crash.sqlite3"
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": db_url, "REDIS_URL": redis_url, "SECRET_KEY": secret,
        "CREDENTIALS_KEY": base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode(),
        "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost", "ALLOW_PRIVATE_URLS": "true",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback, no TLS in front
        "API_RATE_LIMIT": "100000000/minute", "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(tree),
    }  # fmt: skip
    manage = [sys.executable, str(tree / "manage.py")]
    groups: list[Group] = []
    sim_url = f"http://127.0.0.1:{sim_port}"
    result: dict = {"config": config}

    def statuses() -> Counter:
        if config.startswith("pg"):
            with psycopg.connect(dbname=name, **PG) as conn:
                rows = conn.execute(
                    "SELECT status, count(*) FROM messaging_message GROUP BY status"
                ).fetchall()
        else:
            conn = sqlite3.connect(f"{tmp}/crash.sqlite3", timeout=30)
            try:
                rows = conn.execute(
                    "SELECT status, count(*) FROM messaging_message GROUP BY status"
                ).fetchall()
            finally:
                conn.close()
        return Counter(dict(rows))

    def ever_unknown() -> int:
        """Messages that were shown as outcome unknown at some point (their timeline has a
        PENDING_UNKNOWN event), whether or not the policy has resent them since."""
        sql = ("SELECT count(DISTINCT message_id) FROM messaging_messageevent"
               " WHERE status = 'PENDING_UNKNOWN'")  # fmt: skip
        if config.startswith("pg"):
            with psycopg.connect(dbname=name, **PG) as conn:
                return conn.execute(sql).fetchone()[0]
        conn = sqlite3.connect(f"{tmp}/crash.sqlite3", timeout=30)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()

    def sends() -> list[str]:
        state = requests.get(f"{sim_url}/_control", timeout=30).json()
        bodies = []
        for s in state["sends"]:
            form = dict(s["form"])
            if form.get("Body", "").startswith("Crash "):
                bodies.append(form["Body"])
        return bodies

    try:
        log(f"{config}: migrating ({db_url})")
        subprocess.run([*manage, "migrate", "-v0"], cwd=tree, env=env, check=True, timeout=300)
        out = subprocess.run([*manage, "shell", "-c", SETUP % (SIM_SID, SIM_TOKEN, sim_url)],
                             cwd=tree, env=env, check=True, timeout=120, capture_output=True).stdout.decode()  # fmt: skip
        key = next(line[4:] for line in out.splitlines() if line.startswith("KEY="))
        groups.append(Group([*manage, "provider_simulator", "--port", str(sim_port),
                             "--report-delay", str(args.report_delay)], tree, env, tmp / "simulator.log"))  # fmt: skip
        groups.append(Group([sys.executable, "-m", "gunicorn", "config.wsgi", "-w", "2",
                             "-b", f"127.0.0.1:{web_port}", "--timeout", "60"], tree, env, tmp / "gunicorn.log"))  # fmt: skip
        wait_http(f"{sim_url}/_control")
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        cluster = Group([*manage, "qcluster"], tree, env, tmp / "qcluster.log")
        groups.append(cluster)
        time.sleep(3)

        # Distinct numbers, none ending 0001-0006 (the simulator's scripted outcomes).
        to = [
            f"+1415{7_000_000 + j:07d}" for j in range(2 * args.n + 10) if not 1 <= j % 10_000 <= 6
        ]
        body = {"sms": [{"body": f"Crash {i}", "to": [to[i]]} for i in range(args.n)]}
        t_accept = time.monotonic()
        r = requests.post(f"http://127.0.0.1:{web_port}/api/v1/messages", json=body,
                          headers={"X-API-Key": key}, timeout=120)  # fmt: skip
        if r.status_code != 202:
            raise SystemExit(f"{config}: POST answered {r.status_code}: {r.text[:300]}")
        log(f"{config}: {args.n} accepted in {time.monotonic() - t_accept:.1f} s")
        kills = []
        last = time.monotonic()
        for i in range(args.kills):
            target = int(KILL_AT[i % len(KILL_AT)] * args.n) if i < len(KILL_AT) else None
            while True:
                seen = len(sends())
                if (target is not None and seen >= target) or time.monotonic() - last > 60:
                    break
                time.sleep(0.3)
            cluster.kill(signal.SIGKILL)
            cluster.p.wait(10)
            cluster.out.close()
            groups.remove(cluster)
            last = time.monotonic()
            kills.append({"at_s": last - t_accept, "sends_seen": seen})
            log(
                f"{config}: kill {i + 1} at {last - t_accept:.1f} s, {seen} sends seen; restarting qcluster"
            )
            cluster = Group([*manage, "qcluster"], tree, env, tmp / "qcluster.log")
            groups.append(cluster)
        last_kill = last
        settled_s = final_s = None
        unknown_shown = 0
        deadline = last_kill + args.settle_seconds
        next_log = 0.0
        while time.monotonic() < deadline:
            c = statuses()
            pending = {s: v for s, v in c.items() if s.startswith("PENDING") and s != UNKNOWN}
            if settled_s is None and not pending and sum(c.values()) == args.n:
                # Every message final or shown as unknown: settled. With the tenant's
                # `resend` policy the unknowns are then sent again; wait for them too.
                settled_s = time.monotonic() - last_kill
                unknown_shown = c.get(UNKNOWN, 0)
            if settled_s is not None and not c.get(UNKNOWN, 0):
                final_s = time.monotonic() - last_kill
                break
            if time.monotonic() > next_log:
                log(
                    f"{config}: {time.monotonic() - last_kill:.0f} s after the last kill: {dict(pending)} pending"
                )
                next_log = time.monotonic() + 30
            time.sleep(2)
        time.sleep(1)
        c = statuses()
        bodies = Counter(sends())
        result.update(
            messages=sum(c.values()),
            lost=sum(v for s, v in c.items() if s.startswith("PENDING") and s != UNKNOWN),
            lost_statuses={s: v for s, v in c.items() if s.startswith("PENDING") and s != UNKNOWN},
            unknown=unknown_shown,
            ever_unknown=ever_unknown(),
            unknown_at_end=c.get(UNKNOWN, 0),
            final_s=final_s,
            sent_twice=sum(1 for v in bodies.values() if v > 1),
            extra_sends=sum(v - 1 for v in bodies.values() if v > 1),
            never_sent=args.n - len(bodies),
            statuses=dict(c), kills=kills, settled_s=settled_s, settle_bound_s=args.settle_seconds,
        )  # fmt: skip
        log(f"{config}: {result}")
    finally:
        for g in reversed(groups):
            g.stop()
        if config.startswith("pg"):
            with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
        if args.keep_logs:
            log(f"{config}: logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )  # fmt: skip
    parser.add_argument("--configs", default=",".join(CONFIGS), help=", ".join(CONFIGS))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument(
        "--settle-seconds", type=float, default=600.0, help="bound after the last kill"
    )
    parser.add_argument("--report-delay", type=float, default=0.3, help="simulator's report delay")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--tree", default=str(BASE_DIR), help="checkout to run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the /tmp logs")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    # Stopped by SIGTERM or SIGINT (also when started in the background): clean up first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            parser.error(f"unknown configuration {c}")
    started = time.monotonic()
    results = [run_config(c, args, k) for k, c in enumerate(configs)]

    print(
        f"\nCrash: {args.kills} SIGKILLs of qcluster's process group mid-send; ours = {Path(args.tree).resolve()}"
    )
    head = f"{'configuration':<14} {'messages':>8} {'lost':>5} {'sent twice':>10} {'never sent':>10} {'unknown':>7} {'ever unknown':>12} {'settled after last kill':>24} {'all final':>9}  kills at (s, sends seen)"
    print(head)
    print("-" * len(head))
    for r in results:
        settled = (
            f"{r['settled_s']:.0f} s"
            if r["settled_s"] is not None
            else f"NOT in {r['settle_bound_s']:.0f} s"
        )
        kills = ", ".join(f"{k['at_s']:.0f}/{k['sends_seen']}" for k in r["kills"])
        final = f"{r['final_s']:.0f} s" if r.get("final_s") is not None else "-"
        print(f"{r['config']:<14} {r['messages']:>8,} {r['lost']:>5} {r['sent_twice']:>10} {r['never_sent']:>10} "
              f"{r['unknown']:>7} {r.get('ever_unknown', '-'):>12} {settled:>24} {final:>9}  {kills}")  # fmt: skip
        if r["lost"]:
            print(f"{'':<14} lost by status: {r['lost_statuses']}")
    n = sum(r["messages"] for r in results)
    worst = [r["settled_s"] for r in results]
    settled = "never (bound passed)" if None in worst else f"{max(worst):.0f} s"
    print(f"\n{n:,} messages, lost {sum(r['lost'] for r in results)}, sent twice "
          f"{sum(r['sent_twice'] for r in results)}, unknown {sum(r['unknown'] for r in results)}, "
          f"settled in {settled}")  # fmt: skip
    print(
        f"(wall time {time.monotonic() - started:.0f} s; 'settled in' is the slowest configuration)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
