"""The dashboard in a real browser: Chart.js from static/ draws the charts with the network
cut off, and the admin's pages fit a 1280 px and a 390 px wide screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core import status as st
from messaging.models import Message, MessageEvent, MessageRequest
from messaging.services.accept import message_accept
from tests.factories import AppFactory, ProviderFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


def dashboard() -> str:
    return reverse("admin:dashboard")


def offline(page, live_server) -> list[str]:
    """Refuse every request that is not to the live server; returns the refused URLs."""
    refused: list[str] = []

    def route(r):
        if r.request.url.startswith(live_server.url):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return refused


@pytest.fixture
def traffic():
    """Tenant alpha: sends through the sandbox, plus a week of known history."""
    tenant = TenantFactory(slug="alpha", name="Alpha")
    app = AppFactory(tenant=tenant, name="shop")
    provider = ProviderFactory(
        tenant=tenant, name="alpha-sandbox", is_tenant_default=True, default_sender="ALPHA"
    )
    staff_user("alice", tenant=tenant, role="tenant_admin")
    with transaction.atomic():  # the sandbox delivers on commit (tasks run inline in tests)
        message_accept(
            app=app,
            body={
                "sms": [{"body": "Your code is 342365", "to": ["+14155550100"]}],
                "whatsapp": [{"body": "Your parcel is here", "to": ["+14155550100"]}],
                "email": [{"subject": "Hi", "body": "Hello", "to": ["ann@example.com"]}],
            },
        )
    request = MessageRequest.objects.create(tenant=tenant, app=app, validity=60)
    now = timezone.now()
    for days in range(1, 8):
        created = now - timedelta(days=days)
        for i in range(days):
            message = Message.objects.create(
                tenant=tenant, app=app, request=request, channel="sms", provider=provider,
                to="+14155550123", status=st.DELIVERED_TO_HANDSET if i else st.REJECTED_PROVIDER,
                error_code="" if i else "SANDBOX_REJECTED", expires_at=created + timedelta(days=1),
                created_at=created, updated_at=created,
            )  # fmt: skip
            if i:
                MessageEvent.objects.create(
                    message=message, status=st.DELIVERED_TO_HANDSET, source="provider",
                    created_at=created + timedelta(seconds=5 * i),
                )  # fmt: skip
    return tenant


def test_dashboard_draws_its_charts_offline(page, live_server, admin_login, traffic):
    refused = offline(page, live_server)
    admin_login(page, "alice")
    page.click("#start-dashboard")
    page.wait_for_url(f"{live_server.url}{dashboard()}")
    page.wait_for_function(
        "() => window.Chart && window.Chart.getChart(document.getElementById('chart-daily'))"
    )
    assert page.evaluate("typeof window.Chart") == "function"
    daily = page.evaluate(
        """() => Chart.getChart(document.getElementById('chart-daily')).data.datasets
              .map(d => [d.label, d.data.reduce((a, b) => a + b, 0)])"""
    )
    assert dict(daily) == {"SMS": 1 + sum(range(1, 8)), "WhatsApp": 1, "Email": 1}
    assert page.evaluate("Chart.getChart(document.getElementById('chart-providers')) !== undefined")
    assert page.locator("#chart-daily").bounding_box()["height"] > 100
    assert "SANDBOX_REJECTED" in page.inner_text("#errors-table")
    assert refused == []


def test_dashboard_fits_a_phone(phone_page, live_server, admin_login, traffic):
    refused = offline(phone_page, live_server)
    admin_login(phone_page, "alice")
    phone_page.goto(f"{live_server.url}{dashboard()}")
    phone_page.wait_for_function(
        "() => window.Chart && window.Chart.getChart(document.getElementById('chart-daily'))"
    )
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone_page.locator("#chart-daily").bounding_box()["width"] <= 390
    # The wide error table scrolls inside its box, not the page.
    box = phone_page.locator("#errors-table").bounding_box()
    assert box["width"] > 0
    assert refused == []


PAGES = [
    "/admin/",
    "/admin/messaging/message/",
    "dashboard",
    "/admin/providers/sandboxoutboxentry/",
    "/admin/providers/sandboxoutboxentry/?box=mail",
    "/admin/providers/provider/",
]


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_fit_the_screen(page, phone_page, live_server, admin_login, traffic, width):
    screen = page if width == 1280 else phone_page
    admin_login(screen, "alice")
    for path in PAGES:
        path = dashboard() if path == "dashboard" else path
        screen.goto(f"{live_server.url}{path}")
        assert screen.evaluate("document.documentElement.scrollWidth") <= width, path


@pytest.mark.parametrize("width", [1280, 390])
def test_superusers_operations_fit_the_screen(
    page, phone_page, live_server, admin_login, traffic, django_user_model, width
):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    screen = page if width == 1280 else phone_page
    admin_login(screen, "root")
    screen.click("#start-operations a[href$='#operations']")
    assert screen.locator("#operations").is_visible()
    assert "Sweep schedule" in screen.inner_text("#operations")
    for path in ("/admin/", dashboard(), "/admin/django_q/schedule/", "/admin/django_q/failure/"):
        screen.goto(f"{live_server.url}{path}")
        assert screen.evaluate("document.documentElement.scrollWidth") <= width, path
