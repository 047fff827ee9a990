"""Quiet hours end to end: a tenant in Berlin, recipients in New York. A message due inside the
recipient's window is stored PENDING_SCHEDULED until the window's end (its timeline says why)
and goes out then by the normal timers; high priority, email, and contacts that opted out pass;
a contact's own window wins; validity counts from the deferral; omnimessages wait too, their
later steps included; and a bulk send looks quiet hours up once, not per recipient."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, ContactAddress
from core import status as st
from messaging.models import Message
from messaging.services import timers
from omnichannel.models import OmniMessage, OmniStep
from providers.models import SandboxOutboxEntry
from tests.helpers import assert_error, counts

pytestmark = pytest.mark.django_db

NY_PHONE = "+12125550100"  # Manhattan: phonenumbers gives America/New_York
NY_NO_CHAT = "+12125550003"  # the sandbox: no WhatsApp account, SMS delivers
BERLIN_PHONE = "+493012340100"
# 10:00 UTC on Thursday 3 December 2026: 11:00 in Berlin, 05:00 in New York (EST).
MORNING = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NY_EIGHT = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York that day


@pytest.fixture(autouse=True)
def morning(clock):
    clock.go(MORNING)


@pytest.fixture
def quiet_tenant(tenant):
    """Acme in Berlin, quiet 21:00–08:00 where each recipient lives."""
    tenant.time_zone = "Europe/Berlin"
    tenant.quiet_hours_enabled = True
    tenant.quiet_start, tenant.quiet_end = time(21, 0), time(8, 0)
    tenant.save()
    return tenant


def contact(tenant, phone=None, email=None, **fields):
    c = Contact.objects.create(tenant=tenant, **fields)
    for kind, value in (("phone", phone), ("email", email)):
        if value:
            ContactAddress.objects.create(
                contact=c, tenant=tenant, channel=kind, address=value, normalized=value.lower()
            )
    return c


def send(client, run_tasks, **body):
    body.setdefault("sms", [{"body": "Your parcel is on its way", "to": [NY_PHONE]}])
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return [{**m, "status": m["status"]["name"]} for m in r.json()["messages"]]


def detail(client, mid):
    r = client.get(f"/api/v1/messages/{mid}")
    assert r.status_code == 200, r.content
    return r.json()


def tick(run_tasks, clock, at):
    clock.go(at)
    return run_tasks(timers.tick, at)


def sent_to():
    return list(SandboxOutboxEntry.objects.order_by("id").values_list("channel", "to"))


# --- a message -------------------------------------------------------------------------------


def test_deferred_to_the_end_of_the_recipients_night_then_sent_by_the_timers(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    [m] = send(client, run_tasks)
    assert m["status"] == st.PENDING_SCHEDULED
    got = detail(client, m["messageId"])
    assert got["status"]["name"] == st.PENDING_SCHEDULED
    assert got["scheduledAt"] == "2026-12-03T13:00:00+00:00"
    [event] = got["events"]
    assert event["status"] == st.PENDING_SCHEDULED
    assert "quiet hours (21:00–08:00 in America/New_York)" in event["description"]
    assert "2026-12-03 08:00 local time" in event["description"]
    assert sent_to() == []

    tick(run_tasks, clock, NY_EIGHT - timedelta(seconds=1))
    assert sent_to() == []
    counts_ = tick(run_tasks, clock, NY_EIGHT)
    assert counts_["released"] == 1
    assert sent_to() == [("sms", NY_PHONE)]
    got = detail(client, m["messageId"])
    assert got["status"]["name"] == st.DELIVERED_TO_HANDSET
    assert [e["status"] for e in got["events"]][:3] == [
        st.PENDING_SCHEDULED, st.PENDING_ACCEPTED, st.PENDING_ENROUTE,
    ]  # fmt: skip


def test_outside_the_window_it_goes_at_once(client, quiet_tenant, sandbox, run_tasks, clock):
    # 05:00 in New York, but a Berlin number is read in Berlin's zone: 11:00 there.
    [m] = send(client, run_tasks, sms=[{"body": "hello", "to": [BERLIN_PHONE]}])
    assert m["status"] == st.PENDING_ACCEPTED
    assert detail(client, m["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET
    assert sent_to() == [("sms", BERLIN_PHONE)]


def test_the_berlin_night_defers_the_berlin_recipient_only(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    clock.go(datetime(2026, 12, 3, 21, 30, tzinfo=UTC))  # 22:30 Berlin, 16:30 New York
    berlin, ny = send(client, run_tasks, sms=[{"body": "hi", "to": [BERLIN_PHONE, NY_PHONE]}])
    assert (berlin["status"], ny["status"]) == (st.PENDING_SCHEDULED, st.PENDING_ACCEPTED)
    assert detail(client, berlin["messageId"])["scheduledAt"] == "2026-12-04T07:00:00+00:00"
    assert sent_to() == [("sms", NY_PHONE)]


def test_the_window_is_start_inclusive_end_exclusive(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    clock.go(NY_EIGHT)  # 08:00 sharp in New York: the window has closed
    [m] = send(client, run_tasks)
    assert m["status"] == st.PENDING_ACCEPTED
    clock.go(datetime(2026, 12, 4, 2, 0, tzinfo=UTC))  # 21:00 sharp: it has opened
    [m] = send(client, run_tasks)
    assert detail(client, m["messageId"])["scheduledAt"] == "2026-12-04T13:00:00+00:00"


def test_sending_to_a_contact_reads_its_settings(client, quiet_tenant, sandbox, run_tasks, clock):
    ann = contact(quiet_tenant, phone="+493012340100", external_id="u-1",
                  time_zone="America/New_York")  # fmt: skip
    r = run_tasks(client.post, f"/api/v1/contacts/{ann.pk}/messages/sms", {"body": "hi"},
                  format="json")  # fmt: skip
    assert r.status_code == 202, r.content
    [m] = r.json()["messages"]
    assert detail(client, m["messageId"])["scheduledAt"] == "2026-12-03T13:00:00+00:00"
    [m] = send(client, run_tasks, sms=[{"body": "b", "to": [{"externalId": "u-1"}]}])
    assert m["status"] == st.PENDING_SCHEDULED


def test_high_priority_passes(client, quiet_tenant, sandbox, run_tasks, clock):
    [m] = send(client, run_tasks, priority="high")
    assert m["status"] == st.PENDING_ACCEPTED
    assert sent_to() == [("sms", NY_PHONE)]
    # low priority waits like normal.
    [m] = send(client, run_tasks, priority="low")
    assert m["status"] == st.PENDING_SCHEDULED


def test_email_is_not_deferred_unless_the_tenant_says_so(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    contact(quiet_tenant, email="ann@example.com", time_zone="America/New_York")
    email = [{"subject": "Receipt", "body": "Thanks", "to": ["ann@example.com"]}]
    [m] = send(client, run_tasks, sms=[], email=email)
    assert m["status"] == st.PENDING_ACCEPTED
    quiet_tenant.quiet_channels = ["sms", "email"]
    quiet_tenant.save()
    [m] = send(client, run_tasks, sms=[], email=email)
    assert m["status"] == st.PENDING_SCHEDULED
    assert detail(client, m["messageId"])["scheduledAt"] == "2026-12-03T13:00:00+00:00"


def test_a_contact_without_quiet_hours_is_never_deferred(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    ann = contact(quiet_tenant, phone=NY_PHONE, quiet_hours=Contact.QuietHours.OFF)
    by_number, by_contact, neighbour = send(client, run_tasks, sms=[
        {"body": "a", "to": [NY_PHONE]}, {"body": "b", "to": [{"contactId": str(ann.pk)}]},
        {"body": "c", "to": ["+12125550199"]},
    ])  # fmt: skip
    assert by_number["status"] == by_contact["status"] == st.PENDING_ACCEPTED
    assert neighbour["status"] == st.PENDING_SCHEDULED  # the same night, not opted out


def test_the_contacts_own_window_wins_over_the_tenants(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    # Ann sleeps 23:00–05:00 in New York: 05:00 there is not quiet for her.
    ann = contact(
        quiet_tenant, phone=NY_PHONE, quiet_hours=Contact.QuietHours.OWN,
        quiet_start=time(23, 0), quiet_end=time(5, 0),
    )  # fmt: skip
    [m] = send(client, run_tasks, sms=[{"body": "a", "to": [{"contactId": str(ann.pk)}]}])
    assert m["status"] == st.PENDING_ACCEPTED
    # Bob's window 06:00–09:00 in Tokyo applies even where the tenant has none at all.
    quiet_tenant.quiet_hours_enabled = False
    quiet_tenant.save()
    contact(
        quiet_tenant, phone="+81312345678", time_zone="Asia/Tokyo",
        quiet_hours=Contact.QuietHours.OWN, quiet_start=time(18, 0), quiet_end=time(22, 0),
    )  # fmt: skip
    [m] = send(client, run_tasks, sms=[{"body": "b", "to": ["+81312345678"]}])  # 19:00 Tokyo
    assert m["status"] == st.PENDING_SCHEDULED
    assert detail(client, m["messageId"])["scheduledAt"] == "2026-12-03T13:00:00+00:00"


def test_the_contacts_time_zone_wins_over_the_numbers(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    # A New York number, but Ann lives in Berlin now: 11:00 there.
    contact(quiet_tenant, phone=NY_PHONE, time_zone="Europe/Berlin")
    [m] = send(client, run_tasks)
    assert m["status"] == st.PENDING_ACCEPTED


def test_a_number_of_several_zones_is_read_in_the_tenants(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    clock.go(datetime(2026, 12, 3, 22, 0, tzinfo=UTC))  # 23:00 Berlin
    [m] = send(client, run_tasks, sms=[{"body": "x", "to": ["+18005550100"]}])  # toll-free
    assert detail(client, m["messageId"])["scheduledAt"] == "2026-12-04T07:00:00+00:00"


def test_scheduled_inside_the_window_across_a_dst_change_waits_for_its_end(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    clock.go(datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    # 23:00 EDT on Saturday 31 October; New York falls back to EST at 02:00.
    at = "2026-11-01T03:00:00Z"
    [m] = send(client, run_tasks, scheduledAt=at, validity=60)
    got = detail(client, m["messageId"])
    # 08:00 EST is 13:00 UTC: twelve hours after 21:00 EDT, not eleven.
    assert got["scheduledAt"] == "2026-11-01T13:00:00+00:00"
    # Valid for its 60 minutes from when it may go, not from the time the client asked for.
    assert got["expiresAt"] == "2026-11-01T14:00:00+00:00"
    tick(run_tasks, clock, datetime(2026, 11, 1, 3, 0, 1, tzinfo=UTC))
    assert sent_to() == []
    tick(run_tasks, clock, datetime(2026, 11, 1, 13, 0, tzinfo=UTC))
    assert detail(client, m["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET


def test_a_deferred_message_does_not_expire_for_having_waited(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    [m] = send(client, run_tasks, validity=30)  # deferred 3 hours, valid 30 minutes
    got = detail(client, m["messageId"])
    assert got["expiresAt"] == "2026-12-03T13:30:00+00:00"
    # The sweep over the night expires nothing; at 08:00 it goes.
    tick(run_tasks, clock, MORNING + timedelta(minutes=31))
    assert Message.objects.get().status == st.PENDING_SCHEDULED
    tick(run_tasks, clock, NY_EIGHT + timedelta(minutes=5))
    assert detail(client, m["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET


def test_a_deferred_message_can_be_cancelled(client, quiet_tenant, sandbox, run_tasks, clock):
    [m] = send(client, run_tasks)
    assert client.delete(f"/api/v1/messages/{m['messageId']}").status_code == 202
    tick(run_tasks, clock, NY_EIGHT)
    assert sent_to() == []
    assert detail(client, m["messageId"])["status"]["name"] == st.CANCELLED_BY_CLIENT


def test_a_suppressed_recipient_is_rejected_not_deferred(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    client.post("/api/v1/suppressions", {"channel": "sms", "address": NY_PHONE}, format="json")
    [m] = send(client, run_tasks)
    assert m["status"] == st.REJECTED_SUPPRESSED


def test_quiet_hours_off_for_the_tenant_defer_nothing(client, tenant, sandbox, run_tasks, clock):
    [m] = send(client, run_tasks)
    assert m["status"] == st.PENDING_ACCEPTED


# --- bulk ------------------------------------------------------------------------------------


def _accept_statements(client, recipients):
    """The statements of one accept (no dispatch: its on-commit wake-up is not run), but the
    API key's last-used stamp, written at most once a minute."""
    with CaptureQueriesContext(connection) as ctx:
        r = client.post("/api/v1/messages", {"sms": [{"body": "bulk", "to": recipients}]},
                        format="json")  # fmt: skip
    assert r.status_code == 202, r.content
    sqls = [q["sql"] for q in ctx.captured_queries if "tenants_apikey" not in q["sql"]]
    return len(sqls), [q for q in sqls if '"contacts_contact"."quiet_hours"' in q]


def test_a_bulk_send_looks_quiet_hours_up_once(client, quiet_tenant, sandbox, clock):
    numbers = [f"+1212555{n:04d}" for n in range(1000, 1200)]
    for n in numbers[::2]:  # half of them are contacts who live in Berlin (11:00 there)
        contact(quiet_tenant, phone=n, time_zone="Europe/Berlin")
    few_total, few_quiet = _accept_statements(client, numbers[:4])
    many_total, many_quiet = _accept_statements(client, numbers)
    assert len(few_quiet) == len(many_quiet) == 1
    assert many_total == few_total, (few_total, many_total)
    statuses = dict(Message.objects.filter(request__message_count=200).values_list("to", "status"))
    deferred = {to for to, s in statuses.items() if s == st.PENDING_SCHEDULED}
    assert deferred == set(numbers[1::2])  # the New Yorkers, asleep at 05:00


# --- omnimessages ----------------------------------------------------------------------------


def omni(client, run_tasks, **body):
    body.setdefault("to", NY_PHONE)
    body.setdefault(
        "messages",
        [{"channel": "whatsapp", "text": "Hi", "validity": 60}, {"channel": "sms", "text": "Hi"}],
    )
    r = run_tasks(client.post, "/api/v1/omnimessages", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_an_omnimessage_waits_and_its_window_starts_at_the_deferral(
    client, quiet_tenant, sandbox, run_tasks, clock
):
    body = omni(client, run_tasks)
    assert OmniMessage.objects.get().state == "SCHEDULED"
    wa = Message.objects.get(pk=body["messages"][0]["messageId"])
    assert wa.status == st.PENDING_SCHEDULED and wa.scheduled_at == NY_EIGHT
    assert wa.expires_at == NY_EIGHT + timedelta(minutes=60)
    step = OmniStep.objects.get(position=0)
    assert step.started_at == NY_EIGHT and step.deadline == NY_EIGHT + timedelta(minutes=60)
    tick(run_tasks, clock, NY_EIGHT)
    assert sent_to() == [("whatsapp", NY_PHONE)]
    assert OmniMessage.objects.get().state == "DELIVERED"


def test_a_high_priority_omnimessage_passes(client, quiet_tenant, sandbox, run_tasks, clock):
    omni(client, run_tasks, priority="high")
    assert sent_to() == [("whatsapp", NY_PHONE)]


def test_a_failover_at_night_waits_for_the_morning(
    client, quiet_tenant, sandbox, run_tasks, clock, no_sandbox_report
):
    clock.go(datetime(2026, 12, 3, 0, 30, tzinfo=UTC))  # 19:30 in New York: not quiet yet
    body = omni(client, run_tasks, messages=[
        {"channel": "whatsapp", "text": "Hi", "validity": 120}, {"channel": "sms", "text": "Hi"},
    ])  # fmt: skip
    assert sent_to() == [("whatsapp", NY_PHONE)]
    # No delivery report within the two hours: at 21:30 in New York the SMS is due, inside
    # the window.
    sms_id = body["messages"][1]["messageId"]
    tick(run_tasks, clock, datetime(2026, 12, 3, 2, 30, tzinfo=UTC))
    sms = Message.objects.get(pk=sms_id)
    assert sms.status == st.PENDING_SCHEDULED
    assert sms.scheduled_at == NY_EIGHT
    step = OmniStep.objects.get(position=1)
    assert step.state == OmniStep.State.ACTIVE and step.started_at == NY_EIGHT
    window = timedelta(seconds=step.window_seconds)
    assert step.deadline == NY_EIGHT + window and sms.expires_at == NY_EIGHT + window
    said = sms.events.get(status=st.PENDING_SCHEDULED).description
    assert "Failover from whatsapp" in said and "quiet hours" in said
    assert sent_to() == [("whatsapp", NY_PHONE)]
    # The night passes without the step's deadline firing; at 08:00 the SMS leaves.
    tick(run_tasks, clock, NY_EIGHT - timedelta(minutes=1))
    assert sent_to() == [("whatsapp", NY_PHONE)]
    tick(run_tasks, clock, NY_EIGHT)
    assert sent_to() == [("whatsapp", NY_PHONE), ("sms", NY_PHONE)]
    assert OmniStep.objects.get(position=1).state == OmniStep.State.ACTIVE


# --- two-way conversations and replies -------------------------------------------------------


def test_a_two_way_message_waits_and_its_timeout_starts_then_a_reply_to_an_inbound_does_not(
    client, anon_client, quiet_tenant, sandbox, run_tasks
):
    from conversations.models import Conversation

    body = {
        "message": {"body": "Is 9:00 fine? yes/no"}, "to": NY_PHONE, "responseTimeout": 600,
        "acceptedResponses": [{"messages": ["yes"],
                               "webhook": {"url": "http://127.0.0.1:8765/y", "secret": "s"}}],
        "webhook": {"invalidResponse": {"url": "http://127.0.0.1:8765/i", "secret": "s"}},
        "errorMessage": "Please answer yes or no.",
    }  # fmt: skip
    r = run_tasks(client.post, "/api/v1/messages/two-way", body, format="json")
    assert r.status_code == 202, r.content
    first = Message.objects.get(pk=r.json()["messageId"])
    assert first.status == st.PENDING_SCHEDULED and first.scheduled_at == NY_EIGHT
    # The ten minutes for an answer start when the question may go, not at 05:00.
    assert Conversation.objects.get().expires_at == NY_EIGHT + timedelta(seconds=600)
    # Ann is awake and writes anyway: the error message answers her at once.
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post("http://127.0.0.1:8765/i", status=200)
        inbound = {"from": NY_PHONE, "to": "", "text": "maybe", "channel": "whatsapp"}
        run_tasks(anon_client.post, f"/webhooks/providers/{sandbox.webhook_token}/inbound",
                  inbound, format="json")  # fmt: skip
    assert ("whatsapp", NY_PHONE) in sent_to()
    reply = SandboxOutboxEntry.objects.get(body="Please answer yes or no.")
    assert Message.objects.get(pk=reply.message_id).status == st.DELIVERED_TO_HANDSET


# --- the contacts API ------------------------------------------------------------------------


def test_the_api_reads_and_writes_time_zone_and_quiet_hours(client, quiet_tenant):
    r = client.post(
        "/api/v1/contacts",
        {"name": "Ann", "phone": [NY_PHONE], "timeZone": "America/Chicago",
         "quietHours": {"start": "22:00", "end": "06:30"}},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    got = r.json()
    assert got["timeZone"] == "America/Chicago"
    assert got["quietHours"] == {"start": "22:00", "end": "06:30"}
    ann = Contact.objects.get()
    assert (ann.quiet_hours, ann.quiet_start, ann.quiet_end) == ("own", time(22), time(6, 30))
    r = client.patch(f"/api/v1/contacts/{got['id']}", {"quietHours": "off"}, format="json")
    assert r.status_code == 200 and r.json()["quietHours"] == "off"
    r = client.patch(
        f"/api/v1/contacts/{got['id']}", {"quietHours": None, "timeZone": None}, format="json"
    )
    assert r.status_code == 200
    assert (r.json()["quietHours"], r.json()["timeZone"]) == (None, None)


@pytest.mark.parametrize(
    "body, source",
    [
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"timeZone": "localtime"}, "timeZone"),
        ({"timeZone": 5}, "timeZone"),
        ({"quietHours": "sometimes"}, "quietHours"),
        ({"quietHours": {"start": "22:00"}}, "quietHours.end"),
        ({"quietHours": {"start": "25:00", "end": "07:00"}}, "quietHours.start"),
        ({"quietHours": {"start": "9:00", "end": "07:00"}}, "quietHours.start"),
        ({"quietHours": {"start": "22:00", "end": "07:00", "days": [1]}}, "quietHours.days"),
        ({"quietHours": {"start": "22:00", "end": "22:00"}}, "quietHours.end"),
        ({"quietHours": {"start": 22, "end": "07:00"}}, "quietHours.start"),
    ],
)
def test_bad_quiet_input_is_a_400_naming_the_field_and_stores_nothing(
    client, quiet_tenant, body, source
):
    before = counts((Contact, ContactAddress))
    assert_error(
        client.post("/api/v1/contacts", {"name": "Ann", **body}, format="json"), 400, source
    )
    assert counts((Contact, ContactAddress)) == before
    ann = contact(quiet_tenant, name="Ann", time_zone="Europe/Paris")
    assert_error(client.patch(f"/api/v1/contacts/{ann.pk}", body, format="json"), 400, source)
    ann.refresh_from_db()
    assert (ann.time_zone, ann.quiet_hours) == ("Europe/Paris", "")


def test_import_reads_time_zones_and_names_a_bad_one(client, quiet_tenant):
    text = "externalId,name,timeZone\nc-1,Ann,America/New_York\nc-2,Bob,Mars/Base\n"
    r = client.post("/api/v1/contacts/import", text, content_type="text/csv")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["created"] == 1
    assert [(e["row"], e["source"]) for e in body["errors"]] == [(3, "timeZone")]
    assert Contact.objects.get().time_zone == "America/New_York"
    rows = [{"externalId": "c-3", "quietHours": "off"}, {"externalId": "c-4", "quietHours": 7}]
    body = client.post("/api/v1/contacts/import", rows, format="json").json()
    assert [(e["row"], e["source"]) for e in body["errors"]] == [(1, "quietHours")]
    assert Contact.objects.get(external_id="c-3").quiet_hours == "off"
