"""How fast the message log's pages are with a million messages (run by hand, not in the suite).

    .venv/bin/python bench/admin_log.py [--messages 1000000] [--runs 5] [--fresh] [--explain]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/msg_log): creates the database
if missing, migrates it, and fills it once with --messages messages in one INSERT ... SELECT
generate_series (the message indexes are dropped for the load and rebuilt after, which is
several times faster than maintaining them row by row), then VACUUM ANALYZE. The data is kept
for the next run; --fresh drops the database first.

The shape: two tenants, 90% of the messages in "koala" (default country AU, the one timed),
10% in "wombat"; three apps each (a third each) and three providers each (70%, 29.9% and a
fallback with 0.1%); 100 messages a request; one message every 5 seconds (a million span
about 58 days); 70% SMS, 20% email, 10% WhatsApp; statuses 85% delivered, 5% en route,
4% undeliverable, 3% rejected, 2% expired, 0.5% cancelled, 0.5% scheduled.

Each page is fetched --runs times through django.test.Client in process, logged in as a
tenant admin of koala (also as support of the small tenant, and as a superuser), DEBUG off. Prints
the median and best time, the SQL queries per page and the count the page shows. --explain
prints EXPLAIN (ANALYZE, BUFFERS) of each page's queries on the messages table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/msg_log"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN each page's queries")
    parser.add_argument("--only", default="", help="time only the pages whose name has this")
    args = parser.parse_args()

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/admin_log.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="true",  # development secrets; DEBUG itself is switched off below
        ALLOWED_HOSTS="testserver,localhost,127.0.0.1",
        REDIS_URL="",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(BASE_DIR))
    ensure_database(url, fresh=args.fresh)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    ids = seed(args.messages)
    settings.DEBUG = False
    rows = time_pages(ids, runs=args.runs, explain=args.explain, only=args.only)
    print_table(rows, args.messages, args.runs)
    return 0


def ensure_database(url: str, *, fresh: bool) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "dbname": "postgres",
    }
    if parts.password:
        admin["password"] = parts.password
    with psycopg.connect(autocommit=True, **admin) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- filling the database --------------------------------------------------------------------


def seed(n: int) -> dict:
    """Tenants, apps, providers and users (idempotent), then the messages if not there yet."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from messaging.models import Message
    from providers.models import Provider
    from tenants.models import App, Membership, Tenant

    koala, _ = Tenant.objects.get_or_create(
        slug="koala", defaults={"name": "Koala Bank", "default_country": "AU"}
    )
    wombat, _ = Tenant.objects.get_or_create(slug="wombat", defaults={"default_country": "GB"})
    apps, providers = {}, {}
    for tenant in (koala, wombat):
        apps[tenant.slug] = [
            App.objects.get_or_create(tenant=tenant, name=f"{tenant.slug}-app-{i}")[0].pk
            for i in range(3)
        ]
        providers[tenant.slug] = [
            Provider.objects.get_or_create(
                tenant=tenant,
                name=f"{tenant.slug}-provider-{i}",
                defaults={"provider_type": "sandbox", "channels": ["sms", "email", "whatsapp"]},
            )[0].pk
            for i in range(3)
        ]
    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_user(
        "bench-admin", password="pw-Secret-123", is_staff=True
    )
    Membership.objects.get_or_create(user=admin, tenant=koala, defaults={"role": "tenant_admin"})
    small = User.objects.filter(username="bench-wombat").first() or User.objects.create_user(
        "bench-wombat", password="pw-Secret-123", is_staff=True
    )
    Membership.objects.get_or_create(user=small, tenant=wombat, defaults={"role": "support"})
    root = User.objects.filter(username="bench-root").first() or User.objects.create_superuser(
        "bench-root", password="pw-Secret-123"
    )

    have = Message.objects.count()
    if have < n:
        if have:
            sys.exit(f"The database holds {have} messages, fewer than {n}: run with --fresh.")
        started = time.monotonic()
        _load(n, koala.pk, wombat.pk, apps, providers)
        print(f"Filled {n:,} messages in {time.monotonic() - started:.1f} s", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, request_id, provider_message_id, \"to\" FROM messaging_message "
                       "WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1 OFFSET 123456",
                       [koala.pk])  # fmt: skip
        sample = cursor.fetchone() or cursor.execute(
            'SELECT id, request_id, provider_message_id, "to" FROM messaging_message LIMIT 1'
        )
        if sample is None:
            sample = cursor.fetchone()
    message_id, request_id, provider_message_id, to = sample
    _timeline(message_id)
    return {
        "admin": admin,
        "root": root,
        "wombat": small,
        "message_id": message_id,
        "request_id": request_id,
        "provider_message_id": provider_message_id,
        "to": to,
        "provider": providers["koala"][1],
        "rare_provider": providers["koala"][2],
        "app": apps["koala"][2],
    }


def _load(n: int, koala: int, wombat: int, apps: dict, providers: dict) -> None:
    from django.db import connection, transaction

    # g: 1..n; request g / 100. Every 10th request belongs to wombat. Status by a hash of g.
    # (mod() rather than %, which the driver reads as a placeholder.)
    status = (
        "CASE WHEN h < 850 THEN 'DELIVERED_TO_HANDSET' WHEN h < 900 THEN 'PENDING_ENROUTE' "
        "WHEN h < 940 THEN 'UNDELIVERABLE_NOT_DELIVERED' WHEN h < 970 THEN 'REJECTED_DESTINATION' "
        "WHEN h < 990 THEN 'EXPIRED_EXPIRED' WHEN h < 995 THEN 'CANCELLED_BY_CLIENT' "
        "ELSE 'PENDING_SCHEDULED' END"
    )
    error = (
        "CASE WHEN h >= 900 AND h < 940 THEN 'SANDBOX_BOUNCE' WHEN h >= 940 AND h < 970 "
        "THEN 'SANDBOX_REJECTED' WHEN h >= 970 AND h < 990 THEN 'VALIDITY_PASSED' ELSE '' END"
    )
    channel = (
        "CASE WHEN mod(g, 10) < 7 THEN 'sms' WHEN mod(g, 10) < 9 THEN 'email' ELSE 'whatsapp' END"
    )
    to = (
        f"CASE WHEN {channel} = 'email' THEN 'user' || mod(g, 400000) || '@example.com' "
        "ELSE '+614' || lpad(mod(g, 40000000)::text, 8, '0') END"
    )
    wombat_row = "mod(g / 100, 10) = 3"
    tenant = f"CASE WHEN {wombat_row} THEN {wombat} ELSE {koala} END"

    def pick(values: dict, by: str) -> str:
        k, w = values["koala"], values["wombat"]
        return (
            f"CASE WHEN {wombat_row} THEN (ARRAY{w})[1 + mod({by}, 3)] "
            f"ELSE (ARRAY{k})[1 + mod({by}, 3)] END"
        )

    # Providers: the first takes 70%, the second 29.9%, the third (a fallback) 0.1%.
    provider = (
        f"(CASE WHEN {wombat_row} THEN ARRAY{providers['wombat']} ELSE ARRAY{providers['koala']} "
        "END)[CASE WHEN mod(g, 1000) = 0 THEN 3 WHEN mod(g, 10) < 3 THEN 2 ELSE 1 END]"
    )

    request = "md5('request-' || (g / 100))::uuid"
    created = "now() - ((%(n)s - g) * interval '5 seconds')"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messaging_message' "
            "AND indexname NOT LIKE '%%pkey'"
        )
        indexes = cursor.fetchall()
        with transaction.atomic():
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute(
                "INSERT INTO messaging_messagerequest (id, tenant_id, app_id, callback_url, "
                "callback_meta, scheduled_at, priority, validity, text_store, message_count, "
                f"created_at) SELECT {request}, {tenant}, {pick(apps, 'g / 100')}, '', NULL, "
                f"NULL, 1, 2880, 'plaintext', 100, {created} "
                "FROM generate_series(0, %(n)s, 100) AS g",
                {"n": n},
            )
            cursor.execute(
                "INSERT INTO messaging_message (id, tenant_id, app_id, request_id, channel, "
                'provider_id, template_id, "to", recipients, sender, subject, body, html, '
                "content, status, error_code, error_description, error_permanent, "
                "provider_message_id, price, currency, attempts, next_attempt_at, claim_token, "
                "claimed_until, scheduled_at, expires_at, priority, text_store, created_at, "
                "updated_at, sent_at, final_at, resent_from_id) "
                f"SELECT md5('message-' || g)::uuid, {tenant}, {pick(apps, 'g / 100')}, "
                f"{request}, {channel}, {provider}, NULL, "
                f"{to}, NULL, 'KoalaBank', '', 'Your code is ' || mod(g, 1000000), '', NULL, "
                f"{status}, {error}, '', NULL, 'sbx-' || md5(g::text), NULL, '', 1, NULL, NULL, "
                f"NULL, NULL, {created} + interval '2 days', 1, 'plaintext', {created}, "
                f"{created}, {created}, {created}, NULL "
                "FROM (SELECT g, mod(g::bigint * 7919, 1000) AS h "
                "FROM generate_series(1, %(n)s) AS g) s",
                {"n": n},
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the foreign keys now
            for _, definition in indexes:
                cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE messaging_message")
        cursor.execute("VACUUM ANALYZE messaging_messagerequest")


def _timeline(message_id) -> None:
    """A few events, an attempt and a callback for the message whose page is timed."""
    from django.utils import timezone

    from messaging.models import (
        CallbackAttempt,
        CallbackDelivery,
        Message,
        MessageAttempt,
        MessageEvent,
    )

    if MessageEvent.objects.filter(message_id=message_id).exists():
        return
    now = timezone.now()
    for status, source in (
        ("PENDING_ACCEPTED", "api"),
        ("PENDING_ENROUTE", "dispatch"),
        ("DELIVERED_TO_HANDSET", "provider"),
    ):
        MessageEvent.objects.create(
            message_id=message_id, status=status, source=source, created_at=now
        )
    MessageAttempt.objects.create(
        message_id=message_id, number=1, started_at=now, duration_ms=180, outcome="sent",
        provider_message_id="sbx-1", provider_response={"status": "queued"},
    )  # fmt: skip
    delivery = CallbackDelivery.objects.create(
        app_id=Message.objects.values_list("app_id", flat=True).get(pk=message_id),
        message_id=message_id, url="https://app.example.com/hooks", payload={},
        state="delivered", attempts=1, next_attempt_at=now,
    )  # fmt: skip
    CallbackAttempt.objects.create(delivery=delivery, number=1, response_status=200)


# --- timing ----------------------------------------------------------------------------------


def pages(ids: dict) -> list[tuple[str, str, dict, str]]:
    """(case, path, query, user) for every page timed."""
    from django.urls import reverse

    log = reverse("admin:messaging_message_changelist")
    national = "0" + ids["to"][3:] if ids["to"].startswith("+61") else ids["to"]
    national = f"{national[:4]} {national[4:7]} {national[7:]}" if national[0] == "0" else national
    return [
        ("list, unfiltered", log, {}, "admin"),
        ("list, page 50", log, {"p": 50}, "admin"),
        ("status group DELIVERED (85%)", log, {"status_group": "DELIVERED"}, "admin"),
        ("status group CANCELLED (0.5%)", log, {"status_group": "CANCELLED"}, "admin"),
        ("channel whatsapp (10%)", log, {"channel__exact": "whatsapp"}, "admin"),
        ("provider (30%)", log, {"provider__id__exact": ids["provider"]}, "admin"),
        ("provider (0.1%)", log, {"provider__id__exact": ids["rare_provider"]}, "admin"),
        ("app", log, {"app__id__exact": ids["app"]}, "admin"),
        (
            "date range, one day",
            log,
            {"created_at__range__gte": _day(30), "created_at__range__lte": _day(30)},
            "admin",
        ),
        (
            "REJECTED + email + 7 days",
            log,
            {
                "status_group": "REJECTED",
                "channel__exact": "email",
                "created_at__range__gte": _day(14),
                "created_at__range__lte": _day(7),
            },
            "admin",
        ),
        (f"search '{national}'", log, {"q": national}, "admin"),
        ("search message id", log, {"q": str(ids["message_id"])}, "admin"),
        ("search request id", log, {"q": str(ids["request_id"])}, "admin"),
        ("search provider's id", log, {"q": ids["provider_message_id"]}, "admin"),
        ("search, no match", log, {"q": "0499 999 999"}, "admin"),
        (
            "detail page",
            reverse("admin:messaging_message_change", args=[ids["message_id"]]),
            {},
            "admin",
        ),  # fmt: skip
        ("small tenant (10%), unfiltered", log, {}, "wombat"),
        ("small tenant, CANCELLED", log, {"status_group": "CANCELLED"}, "wombat"),
        ("small tenant, whatsapp", log, {"channel__exact": "whatsapp"}, "wombat"),
        ("superuser list, unfiltered", log, {}, "root"),
        ("superuser, status EXPIRED", log, {"status_group": "EXPIRED"}, "root"),
    ]


def _day(days_ago: int) -> str:
    from django.utils import timezone

    return (timezone.now() - timezone.timedelta(days=days_ago)).date().isoformat()


def time_pages(ids: dict, *, runs: int, explain: bool, only: str = "") -> list[dict]:
    import re

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for name in ("admin", "root", "wombat"):
        clients[name] = Client()
        clients[name].force_login(ids[name])
    rows = []
    for case, path, query, who in pages(ids):
        if only not in case:
            continue
        client = clients[who]
        url = f"{path}?{urlencode(query)}" if query else path
        client.get(url)  # warm: templates, the planner's caches
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            r = client.get(url)
            times.append(time.perf_counter() - started)
            assert r.status_code == 200, (url, r.status_code)
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(url)
        page = r.content.decode()
        found = re.search(r'class="msglog-count">([^<]+)<', page)
        ours = [q for q in ctx.captured_queries if "messaging_message" in q["sql"]]
        slowest = max(ours or ctx.captured_queries, key=lambda q: float(q["time"]))
        rows.append(
            {
                "case": case,
                "median": statistics.median(times) * 1000,
                "best": min(times) * 1000,
                "queries": len(ctx.captured_queries),
                "shown": found.group(1).strip() if found else "-",
                "slowest": float(slowest["time"]) * 1000,
            }
        )
        for query in ours if explain else []:
            if query["sql"].startswith("EXPLAIN"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plan = "\n".join(f"    {line}" for (line,) in cursor.fetchall())
            print(f"\n== {case}: {query['sql'][:300]}\n{plan}", file=sys.stderr)
    return rows


def print_table(rows: list[dict], n: int, runs: int) -> None:
    print(f"\nMessage log, {n:,} messages on PostgreSQL, {runs} runs each (ms per page):\n")
    print(f"{'page':34} {'median':>8} {'best':>8} {'slowest SQL':>12} {'queries':>8}  shows")
    # "slowest SQL": the slowest query on messaging_message (Django logs whole milliseconds).
    for r in rows:
        print(
            f"{r['case']:34} {r['median']:8.1f} {r['best']:8.1f} {r['slowest']:12.1f} "
            f"{r['queries']:8d}  {r['shown']}"
        )


if __name__ == "__main__":
    sys.exit(main())
