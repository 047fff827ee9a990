"""The contacts admin: a contact's suppressions and care window shown, suppressions added by
hand (normalised), each tenant seeing only its own."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import CareWindow, Contact, ContactAddress, Suppression
from tenants.models import Role
from tests.factories import TenantFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, tenant):
    from django.test import Client

    c = Client()
    c.force_login(staff_user("ta", tenant=tenant, role=Role.TENANT_ADMIN))
    return c


def test_contact_page_shows_its_suppressions_and_window(admin_client, tenant):
    ann = Contact.objects.create(tenant=tenant, external_id="u-1", name="Ann")
    ContactAddress.objects.create(
        contact=ann, tenant=tenant, channel="phone", address="+14155550100",
        normalized="+14155550100",
    )  # fmt: skip
    Suppression.objects.create(
        tenant=tenant, channel="sms", address="+14155550100", reason="keyword"
    )
    now = timezone.now()
    CareWindow.objects.create(
        tenant=tenant, channel="whatsapp", address="+14155550100", provider_id=1,
        last_inbound_at=now, expires_at=now + timedelta(hours=24),
    )  # fmt: skip
    page = admin_client.get(f"/admin/contacts/contact/{ann.pk}/change/").content.decode()
    assert "sms +14155550100 (Opt-out keyword)" in page
    assert "Open until" in page


def test_suppression_added_by_hand_is_normalised(admin_client, tenant):
    r = admin_client.post(
        "/admin/contacts/suppression/add/",
        {"tenant": tenant.pk, "channel": "sms", "address": "(415) 555-0100", "reason": "manual",
         "source": "phone call"},
    )  # fmt: skip
    assert r.status_code == 302, r.content.decode()[:2000]
    assert Suppression.objects.get().address == "+14155550100"


def test_another_tenants_contact_is_a_404(admin_client):
    other = Contact.objects.create(tenant=TenantFactory(slug="other"), name="Eve")
    assert admin_client.get(f"/admin/contacts/contact/{other.pk}/change/").status_code == 404
    assert "Eve" not in admin_client.get("/admin/contacts/contact/").content.decode()
