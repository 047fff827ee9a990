"""django-q2 entry points: thin; each calls one service."""

from providers.backends import WebhookRequest

from .services.callbacks import callback_deliver
from .services.dispatch import dispatch_chunk as _dispatch_chunk
from .services.dispatch import dispatch_request as _dispatch_request
from .services.dispatch import dispatch_run as _dispatch_run
from .services.sweep import sweep as _sweep


def dispatch_run() -> dict[str, int]:
    return _dispatch_run()


def dispatch_chunk(message_ids: list[str]) -> dict[str, int]:
    return _dispatch_chunk(message_ids=message_ids)


def dispatch_request(request_id: str) -> int:
    return _dispatch_request(request_id=request_id)


def deliver_callback(delivery_id: int) -> str:
    return callback_deliver(delivery_id=delivery_id)


def deliver_callbacks(delivery_ids: list[int]) -> dict[str, int]:
    """A window's callbacks, one task for all of them; what a slow app leaves undone when
    the budget is spent goes to a fresh task (well inside the task timeout)."""
    import time

    from django.conf import settings

    from .queue import DELIVER_CALLBACKS, enqueue

    started = time.monotonic()
    states: dict[str, int] = {}
    for index, delivery_id in enumerate(delivery_ids):
        if index and time.monotonic() - started > settings.CALLBACK_BATCH_BUDGET:
            enqueue(DELIVER_CALLBACKS, delivery_ids[index:])
            states["handed_on"] = len(delivery_ids) - index
            break
        state = callback_deliver(delivery_id=delivery_id)
        states[state] = states.get(state, 0) + 1
    return states


def sandbox_reports(batches: list) -> int:
    """A window's simulated reports: one webhook call per sandbox provider, as a provider
    that posts reports in batches does."""
    return sum(sandbox_report(token, reports) for token, reports in batches)


def sandbox_report(webhook_token: str, report: dict | list) -> int:
    """The sandbox's delivery report, through the same path as a provider's webhook call."""
    import json

    from .services.webhooks import status_webhook_receive

    request = WebhookRequest(
        method="POST",
        url=f"/webhooks/providers/{webhook_token}/status",
        headers={"Content-Type": "application/json"},
        body=json.dumps(report).encode(),
    )
    return status_webhook_receive(token=webhook_token, request=request)


def sweep() -> dict[str, int]:
    return _sweep()
