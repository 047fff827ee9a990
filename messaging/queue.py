"""Wake-up calls to the workers. Always after commit: a rolled-back row is never enqueued."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django_q.tasks import async_task

DISPATCH_CHUNK = "messaging.tasks.dispatch_chunk"
DISPATCH_REQUEST = "messaging.tasks.dispatch_request"
DELIVER_CALLBACK = "messaging.tasks.deliver_callback"
SANDBOX_REPORT = "messaging.tasks.sandbox_report"


def enqueue(func: str, *args) -> None:
    async_task(func, *args)


def enqueue_on_commit(func: str, *args) -> None:
    transaction.on_commit(lambda: async_task(func, *args))


def chunked(ids: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])
