"""The message log in a real browser: support finds a message by the number as the customer
says it, opens its timeline; the pages fit a phone.

With UPDATE_SCREENSHOTS=1 set, also saves docs/screenshots/message-detail.png (1280x900).
"""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from messaging.models import Message
from messaging.services.accept import message_accept
from tests.factories import AppFactory, ProviderFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "message-detail.png"


def delivered_sms(to: str = "+61412345678") -> Message:
    """An Australian tenant whose SMS went out and came back delivered (tasks run inline)."""
    tenant = TenantFactory(slug="koala", name="Koala Bank", default_country="AU")
    app = AppFactory(tenant=tenant, name="mobile-banking")
    ProviderFactory(tenant=tenant, name="sandbox", is_tenant_default=True)
    body = {
        "sms": [
            {
                "body": "Koala Bank: your one-time code is 482913. It expires in 10 minutes.",
                "senderId": "KoalaBank",
                "to": ["0412 345 678", "0412 345 679"],
            }
        ]
    }
    message_accept(app=app, body=body)
    message = Message.objects.get(to=to)
    assert message.status == "DELIVERED_TO_HANDSET"
    return message


def test_support_finds_a_message_by_the_national_number_and_opens_its_timeline(
    page, live_server, admin_login
):
    message = delivered_sms()
    staff_user("sam", tenant=message.tenant, role="support")
    admin_login(page, "sam")
    page.goto(live_server.url + reverse("admin:messaging_message_changelist"))
    # At 1280 px the list fits beside the navigation and the filters: no sideways scrolling.
    assert page.evaluate(
        "(() => { const r = document.querySelector('#changelist-form .results');"
        " return r.scrollWidth <= r.clientWidth; })()"
    )
    page.fill("#searchbar", "0412 345 678")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/?q=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "+61412345678" in rows.first.inner_text()
    assert "+61412345679" not in page.inner_text("#result_list")
    page.click("#result_list a:has-text('+61412345678')")
    page.wait_for_selector("#msglog-timeline-h")
    timeline = page.inner_text(".msglog-timeline")
    for status in ("PENDING_ACCEPTED", "PENDING_ENROUTE", "DELIVERED_TO_HANDSET"):
        assert status in timeline
    assert "Koala Bank: your one-time code is 482913" in page.inner_text(".msglog-content")
    # Support looks; it does not act.
    assert page.locator("button:has-text('Resend')").count() == 0
    assert page.locator("select[name=action]").count() == 0


def test_message_log_fits_a_phone(phone_page, live_server, admin_login):
    message = delivered_sms()
    staff_user("sam", tenant=message.tenant, role="support")
    admin_login(phone_page, "sam")
    for url in (
        reverse("admin:messaging_message_changelist") + "?q=0412+345+678",
        reverse("admin:messaging_message_change", args=[message.pk]),
    ):
        phone_page.goto(live_server.url + url)
        assert phone_page.locator("#content").is_visible()
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} is {width} px wide"


@pytest.mark.skipif(not os.environ.get("UPDATE_SCREENSHOTS"), reason="UPDATE_SCREENSHOTS not set")
def test_screenshot_of_a_delivered_messages_detail_page(page, live_server, admin_login):
    message = delivered_sms()
    staff_user("alice", tenant=message.tenant, role="tenant_admin")
    admin_login(page, "alice")
    page.goto(live_server.url + reverse("admin:messaging_message_change", args=[message.pk]))
    page.wait_for_selector("#msglog-timeline-h")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
