"""The template editor in a real browser: live preview, sample data, saving, email and chat."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from messaging.models import Template
from tests.factories import TemplateFactory, TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "template-editor.png"
PREFIX = "{{company}}: your login code is {{otp}}. "  # renders as "Acme: ... 123456. "


def _alpha_admin():
    tenant = TenantFactory(slug="alpha", placeholders={"company": "Acme"})
    staff_user("alice", tenant=tenant, role="tenant_admin")
    return tenant


def _open(page, live_server, admin_login, path):
    admin_login(page, "alice")
    page.goto(f"{live_server.url}/admin/messaging/template/{path}")


def test_sms_editor_counts_segments_as_you_type_and_saves(page, live_server, admin_login):
    tenant = _alpha_admin()
    _open(page, live_server, admin_login, "add/")
    page.fill("#id_name", "otp-login")
    page.fill("#id_sender", "ACME")

    rendered_prefix = "Acme: your login code is 123456. "
    rest = (
        "It expires in 10 minutes. Never share it with anyone, not even our staff. "
        "Did not ask for a code? Then simply ignore it. Than"
    )
    assert len(rendered_prefix + rest) == 158
    page.fill("#id_body", PREFIX + rest)

    # The placeholders typed in the body become sample fields; the tenant's value pre-fills.
    expect(page.locator('#tpl-sample [data-placeholder="company"]')).to_have_value("Acme")
    otp = page.locator('#tpl-sample [data-placeholder="otp"]')
    expect(otp).to_have_value("")
    expect(page.locator("#tpl-problem")).to_contain_text("No sample value for ‘otp’")
    otp.fill("123456")
    expect(page.locator("#tpl-sms-body")).to_have_text(rendered_prefix + rest)
    expect(page.locator("#tpl-problem")).to_be_hidden()
    expect(page.locator("#tpl-sms-encoding")).to_have_text("GSM-7")
    expect(page.locator("#tpl-sms-characters")).to_have_text("158")
    expect(page.locator("#tpl-sms-segments")).to_have_text("1")
    expect(page.locator("#tpl-sms-left")).to_have_text("2")

    body = page.locator("#id_body")
    body.press("End")
    body.press_sequentially("ks")  # 160: still one segment, nothing left
    expect(page.locator("#tpl-sms-characters")).to_have_text("160")
    expect(page.locator("#tpl-sms-segments")).to_have_text("1")
    expect(page.locator("#tpl-sms-left")).to_have_text("0")
    body.press_sequentially("!")  # 161: two segments of 153
    expect(page.locator("#tpl-sms-segments")).to_have_text("2")
    expect(page.locator("#tpl-sms-left")).to_have_text(str(153 * 2 - 161))
    expect(page.locator("#tpl-sms-body")).to_have_text(rendered_prefix + rest + "ks!")

    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOT))

    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    template = Template.objects.get(tenant=tenant, name="otp-login")
    assert template.data == {"body": PREFIX + rest + "ks!", "from": "ACME"}


def test_fields_follow_the_mode_and_syntax_errors_show_inline(page, live_server, admin_login):
    _alpha_admin()
    _open(page, live_server, admin_login, "add/")
    expect(page.locator(".form-row.field-origination_number")).to_be_visible()
    expect(page.locator(".form-row.field-subject")).to_be_hidden()
    expect(page.locator(".form-row.field-media")).to_be_hidden()

    page.select_option("#id_mode", "email")
    expect(page.locator(".form-row.field-subject")).to_be_visible()
    expect(page.locator(".form-row.field-origination_number")).to_be_hidden()
    page.select_option("#id_mode", "whatsapp")
    expect(page.locator(".form-row.field-media")).to_be_visible()
    expect(page.locator(".form-row.field-buttons")).to_be_visible()

    page.fill("#id_body", "Hi {{name")
    error = "The body does not parse: unclosed placeholder '{{' at position 3."
    expect(page.locator(".form-row.field-body .errorlist")).to_have_text(error)
    expect(page.locator("#tpl-problem")).to_contain_text("does not parse")
    page.fill("#id_body", "Hi {{name}}")
    expect(page.locator(".form-row.field-body .errorlist")).to_have_count(0)
    page.fill('#tpl-sample [data-placeholder="name"]', "Ann")
    expect(page.locator("#tpl-chat-text")).to_have_text("Hi Ann")


def test_email_html_is_shown_in_a_sandboxed_iframe(page, live_server, admin_login):
    tenant = _alpha_admin()
    template = TemplateFactory(
        tenant=tenant,
        name="receipt",
        mode="email",
        data={
            "subject": "Receipt for {{name}}",
            "format": "text/html",
            "body": "<h1>Hello {{name}}</h1><p>Thanks.</p>"
            "<script>document.title = 'script ran'</script>",
        },
    )
    _open(page, live_server, admin_login, f"{template.pk}/change/")
    page.fill('#tpl-sample [data-placeholder="name"]', "Ann & <Bo>")
    expect(page.locator("#tpl-email-subject")).to_have_text("Receipt for Ann & <Bo>")
    frame_element = page.locator("iframe#tpl-email-html")
    expect(frame_element).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe#tpl-email-html").locator("h1")).to_have_text(
        "Hello Ann & <Bo>"
    )
    expect(page.locator("#tpl-email-text")).to_contain_text("Hello Ann & <Bo>\nThanks.")
    frame = next(f for f in page.frames if f.parent_frame is not None)
    assert frame.evaluate("document.title") != "script ran"  # no scripts in the sandbox


def test_whatsapp_preview_shows_media_and_buttons(page, live_server, admin_login):
    tenant = _alpha_admin()
    template = TemplateFactory(
        tenant=tenant,
        name="invoice",
        mode="whatsapp",
        data={
            "body": "Your invoice {{number}} is *ready*",
            "media": {"type": "document", "url": "https://example.com/f/inv-7.pdf"},
            "buttons": [
                {"type": "quick_reply", "text": "Pay now"},
                {"type": "url", "text": "View"},
            ],
        },
    )
    _open(page, live_server, admin_login, f"{template.pk}/change/")
    page.fill('#tpl-sample [data-placeholder="number"]', "INV-7")
    expect(page.locator("#tpl-chat-text")).to_have_text("Your invoice INV-7 is ready")
    expect(page.locator("#tpl-chat-text strong")).to_have_text("ready")
    expect(page.locator("#tpl-chat-media")).to_contain_text("inv-7.pdf")
    expect(page.locator("#tpl-chat-buttons li")).to_have_text(["↩ Pay now", "↗ View"])


def test_editor_and_history_fit_a_phone(phone_page, live_server, admin_login):
    tenant = _alpha_admin()
    template = TemplateFactory(tenant=tenant, name="otp", data={"body": "Code {{otp}}"})
    _open(phone_page, live_server, admin_login, "add/")
    phone_page.fill("#id_body", "A long message without spaces " + "y" * 300 + " {{otp}}")
    phone_page.fill('#tpl-sample [data-placeholder="otp"]', "1" * 80)
    expect(phone_page.locator("#tpl-sms-segments")).to_have_text("3")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390

    phone_page.goto(f"{live_server.url}/admin/messaging/template/{template.pk}/change/")
    phone_page.fill("#id_body", "New code {{otp}}")
    phone_page.click("input[name=_save]")
    phone_page.goto(f"{live_server.url}/admin/messaging/template/{template.pk}/history/")
    expect(phone_page.locator(".tpl-version")).to_have_count(2)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
