"""Compose: a tenant admin sends a message from the admin through message_accept (the API's
path: same checks, errors on the field they name, nothing stored on error), and lands on
the new message's page. Support staff cannot; the page is linked where people look."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message, MessageRequest
from tests.factories import TemplateFactory

COMPOSE = "/admin/messaging/message/compose/"


def _form(app, **fields):
    return {"app": app.pk, "channel": "sms", "recipients": "", "text": "", **fields}


def _field_errors(response, field):
    form = response.context["form"]
    return form.errors.get(field, [])


def test_a_tenant_admin_composes_an_sms_and_lands_on_its_page(
    login, alpha_admin, alpha, django_capture_on_commit_callbacks
):
    c = login(alpha_admin)
    page = c.get(COMPOSE)
    assert page.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # dispatch, as after a commit
        r = c.post(
            COMPOSE, _form(alpha["app"], recipients="+14155550123", text="Hello from the admin")
        )
    assert r.status_code == 302
    message = Message.objects.get(to="+14155550123")
    assert r["Location"] == reverse("admin:messaging_message_change", args=[message.pk])
    assert message.app == alpha["app"] and message.body == "Hello from the admin"
    assert message.status == "DELIVERED_TO_HANDSET"  # the sandbox, tasks inline
    assert "Accepted 1 message" in c.get(r["Location"]).content.decode()


def test_compose_an_email_with_a_subject_and_a_schedule(login, alpha_admin, alpha):
    alpha["provider"].channels = ["sms", "email", "whatsapp"]
    alpha["provider"].save()
    at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    c = login(alpha_admin)
    r = c.post(
        COMPOSE,
        _form(
            alpha["app"], channel="email", recipients="ann@example.com, bob@example.com",
            subject="Your order", text="It shipped.", scheduled_at=at.strftime("%Y-%m-%dT%H:%M:%S"),
        ),
    )  # fmt: skip
    assert r.status_code == 302, r.context["form"].errors
    # One email to both addresses.
    (message,) = Message.objects.filter(app=alpha["app"], channel="email")
    assert r["Location"] == reverse("admin:messaging_message_change", args=[message.pk])
    assert message.recipients["to"] == ["ann@example.com", "bob@example.com"]
    assert message.subject == "Your order" and message.status == "PENDING_SCHEDULED"
    request = message.request
    assert request.scheduled_at == at


def test_compose_to_several_numbers_lands_on_the_request(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(COMPOSE, _form(alpha["app"], recipients="+14155550125\n+14155550126", text="Hi"))
    assert r.status_code == 302
    request = MessageRequest.objects.get(app=alpha["app"], message_count=2)
    assert r["Location"].endswith(f"?q={request.pk}")


def test_compose_with_a_template(login, alpha_admin, alpha):
    template = TemplateFactory(
        tenant=alpha["tenant"], name="code", mode="sms", data={"body": "Code {{otp}}"}
    )
    c = login(alpha_admin)
    r = c.post(
        COMPOSE,
        _form(alpha["app"], recipients="+14155550124", template=template.pk, data='{"otp": "9"}'),
    )
    assert r.status_code == 302
    assert Message.objects.get(to="+14155550124").body == "Code 9"


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"recipients": "not a number", "text": "hi"}, "recipients", "not a number"),
        ({"recipients": "+14155550123"}, "template", "template or body is required"),
        (
            {"recipients": "+14155550123", "text": "hi", "scheduled_at": "2001-01-01T00:00"},
            "scheduled_at",
            "in the past",
        ),
        ({"recipients": "+14155550123", "data": "{oops", "text": "x"}, "data", "Not JSON"),
        ({"recipients": "+14155550123", "text": "", "channel": "fax"}, "channel", "valid choice"),
    ],
)
def test_compose_errors_name_the_field_and_store_nothing(
    login, alpha_admin, alpha, fields, field, words
):
    c = login(alpha_admin)
    before = (Message.objects.count(), MessageRequest.objects.count())
    r = c.post(COMPOSE, _form(alpha["app"], **fields))
    assert r.status_code == 200
    errors = " ".join(_field_errors(r, field))
    assert words.lower() in errors.lower(), r.context["form"].errors
    assert "Please correct the error" in r.content.decode()
    assert (Message.objects.count(), MessageRequest.objects.count()) == before


def test_compose_offers_only_the_users_apps_and_templates(login, alpha_admin, alpha, beta):
    TemplateFactory(tenant=beta["tenant"], name="beta-secret", mode="sms", data={"body": "x"})
    c = login(alpha_admin)
    page = c.get(COMPOSE).content.decode()
    assert "alpha-app" in page and "beta-app" not in page and "beta-secret" not in page
    r = c.post(COMPOSE, _form(beta["app"], recipients="+14155550123", text="hi"))
    assert r.status_code == 200
    assert "valid choice" in " ".join(_field_errors(r, "app"))
    assert not Message.objects.filter(to="+14155550123").exists()


def test_support_staff_cannot_compose(login, alpha_support, alpha):
    c = login(alpha_support)
    assert c.get(COMPOSE).status_code == 403
    r = c.post(COMPOSE, _form(alpha["app"], recipients="+14155550123", text="hi"))
    assert r.status_code == 403
    assert not Message.objects.filter(to="+14155550123").exists()
    page = c.get("/admin/messaging/message/").content.decode()
    assert COMPOSE not in page


def test_compose_is_linked_from_the_log_the_index_and_the_header(login, alpha_admin, alpha):
    c = login(alpha_admin)
    log = c.get("/admin/messaging/message/").content.decode()
    assert 'id="compose-link"' in log and COMPOSE in log
    index = c.get("/admin/").content.decode()
    assert 'id="start-compose"' in index and 'id="nav-compose"' in index


def _channel_choices(page: str) -> list[str]:
    select = re.search(r'<select name="channel".*?</select>', page, re.S).group(0)
    return re.findall(r'<option value="([a-z]+)"', select)


def test_compose_offers_every_channel_of_the_tenants_providers(
    login, alpha_admin, alpha, django_capture_on_commit_callbacks
):
    c = login(alpha_admin)
    assert _channel_choices(c.get(COMPOSE).content.decode()) == [
        "sms", "email", "whatsapp", "viber", "rcs", "push",
    ]  # fmt: skip
    # Push: the subject is the title; recipients one a line (a subscription's JSON has commas).
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(
            COMPOSE,
            _form(alpha["app"], channel="push", recipients="tok-1\ntok-2", subject="Ready",
                  text="Your order is ready"),
        )  # fmt: skip
    assert r.status_code == 302, r.context["form"].errors
    pushes = Message.objects.filter(channel="push").order_by("to")
    assert [(m.to, m.subject, m.body) for m in pushes] == [
        ("tok-1", "Ready", "Your order is ready"), ("tok-2", "Ready", "Your order is ready"),
    ]  # fmt: skip
    assert {m.status for m in pushes} == {"DELIVERED_TO_HANDSET"}  # the sandbox's report
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(COMPOSE, _form(alpha["app"], channel="viber", recipients="+14155550131",
                                  text="Hi on Viber"))  # fmt: skip
    viber = Message.objects.get(channel="viber")
    assert r["Location"] == reverse("admin:messaging_message_change", args=[viber.pk])
    assert (viber.to, viber.status) == ("+14155550131", "DELIVERED_TO_HANDSET")
    log = c.get("/admin/messaging/message/?channel__exact=viber").content.decode()
    assert "+14155550131" in log


def test_compose_offers_only_the_channels_a_provider_serves(login, alpha_admin, alpha):
    alpha["provider"].channels = ["sms", "rcs"]
    alpha["provider"].save()
    c = login(alpha_admin)
    assert _channel_choices(c.get(COMPOSE).content.decode()) == ["sms", "rcs"]
    r = c.post(COMPOSE, _form(alpha["app"], channel="push", recipients="tok-1", text="Hi"))
    assert "valid choice" in " ".join(_field_errors(r, "channel"))
    # The API's errors land on the fields: a bad RCS number on the recipients.
    r = c.post(COMPOSE, _form(alpha["app"], channel="rcs", recipients="+1 555", text="Hi"))
    assert "not a valid phone number" in " ".join(_field_errors(r, "recipients"))
    assert not Message.objects.filter(channel__in=["push", "rcs"]).exists()
