"""Template translations and the locale a message gets: the templates API (create, change,
preview per locale), sends that pick the entry's, the contact's or the request's locale with
a fallback to the default language, the deterministic policy, and the language a WhatsApp
provider template is sent in."""

import json

import pytest
import responses

from contacts.models import Contact, ContactAddress
from messaging.locales import locale_choose, locale_normalize, provider_language
from messaging.models import Message, Template
from providers.models import SandboxOutboxEntry
from tests.factories import ProviderFactory, TemplateFactory
from tests.helpers import assert_error, counts

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates"
ANN, BOB, CY, DAN = "+14155550100", "+14155550101", "+14155550102", "+14155550103"
REMINDER = {
    "name": "reminder",
    "mode": "sms",
    "language": "en",
    "data": {"body": "Appointment on {{date}}.", "from": "CLINIC"},
    "translations": {
        "de": {"body": "Termin am {{date}}."},
        "de_at": {"body": "Termin am {{date}}. Servus!", "from": "ORDI"},
    },
}
EN, DE, DE_AT = "Appointment on 1 Dec.", "Termin am 1 Dec.", "Termin am 1 Dec. Servus!"


@pytest.fixture
def reminder(client, tenant):
    r = client.post(URL, REMINDER, format="json")
    assert r.status_code == 201, r.content
    return Template.objects.get(name="reminder")


def contact(tenant, ext, phone, locale=""):
    c = Contact.objects.create(tenant=tenant, external_id=ext, name=ext, locale=locale)
    ContactAddress.objects.create(
        contact=c, tenant=tenant, channel="phone", address=phone, normalized=phone
    )
    return c


def send(client, run_tasks, body):
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"]


def outbox() -> dict[str, tuple[str, str]]:
    return {e.to: e.body for e in SandboxOutboxEntry.objects.all()}


def sms(to, **entry):
    return {"template": "reminder", "data": {"date": "1 Dec"}, "to": to, **entry}


# --- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, tag",
    [("en", "en"), ("pt_BR", "pt-BR"), ("DE-at", "de-AT"), ("zh_hant_tw", "zh-Hant-TW"),
     ("es-419", "es-419"), ("fil", "fil"), (" de ", "de"), ("english", None), ("d", None),
     ("de-", None), ("de-AT-x", None), ("", None), (5, None)],
)  # fmt: skip
def test_tags_are_normalised_or_refused(raw, tag):
    assert locale_normalize(raw) == tag


def test_the_closest_translation_under_each_policy():
    have = ["de", "de-AT", "pt-BR", "en"]
    assert locale_choose("de-AT", have) == "de-AT"
    assert locale_choose("de-CH", have) == "de"
    assert locale_choose("pt", have) == "pt-BR"  # another region of the language
    assert locale_choose("fr", have) is None  # the caller's default
    assert locale_choose("de-CH", have, "deterministic") is None
    assert locale_choose("de-AT", have, "deterministic") == "de-AT"
    assert [provider_language(t) for t in ("pt-BR", "de", "zh-Hant-TW")] == ["pt_BR", "de", "zh_TW"]


# --- the templates API -----------------------------------------------------------------------


def test_create_and_get_translations_in_canonical_tags(client, reminder):
    data = client.get(f"{URL}/reminder").json()["data"]
    assert data["language"] == "en"
    assert data["translations"] == {
        "de": {"body": "Termin am {{date}}."},
        "de-AT": {"body": "Termin am {{date}}. Servus!", "from": "ORDI"},
    }
    assert reminder.translations == data["translations"]
    listed = client.get(URL).json()["results"][0]
    assert listed["translations"] == data["translations"]


def test_patch_changes_translations_per_locale(client, reminder):
    r = client.patch(
        f"{URL}/reminder",
        {"translations": {"fr": {"body": "RDV le {{date}}."}, "de": None,
                          "DE_AT": {"body": "Termin: {{date}}"}}},
        format="json",
    )  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["data"]["translations"] == {
        "de-AT": {"body": "Termin: {{date}}"},
        "fr": {"body": "RDV le {{date}}."},
    }
    # A change of data alone keeps the translations, checked again over the new data.
    r = client.patch(f"{URL}/reminder", {"data": {"body": "On {{date}}"}}, format="json")
    assert r.status_code == 200 and set(r.json()["data"]["translations"]) == {"de-AT", "fr"}
    # The default language may not be one of the translations.
    before = Template.objects.get().translations
    r = client.patch(f"{URL}/reminder", {"language": "fr"}, format="json")
    assert_error(r, 400, "language", "duplicate_locale")
    r = client.patch(f"{URL}/reminder", {"language": ""}, format="json")
    assert r.status_code == 200 and r.json()["data"]["language"] == ""
    assert Template.objects.get().translations == before


EMAIL = {"name": "mail", "mode": "email", "data": {"subject": "Hi", "body": "Hello"}}
BAD = {
    "not a tag": ({"translations": {"english": {"body": "x"}}}, "translations.english"),
    "language not a tag": ({"language": "en_GB_x"}, "language"),
    "two spellings of one tag": (
        {"translations": {"pt_BR": {"body": "a"}, "pt-br": {"body": "b"}}},
        "translations.pt-br",
    ),
    "the default language again": (
        {"language": "de", "translations": {"DE": {"body": "x"}}},
        "translations.DE",
    ),
    "translation not an object": ({"translations": {"de": "Hallo"}}, "translations.de"),
    "translations not an object": ({"translations": ["de"]}, "translations"),
    "body does not parse": ({"translations": {"de": {"body": "Hi {{x"}}}, "translations.de.body"),
    "blank body": ({"translations": {"de": {"body": " "}}}, "translations.de.body"),
    "unknown field": ({"translations": {"de": {"colour": "red"}}}, "translations.de.colour"),
    "email subject blank": (
        {**EMAIL, "translations": {"de": {"subject": ""}}},
        "translations.de.subject",
    ),
    "too many": ({"translations": {f"x{chr(97 + i // 26)}{chr(97 + i % 26)}": {}
                                   for i in range(101)}}, "translations"),
}  # fmt: skip


@pytest.mark.parametrize("changes, source", BAD.values(), ids=BAD.keys())
def test_bad_translations_are_refused_and_nothing_is_stored(client, tenant, changes, source):
    before = counts()
    r = client.post(URL, {**REMINDER, **changes}, format="json")
    assert_error(r, 400, source)
    assert counts() == before


def test_a_template_without_translations_answers_empty_ones(client, tenant):
    r = client.post(URL, {"name": "otp", "mode": "sms", "data": {"body": "{{otp}}"}}, format="json")
    assert r.status_code == 201
    assert (r.json()["data"]["language"], r.json()["data"]["translations"]) == ("", {})


# --- preview ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "locale, shown, body",
    [("de-AT", "de-AT", DE_AT), ("de_ch", "de", DE), ("fr", "en", EN), (None, "en", EN),
     ("EN-gb", "en", EN)],
)  # fmt: skip
def test_preview_per_locale(client, reminder, locale, shown, body):
    payload = {"data": {"date": "1 Dec"}, **({"locale": locale} if locale else {})}
    r = client.post(f"{URL}/reminder/preview", payload, format="json")
    assert r.status_code == 200, r.content
    answer = r.json()
    assert (answer["locale"], answer["body"]) == (shown, body)
    assert answer["from"] == ("ORDI" if shown == "de-AT" else "CLINIC")


def test_preview_deterministic_and_bad_locales(client, reminder):
    path = f"{URL}/reminder/preview"
    data = {"date": "1 Dec"}
    r = client.post(path, {"data": data, "locale": "de-CH", "languagePolicy": "deterministic"},
                    format="json")  # fmt: skip
    (err,) = assert_error(r, 400, "locale", "no_translation")
    assert "en (default), de, de-AT" in err["detail"]
    r = client.post(path, {"data": data, "locale": "de", "languagePolicy": "deterministic"},
                    format="json")  # fmt: skip
    assert r.json()["body"] == DE
    assert_error(client.post(path, {"locale": "german"}, format="json"), 400, "locale")
    r = client.post(path, {"locale": "de", "languagePolicy": "strict"}, format="json")
    assert_error(r, 400, "languagePolicy", "invalid_choice")


# --- sends -----------------------------------------------------------------------------------


def test_request_locale_for_plain_numbers_and_the_entry_locale_wins(
    client, sandbox, run_tasks, reminder
):
    send(client, run_tasks, {
        "sms": [sms([ANN]), sms([BOB], locale="de-AT")], "locale": "de",
    })  # fmt: skip
    assert outbox() == {ANN: DE, BOB: DE_AT}
    # The translation's sender too.
    assert Message.objects.get(to=BOB).sender == "ORDI"
    assert Message.objects.get(to=ANN).sender == "CLINIC"


def test_each_contact_gets_its_own_locale_with_fallbacks(
    client, sandbox, run_tasks, reminder, tenant
):
    contact(tenant, "ann", ANN, "de-AT")
    contact(tenant, "bob", BOB, "de-CH")  # → de
    contact(tenant, "cy", CY, "fr")  # → the default, en
    contact(tenant, "dan", DAN)  # no locale: the request's
    plain = "+14155550109"
    to = [{"externalId": e} for e in ("ann", "bob", "cy", "dan")] + [plain]
    send(client, run_tasks, {"sms": [sms(to)], "locale": "de-AT"})
    assert outbox() == {ANN: DE_AT, BOB: DE, CY: EN, DAN: DE_AT, plain: DE_AT}


def test_no_locale_anywhere_is_the_default_language(client, sandbox, run_tasks, reminder, tenant):
    contact(tenant, "ann", ANN)
    send(client, run_tasks, {"sms": [sms([{"externalId": "ann"}, BOB])]})
    assert outbox() == {ANN: EN, BOB: EN}


def test_the_entry_locale_wins_over_the_contacts(client, sandbox, run_tasks, reminder, tenant):
    contact(tenant, "ann", ANN, "de-AT")
    send(client, run_tasks, {"sms": [sms([{"externalId": "ann"}], locale="en")], "locale": "de"})
    assert outbox() == {ANN: EN}


def test_sending_to_a_contact_keeps_the_bodys_locale(client, sandbox, run_tasks, reminder, tenant):
    ann = contact(tenant, "ann", ANN, "de-AT")
    r = run_tasks(
        client.post, f"/api/v1/contacts/{ann.pk}/messages/sms",
        {"template": "reminder", "data": {"date": "1 Dec"}}, format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    r = run_tasks(
        client.post, f"/api/v1/contacts/{ann.pk}/messages/sms",
        {"template": "reminder", "data": {"date": "1 Dec"}, "locale": "de",
         "languagePolicy": "deterministic"}, format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    assert sorted(e.body for e in SandboxOutboxEntry.objects.all()) == [DE, DE_AT]


def test_contacts_with_locales_cost_no_more_queries(
    client, sandbox, reminder, tenant, django_assert_max_num_queries
):
    locales = ["de", "de-AT", "fr", "", "pt-BR"]
    for n in range(30):
        contact(tenant, f"u-{n}", f"+1415555{n:04d}", locales[n % 5])
    body = {"sms": [sms([{"externalId": f"u-{n}"} for n in range(30)])], "locale": "de"}
    with django_assert_max_num_queries(25):
        r = client.post("/api/v1/messages", body, format="json")
    assert r.status_code == 202
    bodies = dict(Message.objects.values_list("to", "body"))
    assert bodies["+14155550001"] == DE_AT and bodies["+14155550002"] == EN


def test_email_translation_changes_the_subject(client, sandbox, run_tasks, tenant):
    TemplateFactory(
        tenant=tenant, name="welcome", mode="email", language="en",
        data={"subject": "Welcome {{name}}", "body": "Hello {{name}}"},
        translations={"de": {"subject": "Willkommen {{name}}"}},
    )  # fmt: skip
    send(client, run_tasks, {"email": [
        {"template": "welcome", "data": {"name": "Ann"}, "to": ["ann@example.com"], "locale": "de"},
        {"template": "welcome", "data": {"name": "Bob"}, "to": ["bob@example.com"],
         "subject": "Entry wins"},
    ], "locale": "de"})  # fmt: skip
    got = {m.to: (m.subject, m.body) for m in Message.objects.all()}
    assert got == {
        "ann@example.com": ("Willkommen Ann", "Hello Ann"),
        "bob@example.com": ("Entry wins", "Hello Bob"),
    }


# --- deterministic ---------------------------------------------------------------------------


def test_deterministic_takes_the_exact_translation_or_the_default(
    client, sandbox, run_tasks, reminder
):
    send(client, run_tasks, {
        "sms": [sms([ANN], locale="de_AT"), sms([BOB], locale="en")],
        "languagePolicy": "deterministic",
    })  # fmt: skip
    assert outbox() == {ANN: DE_AT, BOB: EN}


@pytest.mark.parametrize(
    "body, source",
    [
        ({"sms": [sms([ANN])], "locale": "fr"}, "locale"),
        ({"sms": [sms([ANN]), sms([BOB], locale="de-CH")], "locale": "de"}, "sms[1].locale"),
        ({"sms": [sms([ANN, {"externalId": "cy"}])], "locale": "de"}, "sms[0].to[1]"),
        ({"sms": [sms([{"externalId": "junk"}])]}, "sms[0].to[0]"),
    ],
    ids=["request locale", "entry locale", "contact locale", "contact locale not a tag"],
)
def test_deterministic_without_the_translation_is_a_400_naming_where(
    client, sandbox, reminder, tenant, body, source
):
    contact(tenant, "cy", CY, "fr")
    contact(tenant, "junk", DAN, "klingon!")
    before = counts()
    r = client.post("/api/v1/messages", {**body, "languagePolicy": "deterministic"}, format="json")
    (err,) = assert_error(r, 400, source, "no_translation")
    assert counts() == before
    # The same request under the fallback policy goes.
    assert client.post("/api/v1/messages", body, format="json").status_code == 202


@pytest.mark.parametrize(
    "body, source, code",
    [
        ({"sms": [sms([ANN])], "locale": "english"}, "locale", "invalid_locale"),
        ({"sms": [sms([ANN], locale=5)]}, "sms[0].locale", "invalid_locale"),
        ({"sms": [sms([ANN], locale="de-")]}, "sms[0].locale", "invalid_locale"),
        ({"sms": [sms([ANN])], "languagePolicy": "strict"}, "languagePolicy", "invalid_choice"),
    ],
)
def test_bad_locales_in_a_send_are_refused(client, sandbox, reminder, body, source, code):
    before = counts()
    assert_error(client.post("/api/v1/messages", body, format="json"), 400, source, code)
    assert counts() == before


# --- WhatsApp provider templates -------------------------------------------------------------

META_URL = "https://graph.facebook.com/v23.0/106540352242922/messages"
META_OK = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
    "messages": [{"id": "wamid.1", "message_status": "accepted"}],
}


@pytest.fixture
def meta(tenant):
    return ProviderFactory(
        tenant=tenant, name="meta", provider_type="meta_whatsapp", channels=["whatsapp"],
        credentials={"accessToken": "t", "phoneNumberId": "106540352242922",
                     "appSecret": "s", "verifyToken": "v"},
        is_tenant_default=True,
    )  # fmt: skip


def meta_template(client, run_tasks, entry, **options):
    """The `template` object Meta received for one WhatsApp entry sent through the API."""
    with responses.RequestsMock() as rsps:
        rsps.post(META_URL, json=META_OK)
        send(client, run_tasks, {"whatsapp": [{"to": ["+16505551234"], **entry}], **options})
        return json.loads(rsps.calls[-1].request.body)["template"]


@pytest.fixture
def order(tenant):
    return TemplateFactory(
        tenant=tenant, name="order", mode="whatsapp", language="en",
        data={"body": "Order {{id}} shipped", "externalRef": "order_update"},
        translations={"pt-BR": {"body": "Pedido {{id}} enviado"},
                      "de": {"body": "Bestellung {{id}}", "externalRef": "order_update:de_DE"}},
    )  # fmt: skip


def test_the_chosen_locale_sets_the_provider_templates_language(client, meta, run_tasks, order):
    entry = {"template": "order", "data": {"id": "o-1"}}
    sent = meta_template(client, run_tasks, entry, locale="pt_BR")
    assert sent["language"] == {"policy": "deterministic", "code": "pt_BR"}
    assert sent["components"] == [{"type": "body", "parameters": [{"type": "text", "text": "o-1"}]}]
    # A fallback to the default language sends the default's tag.
    sent = meta_template(client, run_tasks, entry, locale="fr")
    assert sent["language"]["code"] == "en"
    # A language the translation's externalRef names is kept.
    sent = meta_template(client, run_tasks, entry, locale="de-AT")
    assert (sent["name"], sent["language"]["code"]) == ("order_update", "de_DE")


def test_an_inline_provider_template_takes_the_entrys_locale_unless_it_names_one(
    client, meta, run_tasks
):
    entry = {"body": "Hi", "providerTemplate": {"name": "hello"}, "locale": "pt-br"}
    assert meta_template(client, run_tasks, entry)["language"]["code"] == "pt_BR"
    entry["providerTemplate"] = {"name": "hello", "language": "en_US"}
    assert meta_template(client, run_tasks, entry, locale="de")["language"]["code"] == "en_US"
