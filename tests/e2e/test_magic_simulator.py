"""The magic recipients through the provider simulator mean what they mean in the sandbox
(one table, providers/magic.py): a number rehearsed on one behaves the same on the other."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.services.sweep import sweep
from tests.e2e.test_simulator import public, register, send, simulator, wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["public", "simulator"]  # fixtures, used by name


def retry_now(run_tasks) -> None:
    Message.objects.filter(status="PENDING_WAITING_RETRY").update(
        next_attempt_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    run_tasks(sweep)


@pytest.mark.parametrize("provider_type", ["twilio", "infobip"])
def test_flaky_number_fails_once_then_delivers(client, run_tasks, simulator, public, provider_type):
    register(client, simulator, provider_type)
    mid = send(client, run_tasks, provider_type, "+14155550002")
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["permanent"] is False
    due = Message.objects.get(pk=mid).next_attempt_at - timezone.now()
    assert due <= timezone.timedelta(seconds=10)  # the first backoff: seconds, not minutes
    retry_now(run_tasks)
    message = wait_for_status(mid, "DELIVERED_TO_HANDSET")
    assert message.attempts == 2


@pytest.mark.parametrize(
    ("number", "channel", "final"),
    [
        ("+14155550001", "sms", "REJECTED_DESTINATION"),
        ("+14155550003", "whatsapp", "REJECTED_NOT_ON_CHANNEL"),
        ("+14155550003", "sms", "DELIVERED_TO_HANDSET"),
        ("+14155550004", "sms", "UNDELIVERABLE_NOT_DELIVERED"),
    ],
)
@pytest.mark.parametrize("provider_type", ["twilio", "infobip"])
def test_magic_numbers_mean_what_the_sandbox_means(
    client, run_tasks, simulator, public, provider_type, number, channel, final
):
    register(client, simulator, provider_type)
    mid = send(client, run_tasks, provider_type, number, channel)
    wait_for_status(mid, final)
