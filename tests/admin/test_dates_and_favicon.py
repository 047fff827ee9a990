"""One date format with the time zone everywhere in the admin, a favicon on every page, and
the live status endpoint kept to the user's tenants."""

import re
from pathlib import Path

from django.urls import reverse
from django.utils import timezone

from messaging.models import MessageEvent

ONE_FORMAT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_lists_and_pages_show_dates_in_one_format_with_the_zone(login, alpha_admin, alpha):
    message = alpha["message"]
    MessageEvent.objects.create(
        message=message, status="PENDING_ACCEPTED", source="api", created_at=timezone.now()
    )
    c = login(alpha_admin)
    stamp = timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M:%S UTC")
    log = c.get(reverse("admin:messaging_message_changelist")).content.decode()
    assert re.sub(r"</span> <span>", " ", log).count(stamp) >= 1
    detail = c.get(reverse("admin:messaging_message_change", args=[message.pk])).content.decode()
    assert stamp in detail  # "Created"
    timeline = detail.split('id="msglog-timeline-h"', 1)[1].split("</table>", 1)[0]
    assert ONE_FORMAT.search(timeline)
    # Django's own columns (a DateTimeField in list_display) use it too.
    requests = c.get(reverse("admin:messaging_messagerequest_changelist")).content.decode()
    assert ONE_FORMAT.search(requests)
    assert not re.search(r"[ap]\.m\.", requests)  # not the locale's "4:07 p.m."
    dashboard = c.get(reverse("admin:dashboard")).content.decode()
    assert ONE_FORMAT.search(dashboard)


def test_templates_format_dates_only_by_the_named_formats():
    allowed = {"DATETIME_FORMAT", "DATE_FORMAT", "TIME_FORMAT", "c"}
    found = []
    for path in TEMPLATES.rglob("*.html"):
        for match in re.finditer(r"""\|(?:date|time):["']([^"']*)["']""", path.read_text()):
            line = path.read_text()[: match.start()].rsplit("\n", 1)[-1]
            machine = re.search(r'data-[\w-]+="\{\{[^}]*$', line)  # a value for scripts
            if match.group(1) not in allowed and not machine:
                found.append(f"{path.relative_to(TEMPLATES)}: {match.group(0)}")
    assert not found


def test_every_admin_page_links_the_favicon(login, alpha_admin, alpha, client):
    icon = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert icon in client.get("/admin/login/").content.decode()
    c = login(alpha_admin)
    for url in (
        "/admin/",
        reverse("admin:dashboard"),
        reverse("admin:messaging_message_changelist"),
        reverse("admin:messaging_message_change", args=[alpha["message"].pk]),
        reverse("admin:messaging_message_compose"),
        reverse("admin:providers_provider_test_message", args=[alpha["provider"].pk]),
        reverse("admin:providers_sandboxoutboxentry_changelist"),
    ):
        assert icon in c.get(url).content.decode(), url
    svg = (TEMPLATES.parent / "static" / "favicon.svg").read_text()
    assert svg.startswith("<svg") and "viewBox" in svg


def test_the_status_endpoint_is_scoped(login, alpha_admin, alpha_developer, alpha, beta):
    c = login(alpha_admin)
    mine = c.get(reverse("admin:messaging_message_status", args=[alpha["message"].pk]))
    assert mine.status_code == 200 and mine.json()["status"] == "PENDING_ACCEPTED"
    theirs = c.get(reverse("admin:messaging_message_status", args=[beta["message"].pk]))
    assert theirs.status_code == 404
    assert "+14155550199" not in theirs.content.decode()
    # A developer does not read the log.
    c = login(alpha_developer)
    r = c.get(reverse("admin:messaging_message_status", args=[alpha["message"].pk]))
    assert r.status_code == 404


def test_favicon_ico_is_the_admin_icon_not_a_404(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and r["Location"].endswith("favicon.svg")
    assert client.get(r["Location"]).status_code == 200
