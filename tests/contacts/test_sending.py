"""Sending to contacts, opt-outs and the WhatsApp care window, end to end through the
sandbox: accept → dispatch → the sandbox's report, inbound through its webhook."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import CareWindow, Contact, ContactAddress, OptOutSettings, Suppression
from core import status as st
from messaging.models import CallbackDelivery, Message
from messaging.services.status import message_reports_apply
from messaging.services.sweep import sweep
from providers.backends import StatusReport
from providers.models import InboundMessage, SandboxOutboxEntry
from tests.factories import ProviderFactory
from tests.helpers import HOOK, assert_error, counts, received

pytestmark = pytest.mark.django_db

ANN, BOB = "+14155550100", "+14155550101"


def contact(tenant, ext, name, phone=None, email=None, **attributes):
    c = Contact.objects.create(tenant=tenant, external_id=ext, name=name, attributes=attributes)
    for kind, value in (("phone", phone), ("email", email)):
        if value:
            ContactAddress.objects.create(
                contact=c, tenant=tenant, channel=kind, address=value, normalized=value.lower()
            )
    return c


def inbound(anon_client, provider, sender, text, channel="sms"):
    r = anon_client.post(
        f"/webhooks/providers/{provider.webhook_token}/inbound",
        {"from": sender, "to": "+18005550000", "text": text, "channel": channel},
        format="json",
    )
    assert r.status_code == 200, r.content


def send(client, run_tasks, body):
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"]


def status_of(client, mid):
    return client.get(f"/api/v1/messages/{mid}").json()


# --- contact recipients --------------------------------------------------------------------


def test_contact_recipients_resolve_and_render_their_own_data(client, sandbox, run_tasks, tenant):
    ann = contact(tenant, "u-1", "Ann", phone=ANN, tier="gold")
    contact(tenant, "u-2", "Bob", phone=BOB, tier="silver")
    body = {"sms": [{
        "body": "Hi {{contact.name}} ({{contact.tier}}, {{contact.externalId}})",
        "to": [{"contactId": str(ann.pk)}, {"externalId": "u-2"}],
    }]}  # fmt: skip
    messages = send(client, run_tasks, body)
    assert [m["to"] for m in messages] == [ANN, BOB]
    outbox = {e.to: e.body for e in SandboxOutboxEntry.objects.all()}
    assert outbox == {ANN: "Hi Ann (gold, u-1)", BOB: "Hi Bob (silver, u-2)"}
    assert all(
        status_of(client, m["messageId"])["status"]["groupName"] == "DELIVERED" for m in messages
    )


def test_contact_recipients_cost_one_lookup_whatever_their_number(
    client, sandbox, tenant, django_assert_max_num_queries
):
    for n in range(30):
        contact(tenant, f"u-{n}", f"P{n}", phone=f"+1415555{n:04d}")
    body = {
        "sms": [
            {"body": "Hi {{contact.name}}", "to": [{"externalId": f"u-{n}"} for n in range(30)]}
        ]
    }
    with django_assert_max_num_queries(25):
        r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 202 and len(r.json()["messages"]) == 30


def test_unknown_contact_or_missing_address_refuses_the_request(client, sandbox, tenant):
    contact(tenant, "mail-only", "Ann", email="ann@example.com")
    before = counts()
    r = client.post(
        "/api/v1/messages",
        {
            "sms": [
                {"body": "Hi", "to": [ANN, {"externalId": "mail-only"}, {"externalId": "nobody"}]}
            ]
        },
        format="json",
    )
    errors = assert_error(r, 400, source="sms[0].to[1]", code="no_address")
    assert {e["source"]: e["code"] for e in errors}["sms[0].to[2]"] == "unknown_contact"
    assert counts() == before  # nothing stored


def test_email_to_a_contact(client, sandbox, run_tasks, tenant):
    contact(tenant, "u-1", "Ann", email="ann@example.com", orderId="o-7")
    body = {"email": [{"subject": "Order {{contact.orderId}}", "body": "Dear {{contact.name}}",
                       "to": [{"externalId": "u-1"}]}]}  # fmt: skip
    (m,) = send(client, run_tasks, body)
    entry = SandboxOutboxEntry.objects.get()
    assert (entry.to, entry.subject, entry.body) == ("ann@example.com", "Order o-7", "Dear Ann")


def test_send_to_user_endpoint(client, sandbox, run_tasks, tenant):
    ann = contact(tenant, "u-1", "Ann", phone=ANN)
    r = run_tasks(
        client.post,
        f"/api/v1/contacts/{ann.pk}/messages/whatsapp",
        {"body": "Hello {{contact.name}}", "callback": {"url": HOOK}},
        format="json",
    )
    assert r.status_code == 202, r.content
    (m,) = r.json()["messages"]
    assert (m["channel"], m["to"]) == ("whatsapp", ANN)
    assert SandboxOutboxEntry.objects.get().body == "Hello Ann"
    # Errors name the fields of this body; a missing address is the contact's problem.
    r = client.post(f"/api/v1/contacts/{ann.pk}/messages/email", {"subject": "x", "body": "y"},
                    format="json")  # fmt: skip
    (err,) = assert_error(r, 400, code="no_address")
    assert err["source"] is None
    r = client.post(f"/api/v1/contacts/{ann.pk}/messages/sms", {"bdy": "x"}, format="json")
    assert_error(r, 400, source="bdy", code="unknown_field")
    r = client.post(f"/api/v1/contacts/{ann.pk}/messages/sms", {"body": "x", "to": [BOB]},
                    format="json")  # fmt: skip
    assert_error(r, 400, source="to", code="unknown_field")
    assert_error(client.post(f"/api/v1/contacts/{ann.pk}/messages/fax", {}, format="json"), 404)
    other = "00000000-0000-0000-0000-000000000000"
    assert_error(client.post(f"/api/v1/contacts/{other}/messages/sms", {"body": "x"},
                             format="json"), 404)  # fmt: skip


# --- opt-outs ------------------------------------------------------------------------------


def test_stop_then_send_is_suppressed_and_the_other_recipient_delivered(
    client, anon_client, sandbox, run_tasks, app, hook
):
    inbound(anon_client, sandbox, "+1 415 555 0100", "  stop ")
    s = Suppression.objects.get()
    assert (s.channel, s.address, s.reason) == ("sms", ANN, "keyword")
    messages = send(client, run_tasks, {"sms": [{"body": "Sale!", "to": [ANN, BOB]}],
                                        "callback": {"url": HOOK}})  # fmt: skip
    refused, sent = messages
    assert refused["status"]["name"] == st.REJECTED_SUPPRESSED
    assert refused["error"] == {"code": "suppressed", "permanent": True,
                                "description": refused["error"]["description"]}  # fmt: skip
    assert "error" not in sent
    got = status_of(client, refused["messageId"])
    assert got["status"]["groupName"] == "REJECTED" and got["error"]["code"] == "suppressed"
    assert [e["status"] for e in got["events"]] == [st.PENDING_ACCEPTED, st.REJECTED_SUPPRESSED]
    assert status_of(client, sent["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET
    assert [e.to for e in SandboxOutboxEntry.objects.all()] == [BOB]  # never dispatched
    # Its callback fires like any final status's.
    calls = [c for c in received(hook, app) if c["messageId"] == refused["messageId"]]
    assert [c["status"]["name"] for c in calls] == [st.REJECTED_SUPPRESSED]
    assert calls[0]["error"]["code"] == "suppressed"


def test_start_lifts_it_and_the_next_send_is_delivered(client, anon_client, sandbox, run_tasks):
    inbound(anon_client, sandbox, ANN, "STOP")
    inbound(anon_client, sandbox, ANN, "Start")
    assert not Suppression.objects.exists()
    (m,) = send(client, run_tasks, {"sms": [{"body": "Back", "to": [ANN]}]})
    assert status_of(client, m["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET


def test_stop_suppresses_only_its_channel_and_keywords_are_per_tenant(
    client, anon_client, sandbox, run_tasks, tenant
):
    OptOutSettings.objects.create(tenant=tenant, stop_keywords=["HALT"], start_keywords=["GO"])
    inbound(anon_client, sandbox, ANN, "stop")  # not this tenant's keyword any more
    assert not Suppression.objects.exists()
    inbound(anon_client, sandbox, ANN, "halt")
    messages = send(
        client,
        run_tasks,
        {"sms": [{"body": "x", "to": [ANN]}], "whatsapp": [{"body": "y", "to": [ANN]}]},
    )
    by_channel = {m["channel"]: m["status"]["name"] for m in messages}
    assert by_channel == {"sms": st.REJECTED_SUPPRESSED, "whatsapp": st.PENDING_ACCEPTED}


def test_a_retried_inbound_is_not_seen_twice(client, anon_client, sandbox):
    for _ in range(2):
        r = anon_client.post(
            f"/webhooks/providers/{sandbox.webhook_token}/inbound",
            {"from": ANN, "to": "+18005550000", "text": "STOP", "messageId": "in-1"},
            format="json",
        )
        assert r.status_code == 200
        Suppression.objects.all().delete()  # a second STOP must not come back from the retry
    assert not Suppression.objects.exists()


def test_an_email_complaint_suppresses_the_address(client, sandbox, run_tasks, tenant):
    (m,) = send(
        client, run_tasks, {"email": [{"subject": "Hi", "body": "x", "to": ["Ann@Example.com"]}]}
    )
    entry = SandboxOutboxEntry.objects.get()
    run_tasks(
        message_reports_apply,
        provider=sandbox,
        reports=[
            StatusReport(entry.provider_message_id, st.DELIVERED_TO_HANDSET, feedback="complained")
        ],
    )
    s = Suppression.objects.get()
    assert (s.channel, s.address, s.reason) == ("email", "ann@example.com", "complaint")
    (again,) = send(
        client, run_tasks, {"email": [{"subject": "Hi", "body": "x", "to": ["ann@example.com"]}]}
    )
    assert again["status"]["name"] == st.REJECTED_SUPPRESSED


def test_suppressions_api(client, tenant):
    r = client.post("/api/v1/suppressions", {"channel": "sms", "address": "(415) 555-0100"},
                    format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    got = r.json()
    assert (got["channel"], got["address"], got["reason"]) == ("sms", ANN, "manual")
    assert client.post("/api/v1/suppressions", {"channel": "sms", "address": ANN},
                       format="json").status_code == 200  # already there  # fmt: skip
    client.post("/api/v1/suppressions", {"channel": "email", "address": "a@x.com"}, format="json")
    listed = client.get("/api/v1/suppressions", {"channel": "sms", "address": "+1 415 555 0100"})
    assert [s["id"] for s in listed.json()["results"]] == [got["id"]]
    assert client.get("/api/v1/suppressions").json()["count"] == 2
    assert_error(client.post("/api/v1/suppressions", {"channel": "fax", "address": "x"},
                             format="json"), 400, source="channel")  # fmt: skip
    assert_error(client.post("/api/v1/suppressions", {"channel": "sms", "address": "abc"},
                             format="json"), 400, source="address")  # fmt: skip
    assert client.delete(f"/api/v1/suppressions/{got['id']}").status_code == 204
    assert_error(client.delete(f"/api/v1/suppressions/{got['id']}"), 404)


# --- the WhatsApp care window --------------------------------------------------------------


@pytest.fixture
def strict(tenant):
    """A sandbox that enforces the care window as WhatsApp Business does."""
    return ProviderFactory(
        tenant=tenant,
        name="strict",
        is_tenant_default=True,
        credentials={"enforceCareWindow": True},
    )


def test_free_form_whatsapp_outside_the_window_is_session_expired_template_goes(
    client, anon_client, strict, run_tasks
):
    inbound(anon_client, strict, BOB, "hi", channel="whatsapp")  # Bob opened a window
    messages = send(client, run_tasks, {"whatsapp": [
        {"body": "Free text", "to": [ANN, BOB]},
        {"body": "Your code {{otp}}", "data": {"otp": "1"}, "to": [ANN],
         "providerTemplate": {"name": "otp", "language": "en", "params": ["1"]}},
    ]})  # fmt: skip
    ann_free, bob_free, ann_template = messages
    assert ann_free["status"]["name"] == st.REJECTED_CONTENT
    assert ann_free["error"]["code"] == "session_expired"
    assert status_of(client, bob_free["messageId"])["status"]["groupName"] == "DELIVERED"
    assert status_of(client, ann_template["messageId"])["status"]["groupName"] == "DELIVERED"


def test_the_window_closes_after_24_hours(client, anon_client, strict, run_tasks):
    inbound(anon_client, strict, ANN, "hi", channel="whatsapp")
    CareWindow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    (m,) = send(client, run_tasks, {"whatsapp": [{"body": "late", "to": [ANN]}]})
    assert m["error"]["code"] == "session_expired"


def test_the_plain_sandbox_does_not_enforce_the_window(client, sandbox, run_tasks):
    (m,) = send(client, run_tasks, {"whatsapp": [{"body": "hi", "to": [ANN]}]})
    assert status_of(client, m["messageId"])["status"]["groupName"] == "DELIVERED"


def test_real_whatsapp_adapters_declare_the_window():
    from providers.backends import get_backend_class

    for name in ("meta_whatsapp", "infobip", "twilio", "websms", "messente"):
        assert get_backend_class(name).care_window is True, name
    assert get_backend_class("sandbox").care_window is False


def test_the_window_shows_on_the_contact(client, anon_client, strict, tenant):
    ann = contact(tenant, "u-1", "Ann", phone=ANN)
    assert client.get(f"/api/v1/contacts/{ann.pk}").json()["careWindowUntil"] is None
    inbound(anon_client, strict, "14155550100", "hello", channel="whatsapp")  # Meta's spelling
    until = client.get(f"/api/v1/contacts/{ann.pk}").json()["careWindowUntil"]
    window = CareWindow.objects.get()
    assert until == window.expires_at.isoformat()
    assert timedelta(hours=23) < window.expires_at - timezone.now() <= timedelta(hours=24)


def test_refused_messages_have_no_callback_without_a_callback_url(
    client, anon_client, sandbox, run_tasks
):
    inbound(anon_client, sandbox, ANN, "STOP")
    send(client, run_tasks, {"sms": [{"body": "x", "to": [ANN]}]})
    assert not CallbackDelivery.objects.exists()
    assert Message.objects.get().final_at is not None


def test_an_inbound_message_is_linked_to_its_contact(anon_client, sandbox, tenant):
    ann = contact(tenant, "u-ann", "Ann", phone="+14155550123")
    # Providers write numbers their own way; the link is by the normalized address.
    inbound(anon_client, sandbox, "14155550123", "hello")
    inbound(anon_client, sandbox, "+14155550999", "who am I")
    linked = dict(InboundMessage.objects.values_list("text", "contact_id"))
    assert linked == {"hello": ann.pk, "who am I": None}


def test_a_stop_after_accept_still_stops_the_waiting_message(
    client, anon_client, sandbox, run_tasks
):
    """Scheduled (or waiting for a retry) when the STOP came: dispatch checks again."""
    at = (timezone.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    waiting, other = send(
        client, run_tasks, {"sms": [{"body": "Later", "to": [ANN, BOB]}], "scheduledAt": at}
    )
    inbound(anon_client, sandbox, ANN, "STOP")
    due = timezone.now() - timedelta(seconds=1)
    Message.objects.update(scheduled_at=due, next_attempt_at=due)
    run_tasks(sweep)
    got = status_of(client, waiting["messageId"])
    assert (got["status"]["name"], got["error"]["code"]) == (st.REJECTED_SUPPRESSED, "suppressed")
    assert status_of(client, other["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET
    assert [e.to for e in SandboxOutboxEntry.objects.all()] == [BOB]
