"""Wake-up calls to the workers. Always after commit: a rolled-back row is never enqueued.

The queue carries no work, only wake-ups: the rows are the truth. Dispatch wake-ups
coalesce: while one dispatch run waits in the queue, another wake-up buys nothing, so a
burst of small requests becomes a few full windows rather than a task each.
"""

from __future__ import annotations

import os
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.tasks import async_task

DISPATCH_RUN = "messaging.tasks.dispatch_run"
DELIVER_CALLBACK = "messaging.tasks.deliver_callback"
DELIVER_CALLBACKS = "messaging.tasks.deliver_callbacks"
SANDBOX_REPORTS = "messaging.tasks.sandbox_reports"

WAKE_KEY = "messaging:dispatch-wake"

_broker = None
_broker_pid = None


def broker():
    """One broker (one Redis connection pool) per process: django-q2 makes a new one per
    async_task otherwise, a new connection per enqueue."""
    global _broker, _broker_pid
    if _broker is None or _broker_pid != os.getpid():
        _broker, _broker_pid = get_broker(), os.getpid()
    return _broker


def enqueue(func: str, *args) -> None:
    if Conf.SYNC:
        async_task(func, *args)
    else:
        async_task(func, *args, broker=broker())


def enqueue_on_commit(func: str, *args) -> None:
    transaction.on_commit(lambda: enqueue(func, *args))


def _cache_is_shared() -> bool:
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def _wake_mark() -> bool:
    """Mark a dispatch run as queued; False if one already is (and not stale)."""
    ttl = settings.DISPATCH_WAKE_TTL
    if _cache_is_shared():
        return bool(cache.add(WAKE_KEY, 1, timeout=ttl))
    from django.db import connection

    from .models import DispatchWake

    now = timezone.now()
    stale = now - timedelta(seconds=ttl)
    table = connection.ops.quote_name(DispatchWake._meta.db_table)
    field = DispatchWake._meta.get_field("pending_since")
    at = field.get_db_prep_value(now, connection)
    # One statement, also when the row is missing (a flushed test database): the upsert
    # returns the row only if it was free (or stale) and is now marked.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, pending_since) VALUES (1, %s) ON CONFLICT (id) DO UPDATE"
            f" SET pending_since = excluded.pending_since WHERE {table}.pending_since IS NULL"
            f" OR {table}.pending_since < %s RETURNING id",
            [at, field.get_db_prep_value(stale, connection)],
        )
        return cursor.fetchone() is not None


def wake_clear() -> None:
    """A dispatch run has started: the next wake-up must queue a new one. Cleared before the
    run claims, so a message committed after this is found by the next run, and one
    committed before by this run: no wake-up is lost."""
    if _cache_is_shared():
        cache.delete(WAKE_KEY)
        return
    from .models import DispatchWake

    DispatchWake.objects.filter(pk=1).update(pending_since=None)


def wake_dispatchers() -> bool:
    """Wake the dispatchers (coalesced); returns whether a run was queued."""
    if Conf.SYNC:
        # Tests run tasks inline: no coalescing to wait for, and no recursion from a run.
        enqueue(DISPATCH_RUN)
        return True
    if _wake_mark():
        enqueue(DISPATCH_RUN)
        return True
    return False


def wake_on_commit() -> None:
    transaction.on_commit(wake_dispatchers)
