"""Quiet hours in the admin: the tenant's settings and a contact's shown and saved (a time zone
that does not exist refused, nothing saved), what is in effect for a contact shown, and the
provider's test message going out at once whatever the hour."""

import html
from datetime import UTC, datetime, time

from django.urls import reverse

from contacts.models import Contact, ContactAddress
from messaging.models import Message
from providers.models import SandboxOutboxEntry


def text(response) -> str:
    return html.unescape(response.content.decode())


def tenant_url(tenant):
    return reverse("admin:tenants_tenant_change", args=[tenant.pk])


def tenant_form(tenant, **over):
    data = {
        "name": tenant.name, "default_country": "DE", "placeholders": "{}",
        "unknown_outcome_policy": tenant.unknown_outcome_policy,
        "time_zone": "Europe/Berlin", "quiet_hours_enabled": "on",
        "quiet_start": "22:00", "quiet_end": "07:30",
        "quiet_days": ["0", "1", "2", "3", "6"], "quiet_channels": ["sms", "whatsapp", "email"],
    }  # fmt: skip
    data.update(over)
    return data


def test_the_tenant_page_shows_and_saves_its_quiet_hours(login, alpha_admin, alpha):
    tenant = alpha["tenant"]
    c = login(alpha_admin)
    page = text(c.get(tenant_url(tenant)))
    assert "Quiet hours" in page
    for name in ("time_zone", "quiet_hours_enabled", "quiet_start", "quiet_end"):
        assert f'name="{name}"' in page, name
    assert 'value="21:00"' in page and 'value="08:00"' in page  # the defaults, as HH:MM
    assert 'name="quiet_days" value="6"' in page and 'name="quiet_channels" value="email"' in page

    r = c.post(tenant_url(tenant), tenant_form(tenant))
    assert r.status_code == 302, text(r)[:3000]
    tenant.refresh_from_db()
    assert tenant.time_zone == "Europe/Berlin" and tenant.quiet_hours_enabled
    assert (tenant.quiet_start, tenant.quiet_end) == (time(22, 0), time(7, 30))
    assert tenant.quiet_days == [0, 1, 2, 3, 6]
    assert tenant.quiet_channels == ["sms", "whatsapp", "email"]
    # The list shows the window.
    assert "22:00–07:30" in text(c.get(reverse("admin:tenants_tenant_changelist")))


def test_the_tenant_page_refuses_a_zone_that_does_not_exist(login, alpha_admin, alpha):
    tenant = alpha["tenant"]
    c = login(alpha_admin)
    r = c.post(tenant_url(tenant), tenant_form(tenant, time_zone="Europe/Atlantis"))
    assert r.status_code == 200
    assert "'Europe/Atlantis' is not an IANA time zone" in text(r)
    r = c.post(tenant_url(tenant), tenant_form(tenant, time_zone="localtime"))
    assert "'localtime' is not an IANA time zone" in text(r)
    r = c.post(tenant_url(tenant), tenant_form(tenant, quiet_start="07:30"))
    assert "The window closes when it opens" in text(r)
    tenant.refresh_from_db()
    assert tenant.time_zone == "UTC" and not tenant.quiet_hours_enabled


def contact_url(contact):
    return reverse("admin:contacts_contact_change", args=[contact.pk])


def contact_form(contact, **over):
    data = {
        "tenant": contact.tenant_id, "external_id": contact.external_id, "name": contact.name,
        "locale": "", "attributes": "{}", "time_zone": "America/Chicago", "quiet_hours": "own",
        "quiet_start": "22:30", "quiet_end": "06:00",
        "addresses-TOTAL_FORMS": "1", "addresses-INITIAL_FORMS": "1",
        "addresses-MIN_NUM_FORMS": "0", "addresses-MAX_NUM_FORMS": "1000",
        "addresses-0-id": contact.addresses.get().pk, "addresses-0-contact": contact.pk,
        "addresses-0-channel": "phone", "addresses-0-address": "+12125550100",
    }  # fmt: skip
    data.update(over)
    return data


def ann(tenant):
    contact = Contact.objects.create(tenant=tenant, external_id="u-1", name="Ann")
    ContactAddress.objects.create(
        contact=contact, tenant=tenant, channel="phone", address="+12125550100",
        normalized="+12125550100",
    )  # fmt: skip
    return contact


def test_the_contact_page_shows_and_saves_its_quiet_hours(login, alpha_admin, alpha):
    tenant = alpha["tenant"]
    tenant.quiet_hours_enabled = True
    tenant.save()
    contact = ann(tenant)
    c = login(alpha_admin)
    page = text(c.get(contact_url(contact)))
    for name in ("time_zone", "quiet_hours", "quiet_start", "quiet_end"):
        assert f'name="{name}"' in page, name
    # In effect: the tenant's window, read in the zone of Ann's New York number.
    assert "21:00–08:00 in America/New_York (from +12125550100)" in page

    r = c.post(contact_url(contact), contact_form(contact))
    assert r.status_code == 302, text(r)[:3000]
    contact.refresh_from_db()
    assert contact.time_zone == "America/Chicago" and contact.quiet_hours == "own"
    assert (contact.quiet_start, contact.quiet_end) == (time(22, 30), time(6, 0))
    assert "22:30–06:00 in America/Chicago (its own)" in text(c.get(contact_url(contact)))

    r = c.post(contact_url(contact), contact_form(contact, quiet_hours="off"))
    assert r.status_code == 302
    assert "None: its messages are never deferred." in text(c.get(contact_url(contact)))


def test_the_contact_page_refuses_bad_quiet_hours(login, alpha_admin, alpha):
    contact = ann(alpha["tenant"])
    c = login(alpha_admin)
    r = c.post(contact_url(contact), contact_form(contact, time_zone="Moon/Base"))
    assert r.status_code == 200 and "'Moon/Base' is not an IANA time zone" in text(r)
    r = c.post(contact_url(contact), contact_form(contact, quiet_start="", quiet_end=""))
    assert r.status_code == 200 and "Hours of its own need a start and an end." in text(r)
    contact.refresh_from_db()
    assert (contact.time_zone, contact.quiet_hours) == ("", "")


def test_the_providers_test_message_goes_at_once_at_night(
    login, alpha_admin, alpha, clock, django_capture_on_commit_callbacks
):
    tenant = alpha["tenant"]
    tenant.quiet_hours_enabled = True
    tenant.save()
    clock.go(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))  # 05:00 in New York
    provider = alpha["provider"]
    c = login(alpha_admin)
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(
            reverse("admin:providers_provider_test_message", args=[provider.pk]),
            {"channel": "sms", "recipient": "+12125550100", "text": "testing"},
        )
    assert r.status_code == 302, text(r)[:3000]
    assert Message.objects.get(body="testing").scheduled_at is None
    assert SandboxOutboxEntry.objects.filter(to="+12125550100").exists()
