"""The Content-Security-Policy in a real browser: the admin's pages and the API docs work
under it, offline, and the browser reports no violation (no refused script, style, image or
frame) on any of them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from playwright.sync_api import expect

from messaging.models import Message, Template
from messaging.services.accept import message_accept
from providers.models import Provider
from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)

# Reported by the page itself (the event fires for every refusal, in frames too), so the
# test does not depend on how the browser words its console message.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


class Watch:
    """What the browser complained about: CSP refusals, script errors, off-site requests."""

    def __init__(self, page, live_server) -> None:
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.offsite: list[str] = []
        page.context.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))

        def route(r):  # offline: nothing but the live server answers
            if r.request.url.startswith(live_server.url):
                r.continue_()
            else:
                self.offsite.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        self.page = page

    def _console(self, msg) -> None:
        text = msg.text
        if "CSP violation" in text or "Content Security Policy" in text:
            self.violations.append(f"{self.page.url}: {text}")

    def clean(self, expected: str | None = None) -> None:
        """No violation (but one that `expected` names, the page's own doing)."""
        violations = [v for v in self.violations if not (expected and expected in v)]
        assert violations == [], "\n".join(violations)
        assert self.errors == [], "\n".join(self.errors)
        assert self.offsite == [], "\n".join(self.offsite)


@pytest.fixture
def alpha(live_server):
    """Tenant alpha sent an SMS and an HTML email through the sandbox; it has an email
    template. alice administers it; root is a superuser."""
    tenant = TenantFactory(slug="alpha", name="Alpha")
    app = AppFactory(tenant=tenant, name="shop")
    ProviderFactory(tenant=tenant, name="alpha-sandbox", is_tenant_default=True)
    with transaction.atomic():  # the sandbox delivers on commit (tasks run inline)
        message_accept(
            app=app,
            body={
                "sms": [{"body": "Your code is 342365", "to": ["+14155550100"]}],
                "email": [
                    {
                        "subject": "Your order shipped",
                        "body": '<h1 style="color: #036">Shipped</h1><p>Thanks.</p>',
                        "format": "text/html",
                        "to": ["ann@example.com"],
                    }
                ],
            },
        )
    TemplateFactory(
        tenant=tenant,
        name="receipt",
        mode="email",
        data={
            "subject": "Receipt for {{name}}",
            "format": "text/html",
            "body": '<h1 style="color: #036">Hello {{name}}</h1><p>Thanks.</p>',
        },
    )
    staff_user("alice", tenant=tenant, role="tenant_admin")
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    return tenant


def test_admin_pages_run_under_the_policy_without_a_violation(
    page, live_server, admin_login, alpha
):
    watch = Watch(page, live_server)
    admin_login(page, "alice")
    url = live_server.url

    # The dashboard: Chart.js and its data (a JSON block, not an inline script).
    page.click("#start-dashboard")
    page.locator("canvas").first.wait_for()
    page.wait_for_timeout(300)

    # The message log and an email's page, whose HTML part is a sandboxed srcdoc frame (it
    # inherits the page's policy: its inline style must still apply).
    page.goto(url + reverse("admin:messaging_message_changelist"))
    expect(page.locator("#result_list")).to_be_visible()
    email = Message.objects.get(channel="email")
    page.goto(url + reverse("admin:messaging_message_change", args=[email.pk]))
    heading = page.frame_locator("iframe.msglog-html").locator("h1")
    expect(heading).to_have_text("Shipped")
    expect(heading).to_have_css("color", "rgb(0, 51, 102)")

    # The template editor: the live preview in its sandboxed frame.
    template = Template.objects.get(tenant=alpha, name="receipt")
    page.goto(url + reverse("admin:messaging_template_change", args=[template.pk]))
    page.fill('#tpl-sample [data-placeholder="name"]', "Ann")
    preview = page.frame_locator("iframe#tpl-email-html").locator("h1")
    expect(preview).to_have_text("Hello Ann")
    expect(preview).to_have_css("color", "rgb(0, 51, 102)")

    # The sandbox outbox: a conversation and the mailbox's email in its frame.
    page.goto(url + "/admin/")
    page.click("#start-outbox")
    page.click("#tab-mail")
    page.click("text=Your order shipped")
    expect(page.frame_locator("#email-html").locator("h1")).to_have_text("Shipped")

    # The provider form (its script switches the type's fields) and the test message page.
    provider = Provider.objects.get(name="alpha-sandbox")
    page.goto(url + reverse("admin:providers_provider_change", args=[provider.pk]))
    expect(page.locator("input[name=name]")).to_have_value("alpha-sandbox")
    page.goto(url + reverse("admin:providers_provider_add") + "?provider_type=sandbox")
    expect(page.locator("input[name=name]")).to_be_visible()
    watch.clean()


def test_django_admin_pages_run_under_the_policy(page, live_server, admin_login, alpha):
    """Django's own admin pages: the change form's widgets (filter_horizontal, calendars) and
    the changelist's actions."""
    watch = Watch(page, live_server)
    admin_login(page, "root")
    url = live_server.url
    user = get_user_model().objects.get(username="alice")
    page.goto(url + reverse("admin:auth_user_change", args=[user.pk]))
    expect(page.locator("#id_user_permissions_from")).to_be_visible()  # SelectFilter2 ran
    page.goto(url + reverse("admin:auth_user_changelist"))
    page.check("#action-toggle")
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")
    page.goto(url + reverse("admin:auth_group_add"))
    expect(page.locator("#id_permissions_from")).to_be_visible()
    watch.clean()


def test_swagger_ui_renders_the_operations_offline(page, live_server):
    watch = Watch(page, live_server)
    page.goto(live_server.url + "/api/docs/")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/messages" in p for p in paths)
    watch.clean()


def test_redoc_renders_the_operations_offline(page, live_server):
    watch = Watch(page, live_server)
    page.goto(live_server.url + "/api/redoc/")
    # Redoc lays out the whole schema in the page before its first heading (over 7,000 lines
    # of it now): on a loaded 2-core CI machine that took more than expect's 5 s.
    expect(page.locator("h1").first).to_contain_text("Omnichannel Messaging API", timeout=30_000)
    expect(page.get_by_text("/api/v1/messages").first).to_be_attached(timeout=30_000)
    # Redoc's "by Redocly" logo is on their CDN, the one thing the policy refuses here (and
    # Redoc hides it then); its search worker (a blob: URL) runs.
    watch.clean(expected="https://cdn.redoc.ly/redoc/logo-mini.svg")
