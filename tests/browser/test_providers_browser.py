"""A tenant admin registers a provider, copies its webhook URLs and sends a test message."""

import re

import pytest
from playwright.sync_api import expect

from messaging.models import Message
from providers.models import Provider
from tests.factories import ProviderFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(live_server):
    tenant = TenantFactory(slug="alpha")
    staff_user("alice", tenant=tenant, role="tenant_admin")
    return tenant


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_register_a_sandbox_and_send_a_test_message(page, live_server, admin_login, alice):
    admin_login(page, "alice")
    page.goto(f"{live_server.url}/admin/providers/provider/add/")
    assert page.locator("input[name=_save]").count() == 0  # the type comes first
    # Picking the type reloads the form with that type's settings.
    page.select_option("select[name=provider_type]", "sandbox")
    page.wait_for_url(re.compile(r"provider_type=sandbox"))
    # No secrets: one optional switch, WhatsApp's 24-hour window, off by default.
    assert "Enforce care window" in page.inner_text("body")
    assert page.locator("input[type=password]").count() == 0
    assert page.is_checked("input[name=channels][value=sms]")
    page.fill("input[name=name]", "my-sandbox")
    page.check("input[name=is_tenant_default]")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/providers/provider/\d+/change/$"))

    provider = Provider.objects.get(name="my-sandbox")
    assert provider.tenant == alice and provider.is_tenant_default
    body = page.inner_text("body")
    assert "was added" in body
    # The webhook URLs, ready to copy.
    urls = page.locator("[data-copy-source]")
    assert urls.count() == 2
    assert {urls.nth(0).input_value(), urls.nth(1).input_value()} == {
        provider.inbound_webhook_url,
        provider.status_webhook_url,
    }
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator(".field-status_webhook [data-copy]").click()
    expect(page.locator(".field-status_webhook [data-copy]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == provider.status_webhook_url

    page.get_by_role("link", name="Send a test message").click()
    page.wait_for_url(re.compile(r"/test-message/$"))
    assert page.input_value("textarea[name=text]") == "Test message from Alpha"
    assert not page.is_visible("input[name=subject]")  # email only
    page.fill("input[name=recipient]", "+14155550100")
    page.click("input[type=submit][value=Send]")
    page.wait_for_url(re.compile(r"/test-message/\?sent=[0-9a-f-]+$"))

    message = Message.objects.get(to="+14155550100")
    assert message.provider == provider and message.body == "Test message from Alpha"
    assert str(message.pk) in page.url
    expect(page.locator("#test-message-status")).to_contain_text("DELIVERED_TO_HANDSET")
    body = page.inner_text("body")
    assert "Test message accepted: SMS to +14155550100 through “my-sandbox”" in body
    assert "+14155550100" in body


def test_provider_pages_fit_a_phone(phone_page, live_server, admin_login, alice):
    provider = ProviderFactory(tenant=alice, name="alpha-sandbox")
    admin_login(phone_page, "alice")
    base = f"{live_server.url}/admin/providers/provider"
    for url in (
        f"{base}/",
        f"{base}/add/",
        f"{base}/add/?provider_type=sandbox",
        f"{base}/{provider.pk}/change/",
        f"{base}/{provider.pk}/test-message/",
    ):
        phone_page.goto(url)
        fits(phone_page, 390)
    # On the change page, both webhook URLs and their copy buttons are on screen.
    phone_page.goto(f"{base}/{provider.pk}/change/")
    for button in phone_page.locator("[data-copy]").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
    field = phone_page.locator("[data-copy-source]").first.bounding_box()
    assert field["x"] >= 0 and field["x"] + field["width"] <= 390
