"""The dashboard shows the numbers of the user's tenants: per day and channel, delivery rate
per provider, top error codes, and the median and p95 time from accepted to delivered."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from core import status as st
from messaging.models import Message, MessageEvent
from tests.factories import ProviderFactory, staff_user

DASHBOARD = "admin:dashboard"


class _Tables(HTMLParser):
    """The text of every cell of every table with an id: {table id: [[cell, ...], ...]}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id"):
            self._table = dict(attrs)["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[dict[str, str]]]:
    """Each table as a list of rows keyed by the header row's labels."""
    parser = _Tables()
    parser.feed(html)
    out = {}
    for table_id, rows in parser.tables.items():
        header, *body = rows
        out[table_id] = [dict(zip(header, row, strict=True)) for row in body]
    return out


def card(html: str, card_id: str) -> str:
    start = html.index(f'id="{card_id}">') + len(f'id="{card_id}">')
    return html[start : html.index("<", start)].strip()


def at_noon(days_ago: int) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(12)))


def add_message(
    rows,
    *,
    days_ago: int,
    channel: str = "sms",
    status: str = st.PENDING_ACCEPTED,
    error_code: str = "",
    delivered_after: float | None = None,
    provider=None,
) -> Message:
    created = at_noon(days_ago)
    message = Message.objects.create(
        tenant=rows["tenant"], app=rows["app"], request=rows["message"].request,
        channel=channel, provider=provider or rows["provider"], to="+14155550123",
        body="hello", status=status, error_code=error_code,
        error_description=f"{error_code} happened" if error_code else "",
        expires_at=created + timedelta(days=2), created_at=created, updated_at=created,
    )  # fmt: skip
    if delivered_after is not None:
        MessageEvent.objects.create(
            message=message, status=st.PENDING_ENROUTE, source="dispatch",
            created_at=created + timedelta(seconds=1),
        )  # fmt: skip
        MessageEvent.objects.create(
            message=message, status=status, source="provider",
            created_at=created + timedelta(seconds=delivered_after),
        )  # fmt: skip
    return message


@pytest.fixture
def alpha_numbers(alpha):
    """Alpha's known traffic, on top of the fixture's one pending SMS accepted now."""
    twilio = ProviderFactory(tenant=alpha["tenant"], name="alpha-twilio")
    for seconds in (10, 20, 30):
        add_message(alpha, days_ago=2, status=st.DELIVERED_TO_HANDSET, delivered_after=seconds)
    add_message(
        alpha, days_ago=2, channel="email", status=st.DELIVERED_TO_HANDSET, delivered_after=40
    )
    add_message(
        alpha, days_ago=5, channel="whatsapp", status=st.DELIVERED_READ, delivered_after=100
    )
    add_message(
        alpha, days_ago=5, channel="whatsapp", status=st.UNDELIVERABLE_NOT_DELIVERED,
        error_code="EC_ABSENT_SUBSCRIBER",
    )  # fmt: skip
    for _ in range(2):
        add_message(
            alpha, days_ago=1, status=st.REJECTED_DESTINATION, error_code="SANDBOX_REJECTED",
            provider=twilio,
        )  # fmt: skip
    add_message(alpha, days_ago=1, status=st.CANCELLED_BY_CLIENT, provider=twilio)
    # Outside the 14 days: never counted.
    add_message(alpha, days_ago=20, status=st.UNDELIVERABLE_NOT_DELIVERED, error_code="OLD_ERROR")
    return alpha


@pytest.fixture
def beta_numbers(beta):
    for seconds in (500, 600, 700):
        add_message(beta, days_ago=2, status=st.DELIVERED_TO_HANDSET, delivered_after=seconds)
    for _ in range(4):
        add_message(
            beta, days_ago=3, status=st.UNDELIVERABLE_NOT_DELIVERED, error_code="BETA_ONLY_ERROR"
        )
    return beta


def test_numbers_of_the_users_tenant(login, alpha_admin, alpha_numbers, beta_numbers):
    html = login(alpha_admin).get(reverse(DASHBOARD)).content.decode()

    assert card(html, "total-messages") == "10"
    assert card(html, "total-delivered") == "5"
    assert card(html, "total-failed") == "3"
    assert card(html, "total-pending") == "1"
    assert card(html, "total-rate") == "62.5%"  # 5 delivered of 8 final (cancelled left out)

    t = tables(html)
    by_day = {row["Day"]: row for row in t["daily-table"]}
    assert len(by_day) == 14
    two_days_ago = at_noon(2).strftime("%Y-%m-%d")
    assert by_day[two_days_ago]["SMS"] == "3"
    assert by_day[two_days_ago]["Email"] == "1"
    assert by_day[two_days_ago]["Total"] == "4"
    five_days_ago = at_noon(5).strftime("%Y-%m-%d")
    assert by_day[five_days_ago]["WhatsApp"] == "2"
    yesterday = at_noon(1).strftime("%Y-%m-%d")
    assert by_day[yesterday]["SMS"] == "3"
    assert sum(int(row["Total"]) for row in by_day.values()) == 10

    rates = {row["Provider"]: row for row in t["providers-table"]}
    assert rates["alpha-sandbox"] == {
        "Provider": "alpha-sandbox", "Delivered": "5", "Final": "6", "Rate": "83.3%",
    }  # fmt: skip
    assert rates["alpha-twilio"]["Rate"] == "0.0%"
    assert rates["alpha-twilio"]["Final"] == "2"

    errors = [(row["Code"], row["Messages"], row["Failed"]) for row in t["errors-table"]]
    assert errors == [("SANDBOX_REJECTED", "2", "2"), ("EC_ABSENT_SUBSCRIBER", "1", "1")]

    # Accepted → delivered: 10, 20, 30, 40 and 100 s: median 30 s, p95 (nearest rank) 100 s.
    latency = {row["Channel"]: row for row in t["latency-table"]}
    assert latency["All channels"]["Delivered"] == "5"
    assert latency["All channels"]["Median"] == "30.0 s"
    assert latency["All channels"]["95th percentile"] == "1 min 40 s"
    assert latency["SMS"]["Median"] == "20.0 s"
    assert latency["WhatsApp"]["95th percentile"] == "1 min 40 s"


def test_another_tenants_numbers_never_appear(login, alpha_admin, alpha_numbers, beta_numbers):
    c = login(alpha_admin)
    html = c.get(reverse(DASHBOARD)).content.decode()
    assert "BETA_ONLY_ERROR" not in html
    assert "beta-sandbox" not in html
    assert "OLD_ERROR" not in html  # older than 14 days
    # Asking for the other tenant by id is a 404, not its numbers.
    other = c.get(reverse(DASHBOARD), {"tenant": beta_numbers["tenant"].pk})
    assert other.status_code == 404


def test_superuser_sees_every_tenant_and_can_pick_one(
    client, django_user_model, alpha_numbers, beta_numbers
):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    html = client.get(reverse(DASHBOARD)).content.decode()
    assert card(html, "total-messages") == str(10 + 1 + 7)
    assert "BETA_ONLY_ERROR" in html
    assert "every tenant" in html
    rates = {row["Provider"]: row for row in tables(html)["providers-table"]}
    assert rates["beta-sandbox"]["Tenant"] == "Beta"  # tenants named where they are mixed

    html = client.get(reverse(DASHBOARD), {"tenant": alpha_numbers["tenant"].pk}).content.decode()
    assert card(html, "total-messages") == "10"
    assert "BETA_ONLY_ERROR" not in html
    assert "SANDBOX_REJECTED" in html


def test_support_sees_the_dashboard_with_a_link_to_the_log(login, alpha_support, alpha_numbers):
    html = login(alpha_support).get(reverse(DASHBOARD)).content.decode()
    assert card(html, "total-messages") == "10"
    assert reverse("admin:messaging_message_changelist") in html


def test_developer_sees_numbers_but_no_link_to_the_message_log(
    login, alpha_developer, alpha_numbers
):
    html = login(alpha_developer).get(reverse(DASHBOARD)).content.decode()
    assert card(html, "total-messages") == "10"
    assert reverse("admin:messaging_message_changelist") not in html


def test_staff_without_a_tenant_sees_nothing(login, alpha_numbers):
    lonely = staff_user("lonely")
    html = login(lonely).get(reverse(DASHBOARD)).content.decode()
    assert card(html, "total-messages") == "0"
    assert "not a member of any tenant" in html
    assert "SANDBOX_REJECTED" not in html


def test_empty_dashboard_says_so(login, alpha_admin):
    html = login(alpha_admin).get(reverse(DASHBOARD)).content.decode()
    assert card(html, "total-messages") == "1"
    assert "No delivered messages in this period." in html
    assert "No errors in this period." in html


def test_charts_are_served_from_static_with_their_data(login, alpha_admin, alpha_numbers):
    html = login(alpha_admin).get(reverse(DASHBOARD)).content.decode()
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert '<canvas id="chart-daily"' in html
    assert 'id="dashboard-data"' in html and '"label": "WhatsApp"' in html


def test_dashboard_is_linked_from_the_header_and_the_index(login, alpha_admin):
    c = login(alpha_admin)
    index = c.get(reverse("admin:index")).content.decode()
    assert index.count(f'href="{reverse(DASHBOARD)}"') == 2  # the header and the index card
    assert "<title>Site administration | Omnichannel messaging</title>" in index
    assert "Omnichannel messaging</a>" in index


def test_dashboard_has_a_plain_address_and_no_dead_view_site_link(login, alpha_admin):
    c = login(alpha_admin)
    assert reverse(DASHBOARD) == "/admin/dashboard/"
    assert c.get("/admin/dashboard/").status_code == 200
    assert "View site" not in c.get(reverse("admin:index")).content.decode()
