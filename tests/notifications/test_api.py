"""/api/v1/notifications and POST /api/v1/messages/notifications, as an app sees them:
registration goes to review, re-registration with other templates goes back, a send needs an
ENABLED notification with active templates, and a refused send stores nothing."""

import pytest
from rest_framework.test import APIClient

from messaging.models import Message
from notifications.models import Notification, NotificationReview, Status
from notifications.services import notification_review
from tests.factories import AppFactory, TemplateFactory, TenantFactory, issue_key, staff_user
from tests.helpers import assert_error, counts

URL = "/api/v1/notifications"
SEND = "/api/v1/messages/notifications"
REGISTER = {
    "name": "order-delivered",
    "description": "When the courier delivers.",
    "templates": {"sms": "otp", "email": "order"},
}
SMS_SEND = {
    "notification": "order-delivered",
    "sms": [{"data": {"otp": "342365"}, "to": ["+14155550100"]}],
}


@pytest.fixture
def setup(sandbox, templates):
    return sandbox, templates


@pytest.fixture
def reviewer(tenant):
    return staff_user("rita", tenant=tenant, role="tenant_admin")


@pytest.fixture
def registered(client, setup):
    r = client.post(URL, REGISTER, format="json")
    assert r.status_code == 201, r.content
    return Notification.objects.get(name="order-delivered")


@pytest.fixture
def enabled(registered, reviewer):
    notification_review(notification=registered, enable=True, user=reviewer, comment="Fine.")
    return registered


def stored():
    return {**counts(), "Review": NotificationReview.objects.count()}


# --- registration -----------------------------------------------------------------------------


def test_registration_is_pending_review_and_audited(client, setup, app):
    r = client.post(URL, REGISTER, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "PENDING_REVIEW"
    assert body["name"] == "order-delivered"
    assert body["description"] == "When the courier delivers."
    assert body["templates"] == {"email": "order", "sms": "otp"}
    assert body["reviewedAt"] is None and body["reviewComment"] == ""
    (entry,) = NotificationReview.objects.all()
    assert entry.action == "registered" and entry.actor_app == app
    assert entry.actor_name == "app shop" and entry.status == "PENDING_REVIEW"
    assert entry.templates["sms"]["data"]["body"] == "Your {{company}} code is {{otp}}"
    assert client.get(f"{URL}/order-delivered").json() == body


def test_registering_again_with_the_same_templates_keeps_the_status(client, enabled):
    before = NotificationReview.objects.count()
    r = client.post(URL, REGISTER, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "ENABLED"
    assert r.json()["reviewComment"] == "Fine."
    assert NotificationReview.objects.count() == before  # nothing changed, nothing recorded


def test_a_new_description_alone_keeps_the_status(client, enabled):
    r = client.post(URL, {**REGISTER, "description": "Now with more words."}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "ENABLED"
    assert r.json()["description"] == "Now with more words."
    last = NotificationReview.objects.latest("id")
    assert last.action == "re-registered" and last.status == "ENABLED"


def test_other_templates_send_it_back_to_review(client, enabled, tenant):
    TemplateFactory(tenant=tenant, name="otp-v2", mode="sms", data={"body": "New {{otp}}"})
    assert client.post(SEND, SMS_SEND, format="json").status_code == 202
    r = client.post(URL, {**REGISTER, "templates": {"sms": "otp-v2"}}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "PENDING_REVIEW"
    assert r.json()["templates"] == {"sms": "otp-v2"}
    assert r.json()["reviewedAt"] is None
    last = NotificationReview.objects.latest("id")
    assert last.action == "re-registered" and last.status == "PENDING_REVIEW"
    assert last.templates == {
        "sms": {"template": "otp-v2", "mode": "sms", "data": {"body": "New {{otp}}"},
                "isActive": True},
    }  # fmt: skip
    assert [e.action for e in NotificationReview.objects.order_by("id")] == [
        "registered",
        "enabled",
        "re-registered",
    ]
    # Back in review: the app cannot send with it until it is enabled again.
    assert_error(client.post(SEND, SMS_SEND, format="json"), 403, code="notification_not_enabled")


@pytest.mark.parametrize(
    "body, source, code",
    [
        ({**REGISTER, "templates": {"sms": "nope"}}, "templates.sms", "unknown_template"),
        ({**REGISTER, "templates": {"sms": "order"}}, "templates.sms", "template_mode"),
        ({**REGISTER, "templates": {"email": "otp"}}, "templates.email", "template_mode"),
        ({**REGISTER, "templates": {"fax": "otp"}}, "templates.fax", "unknown_channel"),
        ({**REGISTER, "templates": {"sms": 3}}, "templates.sms", "invalid_type"),
        ({**REGISTER, "templates": {}}, "templates", "required"),
        ({"name": "x"}, "templates", "required"),
        ({**REGISTER, "templates": "otp"}, "templates", "invalid_type"),
        ({**REGISTER, "colour": "red"}, "colour", "unknown_field"),
        ({**REGISTER, "name": "a/b"}, "name", "invalid_name"),
        ({**REGISTER, "description": 5}, "description", "invalid_type"),
        ({**REGISTER, "description": "x" * 2001}, "description", "too_long"),
    ],
)
def test_bad_registration_is_a_400_naming_the_field(client, setup, body, source, code):
    before = stored()
    assert_error(client.post(URL, body, format="json"), 400, source=source, code=code)
    assert stored() == before
    assert not Notification.objects.exists()


def test_a_template_of_another_tenant_cannot_be_registered(client, setup):
    TemplateFactory(tenant=TenantFactory(slug="globex"), name="theirs", mode="sms")
    r = client.post(URL, {**REGISTER, "templates": {"sms": "theirs"}}, format="json")
    assert_error(r, 400, source="templates.sms", code="unknown_template")


def test_an_app_sees_its_own_notifications_only(client, registered, tenant):
    sibling = AppFactory(tenant=tenant, name="billing")
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=issue_key(sibling))
    r = other.post(URL, {**REGISTER, "name": "invoice", "templates": {"sms": "otp"}}, format="json")
    assert r.status_code == 201
    page = client.get(URL).json()
    assert page["count"] == 1 and [n["name"] for n in page["results"]] == ["order-delivered"]
    assert_error(client.get(f"{URL}/invoice"), 404, code="not_found")
    # The same name in another app is another notification.
    assert other.post(URL, REGISTER, format="json").status_code == 201
    assert Notification.objects.filter(name="order-delivered").count() == 2


def test_list_filters_by_status(client, enabled, tenant):
    client.post(URL, {**REGISTER, "name": "second", "templates": {"sms": "otp"}}, format="json")
    names = [n["name"] for n in client.get(URL, {"status": "PENDING_REVIEW"}).json()["results"]]
    assert names == ["second"]
    names = [n["name"] for n in client.get(URL, {"status": "enabled"}).json()["results"]]
    assert names == ["order-delivered"]
    assert_error(client.get(URL, {"status": "maybe"}), 400, source="status", code="invalid_filter")
    assert_error(client.get(URL, {"page": 9}), 404, code="not_found")


def test_unauthenticated_is_a_401(anon_client, db):
    assert_error(anon_client.get(URL), 401, code="unauthorized")
    assert_error(anon_client.post(SEND, SMS_SEND, format="json"), 401, code="unauthorized")


# --- sending ----------------------------------------------------------------------------------


def test_pending_notification_is_refused_and_nothing_is_stored(client, registered):
    before = stored()
    (err,) = assert_error(
        client.post(SEND, SMS_SEND, format="json"), 403, code="notification_not_enabled"
    )
    assert err["source"] == "notification" and "PENDING_REVIEW" in err["detail"]
    assert stored() == before


def test_disabled_notification_is_refused(client, enabled, reviewer):
    notification_review(notification=enabled, enable=False, user=reviewer, comment="Spam.")
    before = stored()
    assert_error(client.post(SEND, SMS_SEND, format="json"), 403, code="notification_not_enabled")
    assert stored() == before


def test_inactive_template_is_refused(client, enabled, templates):
    templates["otp"].is_active = False
    templates["otp"].save()
    before = stored()
    (err,) = assert_error(client.post(SEND, SMS_SEND, format="json"), 403, code="template_inactive")
    assert err["source"] == "sms" and "'otp'" in err["detail"]
    assert stored() == before


def test_deleted_template_is_refused(client, enabled, templates):
    assert client.delete("/api/v1/templates/otp").status_code == 204
    assert client.get(f"{URL}/order-delivered").json()["templates"] == {
        "email": "order",
        "sms": None,
    }
    assert_error(client.post(SEND, SMS_SEND, format="json"), 403, code="template_missing")


def test_enabled_notification_sends_through_the_sandbox(client, enabled, run_tasks, templates):
    r = run_tasks(client.post, SEND, SMS_SEND, format="json")
    assert r.status_code == 202, r.content
    body = r.json()
    (m,) = body["messages"]
    assert m["channel"] == "sms" and m["to"] == "+14155550100"
    assert m["status"]["name"] == "PENDING_ACCEPTED"
    message = Message.objects.get(pk=m["messageId"])
    assert str(message.request_id) == body["requestId"]
    assert message.template == templates["otp"]
    assert message.body == "Your Acme code is 342365"
    got = client.get(f"/api/v1/messages/{m['messageId']}").json()
    assert got["status"]["groupName"] == "DELIVERED" and got["template"] == "otp"


def test_email_and_sms_in_one_send(client, enabled):
    r = client.post(
        SEND,
        {
            **SMS_SEND,
            "email": [{"data": {"orderId": "o-1", "name": "Ann"}, "to": ["ann@example.com"]}],
            "priority": "high",
        },
        format="json",
    )
    assert r.status_code == 202, r.content
    assert sorted(m["channel"] for m in r.json()["messages"]) == ["email", "sms"]
    email = Message.objects.get(channel="email")
    assert email.subject == "Order o-1" and email.priority == 0


def test_the_send_is_idempotent(client, enabled):
    first = client.post(SEND, SMS_SEND, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(SEND, SMS_SEND, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    other = {**SMS_SEND, "sms": [{"data": {"otp": "1"}, "to": ["+14155550100"]}]}
    r = client.post(SEND, other, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(r, 409, code="idempotency_conflict")


@pytest.mark.parametrize(
    "body, source, code",
    [
        ({**SMS_SEND, "sms": [{**SMS_SEND["sms"][0], "template": "otp"}]}, "sms[0].template",
         "notification_content"),
        ({**SMS_SEND, "sms": [{**SMS_SEND["sms"][0], "body": "hi"}]}, "sms[0].body",
         "notification_content"),
        ({**SMS_SEND, "whatsapp": [{"data": {"name": "A"}, "to": ["+14155550100"]}]}, "whatsapp",
         "no_notification_template"),
        ({**SMS_SEND, "notification": "nope"}, "notification", "unknown_notification"),
        ({"sms": SMS_SEND["sms"]}, "notification", "required"),
        ({**SMS_SEND, "notification": 7}, "notification", "invalid_type"),
        ({**SMS_SEND, "sms": [{"data": {}, "to": ["+14155550100"]}]}, "sms[0].data.otp",
         "missing_placeholder"),
        ({**SMS_SEND, "sms": [{"data": {"otp": "1"}, "to": ["555"]}]}, "sms[0].to[0]",
         "invalid_recipient"),
        ({**SMS_SEND, "colour": "red"}, "colour", "unknown_field"),
        ({"notification": "order-delivered"}, "sms", "no_messages"),
    ],
)  # fmt: skip
def test_bad_send_is_a_400_and_stores_nothing(client, enabled, body, source, code):
    before = stored()
    assert_error(client.post(SEND, body, format="json"), 400, source=source, code=code)
    assert stored() == before


def test_another_apps_notification_cannot_be_sent(enabled, tenant):
    sibling = APIClient()
    sibling.credentials(HTTP_X_API_KEY=issue_key(AppFactory(tenant=tenant, name="billing")))
    r = sibling.post(SEND, SMS_SEND, format="json")
    assert_error(r, 400, source="notification", code="unknown_notification")
    assert not Message.objects.exists()


def test_send_route_is_not_swallowed_by_message_ids(client, enabled):
    assert_error(client.get(SEND), 405, code="method_not_allowed")
    assert_error(client.post(SEND, [], format="json"), 400, code="invalid_type")
    assert_error(client.get("/api/v1/messages/notifications/x"), 404, code="not_found")


def test_the_review_is_what_the_app_reads(client, enabled):
    n = client.get(f"{URL}/order-delivered").json()
    assert n["status"] == "ENABLED" and n["reviewComment"] == "Fine." and n["reviewedAt"]
    assert Notification.objects.get().status == Status.ENABLED
