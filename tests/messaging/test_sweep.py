"""The sweep re-finds whatever a lost or crashed task left behind, from the rows."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from core import status as st
from messaging.models import CallbackAttempt, CallbackDelivery, Message
from messaging.services.sweep import sweep
from providers.models import SandboxOutboxEntry
from tests.helpers import HOOK, received


def accept(client, to="+14155550100", **options):
    """Accept without running tasks: the enqueue is lost."""
    body = {"sms": [{"body": "hi", "to": [to]}], "callback": {"url": HOOK}, **options}
    r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


def detail(client, mid):
    return client.get(f"/api/v1/messages/{mid}").json()


def timeline(got):
    return [(e["status"], e["source"]) for e in got["events"]]


def ago(**kw):
    return timezone.now() - timedelta(**kw)


def test_a_lost_enqueue_is_redispatched_and_delivered(client, app, sandbox, run_tasks, hook):
    mid = accept(client)
    assert detail(client, mid)["status"]["name"] == "PENDING_ACCEPTED"
    # The backlog is the truth: the sweep wakes dispatch for it (a claim makes that safe).
    assert run_tasks(sweep)["woke"] == 1
    got = detail(client, mid)
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert got["attempts"] == 1
    assert SandboxOutboxEntry.objects.filter(message_id=mid).count() == 1
    assert [b["status"]["name"] for b in received(hook, app)] == [
        "PENDING_ENROUTE",
        "DELIVERED_TO_HANDSET",
    ]
    # A second sweep finds nothing more to do.
    assert {k: v for k, v in run_tasks(sweep).items() if v} == {}
    assert SandboxOutboxEntry.objects.count() == 1


def test_a_scheduled_message_is_released_when_due(client, app, sandbox, run_tasks, hook):
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "later", "to": ["+14155550100"]}], "scheduledAt": when},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    assert detail(client, mid)["status"]["name"] == "PENDING_SCHEDULED"
    assert run_tasks(sweep)["released"] == 0
    assert not SandboxOutboxEntry.objects.exists()

    Message.objects.filter(pk=mid).update(scheduled_at=ago(seconds=1))
    assert run_tasks(sweep)["released"] == 1
    got = detail(client, mid)
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert timeline(got) == [
        ("PENDING_SCHEDULED", "api"),
        ("PENDING_ACCEPTED", "timer"),
        ("PENDING_ENROUTE", "dispatch"),
        ("DELIVERED_TO_HANDSET", "provider"),
    ]
    assert SandboxOutboxEntry.objects.filter(message_id=mid).count() == 1


def test_a_cancelled_scheduled_message_is_not_released(client, sandbox, run_tasks):
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "later", "to": ["+14155550100"]}], "scheduledAt": when},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    assert client.delete(f"/api/v1/messages/{mid}").status_code == 202
    Message.objects.filter(pk=mid).update(scheduled_at=ago(seconds=1))
    assert run_tasks(sweep)["released"] == 0
    assert detail(client, mid)["status"]["name"] == "CANCELLED_BY_CLIENT"
    assert not SandboxOutboxEntry.objects.exists()


def test_an_expired_lease_never_handed_over_goes_back_at_once(
    client, app, sandbox, run_tasks, hook
):
    mid = accept(client)
    # A worker claimed it, then died before its wave left (no hand-over mark).
    Message.objects.filter(pk=mid).update(
        status=st.PENDING_PROCESSING,
        claim_token="22222222-2222-2222-2222-222222222222",
        claimed_until=ago(seconds=1),
        attempts=1,
    )
    counts = run_tasks(sweep)
    assert counts["returned"] == 1 and counts["unknown"] == 0
    got = detail(client, mid)
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert got["attempts"] == 1  # the lost claim was no attempt: nothing left
    assert timeline(got) == [
        ("PENDING_ACCEPTED", "api"),
        ("PENDING_ACCEPTED", "timer"),
        ("PENDING_ENROUTE", "dispatch"),
        ("DELIVERED_TO_HANDSET", "provider"),
    ]
    assert SandboxOutboxEntry.objects.filter(message_id=mid).count() == 1


def test_a_live_lease_is_left_alone(client, sandbox, run_tasks):
    mid = accept(client)
    Message.objects.filter(pk=mid).update(
        status=st.PENDING_PROCESSING,
        claim_token="22222222-2222-2222-2222-222222222222",
        claimed_until=timezone.now() + timedelta(minutes=1),
        updated_at=ago(minutes=10),
    )
    counts = run_tasks(sweep)
    assert (counts["returned"], counts["unknown"], counts["settled"]) == (0, 0, 0)
    assert Message.objects.get(pk=mid).status == st.PENDING_PROCESSING
    assert not SandboxOutboxEntry.objects.exists()


@pytest.mark.parametrize("status", [st.PENDING_ACCEPTED, st.PENDING_WAITING_RETRY])
def test_messages_past_their_validity_expire_with_a_callback(
    client, app, sandbox, run_tasks, hook, status
):
    mid = accept(client, validity=5)
    Message.objects.filter(pk=mid).update(
        status=status, expires_at=ago(seconds=1), next_attempt_at=ago(seconds=30)
    )
    assert run_tasks(sweep)["expired"] == 1
    got = detail(client, mid)
    assert got["status"] == {
        "groupName": "EXPIRED",
        "name": "EXPIRED_EXPIRED",
        "description": "Its validity passed before it could be delivered.",
    }
    assert got["error"] == {
        "code": "VALIDITY_PASSED",
        "description": "Its validity passed before it could be sent.",
        "permanent": True,
    }
    assert got["events"][-1]["source"] == "timer"
    [body] = received(hook, app)
    assert body["messageId"] == mid
    assert body["status"]["name"] == "EXPIRED_EXPIRED"
    assert body["error"]["code"] == "VALIDITY_PASSED"
    assert not SandboxOutboxEntry.objects.exists()


def test_an_expired_nostore_message_drops_its_text(client, sandbox, run_tasks):
    mid = accept(client, textStore="nostore")
    Message.objects.filter(pk=mid).update(expires_at=ago(seconds=1))
    run_tasks(sweep)
    got = detail(client, mid)
    assert got["status"]["name"] == "EXPIRED_EXPIRED"
    assert got["body"] == ""


def test_a_scheduled_message_past_its_validity_expires_not_sends(client, sandbox, run_tasks):
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "later", "to": ["+14155550100"]}], "scheduledAt": when, "validity": 5},
        format="json",
    )
    mid = r.json()["messages"][0]["messageId"]
    # The sweep was down for a while.
    Message.objects.filter(pk=mid).update(scheduled_at=ago(minutes=10), expires_at=ago(minutes=5))
    run_tasks(sweep)
    assert detail(client, mid)["status"]["name"] == "EXPIRED_EXPIRED"
    assert not SandboxOutboxEntry.objects.exists()


def test_a_failed_callback_is_retried_when_due(client, app, sandbox, run_tasks):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(HOOK, status=503)
        mid = accept(client, "+14155550001")  # rejected at once: one callback
        Message.objects.filter(pk=mid).update(updated_at=ago(minutes=3))
        run_tasks(sweep)
        delivery = CallbackDelivery.objects.get()
        assert (delivery.state, delivery.attempts) == ("pending", 1)
        assert delivery.next_attempt_at > timezone.now()

        # Not due yet: the sweep leaves it.
        assert run_tasks(sweep)["callbacks"] == 0
        assert len(rsps.calls) == 1

        rsps.replace(responses.POST, HOOK, status=200, body="ok")
        CallbackDelivery.objects.update(next_attempt_at=ago(seconds=1))
        assert run_tasks(sweep)["callbacks"] == 1
        assert len(rsps.calls) == 2
        assert rsps.calls[0].request.body == rsps.calls[1].request.body
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert list(
        CallbackAttempt.objects.order_by("number").values_list("number", "response_status")
    ) == [(1, 503), (2, 200)]


def test_a_callback_whose_enqueue_was_lost_is_sent(client, app, sandbox, run_tasks, hook):
    mid = accept(client)
    Message.objects.filter(pk=mid).update(updated_at=ago(minutes=3))
    # Dispatch runs, but its callbacks' wake-up calls are lost (not run on commit).
    sweep()
    assert CallbackDelivery.objects.filter(state="pending").count() == 1
    assert run_tasks(sweep)["callbacks"] == 0  # younger than a minute: may still be on its way
    CallbackDelivery.objects.update(created_at=ago(minutes=2))
    run_tasks(sweep)
    assert CallbackDelivery.objects.get(message_id=mid).state == "delivered"
    assert received(hook, app)[0]["status"]["name"] == "PENDING_ENROUTE"


def test_a_callback_stuck_delivering_is_taken_back(client, app, sandbox, run_tasks, hook):
    mid = accept(client, "+14155550001")
    Message.objects.filter(pk=mid).update(updated_at=ago(minutes=3))
    sweep()  # rejected; its callback's wake-up call is lost
    CallbackDelivery.objects.update(
        state="delivering",
        claim_token="33333333-3333-3333-3333-333333333333",
        claimed_until=ago(seconds=1),
        attempts=1,
        next_attempt_at=ago(minutes=3),
    )
    run_tasks(sweep)
    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert len(hook.calls) == 1


def test_an_unknown_on_the_last_attempt_gives_up(client, app, sandbox, run_tasks, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    settings.DISPATCH_UNKNOWN_GRACE = 0
    mid = accept(client)
    Message.objects.filter(pk=mid).update(
        status=st.PENDING_PROCESSING,
        claim_token="22222222-2222-2222-2222-222222222222",
        claimed_until=ago(seconds=1),
        handed_over_at=ago(seconds=40),
        attempts=3,
    )
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=200)
        assert run_tasks(sweep)["unknown"] == 1
        Message.objects.filter(pk=mid).update(claimed_until=ago(seconds=1))
        assert run_tasks(sweep)["gave_up"] == 1
        bodies = received(rsps, app)
    got = detail(client, mid)
    assert got["status"]["name"] == "UNDELIVERABLE_NOT_DELIVERED"
    assert got["error"]["code"] == "WORKER_LOST"
    assert [b["status"]["name"] for b in bodies] == [
        "PENDING_UNKNOWN",
        "UNDELIVERABLE_NOT_DELIVERED",
    ]
    assert bodies[-1]["error"] == got["error"]
    assert not SandboxOutboxEntry.objects.exists()
    m = Message.objects.get(pk=mid)
    assert (m.claim_token, m.claimed_until) == (None, None)
