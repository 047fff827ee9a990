"""The provider's "Send a test message" page follows the message it sent: the status
changes on the page, without a reload, until it is final; a refusal shows its error."""

import re

import pytest
from playwright.sync_api import expect

from messaging import queue
from messaging.models import Message
from messaging.tasks import dispatch_run
from tests.factories import ProviderFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(live_server):
    tenant = TenantFactory(slug="alpha", name="Alpha")
    staff_user("alice", tenant=tenant, role="tenant_admin")
    return ProviderFactory(tenant=tenant, name="alpha-sandbox", is_tenant_default=True)


def _send(page, live_server, sandbox, recipient: str) -> Message:
    page.goto(f"{live_server.url}/admin/providers/provider/{sandbox.pk}/test-message/")
    page.fill("input[name=recipient]", recipient)
    page.click("input[type=submit][value=Send]")
    page.wait_for_url(re.compile(r"/test-message/\?sent=[0-9a-f-]+$"))
    return Message.objects.get(to=recipient)


def test_the_test_message_page_follows_the_status_live(
    page, live_server, admin_login, sandbox, monkeypatch
):
    # Hold the workers back: the message waits, accepted, while the page looks.
    held = []
    monkeypatch.setattr(queue, "enqueue", lambda func, *args: held.append(func))
    admin_login(page, "alice")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/status/" in r.url else None)
    message = _send(page, live_server, sandbox, "+14155550100")
    box = page.locator("#test-message-status")
    expect(box).to_contain_text("PENDING_ACCEPTED")
    expect(box).to_contain_text("Following its status")
    page.wait_for_timeout(2000)  # it keeps asking while the message waits
    assert len(requests) >= 2
    assert held  # dispatch was asked for, and held
    # The worker runs now (tasks inline): sent, and the sandbox reports delivery.
    monkeypatch.undo()
    dispatch_run()
    message.refresh_from_db()
    assert message.status == "DELIVERED_TO_HANDSET"
    expect(box.locator("[data-live-badge]")).to_have_text("DELIVERED_TO_HANDSET", timeout=8000)
    expect(box).to_contain_text("Final status.")
    timeline = box.locator("[data-live-timeline] li")
    expect(timeline.first).to_contain_text("PENDING_ACCEPTED")
    expect(timeline.last).to_contain_text("DELIVERED_TO_HANDSET")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", timeline.first.inner_text())
    # Once final, it stops asking.
    count = len(requests)
    page.wait_for_timeout(3500)
    assert len(requests) == count


def test_a_refused_test_message_shows_its_final_status_and_error(
    page, live_server, admin_login, sandbox
):
    admin_login(page, "alice")
    _send(page, live_server, sandbox, "+14155550001")  # the sandbox rejects ...0001
    box = page.locator("#test-message-status")
    expect(box.locator("[data-live-badge]")).to_contain_text("REJECTED")
    expect(box).to_contain_text("Final status.")
    error = box.locator("[data-live-error]")
    expect(error).to_be_visible()
    message = Message.objects.get(to="+14155550001")
    assert message.error_code
    expect(error).to_contain_text(message.error_code)
