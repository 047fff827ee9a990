"""Omnimessages end to end through the sandbox: each failover trigger (rejected, failed for
good, validity passed without the wanted status), scenarios, scheduling and cancel, the
status endpoint and the callbacks (per channel, then once when the omnimessage settles)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core import status as st
from messaging.models import Message
from messaging.services import timers
from omnichannel.models import OmniMessage, OmniStep, Scenario
from providers.models import SandboxOutboxEntry
from tests.factories import ProviderFactory
from tests.helpers import HOOK, assert_error, counts, received

OK = "+14155550100"  # delivered on every channel
NO_CHAT = "+14155550003"  # no WhatsApp/Viber/RCS account: rejected there, SMS delivers
REJECT = "+14155550001"  # rejected everywhere
BOUNCE = "+14155550004"  # sent, then an UNDELIVERABLE report


def omni(client, run_tasks, **body):
    body.setdefault("to", OK)
    body.setdefault(
        "messages",
        [
            {"channel": "whatsapp", "text": "Hi {{name}}", "data": {"name": "Ann"}},
            {"channel": "sms", "text": "Hi {{name}} by SMS", "data": {"name": "Ann"}},
        ],
    )
    r = run_tasks(client.post, "/api/v1/omnimessages", body, format="json")
    return r


def status_of(client, oid):
    r = client.get(f"/api/v1/omnimessages/{oid}/status")
    assert r.status_code == 200, r.content
    return r.json()


def outbox():
    return list(SandboxOutboxEntry.objects.order_by("id").values_list("channel", "to"))


def tick(run_tasks, at=None):
    return run_tasks(timers.tick, at or timezone.now())


def test_first_channel_delivers_and_the_rest_is_not_sent(client, sandbox, run_tasks):
    r = omni(client, run_tasks)
    assert r.status_code == 201, r.content
    body = r.json()
    oid = body["omnimessageId"]
    assert body["to"] == OK
    assert [m["channel"] for m in body["messages"]] == ["whatsapp", "sms"]
    wa, sms = (Message.objects.get(pk=m["messageId"]) for m in body["messages"])
    assert wa.status == st.DELIVERED_TO_HANDSET
    assert sms.status == st.CANCELLED_NOT_NEEDED
    assert outbox() == [("whatsapp", OK)]
    report = status_of(client, oid)
    assert report["state"] == "DELIVERED"
    assert [(s["channel"], s["status"]["name"]) for s in report["statuses"]] == [
        ("whatsapp", st.DELIVERED_TO_HANDSET)
    ]


def test_rejected_channel_fails_over_to_sms(client, sandbox, run_tasks):
    r = omni(client, run_tasks, to=NO_CHAT)
    assert r.status_code == 201, r.content
    oid = r.json()["omnimessageId"]
    # The sandbox keeps what it sent: the WhatsApp it refused is not there.
    assert outbox() == [("sms", NO_CHAT)]
    report = status_of(client, oid)
    assert report["state"] == "DELIVERED"
    assert [(s["channel"], s["status"]["groupName"]) for s in report["statuses"]] == [
        ("whatsapp", "REJECTED"),
        ("sms", "DELIVERED"),
    ]
    sms = Message.objects.get(pk=report["statuses"][1]["messageId"])
    assert sms.body == "Hi Ann by SMS"
    timeline = list(sms.events.values_list("status", flat=True))
    assert timeline[:2] == [st.PENDING_FAILOVER, st.PENDING_ACCEPTED]
    assert "Failover from whatsapp" in sms.events.get(status=st.PENDING_ACCEPTED).description


def test_permanent_failure_report_fails_over(client, sandbox, run_tasks):
    r = omni(client, run_tasks, to=BOUNCE, messages=[
        {"channel": "sms", "text": "one"}, {"channel": "whatsapp", "text": "two"},
    ])  # fmt: skip
    oid = r.json()["omnimessageId"]
    report = status_of(client, oid)
    # The sandbox bounces on every channel: both tried, in order, and the whole of it FAILED.
    assert [(s["channel"], s["status"]["groupName"]) for s in report["statuses"]] == [
        ("sms", "UNDELIVERABLE"),
        ("whatsapp", "UNDELIVERABLE"),
    ]
    assert report["state"] == "FAILED"


def test_everything_rejected_fails(client, sandbox, run_tasks):
    oid = omni(client, run_tasks, to=REJECT).json()["omnimessageId"]
    report = status_of(client, oid)
    assert report["state"] == "FAILED"
    assert [s["channel"] for s in report["statuses"]] == ["whatsapp", "sms"]
    assert outbox() == []


def test_whatsapp_until_read_within_ten_minutes_else_sms(
    client, sandbox, run_tasks, no_sandbox_report, anon_client
):
    r = omni(client, run_tasks, messages=[
        {"channel": "whatsapp", "text": "Your code", "validity": 10, "successStatus": "SEEN"},
        {"channel": "sms", "text": "Your code by SMS"},
    ])  # fmt: skip
    oid = r.json()["omnimessageId"]
    wa = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    # Delivered, but not read: the step waits.
    post = anon_client.post(
        f"/webhooks/providers/{sandbox.webhook_token}/status",
        [{"messageId": wa.provider_message_id, "status": "DELIVERED"}],
        format="json",
    )
    assert post.status_code in (200, 204), post.content
    wa.refresh_from_db()
    assert wa.status == st.DELIVERED_TO_HANDSET
    tick(run_tasks, timezone.now() + timedelta(minutes=9))
    assert [c for c, _ in outbox()] == ["whatsapp"]
    # Ten minutes pass without a read: SMS goes.
    tick(run_tasks, timezone.now() + timedelta(minutes=10, seconds=1))
    assert [c for c, _ in outbox()] == ["whatsapp", "sms"]
    step = OmniStep.objects.get(message=wa)
    assert step.state == "failed" and "not read within 600 s" in step.outcome
    report = status_of(client, oid)
    assert [s["channel"] for s in report["statuses"]] == ["whatsapp", "sms"]
    assert report["statuses"][0]["status"]["name"] == st.DELIVERED_TO_HANDSET


def test_read_within_the_window_succeeds(
    client, sandbox, run_tasks, no_sandbox_report, anon_client
):
    r = omni(client, run_tasks, messages=[
        {"channel": "whatsapp", "text": "Your code", "ttl": 600, "successStatus": "SEEN"},
        {"channel": "sms", "text": "Your code by SMS"},
    ])  # fmt: skip
    wa = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    run_tasks(
        anon_client.post,
        f"/webhooks/providers/{sandbox.webhook_token}/status",
        [{"messageId": wa.provider_message_id, "status": "READ"}],
        format="json",
    )
    tick(run_tasks, timezone.now() + timedelta(minutes=11))
    assert [c for c, _ in outbox()] == ["whatsapp"]
    assert OmniMessage.objects.get().state == "DELIVERED"


def test_validity_passed_without_a_report_fails_over(client, sandbox, run_tasks, no_sandbox_report):
    r = omni(client, run_tasks, messages=[
        {"channel": "sms", "text": "first", "ttl": 60}, {"channel": "whatsapp", "text": "second"},
    ])  # fmt: skip
    sms = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    assert sms.status == st.PENDING_ENROUTE
    tick(run_tasks, timezone.now() + timedelta(seconds=61))
    assert [c for c, _ in outbox()] == ["sms", "whatsapp"]
    # The SMS itself ends EXPIRED once its grace for a late report has passed.
    tick(run_tasks, timezone.now() + timedelta(seconds=61 + 301))
    sms.refresh_from_db()
    assert sms.status == st.EXPIRED_EXPIRED


def test_callbacks_per_channel_and_once_when_settled(client, app, sandbox, run_tasks, hook):
    r = omni(client, run_tasks, to=NO_CHAT, callback={"url": HOOK, "meta": {"o": 1}})
    oid = r.json()["omnimessageId"]
    got = received(hook, app)
    per_message = [
        (b["channel"], b["status"]["name"]) for b in got if b["event"] == "message.status"
    ]
    assert per_message == [
        ("whatsapp", st.REJECTED_NOT_ON_CHANNEL),
        ("sms", st.PENDING_ENROUTE),
        ("sms", st.DELIVERED_TO_HANDSET),
    ]
    settled = [b for b in got if b["event"] == "omnimessage.status"]
    assert len(settled) == 1
    assert got[-1] == settled[0]
    assert settled[0]["omnimessageId"] == oid
    assert settled[0]["state"] == "DELIVERED"
    assert settled[0]["meta"] == {"o": 1}
    assert [s["channel"] for s in settled[0]["statuses"]] == ["whatsapp", "sms"]


def test_scenario_orders_the_channels_and_gives_senders(client, tenant, sandbox, run_tasks):
    r = client.post(
        "/api/v1/scenarios",
        {
            "name": "WhatsApp then SMS",
            "flow": [{"channel": "WHATSAPP", "from": "+14155550199"},
                     {"channel": "SMS", "from": "ACME"}],
            "default": True,
        },
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    key = r.json()["key"]
    assert len(key) == 32 and r.json()["default"] is True
    assert client.get(f"/api/v1/scenarios/{key}").json()["flow"][0]["channel"] == "WHATSAPP"
    # Messages given SMS first: the scenario's order wins.
    r = omni(client, run_tasks, to=NO_CHAT, scenarioKey=key, messages=[
        {"channel": "sms", "text": "by SMS"}, {"channel": "whatsapp", "text": "by WhatsApp"},
    ])  # fmt: skip
    assert r.status_code == 201, r.content
    assert [(m["channel"], m["sender"]) for m in r.json()["messages"]] == [
        ("whatsapp", "+14155550199"),
        ("sms", "ACME"),
    ]
    assert outbox() == [("sms", NO_CHAT)]
    # Without a key the tenant's default scenario applies.
    r = omni(client, run_tasks, messages=[
        {"channel": "sms", "text": "by SMS"}, {"channel": "whatsapp", "text": "by WhatsApp"},
    ])  # fmt: skip
    assert [m["channel"] for m in r.json()["messages"]] == ["whatsapp", "sms"]
    assert Scenario.objects.get().omnimessages.count() == 2


def test_scenario_validation(client, sandbox):
    def post(body):
        return client.post("/api/v1/scenarios", body, format="json")

    assert_error(post({"name": "x", "flow": []}), 400, "flow")
    assert_error(post({"name": "x", "flow": [{"channel": "EMAIL"}]}), 400, "flow[0].channel")
    assert_error(
        post({"name": "x", "flow": [{"channel": "SMS", "validity": 5, "ttl": 60}]}),
        400,
        "flow[0].ttl",
        "ambiguous_validity",
    )
    assert_error(
        post({"name": "x", "flow": [{"channel": "SMS", "successStatus": "SEEN"}]}),
        400,
        "flow[0].successStatus",
    )
    assert_error(post({"name": "x", "flow": [{"channel": "SMS", "provider": "nope"}]}), 400,
                 "flow[0].provider")  # fmt: skip
    assert not Scenario.objects.exists()


def test_bad_omnimessages_store_nothing(client, sandbox, templates, run_tasks):
    before = counts()

    def post(**body):
        return omni(client, run_tasks, **body)

    assert_error(post(to="+1 555"), 400, "to")
    assert_error(post(messages=[]), 400, "messages")
    assert_error(post(messages=[{"channel": "fax", "text": "x"}]), 400, "messages[0].channel")
    assert_error(
        post(messages=[{"channel": "sms", "text": "x", "validity": 5, "ttl": 60}]),
        400,
        "messages[0].ttl",
        "ambiguous_validity",
    )
    assert_error(
        post(messages=[{"channel": "sms", "text": "x", "successStatus": "SEEN"}]),
        400,
        "messages[0].successStatus",
    )
    # A step that fails messaging's own checks names the omnimessage's field; the steps
    # before it (already checked and stored) are rolled back.
    assert_error(
        post(messages=[{"channel": "whatsapp", "text": "ok"},
                       {"channel": "sms", "template": "otp"}]),
        400,
        "messages[1].data.otp",
    )  # fmt: skip
    assert_error(post(messages=[{"channel": "sms"}]), 400, "messages[0].template")
    assert_error(post(scenarioKey="nope"), 400, "scenarioKey")
    assert_error(post(colour="red"), 400, "colour")
    assert counts() == before
    assert not OmniMessage.objects.exists()


def test_scheduled_omnimessage_waits_and_cancels(client, sandbox, run_tasks):
    at = (timezone.now() + timedelta(hours=2)).isoformat()
    r = omni(client, run_tasks, scheduledAt=at)
    oid = r.json()["omnimessageId"]
    assert OmniMessage.objects.get().state == "SCHEDULED"
    assert outbox() == []
    first = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    assert first.status == st.PENDING_SCHEDULED
    assert status_of(client, oid)["statuses"][0]["status"]["name"] == st.PENDING_SCHEDULED
    r = client.delete(f"/api/v1/omnimessages/{oid}")
    assert r.status_code == 202, r.content
    assert OmniMessage.objects.get().state == "CANCELLED"
    assert set(Message.objects.values_list("status", flat=True)) == {st.CANCELLED_BY_CLIENT}
    tick(run_tasks, timezone.now() + timedelta(hours=3))
    assert outbox() == []
    assert_error(client.delete(f"/api/v1/omnimessages/{oid}"), 409, code="already_sent")


def test_scheduled_omnimessage_leaves_on_time_then_cannot_be_cancelled(client, sandbox, run_tasks):
    at = timezone.now() + timedelta(minutes=30)
    r = omni(client, run_tasks, scheduledAt=at.isoformat(), to=NO_CHAT)
    oid = r.json()["omnimessageId"]
    tick(run_tasks, at + timedelta(seconds=1))
    assert outbox() == [("sms", NO_CHAT)]
    assert status_of(client, oid)["state"] == "DELIVERED"
    assert_error(client.delete(f"/api/v1/omnimessages/{oid}"), 409, code="already_sent")


def test_other_tenants_omnimessages_are_not_found(client, sandbox, run_tasks):
    from rest_framework.test import APIClient

    from tests.factories import AppFactory, TenantFactory, issue_key

    oid = omni(client, run_tasks).json()["omnimessageId"]
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=issue_key(AppFactory(tenant=TenantFactory(slug="other"))))
    assert_error(other.get(f"/api/v1/omnimessages/{oid}/status"), 404)
    assert_error(other.get(f"/api/v1/omnimessages/{oid}"), 404)
    assert_error(other.delete(f"/api/v1/omnimessages/{oid}"), 404)


def test_a_step_provider_and_a_suppressed_first_step(client, tenant, sandbox, run_tasks):
    ProviderFactory(tenant=tenant, name="second", is_tenant_default=False)
    client.post("/api/v1/suppressions", {"channel": "whatsapp", "address": OK}, format="json")
    r = omni(client, run_tasks, messages=[
        {"channel": "whatsapp", "text": "wa"},
        {"channel": "sms", "text": "sms", "provider": "second"},
    ])  # fmt: skip
    assert r.status_code == 201, r.content
    wa, sms = (Message.objects.get(pk=m["messageId"]) for m in r.json()["messages"])
    assert wa.status == st.REJECTED_SUPPRESSED
    assert sms.provider.name == "second" and sms.status == st.DELIVERED_TO_HANDSET


@pytest.mark.parametrize("ttl", [5, True, "60"])
def test_bad_ttl(client, sandbox, run_tasks, ttl):
    r = omni(client, run_tasks, messages=[{"channel": "sms", "text": "x", "ttl": ttl}])
    assert_error(r, 400, "messages[0].ttl")


def test_an_unknown_field_of_a_step_is_refused_and_nothing_is_stored(client, sandbox, run_tasks):
    r = omni(client, run_tasks, messages=[{"channel": "sms", "text": "Hi", "colour": "red"}])
    assert_error(r, 400, source="messages[0].colour")
    assert not Message.objects.exists()
    assert not OmniMessage.objects.exists()
