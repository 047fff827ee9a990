"""The template page's languages: edit the default language and the translations, see
refusals on their field, preview a locale, and find translation changes in the history."""

import json

from django.urls import reverse

from messaging.models import Template
from tests.factories import TemplateFactory

ADD = reverse("admin:messaging_template_add")
PREVIEW = reverse("admin:messaging_template_preview")


def form_data(tenant, **fields):
    data = {
        "tenant": tenant.pk, "name": "reminder", "mode": "sms", "is_active": "on", "tags": "",
        "body": "Appointment on {{date}}", "subject": "", "format": "text/plain", "sender": "",
        "origination_number": "", "external_ref": "", "media": "", "buttons": "",
        "language": "", "translations": "", "_save": "Save",
    }  # fmt: skip
    data.update(fields)
    return data


def test_admin_saves_translations_in_canonical_tags(login, alpha_admin, alpha):
    c = login(alpha_admin)
    translations = {"de_at": {"body": "Termin am {{date}}"}, "fr": {"body": "RDV le {{date}}"}}
    r = c.post(
        ADD, form_data(alpha["tenant"], language="EN", translations=json.dumps(translations))
    )
    assert r.status_code == 302, r.context["adminform"].form.errors
    template = Template.objects.get(name="reminder")
    assert template.language == "en"
    assert template.translations == {
        "de-AT": {"body": "Termin am {{date}}"},
        "fr": {"body": "RDV le {{date}}"},
    }
    page = c.get(reverse("admin:messaging_template_change", args=[template.pk])).content.decode()
    assert "Termin am {{date}}" in page and 'id="tpl-locale"' in page


def test_bad_translations_are_shown_on_their_field(login, alpha_admin, alpha):
    c = login(alpha_admin)
    bad = {"klingon!": {"body": "x"}, "de": {"body": "Hi {{x"}}
    r = c.post(ADD, form_data(alpha["tenant"], language="english", translations=json.dumps(bad)))
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert "not a language tag" in errors["language"][0]
    assert any("does not parse" in e for e in errors["translations"])
    r = c.post(ADD, form_data(alpha["tenant"], translations="{not json"))
    assert "translations" in r.context["adminform"].form.errors
    assert not Template.objects.filter(name="reminder").exists()


def test_preview_shows_the_translation_a_locale_gets(login, alpha_admin, alpha):
    c = login(alpha_admin)

    def preview(locale):
        payload = {
            "tenant": alpha["tenant"].pk, "mode": "sms", "sample": {"date": "1 Dec"},
            "locale": locale,
            "fields": {"body": "On {{date}}", "language": "en",
                       "translations": '{"de": {"body": "Am {{date}}, {{extra}}"}}'},
        }  # fmt: skip
        return c.post(PREVIEW, json.dumps(payload), content_type="application/json").json()

    answer = preview("de-AT")
    assert answer["locales"] == ["en", "de"]
    # A translation's own placeholders get sample rows too.
    assert answer["placeholders"] == ["date", "extra"]
    assert (answer["preview"]["locale"], answer["preview"]["body"]) == ("de", "Am 1 Dec, {{extra}}")
    answer = preview("")
    assert (answer["preview"]["locale"], answer["preview"]["body"]) == ("en", "On 1 Dec")
    assert preview("german")["problem"]["code"] == "invalid_locale"


def test_history_names_a_translation_change(login, alpha_admin, alpha):
    template = TemplateFactory(tenant=alpha["tenant"], name="reminder", language="en")
    c = login(alpha_admin)
    r = c.post(
        reverse("admin:messaging_template_change", args=[template.pk]),
        form_data(alpha["tenant"], language="en", translations='{"de": {"body": "Am {{date}}"}}'),
    )
    assert r.status_code == 302, r.context["adminform"].form.errors
    page = c.get(reverse("admin:messaging_template_history", args=[template.pk])).content.decode()
    assert "Translations" in page
