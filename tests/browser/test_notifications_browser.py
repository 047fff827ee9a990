"""Issue 10's notification review in a real browser: the app's send is refused while its
notification waits for review; a tenant admin reads the rendered templates, enables it with a
reason, and the app's send through the API is then accepted. Disabling from the queue (the
bulk action) refuses the app's sends again."""

import re

import pytest
from playwright.sync_api import expect

from notifications.models import Notification, NotificationReview, Status
from tests.factories import (
    AppFactory,
    ProviderFactory,
    TemplateFactory,
    TenantFactory,
    issue_key,
    staff_user,
)

pytestmark = pytest.mark.django_db(transaction=True)

SEND = {
    "notification": "order-delivered",
    "sms": [{"data": {"otp": "342365"}, "to": ["+14155550100"]}],
}


@pytest.fixture
def shop(live_server):
    tenant = TenantFactory(slug="alpha", name="Alpha", placeholders={"company": "Alpha"})
    ProviderFactory(tenant=tenant, name="sandbox", is_tenant_default=True)
    TemplateFactory(tenant=tenant, name="otp", data={"body": "Your {{company}} code is {{otp}}"})
    staff_user("alice", tenant=tenant, role="tenant_admin")
    app = AppFactory(tenant=tenant, name="shop")
    return {"tenant": tenant, "app": app, "key": issue_key(app)}


def api(page, live_server, shop, path, body):
    return page.request.post(
        f"{live_server.url}{path}",
        data=body,
        headers={"X-API-Key": shop["key"], "Content-Type": "application/json"},
    )


def test_a_tenant_admin_enables_a_pending_notification_and_the_app_sends(
    page, live_server, admin_login, shop
):
    registered = api(
        page,
        live_server,
        shop,
        "/api/v1/notifications",
        {"name": "order-delivered", "templates": {"sms": "otp"}},
    )
    assert registered.status == 201 and registered.json()["status"] == "PENDING_REVIEW"
    refused = api(page, live_server, shop, "/api/v1/messages/notifications", SEND)
    assert refused.status == 403
    assert refused.json()["errors"][0]["code"] == "notification_not_enabled"

    admin_login(page, "alice")
    page.goto(f"{live_server.url}/admin/notifications/notification/")
    row = page.locator("#result_list tbody tr", has_text="order-delivered")
    expect(row).to_contain_text("Pending review")
    row.locator("a", has_text="order-delivered").click()

    # The template as the recipient would read it: the tenant's placeholder filled in.
    expect(page.locator("#preview-sms")).to_contain_text("Your Alpha code is {{otp}}")
    expect(page.locator("#preview-sms")).to_contain_text("Filled in by each send: otp.")
    page.click("#review-enable")
    expect(page.locator("#review-list")).to_contain_text("order-delivered")
    page.click("#review-confirm")  # no reason yet: asked again
    expect(page.locator(".errornote")).to_contain_text("Please give the reason")
    page.fill("textarea[name=comment]", "Wording checked.")
    page.click("#review-confirm")
    page.wait_for_url(re.compile(r"/admin/notifications/notification/$"))
    expect(page.locator("ul.messagelist")).to_contain_text("Enabled 1 notification")
    expect(page.locator("#result_list tbody tr", has_text="order-delivered")).to_contain_text(
        "Enabled"
    )

    sent = api(page, live_server, shop, "/api/v1/messages/notifications", SEND)
    assert sent.status == 202, sent.text()
    (message,) = sent.json()["messages"]
    assert message["to"] == "+14155550100" and message["status"]["groupName"] == "PENDING"
    n = Notification.objects.get()
    assert n.status == Status.ENABLED and n.review_comment == "Wording checked."
    assert [r.action for r in NotificationReview.objects.order_by("id")] == [
        "registered",
        "enabled",
    ]


def test_disabling_from_the_queue_refuses_the_apps_sends(page, live_server, admin_login, shop):
    for name in ("order-delivered", "order-shipped"):
        r = api(page, live_server, shop, "/api/v1/notifications",
                {"name": name, "templates": {"sms": "otp"}})  # fmt: skip
        assert r.status == 201
    Notification.objects.update(status=Status.ENABLED)
    assert api(page, live_server, shop, "/api/v1/messages/notifications", SEND).status == 202

    admin_login(page, "alice")
    page.goto(f"{live_server.url}/admin/notifications/notification/")
    page.check("#action-toggle")  # both
    page.select_option("select[name=action]", "disable_selected")
    page.click("button[name=index]")
    expect(page.locator("#review-list li")).to_have_count(2)
    page.fill("textarea[name=comment]", "Campaign over.")
    page.click("#review-confirm")
    expect(page.locator("ul.messagelist")).to_contain_text("Disabled 2 notifications")

    refused = api(page, live_server, shop, "/api/v1/messages/notifications", SEND)
    assert refused.status == 403
    assert refused.json()["errors"][0]["code"] == "notification_not_enabled"
