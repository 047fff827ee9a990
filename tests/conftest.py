"""Shared fixtures: a tenant with an app and its key, a default sandbox provider, templates,
an API client that sends the key, a loopback app that takes status callbacks, and a sandbox
that holds back its delivery report."""

import pytest
import responses
from rest_framework.test import APIClient

from providers.backends.sandbox import SandboxBackend
from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, issue_key
from tests.helpers import HOOK


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", placeholders={"company": "Acme"})


@pytest.fixture
def app(tenant):
    return AppFactory(tenant=tenant, name="shop")


@pytest.fixture
def api_key(app):
    return issue_key(app)


@pytest.fixture
def sandbox(tenant):
    return ProviderFactory(tenant=tenant, name="sandbox", is_tenant_default=True)


@pytest.fixture
def templates(tenant):
    return {
        "otp": TemplateFactory(
            tenant=tenant, name="otp", mode="sms", data={"body": "Your {{company}} code is {{otp}}"}
        ),
        "order": TemplateFactory(
            tenant=tenant,
            name="order",
            mode="email",
            data={
                "subject": "Order {{orderId}}",
                "body": "<p>Hi {{name}}</p>",
                "format": "text/html",
            },
        ),
        "wa": TemplateFactory(
            tenant=tenant, name="wa", mode="whatsapp", data={"body": "Hi {{name}}"}
        ),
    }


@pytest.fixture
def client(api_key):
    c = APIClient()
    c.credentials(HTTP_X_API_KEY=api_key)
    return c


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Run on-commit work (the enqueued tasks, inline in sync mode) as a worker would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


class Clock:
    """The service's clock (django.utils.timezone.now), set and moved by a test."""

    def __init__(self, at) -> None:
        self.at = at

    def now(self):
        return self.at

    def go(self, at) -> None:
        self.at = at


@pytest.fixture
def clock(monkeypatch):
    """Stop the clock at the real now; `clock.go(at)` moves it (quiet hours: a night in
    another time zone, whenever the suite runs)."""
    import django.utils.timezone

    c = Clock(django.utils.timezone.now())
    monkeypatch.setattr(django.utils.timezone, "now", c.now)
    return c


@pytest.fixture
def hook():
    """The loopback app at HOOK answers 200; read what it got with `received(hook, app)`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(HOOK, status=200)
        yield rsps


@pytest.fixture
def no_sandbox_report(monkeypatch):
    """Hold back the sandbox's follow-up report so that the test plays the provider."""
    real_send = SandboxBackend.send

    def send(self, message):
        result = real_send(self, message)
        result.follow_up_report = None
        return result

    monkeypatch.setattr(SandboxBackend, "send", send)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the run (tests/browser and tests/e2e): Playwright's sync API keeps an
    event loop in this thread, so a second sync_playwright() beside it would fail."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
