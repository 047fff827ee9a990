"""Every hand-over to the provider is recorded as an attempt, with the provider's answer, in
the transaction of the status change it caused (and only when that change happened)."""

import uuid

import pytest
from django.utils import timezone

from messaging.models import Message, MessageAttempt
from messaging.services.dispatch import RESPONSE_EXCERPT_CHARS, dispatch_chunk
from messaging.services.sweep import sweep
from providers.backends import SendError
from providers.backends.sandbox import SandboxBackend


def send(client, run_tasks, to, channel="sms"):
    entry = {"body": "Your code is 1234", "to": [to]}
    if channel == "email":
        entry["subject"] = "Code"
    r = run_tasks(client.post, "/api/v1/messages", {channel: [entry]}, format="json")
    assert r.status_code == 202, r.content
    return Message.objects.get(pk=r.json()["messages"][0]["messageId"])


def retry_now(run_tasks):
    """Make every waiting retry due now and let the sweep hand it to a worker."""
    Message.objects.filter(status="PENDING_WAITING_RETRY").update(
        next_attempt_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    return run_tasks(sweep)


def attempts_of(message):
    return list(
        MessageAttempt.objects.filter(message=message)
        .order_by("number")
        .values_list("number", "outcome", "error_code", "provider_message_id")
    )


def test_flaky_recipient_ends_with_transient_then_sent(client, sandbox, run_tasks):
    message = send(client, run_tasks, "+14155550002")
    retry_now(run_tasks)
    message.refresh_from_db()
    assert message.status == "DELIVERED_TO_HANDSET"
    assert attempts_of(message) == [
        (1, "transient", "SANDBOX_TRANSIENT", ""),
        (2, "sent", "", message.provider_message_id),
    ]
    first = MessageAttempt.objects.get(message=message, number=1)
    assert first.error_description == (
        "Simulated transient failure (magic recipient), attempt 1; the next attempt delivers."
    )
    assert first.started_at <= MessageAttempt.objects.get(message=message, number=2).started_at
    # The provider's answer is kept for each attempt: the error, then the acceptance.
    assert first.provider_response == {
        "error": {"code": "SANDBOX_TRANSIENT", "description": first.error_description}
    }
    sent = MessageAttempt.objects.get(message=message, number=2)
    assert sent.provider_response["messageId"] == message.provider_message_id


def test_rejected_recipient_has_one_permanent_attempt(client, sandbox, run_tasks):
    message = send(client, run_tasks, "+14155550001")
    assert attempts_of(message) == [(1, "permanent", "SANDBOX_REJECTED", "")]


def test_expired_before_sending_is_no_attempt(client, sandbox, run_tasks):
    message = send(client, run_tasks, "+14155550002")  # waiting for its retry
    Message.objects.filter(pk=message.pk).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1),
        next_attempt_at=timezone.now() - timezone.timedelta(seconds=1),
    )
    dispatch_chunk(message_ids=[str(message.pk)])
    message.refresh_from_db()
    assert message.status == "EXPIRED_EXPIRED"
    assert [a[1] for a in attempts_of(message)] == ["transient"]  # the first, not this one


def test_no_attempt_is_recorded_when_the_claim_was_lost(
    client, sandbox, run_tasks, monkeypatch, no_sandbox_report
):
    """The guarded transition did not happen (the lease ran out and another worker took the
    message): the attempt is not this worker's to record."""
    real_send = SandboxBackend.send

    def send_slowly(self, outbound):
        result = real_send(self, outbound)
        Message.objects.filter(pk=outbound.id).update(claim_token=uuid.uuid4())
        return result

    monkeypatch.setattr(SandboxBackend, "send", send_slowly)
    message = send(client, run_tasks, "+14155550100")
    message.refresh_from_db()
    assert message.status == "PENDING_PROCESSING"  # still the other claim's
    assert attempts_of(message) == []


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ({"status": 400, "error": {"code": 21211, "message": "Invalid 'To'"}}, None),
        ("<html>Bad gateway</html>", None),
        ({"blob": "x" * (RESPONSE_EXCERPT_CHARS * 2)}, "cut"),
    ],
)
def test_the_providers_answer_is_kept_within_bounds(
    client, sandbox, run_tasks, monkeypatch, raw, stored
):
    def refuse(self, outbound):
        raise SendError("PROVIDER_ERROR", "The provider said no.", permanent=True, raw=raw)

    monkeypatch.setattr(SandboxBackend, "send", refuse)
    message = send(client, run_tasks, "+14155550100")
    attempt = MessageAttempt.objects.get(message=message)
    assert (attempt.outcome, attempt.error_code) == ("permanent", "PROVIDER_ERROR")
    if stored is None:
        assert attempt.provider_response == raw
    else:
        text = attempt.provider_response
        assert isinstance(text, str)
        assert text.startswith('{"blob": "xxx')
        assert text.endswith(f"[cut: {len(raw['blob']) + 12} characters in all]")
        assert len(text) < RESPONSE_EXCERPT_CHARS + 100
