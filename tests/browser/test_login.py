import pytest

from tests.factories import TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_tenant_admin_logs_in_and_sees_their_sections(page, live_server, admin_login):
    tenant = TenantFactory(slug="alpha")
    staff_user("alice", tenant=tenant, role="tenant_admin")
    admin_login(page, "alice")
    body = page.inner_text("body")
    assert "Providers" in body and "Templates" in body and "Messages" in body
    assert "Django Q" not in body  # operations are for superusers


def test_admin_is_usable_at_phone_width(phone_page, live_server, admin_login):
    tenant = TenantFactory(slug="alpha")
    staff_user("alice", tenant=tenant, role="tenant_admin")
    admin_login(phone_page, "alice")
    # Nothing wider than the screen: no sideways scrolling.
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
