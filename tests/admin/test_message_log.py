"""The message log in the admin: filters, search in any format, the detail page, resend and
cancel, roles, and a list that is never counted in full."""

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.admin import log
from messaging.models import (
    CallbackAttempt,
    CallbackDelivery,
    Message,
    MessageEvent,
    MessageRequest,
)
from messaging.services.accept import message_accept
from tests.factories import AppFactory, ProviderFactory
from tests.helpers import HOOK

CHANGELIST = reverse("admin:messaging_message_changelist")


def change_url(message):
    return reverse("admin:messaging_message_change", args=[message.pk])


def resend_url(message):
    return reverse("admin:messaging_message_resend", args=[message.pk])


def cancel_url(message):
    return reverse("admin:messaging_message_cancel", args=[message.pk])


def make(rows, to, *, status="PENDING_ENROUTE", created_at=None, **fields):
    """A message of `rows`'s tenant (alpha or beta fixture), stored as it is given."""
    now = created_at or timezone.now()
    request = fields.pop("request", None) or MessageRequest.objects.create(
        tenant=rows["tenant"], app=fields.get("app", rows["app"]), validity=60
    )
    values = {
        "tenant": rows["tenant"],
        "app": rows["app"],
        "request": request,
        "channel": "sms",
        "provider": rows["provider"],
        "to": to,
        "body": "Your code is 1234",
        "status": status,
        "expires_at": now + timedelta(hours=1),
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    return Message.objects.create(**values)


def shown(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed(response) -> list[str]:
    """The recipients in the changelist's rows, in order."""
    page = shown(response)
    return re.findall(r'<th class="field-recipient"><a href="[^"]+">([^<]+)</a>', page)


def flashed(response) -> str:
    return " | ".join(str(m) for m in response.context["messages"])


def accept(rows, run_tasks, body):
    """Send through the API's service, running what gets enqueued (as a worker would)."""
    request, accepted = run_tasks(message_accept, app=rows["app"], body=body)
    return [Message.objects.get(pk=m.id) for m in accepted]


# --- the list --------------------------------------------------------------------------------


def test_list_shows_own_messages_newest_first_and_never_counts_them_all(
    login, alpha_admin, alpha, beta
):
    old = make(alpha, "+14155550111", created_at=timezone.now() - timedelta(days=2))
    c = login(alpha_admin)
    with CaptureQueriesContext(connection) as ctx:
        r = c.get(CHANGELIST)
    assert listed(r) == ["+14155550100", old.to]
    assert beta["message"].to not in shown(r)
    assert "2 messages" in shown(r)
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the list should be counted (up to its cap)"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_a_long_list_is_counted_up_to_the_cap(login, alpha_admin, alpha, monkeypatch):
    monkeypatch.setattr(log.CappedCountPaginator, "cap", 3)
    for i in range(5):
        make(alpha, f"+1415555012{i}")
    page = shown(login(alpha_admin).get(CHANGELIST))
    (count,) = re.findall(r'class="msglog-count">([^<]+)<', page)
    if connection.vendor == "postgresql":  # the planner's estimate, when it exceeds the cap
        assert re.fullmatch(r"(about [\d,]+|more than 3) messages", count.strip()), count
    else:
        assert count.strip() == "more than 3 messages"
    assert "narrow the list with the filters" in page


@pytest.mark.parametrize(
    ("group", "status"),
    [
        ("PENDING", "PENDING_ENROUTE"),
        ("DELIVERED", "DELIVERED_TO_HANDSET"),
        ("UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED"),
        ("EXPIRED", "EXPIRED_EXPIRED"),
        ("REJECTED", "REJECTED_DESTINATION"),
        ("CANCELLED", "CANCELLED_BY_CLIENT"),
    ],
)
def test_status_group_filter(login, alpha_admin, alpha, group, status):
    alpha["message"].delete()
    statuses = {
        "+14155550201": "PENDING_SCHEDULED",
        "+14155550202": "DELIVERED_READ",
        "+14155550203": "UNDELIVERABLE_REJECTED_OPERATOR",
        "+14155550204": "EXPIRED_EXPIRED",
        "+14155550205": "REJECTED_CONTENT",
        "+14155550206": "CANCELLED_BY_CLIENT",
        "+14155550207": status,
    }
    for to, name in statuses.items():
        make(alpha, to, status=name)
    r = login(alpha_admin).get(CHANGELIST, {"status_group": group})
    expected = sorted(to for to, name in statuses.items() if name.startswith(group))
    assert sorted(listed(r)) == expected
    assert len(expected) == 2


def test_unknown_outcomes_are_one_filter_away(login, alpha_admin, alpha):
    alpha["message"].delete()
    make(alpha, "+14155550211", status="PENDING_UNKNOWN")
    make(alpha, "+14155550212", status="PENDING_ENROUTE")
    page = login(alpha_admin).get(CHANGELIST)
    assert "Outcome unknown" in shown(page)
    r = login(alpha_admin).get(CHANGELIST, {"status_group": "UNKNOWN"})
    assert listed(r) == ["+14155550211"]


def test_channel_filter(login, alpha_admin, alpha):
    make(alpha, "ann@example.com", channel="email", subject="Hi")
    make(alpha, "+14155550300", channel="whatsapp")
    c = login(alpha_admin)
    assert listed(c.get(CHANGELIST, {"channel__exact": "email"})) == ["ann@example.com"]
    assert listed(c.get(CHANGELIST, {"channel__exact": "whatsapp"})) == ["+14155550300"]


def test_provider_and_app_filters_list_own_choices_and_filter(login, alpha_admin, alpha, beta):
    other_provider = ProviderFactory(tenant=alpha["tenant"], name="alpha-backup")
    other_app = AppFactory(tenant=alpha["tenant"], name="alpha-crm")
    make(alpha, "+14155550401", provider=other_provider)
    make(alpha, "+14155550402", app=other_app)
    c = login(alpha_admin)
    page = shown(c.get(CHANGELIST))
    assert "alpha-backup" in page and "alpha-crm" in page
    assert "beta-sandbox" not in page and "beta-app" not in page
    by_provider = c.get(CHANGELIST, {"provider__id__exact": other_provider.pk})
    assert listed(by_provider) == ["+14155550401"]
    by_app = c.get(CHANGELIST, {"app__id__exact": other_app.pk})
    assert listed(by_app) == ["+14155550402"]


def test_date_range_filter(login, alpha_admin, alpha):
    alpha["message"].delete()
    for day in (1, 10, 20):
        make(alpha, f"+141555505{day:02}", created_at=datetime(2026, 3, day, 12, tzinfo=UTC))
    c = login(alpha_admin)
    r = c.get(
        CHANGELIST,
        {"created_at__range__gte": "2026-03-05", "created_at__range__lte": "2026-03-20"},
    )
    assert listed(r) == ["+14155550520", "+14155550510"]
    r = c.get(CHANGELIST, {"created_at__range__lte": "2026-03-01"})
    assert listed(r) == ["+14155550501"]


# --- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["0412 345 678", "0412345678", "+61 412 345 678", "61412345678"])
def test_recipient_search_reads_national_numbers_with_the_tenants_country(
    login, alpha_support, alpha, typed
):
    alpha["tenant"].default_country = "AU"
    alpha["tenant"].save()
    make(alpha, "+61412345678")
    make(alpha, "+61412345679")
    r = login(alpha_support).get(CHANGELIST, {"q": typed})
    assert listed(r) == ["+61412345678"]


def test_national_number_is_not_read_with_another_tenants_country(login, alpha_support, alpha):
    make(alpha, "+61412345678")  # alpha's country is US: 0412 345 678 is no US number
    assert listed(login(alpha_support).get(CHANGELIST, {"q": "0412 345 678"})) == []


def test_email_search_normalizes_the_address(login, alpha_support, alpha):
    make(alpha, "ann@example.com", channel="email")
    make(alpha, "bob@example.com", channel="email")
    c = login(alpha_support)
    assert listed(c.get(CHANGELIST, {"q": " Ann@EXAMPLE.com "})) == ["ann@example.com"]
    assert listed(c.get(CHANGELIST, {"q": "example.com"})) == []  # exact, no substring scan


def test_search_by_message_request_and_provider_ids(login, alpha_support, alpha, beta):
    first = make(alpha, "+14155550601", provider_message_id="SM0123456789abcdef")
    sibling = make(alpha, "+14155550602", request=first.request)
    make(alpha, "+14155550603")
    c = login(alpha_support)
    assert listed(c.get(CHANGELIST, {"q": str(first.pk)})) == [first.to]
    assert sorted(listed(c.get(CHANGELIST, {"q": str(first.request_id)}))) == [
        first.to,
        sibling.to,
    ]
    assert listed(c.get(CHANGELIST, {"q": "SM0123456789abcdef"})) == [first.to]
    assert listed(c.get(CHANGELIST, {"q": str(uuid.uuid4())})) == []
    assert listed(c.get(CHANGELIST, {"q": str(beta["message"].pk)})) == []


# --- the detail page ---------------------------------------------------------------------------


def test_detail_of_a_delivered_message_shows_content_timeline_attempts_and_callbacks(
    login, alpha_support, alpha, run_tasks, hook
):
    (message,) = accept(
        alpha,
        run_tasks,
        {"sms": [{"body": "Your Alpha code is 4242", "to": ["+14155550700"]}],
         "callback": {"url": HOOK, "meta": {"order": 7}}},
    )  # fmt: skip
    message.refresh_from_db()
    assert message.status == "DELIVERED_TO_HANDSET"
    page = shown(login(alpha_support).get(change_url(message)))
    assert "SMS to +14155550700" in page
    assert "Your Alpha code is 4242" in page
    assert "GSM-7 · 23 characters · 1 segment" in page
    timeline = page.split('id="msglog-timeline-h"')[1].split("</section>")[0]
    assert [s for s in re.findall(r">([A-Z_]{8,})<", timeline)] == [
        "PENDING_ACCEPTED",
        "PENDING_ENROUTE",
        "DELIVERED_TO_HANDSET",
    ]
    assert ">api<" in timeline and ">dispatch<" in timeline and ">provider<" in timeline
    attempts = page.split('id="msglog-attempts-h"')[1].split("</section>")[0]
    assert ">sent<" in attempts and message.provider_message_id in attempts
    callbacks = page.split('id="msglog-callbacks-h"')[1].split("</section>")[0]
    assert "DELIVERED_TO_HANDSET → delivered" in callbacks
    assert HOOK in callbacks and "<td>200</td>" in callbacks
    request_url = reverse("admin:messaging_messagerequest_change", args=[message.request_id])
    assert f'href="{request_url}"' in page
    request_page = shown(login(alpha_support).get(request_url))
    assert f'href="{CHANGELIST}?q={message.request_id}"' in request_page


def test_detail_shows_failed_callback_attempts_with_the_apps_answer(login, alpha_support, alpha):
    message = alpha["message"]
    delivery = CallbackDelivery.objects.create(
        app_id=message.app_id,
        message=message,
        url="https://app.example.com/hooks",
        payload={"status": {"name": "DELIVERED_TO_HANDSET"}},
        state="pending",
        attempts=2,
        next_attempt_at=timezone.now(),
    )
    CallbackAttempt.objects.create(
        delivery=delivery, number=1, response_status=503, response_body="upstream down",
        duration_ms=812,
    )  # fmt: skip
    CallbackAttempt.objects.create(
        delivery=delivery, number=2, error="ConnectionError: connection refused", duration_ms=3
    )
    page = shown(login(alpha_support).get(change_url(message)))
    callbacks = page.split('id="msglog-callbacks-h"')[1].split("</section>")[0]
    assert "https://app.example.com/hooks" in callbacks
    assert "<td>503</td>" in callbacks and "upstream down" in callbacks and "812 ms" in callbacks
    assert "ConnectionError: connection refused" in callbacks and "3 ms" in callbacks


def test_detail_shows_the_attempts_of_a_flaky_send(login, alpha_support, alpha, run_tasks):
    (message,) = accept(alpha, run_tasks, {"sms": [{"body": "hi", "to": ["+14155550002"]}]})
    page = shown(login(alpha_support).get(change_url(message)))
    attempts = page.split('id="msglog-attempts-h"')[1].split("</section>")[0]
    assert ">transient<" in attempts
    assert (
        "SANDBOX_TRANSIENT</strong>: Simulated transient failure (magic recipient), "
        "attempt 1; the next attempt delivers." in attempts
    )


def test_detail_shows_the_email_html_in_a_sandboxed_frame(login, alpha_support, alpha):
    message = make(
        alpha, "ann@example.com", channel="email", subject="Your order",
        body="Hi Ann", html='<p>Hi <b>Ann</b></p><script>alert(1)</script>',
    )  # fmt: skip
    page = shown(login(alpha_support).get(change_url(message)))
    assert "Your order" in page and "Hi Ann" in page
    (frame,) = re.findall(r"<iframe[^>]*>", page)
    assert 'sandbox=""' in frame
    assert "&lt;p&gt;Hi &lt;b&gt;Ann&lt;/b&gt;&lt;/p&gt;" in frame
    assert "<script>alert(1)</script>" not in page


@pytest.mark.parametrize("text_store", ["sha256", "nostore"])
def test_detail_says_when_the_content_was_not_stored(
    login, alpha_support, alpha, run_tasks, text_store
):
    (message,) = accept(
        alpha,
        run_tasks,
        {"sms": [{"body": "Secret 9999", "to": ["+14155550701"]}], "textStore": text_store},
    )
    page = shown(login(alpha_support).get(change_url(message)))
    assert f"Content not stored (textStore: {text_store})." in page
    assert "Secret 9999" not in page


def test_detail_shows_the_hashes_sha256_keeps(login, alpha_support, alpha, run_tasks):
    body = {"email": [{"subject": "Okapi 4412", "body": "Secret 9999", "to": ["a@example.com"]}],
            "textStore": "sha256"}  # fmt: skip
    (message,) = accept(alpha, run_tasks, body)
    page = shown(login(alpha_support).get(change_url(message)))
    assert hashlib.sha256(b"Secret 9999").hexdigest() in page
    assert f'SHA-256 of the subject: <code class="msglog-break">{message.subject}</code>' in page
    assert message.subject == hashlib.sha256(b"Okapi 4412").hexdigest()
    assert "Okapi 4412" not in page and "Secret 9999" not in page


# --- resend --------------------------------------------------------------------------------------


def test_resend_makes_a_linked_message_that_gets_delivered(login, alpha_admin, alpha, run_tasks):
    (original,) = accept(alpha, run_tasks, {"sms": [{"body": "Code 5150", "to": ["+14155550800"]}]})
    c = login(alpha_admin)
    r = run_tasks(
        c.post,
        CHANGELIST,
        {"action": "resend_selected", "_selected_action": [str(original.pk)]},
        follow=True,
    )
    copy = Message.objects.get(resent_from=original)
    assert "Resent 1 message" in flashed(r)
    assert (copy.to, copy.body, copy.provider_id, copy.app_id) == (
        original.to, original.body, original.provider_id, original.app_id,
    )  # fmt: skip
    assert copy.request_id != original.request_id
    assert copy.status == "DELIVERED_TO_HANDSET"
    first = MessageEvent.objects.filter(message=copy).order_by("created_at", "id").first()
    assert (first.status, first.source) == ("PENDING_ACCEPTED", "admin")
    assert "alice" in first.description
    original_page = shown(c.get(change_url(original)))
    assert f'href="{change_url(copy)}"' in original_page
    copy_page = shown(c.get(change_url(copy)))
    assert "Resent from" in copy_page and f'href="{change_url(original)}"' in copy_page


def test_resend_button_on_the_detail_page(login, alpha_admin, alpha, run_tasks):
    (original,) = accept(alpha, run_tasks, {"sms": [{"body": "Code 7", "to": ["+14155550801"]}]})
    c = login(alpha_admin)
    assert f'action="{resend_url(original)}"' in shown(c.get(change_url(original)))
    r = run_tasks(c.post, resend_url(original))
    copy = Message.objects.get(resent_from=original)
    assert r.status_code == 302 and r["Location"] == change_url(copy)
    copy.refresh_from_db()
    assert copy.status == "DELIVERED_TO_HANDSET"


def test_resend_is_refused_when_the_content_was_not_stored(login, alpha_admin, alpha, run_tasks):
    (original,) = accept(
        alpha,
        run_tasks,
        {"sms": [{"body": "Secret", "to": ["+14155550802"]}], "textStore": "nostore"},
    )
    c = login(alpha_admin)
    r = c.post(
        CHANGELIST,
        {"action": "resend_selected", "_selected_action": [str(original.pk)]},
        follow=True,
    )
    assert "its content was not stored (textStore: nostore)" in flashed(r)
    assert not Message.objects.filter(resent_from=original).exists()
    assert f'action="{resend_url(original)}"' not in shown(c.get(change_url(original)))


def test_an_action_touches_at_most_the_limit(login, alpha_admin, alpha, monkeypatch):
    monkeypatch.setattr(log, "ACTION_LIMIT", 2)
    chosen = [make(alpha, f"+1415555090{i}", status="DELIVERED_TO_HANDSET") for i in range(3)]
    r = login(alpha_admin).post(
        CHANGELIST,
        {"action": "resend_selected", "_selected_action": [str(m.pk) for m in chosen]},
        follow=True,
    )
    assert "Select at most 2 messages at a time; nothing was done." in flashed(r)
    assert not Message.objects.filter(resent_from__isnull=False).exists()


# --- cancel --------------------------------------------------------------------------------------


def test_cancel_scheduled_and_report_one_already_sent(login, alpha_admin, alpha, run_tasks):
    later = (timezone.now() + timedelta(hours=3)).isoformat()
    (scheduled,) = accept(
        alpha, run_tasks, {"sms": [{"body": "Later", "to": ["+14155550900"]}], "scheduledAt": later}
    )
    (sent,) = accept(alpha, run_tasks, {"sms": [{"body": "Now", "to": ["+14155550901"]}]})
    assert scheduled.status == "PENDING_SCHEDULED" and sent.status == "DELIVERED_TO_HANDSET"
    r = login(alpha_admin).post(
        CHANGELIST,
        {"action": "cancel_selected", "_selected_action": [str(scheduled.pk), str(sent.pk)]},
        follow=True,
    )
    scheduled.refresh_from_db()
    sent.refresh_from_db()
    assert scheduled.status == "CANCELLED_BY_CLIENT"
    assert sent.status == "DELIVERED_TO_HANDSET"
    notes = flashed(r)
    assert "Cancelled 1 message." in notes
    assert "1 message could not be cancelled" in notes
    assert f"{sent.pk} to +14155550901</a> (DELIVERED_TO_HANDSET)" in notes


def test_cancel_button_on_the_detail_page(login, alpha_admin, alpha, run_tasks):
    later = (timezone.now() + timedelta(hours=3)).isoformat()
    (scheduled,) = accept(
        alpha, run_tasks, {"sms": [{"body": "Later", "to": ["+14155550902"]}], "scheduledAt": later}
    )
    c = login(alpha_admin)
    page = shown(c.get(change_url(scheduled)))
    assert "Cancel scheduled" in page and f'action="{resend_url(scheduled)}"' not in page
    r = c.post(cancel_url(scheduled), follow=True)
    scheduled.refresh_from_db()
    assert scheduled.status == "CANCELLED_BY_CLIENT"
    assert "Cancelled 1 message." in flashed(r)
    assert "Cancel scheduled" not in shown(c.get(change_url(scheduled)))


# --- roles and tenants ---------------------------------------------------------------------------


def test_support_sees_the_log_but_no_actions_and_cannot_post_them(
    login, alpha_support, alpha, run_tasks
):
    later = (timezone.now() + timedelta(hours=3)).isoformat()
    (scheduled,) = accept(
        alpha, run_tasks, {"sms": [{"body": "Later", "to": ["+14155551000"]}], "scheduledAt": later}
    )
    (sent,) = accept(alpha, run_tasks, {"sms": [{"body": "Now", "to": ["+14155551001"]}]})
    c = login(alpha_support)
    page = shown(c.get(CHANGELIST))
    assert "+14155551001" in page
    # Support may export what it reads; it gets no resend or cancel.
    actions = page.split('name="action"', 1)[1].split("</select>", 1)[0]
    assert 'value="export_csv"' in actions
    assert "resend_selected" not in actions and "cancel_selected" not in actions
    for message in (scheduled, sent):
        detail = shown(c.get(change_url(message)))
        assert "Resend" not in detail and "Cancel scheduled" not in detail
    before = Message.objects.count()
    for action in ("resend_selected", "cancel_selected"):
        c.post(
            CHANGELIST, {"action": action, "_selected_action": [str(scheduled.pk), str(sent.pk)]}
        )
    assert c.post(resend_url(sent)).status_code == 403
    assert c.post(cancel_url(scheduled)).status_code == 403
    scheduled.refresh_from_db()
    assert scheduled.status == "PENDING_SCHEDULED"
    assert Message.objects.count() == before


def test_another_tenants_message_is_404(login, alpha_admin, beta):
    c = login(alpha_admin)
    message = beta["message"]
    assert c.get(change_url(message)).status_code == 404
    assert c.post(resend_url(message)).status_code == 404
    assert c.post(cancel_url(message)).status_code == 404
    assert not Message.objects.filter(resent_from=message).exists()


def test_actions_only_get_a_post(login, alpha_admin, alpha):
    assert login(alpha_admin).get(resend_url(alpha["message"])).status_code == 405


def test_detail_logs_stay_out_of_a_tenant_users_menu(client, alpha_admin, alpha):
    client.force_login(alpha_admin)
    index = client.get(reverse("admin:index")).content.decode()
    assert "Message events" not in index and "Idempotency records" not in index
    assert "Callback attempts" not in index
    assert "Messages" in index and "Callback deliveries" in index
    # Still reachable, and still scoped.
    assert client.get(reverse("admin:messaging_messageevent_changelist")).status_code == 200
