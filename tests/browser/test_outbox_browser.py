"""The sandbox outbox in a real browser: a message sent through the sandbox shows on the
recipient's phone screen, a simulated reply comes back into the conversation, and the
mailbox shows an email's HTML in a sandboxed frame that loads nothing remote."""

from __future__ import annotations

import pytest
from django.db import transaction

from messaging.services.accept import message_accept
from providers.models import InboundMessage
from tests.factories import AppFactory, ProviderFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)

ANN = "+14155550100"


@pytest.fixture
def sent(live_server):
    """Alpha sent Ann an SMS and an email through the sandbox; beta sent someone else one.
    The email shows an image from a server the browser can reach: it must not load."""
    pixel = f"{live_server.url}/static/admin/img/icon-yes.svg"
    for slug, sender, to in (("alpha", "ALPHA", ANN), ("beta", "BETA", "+14155550199")):
        tenant = TenantFactory(slug=slug, name=slug.title())
        app = AppFactory(tenant=tenant, name=f"{slug}-shop")
        ProviderFactory(
            tenant=tenant, name=f"{slug}-sandbox", is_tenant_default=True, default_sender=sender
        )
        with transaction.atomic():  # the sandbox delivers on commit (tasks run inline)
            message_accept(
                app=app,
                body={
                    "sms": [{"body": f"Your {slug} code is 342365", "to": [to]}],
                    "email": [
                        {
                            "subject": f"Your {slug} order shipped",
                            "body": f'<h1>Shipped</h1><img id="pixel" src="{pixel}">',
                            "format": "text/html",
                            "to": ["ann@example.com"],
                        }
                    ],
                },
            )
    staff_user("alice", tenant=TenantFactory(slug="alpha"), role="tenant_admin")


@pytest.mark.parametrize("width", [1280, 390])
def test_reply_round_trip_on_the_phone_screen(
    page, phone_page, live_server, admin_login, sent, width
):
    screen = page if width == 1280 else phone_page
    admin_login(screen, "alice")
    screen.click("#start-outbox")
    conversations = screen.locator("#conversations")
    assert "Your alpha code is 342365" in conversations.inner_text()
    assert "beta" not in conversations.inner_text().lower()
    screen.click(f".omni-conv:has-text('{ANN}')")

    assert screen.inner_text("#phone-sender") == "ALPHA"
    outbound = screen.locator(".omni-bubble.omni-out").first
    assert "Your alpha code is 342365" in outbound.inner_text()
    assert "Delivered to handset" in outbound.inner_text()  # the sandbox's delivery report

    screen.fill("#reply-text", "Thanks, got it")
    screen.click("text=Simulate a reply")
    reply = screen.locator(".omni-bubble.omni-in")
    reply.wait_for()
    assert "Thanks, got it" in reply.inner_text()
    assert "received through the inbound webhook" in screen.inner_text(".messagelist")
    stored = InboundMessage.objects.get()
    assert (stored.sender, stored.recipient, stored.text) == (ANN, "ALPHA", "Thanks, got it")
    assert stored.tenant.slug == "alpha"
    # The reply comes after the message it answers, and nothing is wider than the screen.
    bubbles = screen.locator(".omni-bubble").all_inner_texts()
    assert "342365" in bubbles[0] and "Thanks, got it" in bubbles[-1]
    assert screen.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [1280, 390])
def test_mailbox_shows_the_html_without_loading_anything_remote(
    page, phone_page, live_server, admin_login, sent, width
):
    screen = page if width == 1280 else phone_page
    admin_login(screen, "alice")
    screen.click("#start-outbox")
    screen.click("#tab-mail")
    mailbox = screen.inner_text("#mailbox")
    assert "Your alpha order shipped" in mailbox and "beta" not in mailbox.lower()
    screen.click("text=Your alpha order shipped")
    assert "ann@example.com" in screen.inner_text("#email-headers")
    frame = screen.frame_locator("#email-html")
    assert frame.locator("h1").inner_text() == "Shipped"
    assert screen.get_attribute("#email-html", "sandbox") == ""
    assert screen.evaluate("document.documentElement.scrollWidth") <= width
    # The frame's policy refuses remote content: the image (a tracking pixel) stays unloaded.
    pixel = frame.locator("#pixel")
    pixel.wait_for(state="attached")
    for _ in range(50):  # until the browser is done with it (loaded or refused)
        if pixel.evaluate("img => img.complete"):
            break
        screen.wait_for_timeout(100)
    assert pixel.evaluate("img => [img.complete, img.naturalWidth]") == [True, 0]
