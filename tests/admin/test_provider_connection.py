"""The "Test connection" button of a provider's admin page: shown for the types that have a
connection test, runs it with the stored credentials, says what happened; tenant admins of
the provider's tenant only."""

import html
import json

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.urls import reverse

from providers.backends import base
from providers.backends.base import Backend, CredentialField, SendError
from tests.factories import ProviderFactory

SECRET = "s3cr3t-token-do-not-leak"
TOKEN_URI = "https://oauth2.googleapis.com/token"


class CheckableBackend(Backend):
    """A type whose connection test answers according to its apiKey."""

    provider_type = "checkable"
    label = "Checkable carrier"
    channels = ("sms",)
    credential_fields = (CredentialField("apiKey"),)
    calls: list[str] = []

    def test_connection(self) -> str:
        key = self.credentials["apiKey"]
        CheckableBackend.calls.append(key)
        if key == "wrong":
            raise SendError("AUTH_FAILED", "The API key was refused.", permanent=True)
        if key == "busy":
            raise SendError("THROTTLED", "Too many requests.", permanent=False)
        if key == "offline":
            raise requests.ConnectionError(f"cannot reach https://api.example/?key={key}")
        if key == "buggy":
            raise KeyError("balance")
        return "Account ACME, balance 12.50 EUR."


class UncheckableBackend(Backend):
    provider_type = "uncheckable"
    label = "Uncheckable carrier"
    channels = ("sms",)


@pytest.fixture(autouse=True)
def fake_types(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, CheckableBackend.provider_type, CheckableBackend)
    monkeypatch.setitem(base._REGISTRY, UncheckableBackend.provider_type, UncheckableBackend)
    CheckableBackend.calls = []
    cache.clear()
    yield
    cache.clear()


def carrier(tenant, api_key=SECRET, provider_type="checkable", name="carrier"):
    return ProviderFactory(
        tenant=tenant,
        name=name,
        provider_type=provider_type,
        channels=["sms"],
        credentials={"apiKey": api_key},
    )


def change_url(provider):
    return reverse("admin:providers_provider_change", args=[provider.pk])


def connection_url(provider):
    return reverse("admin:providers_provider_test_connection", args=[provider.pk])


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_button_shows_only_for_types_with_a_test(login, alpha_admin, alpha):
    c = login(alpha_admin)
    checkable = carrier(alpha["tenant"])
    page = text(c.get(change_url(checkable)))
    assert (
        f'<form method="post" action="{connection_url(checkable)}" class="test-connection">' in page
    )
    assert "Test connection</button>" in page
    for provider in (carrier(alpha["tenant"], provider_type="uncheckable", name="u"),
                     alpha["provider"]):  # fmt: skip
        page = text(c.get(change_url(provider)))
        assert "Test connection" not in page and connection_url(provider) not in page
        assert "Send a test message" in page  # the other tool stays


def test_a_working_connection_says_what_the_provider_answered(login, alpha_admin, alpha):
    provider = carrier(alpha["tenant"])
    c = login(alpha_admin)
    r = c.post(connection_url(provider))
    assert r.status_code == 302 and r["Location"] == change_url(provider)
    assert CheckableBackend.calls == [SECRET]  # the stored credentials were used
    page = text(c.get(r["Location"]))
    assert "“carrier”: connection works. Account ACME, balance 12.50 EUR." in page
    assert 'class="success"' in page
    assert SECRET not in page


@pytest.mark.parametrize(
    ("api_key", "says"),
    [
        ("wrong", "“carrier”: connection test failed: The API key was refused. [AUTH_FAILED]"),
        ("busy", "Too many requests. [THROTTLED] (a passing problem: try again later)"),
        ("offline", "“carrier”: could not reach the provider. Could not connect to"),
        ("buggy", "“carrier”: connection test failed unexpectedly: KeyError."),
    ],
)
def test_a_failing_connection_shows_the_error(login, alpha_admin, alpha, api_key, says):
    provider = carrier(alpha["tenant"], api_key=api_key)
    c = login(alpha_admin)
    r = c.post(connection_url(provider))
    assert r.status_code == 302
    page = text(c.get(r["Location"]))
    assert says in page and 'class="error"' in page
    assert "?key=" not in page  # the transport's message (and URL) is not echoed


def test_a_type_without_a_test_says_so(login, alpha_admin, alpha):
    provider = carrier(alpha["tenant"], provider_type="uncheckable")
    c = login(alpha_admin)
    r = c.post(connection_url(provider))
    assert r.status_code == 302
    assert "this provider type has no connection test." in text(c.get(r["Location"]))


def test_it_takes_post_only(login, alpha_admin, alpha):
    provider = carrier(alpha["tenant"])
    assert login(alpha_admin).get(connection_url(provider)).status_code == 405
    assert CheckableBackend.calls == []


def test_another_tenants_provider_is_404(login, alpha_admin, alpha, beta):
    provider = carrier(beta["tenant"])
    c = login(alpha_admin)
    assert c.post(connection_url(provider)).status_code == 404
    assert c.get(connection_url(provider)).status_code == 404
    assert CheckableBackend.calls == []


@pytest.mark.parametrize("who", ["alpha_support", "alpha_developer"])
def test_support_and_developers_cannot_test(request, login, alpha, who):
    provider = carrier(alpha["tenant"])
    c = login(request.getfixturevalue(who))
    assert c.post(connection_url(provider)).status_code == 403
    assert CheckableBackend.calls == []


def test_anonymous_users_are_sent_to_log_in(client, alpha):
    provider = carrier(alpha["tenant"])
    r = client.post(connection_url(provider))
    assert r.status_code == 302 and reverse("admin:login") in r["Location"]
    assert CheckableBackend.calls == []


# --- with FCM: the test is getting an access token ------------------------------------------


@pytest.fixture(scope="module")
def service_account():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "project_id": "acme-app",
        "client_email": "push@acme-app.iam.gserviceaccount.com",
        "private_key": pem,
        "token_uri": TOKEN_URI,
    }


@pytest.fixture
def fcm(alpha, service_account):
    return ProviderFactory(
        tenant=alpha["tenant"],
        name="fcm",
        provider_type="fcm",
        channels=["push"],
        credentials={"serviceAccount": json.dumps(service_account)},
    )


@responses.activate
def test_fcm_connection_works(login, alpha_admin, fcm):
    responses.post(TOKEN_URI, json={"access_token": "ya29.ok", "expires_in": 3599})
    c = login(alpha_admin)
    assert connection_url(fcm) in text(c.get(change_url(fcm)))
    r = c.post(connection_url(fcm))
    assert r.status_code == 302
    page = text(c.get(r["Location"]))
    assert (
        "“fcm”: connection works. Signed in to Google as push@acme-app.iam.gserviceaccount.com "
        "(Firebase project acme-app)." in page
    )
    assert len(responses.calls) == 1 and responses.calls[0].request.url == TOKEN_URI
    assert "BEGIN PRIVATE KEY" not in page and "ya29.ok" not in page


@responses.activate
def test_fcm_refused_credentials_are_shown(login, alpha_admin, fcm):
    responses.post(
        TOKEN_URI,
        json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
        status=400,
    )
    c = login(alpha_admin)
    page = text(c.get(c.post(connection_url(fcm))["Location"]))
    assert (
        "“fcm”: connection test failed: Google refused the service account's credentials: "
        "Invalid JWT Signature. [AUTH_FAILED]" in page
    )
