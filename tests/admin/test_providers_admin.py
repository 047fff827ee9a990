"""Providers in the admin: per-type credential fields, write-only secrets, the one-default rule,
webhook URLs to copy, and "send a test message"."""

import html
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from messaging.models import Message
from messaging.services.accept import phone_normalize
from providers.backends import base
from providers.backends.base import Backend, CredentialField, CredentialsInvalid
from providers.models import Provider, SandboxOutboxEntry
from tenants.models import App, Membership
from tests.factories import ProviderFactory

SECRET = "s3cr3t-token-do-not-leak"
NEW_SECRET = "n3w-s3cr3t-also-hidden"


class FakeBackend(Backend):
    """A provider type with every kind of credential; only `sandbox` ships today."""

    provider_type = "fakesms"
    label = "Fake SMS carrier"
    channels = ("sms", "whatsapp")
    credential_fields = (
        CredentialField("apiKey", help="The key from the carrier's console."),
        CredentialField("region", required=False, secret=False, help="eu or us.", default="eu"),
        CredentialField("port", required=False, secret=False, kind=int, help="SMPP port."),
        CredentialField("useTls", required=False, secret=False, kind=bool, help="Encrypt."),
        CredentialField("webhookSecret", required=False, help="Signs their webhooks."),
    )

    @classmethod
    def clean_credentials(cls, credentials):
        cleaned = super().clean_credentials(credentials)
        if cleaned.get("region") not in (None, "eu", "us"):
            raise CredentialsInvalid({"region": "must be eu or us"})
        return cleaned


@pytest.fixture(autouse=True)
def fake_type(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, FakeBackend.provider_type, FakeBackend)


ADD = reverse("admin:providers_provider_add")
CHANGELIST = reverse("admin:providers_provider_changelist")


def change_url(provider):
    return reverse("admin:providers_provider_change", args=[provider.pk])


def send_test_url(provider):
    return reverse("admin:providers_provider_test_message", args=[provider.pk])


def text(response) -> str:
    return html.unescape(response.content.decode())


def field_input(page: str, name: str) -> str:
    """The <input> (or <select>) tag of form field `name`."""
    match = re.search(rf'<(?:input|select)[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert match, f"no field {name} in the page"
    return match.group(0)


def fake_form(**overrides):
    data = {
        "provider_type": "fakesms",
        "name": "carrier",
        "channels": ["sms"],
        "default_sender": "ACME",
        "is_active": "on",
        "credential_apiKey": SECRET,
        "credential_region": "eu",
        "credential_port": "2775",
        "credential_useTls": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def carrier(alpha):
    return ProviderFactory(
        tenant=alpha["tenant"],
        name="carrier",
        provider_type="fakesms",
        channels=["sms"],
        credentials={"apiKey": SECRET, "region": "eu", "port": 2775, "useTls": True},
    )


def change_form(provider, **overrides):
    data = {
        "name": provider.name,
        "channels": provider.channels,
        "default_sender": provider.default_sender,
        "is_active": "on" if provider.is_active else None,
        "credential_apiKey": "",
        "credential_region": provider.credentials.get("region", ""),
        "credential_port": provider.credentials.get("port", ""),
        "credential_useTls": "on" if provider.credentials.get("useTls") else None,
        "credential_webhookSecret": "",
        "_continue": "Save and continue editing",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- adding: the type first, then its fields -------------------------------------------------


def test_add_asks_for_the_type_first(login, alpha_admin):
    page = text(login(alpha_admin).get(ADD))
    assert "Fake SMS carrier" in page and "Sandbox (no account" in page
    assert 'name="_choose_type"' in page
    assert 'name="_save"' not in page  # nothing to save before the type is known
    assert "credential_" not in page


def test_the_types_credential_fields_appear_with_help_and_widgets(login, alpha_admin):
    page = text(login(alpha_admin).get(ADD, {"provider_type": "fakesms"}))
    assert 'type="password"' in field_input(page, "credential_apiKey")
    assert 'type="text"' in field_input(page, "credential_region")
    assert 'value="eu"' in field_input(page, "credential_region")  # the field's default
    assert 'type="number"' in field_input(page, "credential_port")
    assert 'type="checkbox"' in field_input(page, "credential_useTls")
    assert 'type="password"' in field_input(page, "credential_webhookSecret")
    for help_text in ("The key from the carrier's console.", "eu or us.", "SMPP port."):
        assert help_text in page
    assert "API key" in page and "Use TLS" in page
    # Channels: checkboxes of what the type serves, nothing else.
    assert re.search(r'type="checkbox" name="channels" value="sms"', page)
    assert re.search(r'type="checkbox" name="channels" value="whatsapp"', page)
    assert 'name="channels" value="email"' not in page
    assert 'name="_save"' in page


def test_sandbox_has_one_optional_setting_and_no_secrets(login, alpha_admin):
    page = login(alpha_admin).get(ADD, {"provider_type": "sandbox"}).content.decode()
    # Only the switch that makes it refuse WhatsApp outside the 24-hour window, as WhatsApp does.
    assert set(re.findall(r'name="(credential_\w+)"', page)) == {"credential_enforceCareWindow"}
    assert 'type="password"' not in page
    assert 'name="channels" value="email"' in page


def test_changing_the_type_without_a_script_reloads_the_form(login, alpha_admin):
    c = login(alpha_admin)
    form = {"provider_type": "fakesms", "name": "mine", "credential_apiKey": SECRET}
    r = c.post(ADD, {**form, "_choose_type": "1"})
    assert r.status_code == 302
    assert r["Location"].startswith(ADD + "?")
    assert "provider_type=fakesms" in r["Location"] and "name=mine" in r["Location"]
    assert SECRET not in r["Location"]  # a typed secret never lands in a URL
    page = text(c.get(r["Location"]))
    assert "credential_apiKey" in page and 'value="mine"' in field_input(page, "name")
    assert Provider.objects.filter(name="mine").count() == 0


def test_register_a_provider_and_the_secret_is_never_shown(login, alpha_admin, alpha):
    c = login(alpha_admin)
    r = c.post(ADD + "?provider_type=fakesms", fake_form())
    assert r.status_code == 302, text(r)
    provider = Provider.objects.get(name="carrier")
    assert r["Location"] == change_url(provider)  # straight to its webhook URLs
    assert provider.tenant == alpha["tenant"]  # the user's one tenant, set for them
    stored = {"apiKey": SECRET, "region": "eu", "port": 2775, "useTls": True}
    assert provider.credentials == stored
    assert provider.channels == ["sms"] and provider.default_sender == "ACME"
    page = text(c.get(r["Location"]))
    assert "was added" in page
    assert SECRET not in page
    assert provider.credentials_encrypted not in page
    assert "•••••• set" in page
    assert 'value="eu"' in field_input(page, "credential_region")  # non-secrets are shown
    assert 'value="2775"' in field_input(page, "credential_port")
    assert "checked" in field_input(page, "credential_useTls")
    # Nor anywhere else the admin shows the provider.
    for url in (CHANGELIST, reverse("admin:providers_provider_history", args=[provider.pk])):
        assert SECRET not in text(c.get(url))


def test_a_required_secret_must_be_given(login, alpha_admin):
    r = login(alpha_admin).post(ADD + "?provider_type=fakesms", fake_form(credential_apiKey=""))
    assert r.status_code == 200
    assert "This field is required." in text(r)
    assert not Provider.objects.filter(name="carrier").exists()


def test_the_backends_own_rules_apply(login, alpha_admin):
    r = login(alpha_admin).post(ADD + "?provider_type=fakesms", fake_form(credential_region="mars"))
    assert r.status_code == 200
    page = text(r)
    assert "'region' must be eu or us." in page
    assert SECRET not in page  # a typed secret is not echoed back on an error either
    assert not Provider.objects.filter(name="carrier").exists()


def test_a_blank_secret_keeps_the_stored_one(login, alpha_admin, carrier):
    c = login(alpha_admin)
    r = c.post(change_url(carrier), change_form(carrier, credential_region="us"))
    assert r.status_code == 302, text(r)
    carrier.refresh_from_db()
    assert carrier.credentials["apiKey"] == SECRET
    assert carrier.credentials["region"] == "us"


def test_a_new_secret_replaces_the_stored_one(login, alpha_admin, carrier):
    c = login(alpha_admin)
    r = c.post(change_url(carrier), change_form(carrier, credential_apiKey=NEW_SECRET))
    assert r.status_code == 302, text(r)
    carrier.refresh_from_db()
    assert carrier.credentials["apiKey"] == NEW_SECRET
    page = text(c.get(change_url(carrier)))
    assert NEW_SECRET not in page and SECRET not in page and "•••••• set" in page
    # The change is logged by field name, never by value.
    entry = LogEntry.objects.filter(object_id=str(carrier.pk)).latest("action_time")
    assert "API key" in entry.get_change_message() and NEW_SECRET not in entry.change_message


def test_a_cleared_optional_value_is_removed(login, alpha_admin, carrier):
    c = login(alpha_admin)
    r = c.post(
        change_url(carrier), change_form(carrier, credential_port="", credential_useTls=None)
    )
    assert r.status_code == 302, text(r)
    carrier.refresh_from_db()
    assert carrier.credentials == {"apiKey": SECRET, "region": "eu", "useTls": False}


def test_an_unset_optional_secret_says_so(login, alpha_admin, carrier):
    page = text(login(alpha_admin).get(change_url(carrier)))
    secret_field = field_input(page, "credential_webhookSecret")
    assert 'type="password"' in secret_field and "placeholder" not in secret_field
    assert "Write-only" in page


def test_the_type_cannot_change_after_saving(login, alpha_admin, carrier):
    c = login(alpha_admin)
    page = text(c.get(change_url(carrier)))
    assert 'name="provider_type"' not in page and "Fake SMS carrier" in page
    c.post(change_url(carrier), change_form(carrier, provider_type="sandbox"))
    carrier.refresh_from_db()
    assert carrier.provider_type == "fakesms"


# --- the API's rules -------------------------------------------------------------------------


def test_one_default_per_channel_names_the_holder(login, alpha_admin, alpha):
    # alpha-sandbox is the tenant's default for every channel.
    r = login(alpha_admin).post(
        ADD + "?provider_type=fakesms", fake_form(is_tenant_default="on", channels=["whatsapp"])
    )
    assert r.status_code == 200
    assert "Provider 'alpha-sandbox' is already the default for whatsapp; unset it first." in text(
        r
    )
    assert not Provider.objects.filter(name="carrier").exists()


def test_a_default_for_other_channels_is_fine(login, alpha_admin, alpha):
    alpha["provider"].channels = ["email"]
    alpha["provider"].save()
    r = login(alpha_admin).post(ADD + "?provider_type=fakesms", fake_form(is_tenant_default="on"))
    assert r.status_code == 302, text(r)
    assert Provider.objects.get(name="carrier").is_tenant_default


def test_making_an_existing_provider_default_clashes_too(login, alpha_admin, carrier):
    r = login(alpha_admin).post(change_url(carrier), change_form(carrier, is_tenant_default="on"))
    assert r.status_code == 200
    assert "Provider 'alpha-sandbox' is already the default for sms" in text(r)
    carrier.refresh_from_db()
    assert not carrier.is_tenant_default


def test_names_are_unique_per_tenant(login, alpha_admin, beta):
    c = login(alpha_admin)
    form = {"provider_type": "sandbox", "channels": ["sms"], "_save": "Save"}
    r = c.post(ADD + "?provider_type=sandbox", {**form, "name": "alpha-sandbox"})
    assert r.status_code == 200 and "A provider named 'alpha-sandbox' exists." in text(r)
    # Another tenant's name is free.
    r = c.post(ADD + "?provider_type=sandbox", {**form, "name": "beta-sandbox"})
    assert r.status_code == 302, text(r)
    assert Provider.objects.filter(name="beta-sandbox").count() == 2


def test_a_name_with_a_slash_is_refused(login, alpha_admin):
    r = login(alpha_admin).post(ADD + "?provider_type=fakesms", fake_form(name="a/b"))
    assert r.status_code == 200 and "without '/'" in text(r)


# --- the tenant field ------------------------------------------------------------------------


def test_one_tenant_users_never_see_the_tenant_field(login, alpha_admin, beta):
    page = text(login(alpha_admin).get(ADD, {"provider_type": "sandbox"}))
    assert 'name="tenant"' not in page and "beta" not in page


def test_superusers_choose_the_tenant(login, admin_user, alpha, beta):
    c = login(admin_user)
    page = text(c.get(ADD, {"provider_type": "sandbox"}))
    tenant_select = re.search(r'<select name="tenant".*?</select>', page, re.S).group(0)
    assert ">alpha<" in tenant_select and ">beta<" in tenant_select
    form = {"provider_type": "sandbox", "name": "shared", "channels": ["sms"], "_save": "Save"}
    r = c.post(ADD + "?provider_type=sandbox", form)
    assert r.status_code == 200 and "This field is required." in text(r)
    r = c.post(ADD + "?provider_type=sandbox", {**form, "tenant": beta["tenant"].pk})
    assert r.status_code == 302, text(r)
    assert Provider.objects.get(name="shared").tenant == beta["tenant"]


# --- webhook URLs ----------------------------------------------------------------------------


def test_webhook_urls_are_shown_ready_to_copy(login, alpha_admin, alpha):
    provider = alpha["provider"]
    page = text(login(alpha_admin).get(change_url(provider)))
    for url in (provider.inbound_webhook_url, provider.status_webhook_url):
        assert re.search(rf'<input type="text" readonly value="{re.escape(url)}"', page)
    assert page.count("data-copy>Copy</button>") == 2
    assert "providers/provider_admin.js" in page


def test_a_type_without_webhooks_says_so(login, alpha_admin, carrier):
    page = text(login(alpha_admin).get(change_url(carrier)))
    assert carrier.inbound_webhook_url not in page
    assert "This provider type takes no inbound messages." in page


# --- send a test message ---------------------------------------------------------------------


def test_the_test_message_form(login, alpha_admin, alpha):
    provider = alpha["provider"]
    c = login(alpha_admin)
    assert send_test_url(provider) in text(c.get(change_url(provider)))
    page = text(c.get(send_test_url(provider)))
    channel = re.search(r'<select name="channel".*?</select>', page, re.S).group(0)
    assert 'value="sms"' in channel and 'value="email"' in channel
    for value in ("whatsapp", "viber", "rcs", "push"):  # every channel the API sends on
        assert f'value="{value}"' in channel
    assert "Test message from Alpha" in page


def test_send_a_test_message(
    login, alpha_admin, alpha, django_capture_on_commit_callbacks, no_sandbox_report
):
    provider = alpha["provider"]
    c = login(alpha_admin)
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        r = c.post(
            send_test_url(provider),
            {"channel": "sms", "recipient": "(415) 555-0123", "text": "Hello from the admin"},
        )
    assert r.status_code == 302, text(r)
    message = Message.objects.get(to="+14155550123")
    # Back on the test message page, which follows the message's status.
    assert r["Location"] == f"{send_test_url(provider)}?sent={message.pk}"
    assert message.provider == provider and message.channel == "sms"
    assert message.body == "Hello from the admin"
    assert message.app == App.objects.get(tenant=alpha["tenant"], name="admin-console")
    assert enqueued  # dispatch waited for the commit, then the sandbox "sent" it
    assert SandboxOutboxEntry.objects.filter(to="+14155550123", provider=provider).exists()
    page = text(c.get(r["Location"]))
    assert "Test message accepted: SMS to +14155550123 through “alpha-sandbox”" in page
    assert reverse("admin:messaging_message_status", args=[message.pk]) in page
    status = c.get(reverse("admin:messaging_message_status", args=[message.pk])).json()
    assert status["id"] == str(message.pk) and status["status"] == message.status
    assert [e["status"] for e in status["timeline"]][0] == "PENDING_ACCEPTED"


def test_send_a_test_email(login, alpha_admin, alpha):
    provider = alpha["provider"]
    r = login(alpha_admin).post(
        send_test_url(provider),
        {"channel": "email", "recipient": "ops@example.com", "subject": "", "text": "Hi"},
    )
    assert r.status_code == 302, text(r)
    message = Message.objects.get(to="ops@example.com")
    assert message.channel == "email" and message.subject == "Test message from Alpha"
    assert App.objects.filter(tenant=alpha["tenant"], name="admin-console").count() == 1


@pytest.mark.parametrize(
    ("channel", "recipient", "subject"),
    [("viber", "+14155550141", ""), ("rcs", "+14155550142", ""), ("push", "tok-9", "Ping")],
)
def test_send_a_test_message_on_the_new_channels(
    login, alpha_admin, alpha, channel, recipient, subject
):
    r = login(alpha_admin).post(
        send_test_url(alpha["provider"]),
        {"channel": channel, "recipient": recipient, "subject": subject, "text": "Hi"},
    )
    assert r.status_code == 302, text(r)
    message = Message.objects.get(to=recipient)
    assert (message.channel, message.body) == (channel, "Hi")
    if channel == "push":  # the subject field is the push's title
        assert message.subject == "Ping"


def test_a_test_message_the_api_refuses_shows_why(login, alpha_admin, alpha):
    provider = alpha["provider"]
    before = Message.objects.count()
    r = login(alpha_admin).post(
        send_test_url(provider), {"channel": "sms", "recipient": "12", "text": "Hi"}
    )
    assert r.status_code == 200
    with pytest.raises(ValueError) as reason:
        phone_normalize("12", "US")
    page = text(r)
    assert "Please correct the error below." in page and str(reason.value) in page
    assert Message.objects.count() == before


def test_an_inactive_provider_refuses_the_test_message(login, alpha_admin, alpha):
    provider = alpha["provider"]
    provider.is_active = False
    provider.save()
    r = login(alpha_admin).post(
        send_test_url(provider), {"channel": "sms", "recipient": "+14155550123", "text": "x"}
    )
    assert r.status_code == 200
    assert "Provider 'alpha-sandbox' is not active." in text(r)
    assert not Message.objects.filter(to="+14155550123").exists()


def test_a_channel_the_provider_does_not_serve_is_refused(login, alpha_admin, carrier):
    r = login(alpha_admin).post(
        send_test_url(carrier), {"channel": "email", "recipient": "a@example.com", "text": "x"}
    )
    assert r.status_code == 200 and "Select a valid choice." in text(r)
    assert not Message.objects.filter(to="a@example.com").exists()


# --- who may -------------------------------------------------------------------------------


SEND = {"channel": "sms", "recipient": "+14155550123", "text": "x"}


def test_another_tenants_provider_is_404(login, alpha_admin, beta):
    c = login(alpha_admin)
    provider = beta["provider"]
    assert c.get(send_test_url(provider)).status_code == 404
    r = c.post(send_test_url(provider), SEND)
    assert r.status_code == 404
    assert not Message.objects.filter(to="+14155550123").exists()
    assert c.get(change_url(provider)).status_code == 404


@pytest.mark.parametrize("who", ["alpha_support", "alpha_developer"])
def test_support_and_developers_cannot_reach_providers(request, login, alpha, who):
    c = login(request.getfixturevalue(who))
    provider = alpha["provider"]
    for url in (CHANGELIST, ADD, change_url(provider), send_test_url(provider)):
        assert c.get(url).status_code == 403, url
    r = c.post(send_test_url(provider), SEND)
    assert r.status_code == 403
    form = {"provider_type": "sandbox", "name": "x", "channels": ["sms"], "_save": "Save"}
    assert c.post(ADD + "?provider_type=sandbox", form).status_code == 403
    assert not Message.objects.filter(to="+14155550123").exists()
    assert not Provider.objects.filter(name="x").exists()


def test_the_list_shows_types_and_channels_of_own_providers(login, alpha_admin, carrier, beta):
    c = login(alpha_admin)
    page = text(c.get(CHANGELIST))
    assert "Fake SMS carrier" in page and "alpha-sandbox" in page and "beta-sandbox" not in page
    assert "SMS, Email, WhatsApp, Viber, RCS, Push" in page
    assert SECRET not in page
    only_fake = text(c.get(CHANGELIST, {"type": "fakesms"}))
    assert "carrier" in only_fake and "alpha-sandbox" not in only_fake


def test_a_provider_of_an_uninstalled_type_still_opens(login, alpha_admin, alpha, monkeypatch):
    provider = ProviderFactory(
        tenant=alpha["tenant"], name="old", provider_type="fakesms", channels=["sms"],
        credentials={"apiKey": SECRET},
    )  # fmt: skip
    monkeypatch.delitem(base._REGISTRY, "fakesms")
    c = login(alpha_admin)
    page = text(c.get(change_url(provider)))
    assert "fakesms (unknown type)" in page and SECRET not in page
    r = c.post(change_url(provider), {"name": "old", "channels": ["sms"], "_save": "Save"})
    assert r.status_code == 200 and "'fakesms' is not a provider type" in text(r)


def test_an_admin_of_two_tenants_picks_one_of_theirs(login, alpha_admin, alpha, beta):
    Membership.objects.create(user=alpha_admin, tenant=beta["tenant"], role="tenant_admin")
    other = ProviderFactory(name="elsewhere").tenant  # a tenant alice has no role in
    c = login(alpha_admin)
    page = text(c.get(ADD, {"provider_type": "sandbox"}))
    tenant_select = re.search(r'<select name="tenant".*?</select>', page, re.S).group(0)
    assert ">alpha<" in tenant_select and ">beta<" in tenant_select
    assert f">{other.slug}<" not in tenant_select
    form = {"provider_type": "sandbox", "name": "mine", "channels": ["sms"], "_save": "Save"}
    r = c.post(ADD + "?provider_type=sandbox", {**form, "tenant": other.pk})
    assert r.status_code == 200 and "Select a valid choice." in text(r)
    r = c.post(ADD + "?provider_type=sandbox", {**form, "tenant": beta["tenant"].pk})
    assert r.status_code == 302, text(r)
    assert Provider.objects.get(name="mine").tenant == beta["tenant"]
