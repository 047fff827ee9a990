"""Per-tenant allowed SMS destination countries (the defence against SMS pumping): a recipient
elsewhere is stored and ends REJECTED_DESTINATION (country_not_allowed) with its event and
callback while the rest of the request goes on; an empty list allows every country; other
channels are not affected; the check costs no SQL; the admin saves the list and refuses an
unknown code; an omnimessage's refused SMS step fails over as its flow says."""

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Contact, ContactAddress
from core import status as st
from messaging.models import Message, MessageEvent
from providers.models import SandboxOutboxEntry
from tests.helpers import HOOK, received

pytestmark = pytest.mark.django_db

US, DE, GB = "+14155550100", "+4930123456", "+442071234567"


@pytest.fixture
def us_ca(tenant):
    tenant.sms_countries = ["US", "CA"]
    tenant.save(update_fields=["sms_countries"])
    return tenant


def send(client, run_tasks, body):
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"]


def status_of(client, mid):
    return client.get(f"/api/v1/messages/{mid}").json()


def test_refused_countries_end_rejected_per_recipient_and_the_rest_is_sent(
    client, sandbox, run_tasks, us_ca, app, hook
):
    body = {"sms": [{"body": "Code 1234", "to": [US, "+49 30 123456", "+44 20 7123 4567"]}],
            "callback": {"url": HOOK}}  # fmt: skip
    sent, de, gb = send(client, run_tasks, body)
    assert Message.objects.count() == 3
    assert [m["to"] for m in (sent, de, gb)] == [US, DE, GB]
    assert "error" not in sent
    assert status_of(client, sent["messageId"])["status"]["name"] == st.DELIVERED_TO_HANDSET
    assert [e.to for e in SandboxOutboxEntry.objects.all()] == [US]  # never dispatched
    for m, named in ((de, "DE (Germany)"), (gb, "GB (United Kingdom)")):
        assert m["status"]["name"] == st.REJECTED_DESTINATION
        assert m["error"]["code"] == "country_not_allowed" and m["error"]["permanent"] is True
        assert f"SMS to {named} is not allowed for this tenant" in m["error"]["description"]
        got = status_of(client, m["messageId"])
        assert got["status"]["groupName"] == "REJECTED"
        assert got["error"]["code"] == "country_not_allowed"
        assert [e["status"] for e in got["events"]] == [
            st.PENDING_ACCEPTED,
            st.REJECTED_DESTINATION,
        ]
        calls = [c for c in received(hook, app) if c["messageId"] == m["messageId"]]
        assert [c["status"]["name"] for c in calls] == [st.REJECTED_DESTINATION]
        assert calls[0]["error"]["code"] == "country_not_allowed"
        assert named in calls[0]["error"]["description"]


def test_an_empty_list_allows_every_country(client, sandbox, run_tasks, tenant):
    assert tenant.sms_countries == []  # the default: nothing changes for existing tenants
    messages = send(client, run_tasks, {"sms": [{"body": "Hi", "to": [US, DE, GB]}]})
    assert all(m["status"]["groupName"] == "PENDING" for m in messages)
    assert sorted(e.to for e in SandboxOutboxEntry.objects.all()) == sorted([US, DE, GB])


def test_other_channels_are_not_affected(client, sandbox, run_tasks, us_ca):
    messages = send(
        client,
        run_tasks,
        {"whatsapp": [{"body": "Hi", "to": [DE]}], "sms": [{"body": "Hi", "to": [DE]}]},
    )
    by_channel = {m["channel"]: m["status"]["name"] for m in messages}
    assert by_channel == {"whatsapp": st.PENDING_ACCEPTED, "sms": st.REJECTED_DESTINATION}
    assert [(e.channel, e.to) for e in SandboxOutboxEntry.objects.all()] == [("whatsapp", DE)]


def test_a_contact_recipient_is_checked_too(client, sandbox, run_tasks, us_ca):
    c = Contact.objects.create(tenant=us_ca, external_id="u-1", name="Udo")
    ContactAddress.objects.create(
        contact=c, tenant=us_ca, channel="phone", address=DE, normalized=DE
    )
    (m,) = send(client, run_tasks, {"sms": [{"body": "Hi", "to": [{"externalId": "u-1"}]}]})
    assert (m["to"], m["status"]["name"]) == (DE, st.REJECTED_DESTINATION)
    r = run_tasks(client.post, f"/api/v1/contacts/{c.pk}/messages/sms", {"body": "Hi"},
                  format="json")  # fmt: skip
    assert r.status_code == 202, r.content
    assert r.json()["messages"][0]["error"]["code"] == "country_not_allowed"
    assert not SandboxOutboxEntry.objects.exists()


def test_a_number_of_no_country_is_refused_when_a_list_is_set(client, sandbox, run_tasks, us_ca):
    (m,) = send(client, run_tasks, {"sms": [{"body": "Hi", "to": ["+80012345678"]}]})
    assert m["status"]["name"] == st.REJECTED_DESTINATION
    assert "+80012345678 (a number of no country)" in m["error"]["description"]


def _statements(client, body) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return len(ctx.captured_queries)


def test_the_check_costs_no_sql_statement(client, sandbox, tenant):
    body = {"sms": [{"body": "Hi", "to": [US, DE, GB, "+16135550100"]}]}
    _statements(client, body)  # the first request also records the key's last use
    without = _statements(client, body)
    tenant.sms_countries = ["US", "CA", "DE", "GB"]  # set, and every recipient allowed
    tenant.save(update_fields=["sms_countries"])
    assert _statements(client, body) == without
    # Refusing costs what refusing a suppressed recipient does, whatever the number refused.
    tenant.sms_countries = ["US"]
    tenant.save(update_fields=["sms_countries"])
    few = _statements(client, {"sms": [{"body": "Hi", "to": [US, DE]}]})
    many = _statements(client, {"sms": [{"body": "Hi", "to": [US] + [
        f"+49301234{n:02d}" for n in range(20)
    ]}]})  # fmt: skip
    assert many == few
    assert Message.objects.filter(status=st.REJECTED_DESTINATION).count() == 21
    assert MessageEvent.objects.filter(status=st.REJECTED_DESTINATION).count() == 21


# --- the admin ---------------------------------------------------------------------------


def _tenant_form(tenant, **over):
    data = {
        "slug": tenant.slug, "name": tenant.name, "default_country": tenant.default_country,
        "placeholders": "{}", "unknown_outcome_policy": tenant.unknown_outcome_policy,
        "time_zone": "UTC", "quiet_start": "21:00", "quiet_end": "08:00",
        "quiet_days": ["0"], "quiet_channels": ["sms"],
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    }  # fmt: skip
    data.update(over)
    return data


def test_the_admin_saves_the_list_and_refuses_an_unknown_code(admin_client, tenant):
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    page = html.unescape(admin_client.get(url).content.decode())
    assert 'name="sms_countries"' in page and "DE — Germany" in page
    r = admin_client.post(url, _tenant_form(tenant, sms_countries=["US", "CA"]))
    assert r.status_code == 302, html.unescape(r.content.decode())[:3000]
    tenant.refresh_from_db()
    assert tenant.sms_countries == ["CA", "US"]

    r = admin_client.post(url, _tenant_form(tenant, sms_countries=["US", "XX"]))
    assert r.status_code == 200
    assert "XX is not a country code phonenumbers knows" in html.unescape(r.content.decode())
    tenant.refresh_from_db()
    assert tenant.sms_countries == ["CA", "US"]  # nothing saved

    r = admin_client.post(url, _tenant_form(tenant))  # none chosen: every country again
    assert r.status_code == 302
    tenant.refresh_from_db()
    assert tenant.sms_countries == []


# --- omnimessages ------------------------------------------------------------------------


def omni(client, run_tasks, messages):
    r = run_tasks(client.post, "/api/v1/omnimessages", {"to": US, "messages": messages},
                  format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    return r.json()


def test_an_omnimessage_whose_sms_step_is_refused_fails_over_or_fails(
    client, sandbox, run_tasks, tenant
):
    tenant.sms_countries = ["CA"]
    tenant.save(update_fields=["sms_countries"])
    body = omni(client, run_tasks, [{"channel": "sms", "text": "a"},
                                    {"channel": "whatsapp", "text": "b"}])  # fmt: skip
    sms, wa = (Message.objects.get(pk=m["messageId"]) for m in body["messages"])
    assert (sms.status, sms.error_code) == (st.REJECTED_DESTINATION, "country_not_allowed")
    assert wa.status == st.DELIVERED_TO_HANDSET  # the flow moved on
    r = client.get(f"/api/v1/omnimessages/{body['omnimessageId']}/status")
    assert r.json()["state"] == "DELIVERED"

    body = omni(client, run_tasks, [{"channel": "sms", "text": "only"}])
    (sms,) = (Message.objects.get(pk=m["messageId"]) for m in body["messages"])
    assert sms.status == st.REJECTED_DESTINATION
    r = client.get(f"/api/v1/omnimessages/{body['omnimessageId']}/status")
    assert r.json()["state"] == "FAILED"
    assert [e.channel for e in SandboxOutboxEntry.objects.all()] == ["whatsapp"]
