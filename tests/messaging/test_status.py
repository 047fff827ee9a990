"""Status only moves forward; every applied change has its event and its callback."""

import pytest

from core import status as st
from messaging.models import CallbackDelivery, EarlyReport, Message, MessageEvent
from messaging.services.status import message_reports_apply, report_to_json
from providers.backends import StatusReport
from providers.backends.sandbox import SandboxBackend
from tests.factories import ProviderFactory
from tests.helpers import HOOK, received


def sent(client, run_tasks, to="+14155550100"):
    """A message that has left: PENDING_ENROUTE (its delivery report held back) or delivered."""
    body = {
        "sms": [{"body": "hi", "to": [to]}],
        "callback": {"url": HOOK, "meta": {"order": 7}},
    }
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return Message.objects.get(pk=r.json()["messages"][0]["messageId"])


def report(client_or_anon, provider, payload, run_tasks):
    return run_tasks(
        client_or_anon.post,
        f"/webhooks/providers/{provider.webhook_token}/status",
        payload,
        format="json",
    )


def statuses(message):
    return list(message.events.order_by("created_at", "id").values_list("status", flat=True))


def test_full_callback_body_and_signature(client, app, sandbox, run_tasks, hook):
    m = sent(client, run_tasks)
    bodies = received(hook, app)
    assert [b["status"]["name"] for b in bodies] == ["PENDING_ENROUTE", "DELIVERED_TO_HANDSET"]
    last = bodies[-1]
    assert set(last) == {
        "event", "messageId", "requestId", "channel", "to", "status", "error", "timestamp", "meta",
    }  # fmt: skip
    assert last["event"] == "message.status"
    assert last["messageId"] == str(m.id)
    assert last["requestId"] == str(m.request_id)
    assert (last["channel"], last["to"]) == ("sms", "+14155550100")
    assert last["status"] == {
        "groupName": "DELIVERED",
        "name": "DELIVERED_TO_HANDSET",
        "description": "Delivered to the recipient.",
    }
    assert last["error"] is None
    assert last["meta"] == {"order": 7}
    assert last["timestamp"].endswith("+00:00")


def test_late_enroute_after_delivered_does_nothing(
    client, app, sandbox, run_tasks, hook, anon_client
):
    m = sent(client, run_tasks)
    m.refresh_from_db()
    assert m.status == st.DELIVERED_TO_HANDSET
    applied = run_tasks(
        message_reports_apply,
        provider=sandbox,
        reports=[StatusReport(m.provider_message_id, st.PENDING_ENROUTE)],
    )
    assert applied == 0
    m.refresh_from_db()
    assert m.status == st.DELIVERED_TO_HANDSET
    assert statuses(m) == ["PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_TO_HANDSET"]
    assert len(hook.calls) == 2


def test_handset_to_read_moves_with_event_and_callback(
    client, app, sandbox, run_tasks, hook, anon_client
):
    m = sent(client, run_tasks)
    r = report(
        anon_client, sandbox, {"messageId": m.provider_message_id, "status": "READ"}, run_tasks
    )
    assert r.status_code == 200 and r.json() == {"accepted": 1}
    m.refresh_from_db()
    assert m.status == st.DELIVERED_READ
    assert statuses(m)[-1] == "DELIVERED_READ"
    assert received(hook, app)[-1]["status"]["name"] == "DELIVERED_READ"
    got = client.get(f"/api/v1/messages/{m.id}").json()
    assert got["status"]["name"] == "DELIVERED_READ"
    assert got["events"][-1]["source"] == "provider"
    # And read is as far as it goes: a late "delivered" does nothing.
    r = report(
        anon_client, sandbox, {"messageId": m.provider_message_id, "status": "DELIVERED"}, run_tasks
    )
    assert r.json() == {"accepted": 0}
    m.refresh_from_db()
    assert m.status == st.DELIVERED_READ
    assert len(hook.calls) == 3


def test_undeliverable_then_delivered_does_nothing(
    client, app, sandbox, run_tasks, hook, anon_client
):
    m = sent(client, run_tasks, "+14155550004")
    m.refresh_from_db()
    assert m.status == st.UNDELIVERABLE_NOT_DELIVERED
    for status in ("DELIVERED", "READ", "EXPIRED", "REJECTED"):
        r = report(
            anon_client, sandbox, {"messageId": m.provider_message_id, "status": status}, run_tasks
        )
        assert r.json() == {"accepted": 0}
    m.refresh_from_db()
    assert m.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert m.error == {
        "code": "SANDBOX_BOUNCE",
        "description": "Simulated bounce (magic recipient).",
        "permanent": True,
    }
    assert statuses(m) == ["PENDING_ACCEPTED", "PENDING_ENROUTE", "UNDELIVERABLE_NOT_DELIVERED"]
    bodies = received(hook, app)
    assert [b["status"]["name"] for b in bodies] == [
        "PENDING_ENROUTE",
        "UNDELIVERABLE_NOT_DELIVERED",
    ]
    assert bodies[-1]["error"] == m.error


def test_repeated_event_id_is_applied_once(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    m.refresh_from_db()
    assert m.status == st.PENDING_ENROUTE
    payload = {"messageId": m.provider_message_id, "status": "DELIVERED", "eventId": "ev-1"}
    assert report(anon_client, sandbox, payload, run_tasks).json() == {"accepted": 1}
    assert report(anon_client, sandbox, payload, run_tasks).json() == {"accepted": 0}
    # Even a status that would move it: that event was already applied.
    again = {**payload, "status": "READ"}
    assert report(anon_client, sandbox, again, run_tasks).json() == {"accepted": 0}
    m.refresh_from_db()
    assert m.status == st.DELIVERED_TO_HANDSET
    assert MessageEvent.objects.filter(message=m, provider_event_id="ev-1").count() == 1
    assert CallbackDelivery.objects.filter(message=m).count() == 2
    assert len(hook.calls) == 2


def test_read_before_delivered_skips_ahead(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    pmid = m.provider_message_id
    body = [{"messageId": pmid, "status": "READ"}, {"messageId": pmid, "status": "DELIVERED"}]
    assert report(anon_client, sandbox, body, run_tasks).json() == {"accepted": 1}
    m.refresh_from_db()
    assert m.status == st.DELIVERED_READ
    assert statuses(m) == ["PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_READ"]


def test_each_applied_change_appends_an_event_and_queues_a_callback(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    pmid = m.provider_message_id
    for status in ("DELIVERED", "READ"):
        report(anon_client, sandbox, {"messageId": pmid, "status": status}, run_tasks)
    events = list(m.events.order_by("created_at", "id"))
    assert [e.status for e in events] == [
        "PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_TO_HANDSET", "DELIVERED_READ",
    ]  # fmt: skip
    deliveries = list(CallbackDelivery.objects.filter(message=m).order_by("id"))
    assert [d.payload["status"]["name"] for d in deliveries] == [
        "PENDING_ENROUTE", "DELIVERED_TO_HANDSET", "DELIVERED_READ",
    ]  # fmt: skip
    assert {d.state for d in deliveries} == {"delivered"}
    assert [b["status"]["name"] for b in received(hook, app)] == [
        "PENDING_ENROUTE", "DELIVERED_TO_HANDSET", "DELIVERED_READ",
    ]  # fmt: skip


def test_undeliverable_report_without_error_code_gets_one(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    payload = {"messageId": m.provider_message_id, "status": "UNDELIVERABLE"}
    report(anon_client, sandbox, payload, run_tasks)
    got = client.get(f"/api/v1/messages/{m.id}").json()
    assert got["status"]["name"] == "UNDELIVERABLE_NOT_DELIVERED"
    assert got["error"] == {
        "code": "UNDELIVERABLE_NOT_DELIVERED",
        "description": "The provider could not deliver it.",
        "permanent": True,
    }


def test_a_report_from_another_provider_does_not_move_the_message(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    other = ProviderFactory(name="other")  # another tenant's sandbox
    r = report(
        anon_client, other, {"messageId": m.provider_message_id, "status": "DELIVERED"}, run_tasks
    )
    assert r.json() == {"accepted": 0}
    m.refresh_from_db()
    assert m.status == st.PENDING_ENROUTE


def test_no_callback_url_means_no_callback(client, sandbox, run_tasks):
    r = run_tasks(
        client.post, "/api/v1/messages", {"sms": [{"body": "hi", "to": ["+14155550100"]}]},
        format="json",
    )  # fmt: skip
    m = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    assert m.status == st.DELIVERED_TO_HANDSET
    assert not CallbackDelivery.objects.exists()


@pytest.mark.parametrize(
    ("current", "new", "moves"),
    [
        (st.PENDING_ACCEPTED, st.PENDING_ENROUTE, True),
        (st.PENDING_ENROUTE, st.DELIVERED_TO_HANDSET, True),
        (st.DELIVERED_TO_HANDSET, st.PENDING_ENROUTE, False),
        (st.DELIVERED_TO_HANDSET, st.DELIVERED_TO_HANDSET, False),
        (st.DELIVERED_TO_HANDSET, st.DELIVERED_READ, True),
        (st.DELIVERED_READ, st.DELIVERED_TO_HANDSET, False),
        (st.UNDELIVERABLE_NOT_DELIVERED, st.DELIVERED_TO_HANDSET, False),
        (st.UNDELIVERABLE_NOT_DELIVERED, st.DELIVERED_READ, False),
        (st.REJECTED_DESTINATION, st.DELIVERED_READ, False),
        (st.EXPIRED_EXPIRED, st.DELIVERED_READ, False),
        (st.CANCELLED_BY_CLIENT, st.DELIVERED_READ, False),
        (st.PENDING_ENROUTE, st.UNDELIVERABLE_NOT_DELIVERED, True),
        (st.DELIVERED_TO_HANDSET, st.UNDELIVERABLE_NOT_DELIVERED, False),
        (st.DELIVERED_TO_OPERATOR, st.UNDELIVERABLE_NOT_DELIVERED, True),
        (st.DELIVERED_TO_OPERATOR, st.DELIVERED_TO_HANDSET, True),
    ],
)
def test_can_move_is_forward_only(current, new, moves):
    assert st.can_move(current, new) is moves


def test_report_arriving_before_the_send_is_recorded_is_applied_after(
    client, sandbox, run_tasks, monkeypatch
):
    """A fast provider reports before we stored its message id: the report waits, then lands."""
    real_send = SandboxBackend.send

    def send_and_report_at_once(self, message):
        result = real_send(self, message)
        # The provider's webhook arrives while our send is still being recorded.
        message_reports_apply(
            provider=sandbox,
            reports=[
                StatusReport(
                    provider_message_id=result.provider_message_id, status=st.DELIVERED_TO_HANDSET
                )
            ],
        )
        result.follow_up_report = None
        return result

    monkeypatch.setattr(SandboxBackend, "send", send_and_report_at_once)
    message = sent(client, run_tasks)
    message.refresh_from_db()
    assert message.status == st.DELIVERED_TO_HANDSET
    assert statuses(message) == [st.PENDING_ACCEPTED, st.PENDING_ENROUTE, st.DELIVERED_TO_HANDSET]
    assert not EarlyReport.objects.exists()


def test_early_report_missed_at_send_is_applied_by_the_sweep(
    client, sandbox, run_tasks, no_sandbox_report
):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.services.sweep import sweep

    message = sent(client, run_tasks)
    # As if the report had been stored just after the send's own check for early reports.
    EarlyReport.objects.create(
        provider=sandbox,
        provider_message_id=message.provider_message_id,
        report=report_to_json(
            StatusReport(provider_message_id=message.provider_message_id, status=st.DELIVERED_READ)
        ),
    )
    EarlyReport.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    run_tasks(sweep)
    message.refresh_from_db()
    assert message.status == st.DELIVERED_READ
    assert not EarlyReport.objects.exists()


def test_report_for_a_message_never_sent_is_dropped_after_a_day(sandbox, run_tasks):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.services.sweep import sweep

    message_reports_apply(
        provider=sandbox,
        reports=[StatusReport(provider_message_id="nope", status=st.DELIVERED_TO_HANDSET)],
    )
    assert EarlyReport.objects.count() == 1
    EarlyReport.objects.update(received_at=timezone.now() - timedelta(days=2))
    run_tasks(sweep)
    assert not EarlyReport.objects.exists()


def test_sender_used_is_recorded_when_it_came_from_the_provider_default(client, tenant, run_tasks):
    ProviderFactory(tenant=tenant, name="sb", is_tenant_default=True, default_sender="ACME")
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "hi", "to": ["+14155550100"]}]},
        format="json",
    )
    got = client.get(f"/api/v1/messages/{r.json()['messages'][0]['messageId']}").json()
    assert got["from"] == "ACME"


def test_early_report_committed_after_dispatch_looked_is_applied_on_commit(
    client, sandbox, run_tasks, no_sandbox_report, django_capture_on_commit_callbacks
):
    """The race: dispatch records the send and finds no early report; the webhook, which
    read before the send was recorded, then stores its report. After its commit it looks
    again and applies it."""
    message = sent(client, run_tasks)
    ref = message.provider_message_id
    # Make the webhook's read miss the message, as it would have a moment earlier.
    Message.objects.filter(pk=message.pk).update(provider_message_id="")
    with django_capture_on_commit_callbacks() as callbacks:
        message_reports_apply(
            provider=sandbox,
            reports=[StatusReport(provider_message_id=ref, status=st.DELIVERED_TO_HANDSET)],
        )
    assert EarlyReport.objects.count() == 1
    Message.objects.filter(pk=message.pk).update(provider_message_id=ref)  # dispatch commits
    for callback in callbacks:  # the webhook's transaction commits
        callback()
    message.refresh_from_db()
    assert message.status == st.DELIVERED_TO_HANDSET
    assert not EarlyReport.objects.exists()


# --- the provider's verdict on a failure report ---------------------------------------------


def test_transient_failure_report_is_retried_and_the_resend_delivers(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    first_id = m.provider_message_id
    payload = {"messageId": first_id, "status": "UNDELIVERABLE", "errorCode": "30003",
               "errorDescription": "Unreachable handset", "permanent": False}  # fmt: skip
    report(anon_client, sandbox, payload, run_tasks)
    m.refresh_from_db()
    assert m.status == st.PENDING_WAITING_RETRY
    assert (m.error_code, m.error_permanent) == ("30003", False)
    assert m.next_attempt_at is not None and m.final_at is None
    event = m.events.order_by("-created_at", "-id").first()
    assert event.status == st.PENDING_WAITING_RETRY
    assert "passing failure (Unreachable handset); retrying in" in event.description
    got = client.get(f"/api/v1/messages/{m.id}").json()
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["permanent"] is False
    # Due now: the next window resends it, under a new provider id.
    Message.objects.filter(pk=m.pk).update(next_attempt_at=m.created_at)
    from messaging.services.dispatch import dispatch_backlog

    run_tasks(dispatch_backlog)
    m.refresh_from_db()
    assert m.attempts == 2 and m.status == st.PENDING_ENROUTE
    assert m.provider_message_id and m.provider_message_id != first_id
    report(anon_client, sandbox, {"messageId": m.provider_message_id, "status": "DELIVERED"},
           run_tasks)  # fmt: skip
    m.refresh_from_db()
    assert m.status == st.DELIVERED_TO_HANDSET


def test_permanent_failure_report_is_final(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    payload = {"messageId": m.provider_message_id, "status": "UNDELIVERABLE", "errorCode": "30005"}
    report(anon_client, sandbox, payload, run_tasks)
    m.refresh_from_db()
    assert m.status == st.UNDELIVERABLE_NOT_DELIVERED
    assert (m.error_code, m.error_permanent, m.next_attempt_at) == ("30005", True, None)


def test_transient_failure_report_after_the_last_attempt_is_final(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report, settings
):
    settings.DISPATCH_MAX_ATTEMPTS = 1
    m = sent(client, run_tasks)
    payload = {"messageId": m.provider_message_id, "status": "UNDELIVERABLE", "permanent": False}
    report(anon_client, sandbox, payload, run_tasks)
    m.refresh_from_db()
    assert m.status == st.UNDELIVERABLE_NOT_DELIVERED and m.error_permanent is False
    assert (
        m.events.order_by("-created_at", "-id")
        .first()
        .description.startswith("Gave up after 1 attempts")
    )


def test_transient_failure_report_past_the_validity_expires(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    m = sent(client, run_tasks)
    from django.utils import timezone

    Message.objects.filter(pk=m.pk).update(expires_at=timezone.now())
    payload = {"messageId": m.provider_message_id, "status": "REJECTED", "permanent": False}
    report(anon_client, sandbox, payload, run_tasks)
    m.refresh_from_db()
    assert m.status == st.EXPIRED_EXPIRED


def test_provider_expiry_while_our_validity_runs_is_retried(
    client, app, sandbox, run_tasks, hook, anon_client, no_sandbox_report
):
    # The provider's validity was capped below ours (Twilio keeps a message 10 h at most).
    m = sent(client, run_tasks)
    payload = {"messageId": m.provider_message_id, "status": "EXPIRED", "errorCode": "30036"}
    report(anon_client, sandbox, payload, run_tasks)
    m.refresh_from_db()
    assert m.status == st.PENDING_WAITING_RETRY and m.error_code == "30036"
    # Once ours has passed too, the provider's expiry is final.
    from django.utils import timezone

    Message.objects.filter(pk=m.pk).update(status=st.PENDING_ENROUTE, expires_at=timezone.now())
    m.refresh_from_db()
    report(anon_client, sandbox, {**payload, "eventId": "e2"}, run_tasks)
    m.refresh_from_db()
    assert m.status == st.EXPIRED_EXPIRED
