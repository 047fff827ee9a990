"""The notification review queue: pending first, each channel rendered with sample data,
enable and disable (one or many) with a reason, every decision in the audit trail, and only
tenant admins (and superusers) of the notification's own tenant may decide."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Template
from notifications.models import Notification, NotificationReview, Status
from notifications.services import notification_register, notification_review
from tests.factories import TemplateFactory

LIST = "/admin/notifications/notification/"


def change_url(n: Notification) -> str:
    return f"{LIST}{n.pk}/change/"


def register(side, name, **templates):
    notification, _ = notification_register(
        app=side["app"], name=name, description=f"{name} description", templates=templates
    )
    return notification


@pytest.fixture
def alpha_notes(alpha):
    """Four notifications of alpha, created an hour apart, in a mixed order of status."""
    t = alpha["template"]
    email = TemplateFactory(
        tenant=alpha["tenant"], name="alpha-mail", mode="email",
        data={"subject": "Order {{orderId}}", "body": "<p>Hi <b>{{name}}</b></p>",
              "format": "text/html"},
    )  # fmt: skip
    alpha["tenant"].placeholders = {"name": "Ann"}
    alpha["tenant"].save()
    notes = {
        "old_enabled": register(alpha, "old-enabled", sms=t.name),
        "old_pending": register(alpha, "old-pending", sms=t.name, email=email.name),
        "disabled": register(alpha, "disabled", sms=t.name),
        "new_pending": register(alpha, "new-pending", sms=t.name),
    }
    start = timezone.now() - timedelta(days=1)
    for i, n in enumerate(notes.values()):
        Notification.objects.filter(pk=n.pk).update(created_at=start + timedelta(hours=i))
    Notification.objects.filter(pk=notes["old_enabled"].pk).update(status=Status.ENABLED)
    Notification.objects.filter(pk=notes["disabled"].pk).update(status=Status.DISABLED)
    return notes


@pytest.fixture
def beta_note(beta):
    return register(beta, "beta-secret", sms=beta["template"].name)


def enable(c, notes, comment="Checked the wording.", action="enable_selected"):
    """The action as the changelist posts it: first the form asking the reason, then apply."""
    data = {"action": action, "_selected_action": [n.pk for n in notes]}
    first = c.post(LIST, data)
    if first.status_code != 200:
        return first, None
    return first, c.post(LIST, {**data, "apply": "1", "comment": comment})


def test_the_queue_lists_pending_first_then_by_age(login, alpha_admin, alpha_notes):
    r = login(alpha_admin).get(LIST)
    assert r.status_code == 200
    names = [n.name for n in r.context["cl"].result_list]
    assert names == ["old-pending", "new-pending", "old-enabled", "disabled"]
    page = r.content.decode()
    assert "Pending review" in page and "email: alpha-mail, sms: alpha-otp" in page
    assert page.index("old-pending") < page.index("new-pending") < page.index("old-enabled")


def test_a_tenant_admin_enables_with_a_reason(login, alpha_admin, alpha_notes):
    c = login(alpha_admin)
    n = alpha_notes["old_pending"]
    data = {"action": "enable_selected", "_selected_action": [n.pk]}
    ask = c.post(LIST, data)
    page = ask.content.decode()
    assert "You are about to <strong>enable</strong> 1 notification" in page
    assert 'name="comment"' in page and "old-pending" in page
    assert Notification.objects.get(pk=n.pk).status == Status.PENDING_REVIEW  # not yet
    done = c.post(LIST, {**data, "apply": "1", "comment": "Checked the wording."})
    assert done.status_code == 302
    n.refresh_from_db()
    assert n.status == Status.ENABLED and n.reviewed_by == alpha_admin
    assert n.review_comment == "Checked the wording." and n.reviewed_at is not None
    entry = NotificationReview.objects.filter(notification=n).latest("id")
    assert entry.action == "enabled" and entry.actor_user == alpha_admin
    assert entry.actor_name == "alice" and entry.comment == "Checked the wording."
    assert entry.templates["sms"]["template"] == "alpha-otp"
    assert "Enabled 1 notification: old-pending." in c.get(LIST).content.decode()


def test_no_reason_no_decision(login, alpha_admin, alpha_notes):
    c = login(alpha_admin)
    n = alpha_notes["new_pending"]
    _, done = enable(c, [n], comment="")
    assert done.status_code == 200
    assert "Please give the reason for this decision." in done.content.decode()
    n.refresh_from_db()
    assert n.status == Status.PENDING_REVIEW
    assert not NotificationReview.objects.filter(notification=n, action="enabled").exists()


def test_disable_many_at_once(login, alpha_admin, alpha_notes):
    c = login(alpha_admin)
    chosen = [alpha_notes["old_enabled"], alpha_notes["new_pending"], alpha_notes["disabled"]]
    ask, done = enable(c, chosen, comment="Campaign over.", action="disable_selected")
    assert "You are about to <strong>disable</strong> 3 notifications" in ask.content.decode()
    assert done.status_code == 302
    assert set(
        Notification.objects.filter(status=Status.DISABLED).values_list("name", flat=True)
    ) == {"old-enabled", "new-pending", "disabled"}
    rows = NotificationReview.objects.filter(action="disabled")
    assert rows.count() == 2  # the one already disabled is left as it was
    assert set(rows.values_list("comment", flat=True)) == {"Campaign over."}
    page = c.get(LIST).content.decode()
    assert "Disabled 2 notifications" in page and "1 was already disabled" in page


def test_the_change_page_renders_each_channel_with_sample_data(login, alpha_admin, alpha_notes):
    n = alpha_notes["old_pending"]
    r = login(alpha_admin).get(change_url(n))
    assert r.status_code == 200
    page = r.content.decode()
    # The sms body's placeholder is filled in by each send: shown as written, and named.
    assert 'data-channel="sms"' in page and "Your code is {{otp}}" in page
    assert "Filled in by each send: otp." in page
    # The email's subject and text, with the tenant's placeholder "name" as sample data.
    assert "Order {{orderId}}" in page and "Hi Ann" in page
    assert 'sandbox=""' in page and "srcdoc=" in page  # the HTML, in a sandboxed frame
    assert 'id="review-enable"' in page and 'id="review-disable"' in page
    # The audit trail, read-only.
    assert "Audit trail" in page and "app alpha-app" in page and "registered" in page
    assert 'name="reviews-0-comment"' not in page


def test_the_change_page_review_buttons_lead_to_the_reason_form(login, alpha_admin, alpha_notes):
    c = login(alpha_admin)
    n = alpha_notes["new_pending"]
    r = c.post(LIST, {"action": "enable_selected", "_selected_action": [n.pk]})
    assert r.status_code == 200 and 'id="review-form"' in r.content.decode()


def test_an_inactive_template_is_flagged_to_the_reviewer(login, alpha_admin, alpha_notes, alpha):
    Template.objects.filter(pk=alpha["template"].pk).update(is_active=False)
    page = login(alpha_admin).get(change_url(alpha_notes["new_pending"])).content.decode()
    assert "inactive: sends are refused" in page


def test_support_and_developers_look_but_do_not_review(
    login, alpha_support, alpha_developer, alpha_notes
):
    n = alpha_notes["new_pending"]
    for user in (alpha_support, alpha_developer):
        c = login(user)
        r = c.get(LIST)
        assert r.status_code == 200 and "new-pending" in r.content.decode()
        assert "enable_selected" not in r.content.decode()
        page = c.get(change_url(n)).content.decode()
        assert "Your code is {{otp}}" in page and 'id="review-enable"' not in page
        enable(c, [n])
        assert c.post(change_url(n), {"status": "ENABLED"}).status_code == 403
        n.refresh_from_db()
        assert n.status == Status.PENDING_REVIEW


def test_nobody_adds_or_deletes_in_the_admin(login, admin_user, alpha_admin, alpha_notes):
    n = alpha_notes["new_pending"]
    for user in (admin_user, alpha_admin):
        c = login(user)
        assert c.get(f"{LIST}add/").status_code == 403
        assert c.post(f"{LIST}{n.pk}/delete/", {"post": "yes"}).status_code == 403
        assert f"{LIST}add/" not in c.get(LIST).content.decode()
    assert Notification.objects.filter(pk=n.pk).exists()


def test_another_tenants_notifications_are_never_visible(
    login, alpha_admin, alpha_notes, beta_note
):
    c = login(alpha_admin)
    assert "beta-secret" not in c.get(LIST).content.decode()
    assert c.get(change_url(beta_note)).status_code == 404
    enable(c, [beta_note])
    beta_note.refresh_from_db()
    assert beta_note.status == Status.PENDING_REVIEW
    assert not NotificationReview.objects.filter(notification=beta_note, action="enabled")


def test_a_superuser_reviews_any_tenant(login, admin_user, beta_note):
    c = login(admin_user)
    _, done = enable(c, [beta_note], comment="Ops approved.")
    assert done.status_code == 302
    beta_note.refresh_from_db()
    assert beta_note.status == Status.ENABLED and beta_note.reviewed_by == admin_user


def test_re_enabling_after_re_registration_is_a_new_review(alpha_admin, alpha):
    n = register(alpha, "flow", sms=alpha["template"].name)
    notification_review(notification=n, enable=True, user=alpha_admin, comment="ok")
    other = TemplateFactory(tenant=alpha["tenant"], name="alpha-otp-2", mode="sms")
    register(alpha, "flow", sms=other.name)
    n.refresh_from_db()
    assert n.status == Status.PENDING_REVIEW and n.reviewed_by is None
    assert notification_review(notification=n, enable=True, user=alpha_admin, comment="again")
    assert list(n.reviews.values_list("action", flat=True)) == [
        "registered",
        "enabled",
        "re-registered",
        "enabled",
    ]
