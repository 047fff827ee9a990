"""The sandbox provider's scripted outcomes, end to end: API accept → dispatch → report."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.services.sweep import sweep
from providers.backends import OutboundMessage, SendError
from providers.backends.sandbox import SandboxBackend, outcome_for
from providers.magic import MAGIC_SUFFIXES
from providers.models import SandboxOutboxEntry
from providers.simulator import Simulator


def send(client, run_tasks, channel, to, **extra):
    entry = {"body": "Hello from the sandbox", "to": [to]}
    if channel == "email":
        entry = {"subject": "Hi", "body": "Hello by email", "to": [to]}
    r = run_tasks(client.post, "/api/v1/messages", {channel: [entry], **extra}, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


def detail(client, mid):
    r = client.get(f"/api/v1/messages/{mid}")
    assert r.status_code == 200, r.content
    return r.json()


def timeline(got):
    return [e["status"] for e in got["events"]]


def retry_now(run_tasks):
    """Make every waiting retry due now and let the sweep hand it to a worker."""
    Message.objects.filter(status="PENDING_WAITING_RETRY").update(
        next_attempt_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    return run_tasks(sweep)


@pytest.mark.parametrize(
    ("channel", "to", "outcome"),
    [
        ("sms", "+14155550100", "deliver"),
        ("sms", "+14155550001", "reject"),
        ("sms", "+14155550002", "flaky"),
        ("sms", "+14155550003", "no_account"),
        ("sms", "+1 415 555 0004", "bounce"),
        ("sms", "+14155550005", "throttle"),
        ("whatsapp", "whatsapp:+14155550002", "flaky"),
        ("email", "Reject.me@example.com", "reject"),
        ("email", "flaky-1@example.com", "flaky"),
        ("email", "bounce@example.com", "bounce"),
        ("email", "someone@example.com", "deliver"),
        ("email", "x0001@example.com", "deliver"),
    ],
)
def test_outcome_for_recipient(channel, to, outcome):
    assert outcome_for(channel, to) == outcome


def test_backend_flaky_fails_once_then_sends(sandbox):
    backend = sandbox.backend()
    msg = OutboundMessage(
        id="00000000-0000-0000-0000-000000000001", channel="sms", to="+14155550002"
    )
    msg.attempt = 1
    with pytest.raises(SendError) as exc:
        backend.send(msg)
    assert exc.value.permanent is False
    msg.attempt = 2
    result = backend.send(msg)
    assert result.follow_up_report == {
        "messageId": result.provider_message_id,
        "status": "DELIVERED",
        "messageRef": msg.id,  # our id comes back, as a real provider's reference does
    }
    assert SandboxOutboxEntry.objects.get().provider_message_id == result.provider_message_id


def test_backend_no_account_only_on_account_channels(sandbox):
    backend = SandboxBackend({}, provider_id=sandbox.pk)
    for channel in ("whatsapp", "viber", "rcs"):
        with pytest.raises(SendError) as exc:
            backend.send(OutboundMessage(id=str(Message().id), channel=channel, to="+14155550003"))
        assert exc.value.permanent is True
        assert exc.value.status == "REJECTED_NOT_ON_CHANNEL"
    assert backend.send(OutboundMessage(id=str(Message().id), channel="sms", to="+14155550003"))


def test_normal_recipient_is_delivered_via_the_status_webhook(client, sandbox, run_tasks):
    mid = send(client, run_tasks, "sms", "+14155550100")
    got = detail(client, mid)
    assert got["status"] == {
        "groupName": "DELIVERED",
        "name": "DELIVERED_TO_HANDSET",
        "description": "Delivered to the recipient.",
    }
    assert got["error"] is None
    assert got["attempts"] == 1
    assert got["providerMessageId"].startswith("sbx-")
    assert timeline(got) == ["PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_TO_HANDSET"]
    assert [e["source"] for e in got["events"]] == ["api", "dispatch", "provider"]
    entry = SandboxOutboxEntry.objects.get()
    assert (str(entry.message_id), entry.to, entry.channel, entry.body) == (
        mid,
        "+14155550100",
        "sms",
        "Hello from the sandbox",
    )
    assert entry.provider_message_id == got["providerMessageId"]


def test_email_is_delivered_and_lands_in_the_outbox(client, sandbox, run_tasks):
    mid = send(client, run_tasks, "email", "ann@example.com")
    assert detail(client, mid)["status"]["name"] == "DELIVERED_TO_HANDSET"
    entry = SandboxOutboxEntry.objects.get()
    assert (entry.channel, entry.to, entry.subject) == ("email", "ann@example.com", "Hi")


@pytest.mark.parametrize(
    ("channel", "to"), [("sms", "+14155550001"), ("email", "reject@example.com")]
)
def test_reject_recipient_is_rejected_at_once(client, sandbox, run_tasks, channel, to):
    mid = send(client, run_tasks, channel, to)
    got = detail(client, mid)
    assert got["status"]["groupName"] == "REJECTED"
    assert got["status"]["name"] == "REJECTED_DESTINATION"
    assert got["error"]["code"] == "SANDBOX_REJECTED"
    assert got["error"]["permanent"] is True
    assert got["finalAt"] is not None
    assert timeline(got) == ["PENDING_ACCEPTED", "REJECTED_DESTINATION"]
    assert not SandboxOutboxEntry.objects.exists()
    # Final: the sweep never tries it again.
    run_tasks(sweep)
    assert detail(client, mid)["attempts"] == 1
    assert not SandboxOutboxEntry.objects.exists()


@pytest.mark.parametrize(
    ("channel", "to"), [("sms", "+14155550002"), ("email", "flaky@example.com")]
)
def test_flaky_recipient_fails_once_then_is_delivered(client, sandbox, run_tasks, channel, to):
    mid = send(client, run_tasks, channel, to)
    got = detail(client, mid)
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"] == {
        "code": "SANDBOX_TRANSIENT",
        "description": "Simulated transient failure (magic recipient), attempt 1; "
        "the next attempt delivers.",
        "permanent": False,
    }
    # Due within the first backoff (5-10 s), not the minutes two failures took.
    due = Message.objects.get(pk=mid).next_attempt_at - timezone.now()
    assert timedelta(seconds=4) < due <= timedelta(seconds=10)
    # Not due yet: the sweep leaves it alone.
    run_tasks(sweep)
    assert detail(client, mid)["attempts"] == 1

    retry_now(run_tasks)
    got = detail(client, mid)
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert got["attempts"] == 2
    assert got["error"] is None
    assert timeline(got) == [
        "PENDING_ACCEPTED",
        "PENDING_WAITING_RETRY",
        "PENDING_ENROUTE",
        "DELIVERED_TO_HANDSET",
    ]
    assert [e["errorCode"] for e in got["events"][1:3]] == ["SANDBOX_TRANSIENT", None]
    assert SandboxOutboxEntry.objects.filter(message_id=mid).count() == 1


def test_no_account_is_rejected_on_whatsapp_but_sms_delivers(client, sandbox, run_tasks):
    wa = send(client, run_tasks, "whatsapp", "+14155550003")
    sms = send(client, run_tasks, "sms", "+14155550003")
    got = detail(client, wa)
    assert got["status"]["groupName"] == "REJECTED"
    assert got["status"]["name"] == "REJECTED_NOT_ON_CHANNEL"
    assert got["error"]["code"] == "SANDBOX_NO_ACCOUNT"
    assert got["error"]["permanent"] is True
    assert detail(client, sms)["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert list(SandboxOutboxEntry.objects.values_list("channel", flat=True)) == ["sms"]


@pytest.mark.parametrize(
    ("channel", "to"), [("sms", "+14155550004"), ("email", "bounce@example.com")]
)
def test_bounce_recipient_is_sent_then_undeliverable(client, sandbox, run_tasks, channel, to):
    mid = send(client, run_tasks, channel, to)
    got = detail(client, mid)
    assert got["status"]["groupName"] == "UNDELIVERABLE"
    assert got["status"]["name"] == "UNDELIVERABLE_NOT_DELIVERED"
    assert got["error"] == {
        "code": "SANDBOX_BOUNCE",
        "description": "Simulated bounce (magic recipient).",
        "permanent": True,
    }
    assert timeline(got) == ["PENDING_ACCEPTED", "PENDING_ENROUTE", "UNDELIVERABLE_NOT_DELIVERED"]
    assert got["events"][-1]["errorCode"] == "SANDBOX_BOUNCE"
    assert SandboxOutboxEntry.objects.filter(message_id=mid).count() == 1


def test_sender_comes_from_the_request_or_the_providers_default(client, sandbox, run_tasks):
    sandbox.default_sender = "ACME"
    sandbox.save()
    send(client, run_tasks, "sms", "+14155550100")
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "hi", "senderId": "SHOP", "to": ["+14155550101"]}]},
        format="json",
    )
    assert r.status_code == 202
    senders = dict(SandboxOutboxEntry.objects.values_list("to", "sender"))
    assert senders == {"+14155550100": "ACME", "+14155550101": "SHOP"}


@pytest.mark.parametrize("suffix", sorted(MAGIC_SUFFIXES))
def test_sandbox_and_simulator_read_one_magic_table(suffix):
    """A magic number means the same in the sandbox and in the simulator (issue 9: 0002,
    0003 and 0004 meant different things in each)."""
    outcome = MAGIC_SUFFIXES[suffix][0]
    assert outcome_for("sms", f"+1415555{suffix}") == outcome
    simulator = Simulator()
    if outcome == "flaky":  # the simulator resolves flaky per send: 503 first, then delivered
        assert simulator.mode_for(f"+1415555{suffix}", "m-1") == "unavailable"
        assert simulator.mode_for(f"+1415555{suffix}", "m-1") == "deliver"
    else:
        assert simulator.mode_for(f"+1415555{suffix}") == outcome


def test_throttled_recipient_is_retried_not_refused(client, sandbox, run_tasks):
    mid = send(client, run_tasks, "sms", "+14155550005")
    got = detail(client, mid)
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["code"] == "SANDBOX_THROTTLED" and got["error"]["permanent"] is False
    retry_now(run_tasks)
    assert detail(client, mid)["status"]["name"] == "PENDING_WAITING_RETRY"
    assert not SandboxOutboxEntry.objects.exists()
