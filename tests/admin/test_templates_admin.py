"""The template editor in the admin: the form, the live-preview endpoint, history and restore."""

import json

import pytest
import reversion
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from reversion.models import Version

from messaging.models import Template
from messaging.services.templates import template_update
from tests.factories import TemplateFactory, staff_user

ADD = reverse("admin:messaging_template_add")
PREVIEW = reverse("admin:messaging_template_preview")


def change_url(template):
    return reverse("admin:messaging_template_change", args=[template.pk])


def history_url(template):
    return reverse("admin:messaging_template_history", args=[template.pk])


def form_data(tenant, **fields):
    data = {
        "tenant": tenant.pk,
        "name": "welcome",
        "mode": "sms",
        "is_active": "on",
        "tags": "",
        "body": "",
        "subject": "",
        "format": "text/plain",
        "sender": "",
        "origination_number": "",
        "external_ref": "",
        "media": "",
        "buttons": "",
        "_save": "Save",
    }
    data.update(fields)
    return data


def errors_of(response):
    return response.context["adminform"].form.errors


def preview(client, tenant, mode="sms", sample=None, **fields):
    response = client.post(
        PREVIEW,
        json.dumps({"tenant": tenant.pk, "mode": mode, "fields": fields, "sample": sample or {}}),
        content_type="application/json",
    )
    return response


# --- the form --------------------------------------------------------------------------------


def test_tenant_admin_creates_an_sms_template(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(
        ADD,
        form_data(
            alpha["tenant"],
            body="Hi {{name}},\r\nyour code is {{otp}}",
            sender="ACME",
            tags="otp, login, otp",
            # Not an SMS field: left out of the template.
            media='{"type": "image", "url": "https://example.com/a.png"}',
        ),
    )
    assert r.status_code == 302, errors_of(r)
    template = Template.objects.get(tenant=alpha["tenant"], name="welcome")
    # The browser's CRLF line ends are stored as the "\n" the preview counted.
    assert template.data == {"body": "Hi {{name}},\nyour code is {{otp}}", "from": "ACME"}
    assert template.tags == ["otp", "login"]
    assert template.is_active is True


def test_email_template_keeps_subject_and_format(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(
        ADD,
        form_data(
            alpha["tenant"],
            name="receipt",
            mode="email",
            subject="Receipt {{orderId}}",
            format="text/html",
            body="<p>Thanks for order {{orderId}}</p>",
            origination_number="+14155550100",  # SMS only: dropped
        ),
    )
    assert r.status_code == 302, errors_of(r)
    template = Template.objects.get(name="receipt")
    assert template.data == {
        "body": "<p>Thanks for order {{orderId}}</p>",
        "subject": "Receipt {{orderId}}",
        "format": "text/html",
    }


def test_syntax_error_is_shown_on_the_body(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(ADD, form_data(alpha["tenant"], body="Hi {{name"))
    assert r.status_code == 200
    message = "The body does not parse: unclosed placeholder '{{' at position 3."
    assert errors_of(r)["body"] == [message]
    assert escape(message) in r.content.decode()
    assert not Template.objects.filter(name="welcome").exists()


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"body": ""}, "body", "body is required."),
        ({"mode": "email", "body": "Hello"}, "subject", "an email template needs a subject."),
        (
            {"mode": "email", "body": "Hi", "subject": "Order {{id"},
            "subject",
            "The subject does not parse: unclosed placeholder '{{' at position 6.",
        ),
        ({"mode": "whatsapp", "body": "Hi", "media": "{oops"}, "media", "not valid JSON"),
        ({"mode": "whatsapp", "body": "Hi", "buttons": '{"a": 1}'}, "buttons", "must be a list."),
        ({"body": "Hi", "name": "a/b"}, "name", "no '/'"),
        ({"body": "Hi", "name": "alpha-otp"}, "name", "A template named 'alpha-otp' exists."),
    ],
    ids=["no body", "no subject", "subject syntax", "bad JSON", "buttons type", "slash", "dup"],
)
def test_errors_land_on_the_right_field(login, alpha_admin, alpha, fields, field, message):
    c = login(alpha_admin)
    r = c.post(ADD, form_data(alpha["tenant"], **fields))
    assert r.status_code == 200
    assert any(message in e for e in errors_of(r)[field]), errors_of(r)


def test_editing_shows_the_data_as_fields_and_saves_them(login, alpha_admin, alpha):
    template = TemplateFactory(
        tenant=alpha["tenant"],
        name="wa-order",
        mode="whatsapp",
        data={
            "body": "Order {{id}} shipped",
            "media": {"type": "image", "url": "https://example.com/box.png"},
            "buttons": [{"type": "quick_reply", "text": "Thanks"}],
        },
    )
    c = login(alpha_admin)
    page = c.get(change_url(template)).content.decode()
    assert "Order {{id}} shipped</textarea>" in page
    assert "https://example.com/box.png" in page
    r = c.post(
        change_url(template),
        form_data(
            alpha["tenant"],
            name="wa-order",
            mode="whatsapp",
            body="Order {{id}} is on its way",
            media='{"type": "document", "url": "https://example.com/i.pdf"}',
            buttons='[{"type": "url", "text": "Track", "url": "https://example.com/t"}]',
        ),
    )
    assert r.status_code == 302, errors_of(r)
    template.refresh_from_db()
    assert template.data["body"] == "Order {{id}} is on its way"
    assert template.data["media"] == {"type": "document", "url": "https://example.com/i.pdf"}
    assert template.data["buttons"][0]["text"] == "Track"
    assert template.tenant == alpha["tenant"]


# --- the preview endpoint --------------------------------------------------------------------


def test_sms_preview_counts_segments(login, alpha_admin, alpha):
    c = login(alpha_admin)
    one = preview(c, alpha["tenant"], body="a" * 160).json()["preview"]
    assert (one["encoding"], one["characters"], one["segments"]) == ("GSM-7", 160, 1)
    assert one["remainingInSegment"] == 0
    two = preview(c, alpha["tenant"], body="a" * 161).json()["preview"]
    assert (two["segments"], two["perSegment"]) == (2, 153)
    assert two["remainingInSegment"] == 153 * 2 - 161


def test_sms_preview_counts_the_euro_twice_and_emoji_as_ucs2(login, alpha_admin, alpha):
    c = login(alpha_admin)
    euro = preview(c, alpha["tenant"], body="Pay 5€").json()["preview"]
    assert (euro["encoding"], euro["characters"], euro["units"]) == ("GSM-7", 6, 7)
    assert (euro["segments"], euro["remainingInSegment"]) == (1, 160 - 7)
    emoji = preview(c, alpha["tenant"], body="Hi 👋").json()["preview"]
    assert (emoji["encoding"], emoji["characters"], emoji["units"]) == ("UCS-2", 4, 5)
    assert emoji["remainingInSegment"] == 70 - 5
    assert emoji["nonGsm"] == ["👋"]


def test_sms_preview_renders_sample_data_over_tenant_placeholders(login, alpha_admin, alpha):
    tenant = alpha["tenant"]
    tenant.placeholders = {"company": "Acme", "support": {"phone": "555-0100"}}
    tenant.save()
    c = login(alpha_admin)
    body = "{{company}}: code {{otp}}. Help: {{support.phone}}"
    answer = preview(c, tenant, body=body, sample={"otp": "4321"}).json()
    assert answer["placeholders"] == ["company", "otp", "support.phone"]
    assert answer["defaults"] == {"company": "Acme", "support.phone": "555-0100"}
    assert answer["preview"]["body"] == "Acme: code 4321. Help: 555-0100"
    # The sample wins over the tenant's value.
    answer = preview(c, tenant, body=body, sample={"otp": "1", "company": "Beta Co"}).json()
    assert answer["preview"]["body"].startswith("Beta Co: code 1.")


def test_missing_sample_value_is_a_clear_problem(login, alpha_admin, alpha):
    c = login(alpha_admin)
    # A blank sample value counts as not given.
    answer = preview(
        c, alpha["tenant"], body="Hi {{name}}, code {{otp}}", sample={"name": "Ann", "otp": ""}
    ).json()
    assert answer["problem"] == {
        "code": "missing_placeholder",
        "message": "The template needs a value for 'otp'.",
        "placeholder": "otp",
    }
    assert answer["missing"] == ["otp"]
    assert answer["placeholders"] == ["name", "otp"]
    # The rest still previews, the missing one as written.
    assert answer["preview"]["body"] == "Hi Ann, code {{otp}}"
    answer = preview(c, alpha["tenant"], body="Hi {{name}}, code {{otp}}").json()
    assert answer["missing"] == ["name", "otp"]
    answer = preview(c, alpha["tenant"], body="Hi {{name}}", sample={"name": "Ann"}).json()
    assert (answer["problem"], answer["missing"]) == (None, [])


def test_syntax_error_in_preview_names_field_and_position(login, alpha_admin, alpha):
    c = login(alpha_admin)
    answer = preview(c, alpha["tenant"], body="Code {{otp").json()
    assert answer["preview"] is None
    assert answer["problem"]["code"] == "template_syntax"
    assert answer["errors"] == [
        {
            "field": "body",
            "message": "The body does not parse: unclosed placeholder '{{' at position 5.",
        }
    ]


def test_email_preview_escapes_values_in_the_html_only(login, alpha_admin, alpha):
    c = login(alpha_admin)
    answer = preview(
        c,
        alpha["tenant"],
        mode="email",
        subject="For {{name}}",
        format="text/html",
        body="<h1>Hello {{name}}</h1><p>Bye</p>",
        sample={"name": "<b>Ann</b>"},
    ).json()
    p = answer["preview"]
    assert p["subject"] == "For <b>Ann</b>"
    assert p["html"] == "<h1>Hello &lt;b&gt;Ann&lt;/b&gt;</h1><p>Bye</p>"
    assert p["body"] == "Hello <b>Ann</b>\nBye"
    assert answer["placeholders"] == ["name"]


def test_plain_email_preview_has_no_html(login, alpha_admin, alpha):
    c = login(alpha_admin)
    p = preview(
        c, alpha["tenant"], mode="email", subject="Hi", format="text/plain", body="Hi <b>"
    ).json()["preview"]
    assert (p["html"], p["body"]) == ("", "Hi <b>")


def test_whatsapp_preview_returns_media_and_buttons(login, alpha_admin, alpha):
    c = login(alpha_admin)
    answer = preview(
        c,
        alpha["tenant"],
        mode="whatsapp",
        body="Your order {{id}} is *ready*",
        sender="+14155550111",
        media='{"type": "image", "url": "https://example.com/p.jpg"}',
        buttons='[{"type": "quick_reply", "text": "Thanks"}]',
        sample={"id": "A-7"},
    ).json()
    p = answer["preview"]
    assert p["body"] == "Your order A-7 is *ready*"
    assert p["media"] == {"type": "image", "url": "https://example.com/p.jpg"}
    assert p["buttons"] == [{"type": "quick_reply", "text": "Thanks"}]
    assert p["from"] == "+14155550111"


def test_whatsapp_preview_reports_bad_json_on_its_field(login, alpha_admin, alpha):
    c = login(alpha_admin)
    answer = preview(c, alpha["tenant"], mode="whatsapp", body="Hi", buttons="[{").json()
    assert [e["field"] for e in answer["errors"]] == ["buttons"]
    assert answer["preview"]["body"] == "Hi" and "buttons" not in answer["preview"]


def test_preview_refuses_another_tenant(login, alpha_admin, alpha, beta):
    c = login(alpha_admin)
    r = preview(c, beta["tenant"], body="Hi")
    assert r.status_code == 404
    assert "preview" not in r.json()


@pytest.mark.parametrize("user", ["alpha_support", "alpha_developer"])
def test_preview_refuses_roles_that_do_not_edit_templates(login, alpha, request, user):
    c = login(request.getfixturevalue(user))
    r = preview(c, alpha["tenant"], body="Hi")
    assert r.status_code == 403


def test_preview_is_post_only_and_csrf_protected(alpha_admin, alpha):
    c = Client(enforce_csrf_checks=True)
    c.force_login(alpha_admin)
    assert c.get(PREVIEW).status_code == 405
    r = preview(c, alpha["tenant"], body="Hi")
    assert r.status_code == 403  # no CSRF token
    c.get(ADD)  # sets the CSRF cookie
    token = c.cookies["csrftoken"].value
    r = c.post(
        PREVIEW,
        json.dumps({"tenant": alpha["tenant"].pk, "mode": "sms", "fields": {"body": "Hi"}}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200
    assert r.json()["preview"]["body"] == "Hi"


def test_preview_uses_the_only_tenant_when_none_is_named(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(
        PREVIEW,
        json.dumps({"mode": "sms", "fields": {"body": "Hi"}}),
        content_type="application/json",
    )
    assert r.json()["preview"]["segments"] == 1


# --- history and restore ---------------------------------------------------------------------


def _edit(client, template, body):
    r = client.post(
        change_url(template),
        form_data(template.tenant, name=template.name, mode=template.mode, body=body),
    )
    assert r.status_code == 302, errors_of(r)


def test_history_lists_versions_with_user_and_changes_and_restore_works(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(ADD, form_data(alpha["tenant"], body="Your code is {{otp}}"))
    assert r.status_code == 302
    template = Template.objects.get(name="welcome")
    _edit(c, template, "Your login code is {{otp}}")
    _edit(c, template, "Code: {{otp}}")

    page = c.get(history_url(template)).content.decode()
    assert page.count('<li class="tpl-version') == 3
    assert page.count("alice") >= 3
    assert "Changed Body." in page and "Added." in page
    # What changed: the words taken out and put in.
    assert "<del>Your login code is</del><ins>Code:</ins><span> {{otp}}</span>" in page
    assert "<span>Your</span><ins> login</ins><span> code is {{otp}}</span>" in page

    first = Version.objects.get_for_object(template).order_by("pk").first()
    restore = reverse("admin:messaging_template_revision", args=[template.pk, first.pk])
    assert restore in page
    review = c.get(restore).content.decode()
    assert "Your code is {{otp}}</textarea>" in review
    template.refresh_from_db()
    assert template.data["body"] == "Code: {{otp}}"  # looking changes nothing

    r = c.post(restore, form_data(alpha["tenant"], body="Your code is {{otp}}"))
    assert r.status_code == 302
    template.refresh_from_db()
    assert template.data["body"] == "Your code is {{otp}}"
    newest = Version.objects.get_for_object(template).order_by("-pk").first()
    assert newest.revision.user == alpha_admin
    assert "Reverted to previous version" in newest.revision.get_comment()


def test_first_admin_edit_keeps_the_state_from_before(login, alpha_admin, alpha):
    template = alpha["template"]  # made outside the admin: no history yet
    c = login(alpha_admin)
    assert "no change history yet" in c.get(history_url(template)).content.decode()
    _edit(c, template, "New {{otp}}")
    page = c.get(history_url(template)).content.decode()
    assert "As it was before its first change in the admin." in page
    baseline = Version.objects.get_for_object(template).order_by("pk").first()
    assert baseline.field_dict["data"] == {"body": "Your code is {{otp}}"}


def _beta_version(beta):
    with reversion.create_revision():
        reversion.add_to_revision(beta["template"])
    return Version.objects.get_for_object(beta["template"]).get()


def test_another_tenants_history_and_versions_are_404(login, alpha_admin, alpha, beta):
    version = _beta_version(beta)
    c = login(alpha_admin)
    assert c.get(history_url(beta["template"])).status_code == 404
    revision = reverse("admin:messaging_template_revision", args=[beta["template"].pk, version.pk])
    assert c.get(revision).status_code == 404
    assert c.post(revision, form_data(alpha["tenant"], body="x")).status_code == 404
    # Nor through one of the user's own templates.
    mixed = reverse("admin:messaging_template_revision", args=[alpha["template"].pk, version.pk])
    assert c.get(mixed).status_code == 404
    assert c.get(reverse("admin:messaging_template_recover", args=[version.pk])).status_code == 404
    beta["template"].refresh_from_db()
    assert beta["template"].data["body"] == "Your code is {{otp}}"


def test_support_may_not_see_template_history(login, alpha_support, alpha):
    c = login(alpha_support)
    assert c.get(history_url(alpha["template"])).status_code == 403


def test_changes_made_through_the_api_are_kept_in_history(login, alpha_admin, alpha):
    template = alpha["template"]
    c = login(alpha_admin)
    _edit(c, template, "Admin {{otp}}")
    template_update(template=template, fields={"data": {"body": "API {{otp}}"}})
    page = c.get(history_url(template)).content.decode()
    assert "Changed through the API." in page
    _edit(c, template, "Admin again {{otp}}")
    bodies = [
        (v.revision.get_comment(), v.field_dict["data"]["body"])
        for v in Version.objects.get_for_object(template).order_by("pk")
    ]
    assert bodies == [
        ("As it was before its first change in the admin.", "Your code is {{otp}}"),
        ("Changed Body.", "Admin {{otp}}"),
        ("Changed through the API.", "API {{otp}}"),
        ("Changed Body.", "Admin again {{otp}}"),
    ]


def test_deleted_template_is_recovered_and_other_tenants_stay_hidden(
    login, alpha_admin, alpha, beta
):
    with reversion.create_revision():
        reversion.add_to_revision(beta["template"])
    beta["template"].delete()
    c = login(alpha_admin)
    template = alpha["template"]  # made outside the admin
    delete = reverse("admin:messaging_template_delete", args=[template.pk])
    assert c.post(delete, {"post": "yes"}).status_code == 302
    assert not Template.objects.filter(pk=template.pk).exists()

    page = c.get(reverse("admin:messaging_template_recoverlist")).content.decode()
    assert "alpha-otp" in page
    assert "beta-otp" not in page
    beta_version = Version.objects.get(object_repr__startswith="beta-otp")
    beta_recover = reverse("admin:messaging_template_recover", args=[beta_version.pk])
    assert c.get(beta_recover).status_code == 404
    assert not Template.objects.filter(name="beta-otp").exists()
    version = Version.objects.get(object_repr__startswith="alpha-otp")
    recover = reverse("admin:messaging_template_recover", args=[version.pk])
    assert "Your code is {{otp}}</textarea>" in c.get(recover).content.decode()
    r = c.post(recover, form_data(alpha["tenant"], name="alpha-otp", body="Your code is {{otp}}"))
    assert r.status_code == 302
    assert Template.objects.get(pk=template.pk).data == {"body": "Your code is {{otp}}"}


def test_superuser_sees_every_tenants_history(alpha, beta, client):
    _beta_version(beta)
    admin = staff_user("root")
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    assert client.get(history_url(beta["template"])).status_code == 200


def test_api_changes_are_in_the_history_with_their_origin(client, api_key, tenant, db):
    from rest_framework.test import APIClient
    from reversion.models import Version

    from messaging.models import Template

    api = APIClient()
    api.credentials(HTTP_X_API_KEY=api_key)
    body = {"name": "hist", "mode": "sms", "data": {"body": "one {{x}}"}}
    assert api.post("/api/v1/templates", body, format="json").status_code == 201
    patch = {"data": {"body": "two {{x}}"}}
    assert api.patch("/api/v1/templates/hist", patch, format="json").status_code == 200
    versions = Version.objects.get_for_object(Template.objects.get(name="hist"))
    comments = [v.revision.comment for v in versions.order_by("pk")]
    assert comments == ["Created through the API.", "Changed through the API."]


def test_a_push_template_keeps_its_title_and_payload(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(
        ADD,
        form_data(alpha["tenant"], name="ready", mode="push", title="Order {{id}}",
                  body="Ready for pickup", payload='{"screen": "orders"}', buttons="[]"),
    )  # fmt: skip
    assert r.status_code == 302, errors_of(r)
    template = Template.objects.get(name="ready")
    # Buttons are not push's: not kept.
    assert template.data == {
        "title": "Order {{id}}", "body": "Ready for pickup", "payload": {"screen": "orders"},
    }  # fmt: skip
    page = c.get(change_url(template)).content.decode()
    assert "Order {{id}}" in page and "&quot;screen&quot;: &quot;orders&quot;" in page
    fields = {"title": "Order {{id}}", "body": "Hi", "payload": '{"screen": "orders"}'}
    got = preview(c, alpha["tenant"], mode="push", sample={"id": "o-1"}, **fields).json()
    assert got["placeholders"] == ["id"]
    shown = got["preview"]
    assert (shown["title"], shown["payload"]) == ("Order o-1", {"screen": "orders"})
    r = c.post(ADD, form_data(alpha["tenant"], name="bad", mode="push", title="T", payload="[1]"))
    assert "must be an object" in " ".join(errors_of(r)["payload"])
