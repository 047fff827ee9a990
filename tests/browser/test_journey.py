"""Issue 3's journeys end to end in a real browser: a tenant admin's day, a support user's
look, and a tenant that finds nothing of another tenant's anywhere."""

import json
import re

import pytest
from playwright.sync_api import expect

from messaging.models import Message
from messaging.services.accept import message_accept
from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenants(live_server):
    alpha = TenantFactory(slug="alpha", name="Alpha", placeholders={"company": "Alpha"})
    beta = TenantFactory(slug="beta", name="Beta")
    staff_user("alice", tenant=alpha, role="tenant_admin")
    staff_user("sam", tenant=alpha, role="support")
    # Beta has a provider, a template and a delivered message of its own.
    ProviderFactory(tenant=beta, name="beta-sandbox", is_tenant_default=True)
    TemplateFactory(tenant=beta, name="beta-otp")
    message_accept(
        app=AppFactory(tenant=beta, name="beta-app"),
        body={"sms": [{"body": "beta secret", "to": ["+14155550199"]}]},
    )
    return alpha, beta


def test_a_tenant_admins_day(page, live_server, admin_login, tenants):
    base = live_server.url + "/admin"
    admin_login(page, "alice")

    # Registers a provider.
    page.goto(f"{base}/providers/provider/add/")
    page.select_option("select[name=provider_type]", "sandbox")
    page.wait_for_url(re.compile(r"provider_type=sandbox"))
    page.fill("input[name=name]", "alpha-sandbox")
    page.check("input[name=is_tenant_default]")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/providers/provider/\d+/change/$"))
    provider_url = page.url

    # Writes an SMS template and watches the segment count as the text crosses 160.
    page.goto(f"{base}/messaging/template/add/")
    page.fill("#id_name", "welcome")
    page.fill("#id_body", "a" * 160)
    expect(page.locator("#tpl-sms-characters")).to_have_text("160")
    expect(page.locator("#tpl-sms-segments")).to_have_text("1")
    page.locator("#id_body").press("End")
    page.locator("#id_body").press_sequentially("b")
    expect(page.locator("#tpl-sms-characters")).to_have_text("161")
    expect(page.locator("#tpl-sms-segments")).to_have_text("2")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")

    # Sends a test message through the new provider.
    page.goto(provider_url)
    page.get_by_role("link", name="Send a test message").click()
    page.fill("input[name=recipient]", "+14155550123")
    page.click("input[type=submit][value=Send]")
    page.wait_for_url(re.compile(r"/test-message/\?sent=[0-9a-f-]+$"))
    expect(page.locator("#test-message-status")).to_contain_text("DELIVERED_TO_HANDSET")

    # Finds it by the recipient as a customer would say it, and opens its timeline.
    page.goto(f"{base}/messaging/message/")
    page.fill("#searchbar", "(415) 555-0123")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/?q=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/admin/messaging/message/[0-9a-f-]+/change/"))
    body = page.inner_text("body")
    for step in ("PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_TO_HANDSET"):
        assert step in body
    assert Message.objects.get(to="+14155550123").status == "DELIVERED_TO_HANDSET"


def test_support_can_look_but_not_change(page, live_server, admin_login, tenants):
    alpha, _ = tenants
    ProviderFactory(tenant=alpha, name="alpha-sandbox", is_tenant_default=True)
    message_accept(
        app=AppFactory(tenant=alpha, name="alpha-app"),
        body={"sms": [{"body": "hello", "to": ["+14155550100"]}]},
    )
    message = Message.objects.get(to="+14155550100")
    admin_login(page, "sam")
    page.goto(f"{live_server.url}/admin/messaging/message/{message.pk}/change/")
    body = page.inner_text("body")
    assert "DELIVERED_TO_HANDSET" in body and "hello" in body
    assert page.locator("input[name=_save]").count() == 0
    assert page.get_by_role("button", name="Resend").count() == 0
    assert page.locator("select[name=action]").count() == 0 or "Resend" not in page.inner_text(
        "select[name=action]"
    )
    response = page.goto(f"{live_server.url}/admin/providers/provider/")
    assert response.status == 403
    response = page.goto(f"{live_server.url}/admin/messaging/template/")
    assert response.status == 403


def test_tenant_a_finds_nothing_of_tenant_b(page, live_server, admin_login, tenants):
    alpha, beta = tenants
    ProviderFactory(tenant=alpha, name="alpha-sandbox", is_tenant_default=True)
    ProviderFactory(tenant=alpha, name="alpha-backup")  # two, so the filter shows
    base = live_server.url + "/admin"
    admin_login(page, "alice")
    for path in (
        "/messaging/message/",
        "/messaging/template/",
        "/providers/provider/",
        "/providers/sandboxoutboxentry/",
        "/providers/inboundmessage/",
        "/tenants/app/",
        "/dashboard/",
    ):
        page.goto(base + path)
        text = page.content()
        for leak in ("beta-sandbox", "beta-otp", "+14155550199", "beta secret", "beta-app"):
            assert leak not in text, f"{leak} on {path}"
    # The message log's provider filter offers only alpha's providers.
    page.goto(f"{base}/messaging/message/")
    assert "alpha-sandbox" in page.inner_text("#changelist-filter")
    assert "beta-sandbox" not in page.content()
    # Autocomplete answers from alpha's rows only.
    page.goto(
        f"{base}/autocomplete/?app_label=messaging&model_name=message&field_name=provider&term="
    )
    names = [r["text"] for r in json.loads(page.inner_text("body")).get("results", [])]
    assert names and all("beta" not in n for n in names)
    # Guessed URLs of beta's objects are 404s.
    beta_message = Message.objects.get(to="+14155550199")
    beta_provider = beta.providers.get()
    beta_template = beta.templates.get()
    for path in (
        f"/messaging/message/{beta_message.pk}/change/",
        f"/providers/provider/{beta_provider.pk}/change/",
        f"/providers/provider/{beta_provider.pk}/test-message/",
        f"/messaging/template/{beta_template.pk}/change/",
        f"/messaging/template/{beta_template.pk}/history/",
    ):
        assert page.goto(base + path).status == 404, path
