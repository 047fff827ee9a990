"""Every provider type can be registered through the API and through the admin form with
the credentials its docs name, and the stored credentials are what was given."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.urls import reverse

from providers.backends import backend_types, get_backend_class
from providers.models import Provider
from tests.factories import staff_user


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _special_credentials() -> dict[str, dict]:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    account = {
        "type": "service_account",
        "project_id": "acme-app",
        "private_key": pem,
        "client_email": "push@acme-app.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return {
        "fcm": {"serviceAccount": __import__("json").dumps(account)},
        # SMS needs one complete pair (username + password, or accessToken); OAuth2 the rest.
        "websms": {
            "username": "value-1",
            "password": "value-1",
            "clientId": "value-1",
            "clientSecret": "value-1",
        },
        "webpush": {
            "vapidPrivateKey": _b64url(private),
            "vapidPublicKey": _b64url(public),
            "vapidSubject": "mailto:ops@acme.example",
        },
    }


SPECIAL = _special_credentials()


def credentials_for(provider_type: str) -> dict:
    if provider_type in SPECIAL:
        return SPECIAL[provider_type]
    values = {bool: True, int: 587, str: "value-1"}
    return {
        f.name: values[f.kind]
        for f in get_backend_class(provider_type).credential_fields
        if f.required
    }


TYPES = sorted(backend_types())


def test_every_type_the_api_names_is_registered():
    named = {"sandbox", "smtp", "ses", "sendgrid", "mailgun", "postmark", "brevo", "mailjet",
             "resend", "sparkpost", "twilio", "infobip", "meta_whatsapp", "vonage", "messente",
             "websms", "aws_sms", "fcm", "webpush"}  # fmt: skip
    assert named <= set(TYPES)


@pytest.mark.parametrize("provider_type", TYPES)
def test_register_through_the_api(client, provider_type):
    creds = credentials_for(provider_type)
    body = {"name": f"p-{provider_type}", "providerType": provider_type, "credentials": creds}
    r = client.post("/api/v1/providers", body, format="json")
    assert r.status_code == 201, r.content
    data = r.json()["data"]
    assert "credentials" not in data and data["statusWebhookUrl"].endswith("/status")
    stored = Provider.objects.get(name=f"p-{provider_type}")
    assert {k: stored.credentials[k] for k in creds} == creds


@pytest.mark.parametrize("provider_type", TYPES)
def test_the_admin_form_asks_for_the_types_credentials(client, tenant, provider_type):
    # force_login: a password login goes through django-axes, which needs the request.
    client.force_login(staff_user("alice", tenant=tenant, role="tenant_admin"))
    page = client.get(reverse("admin:providers_provider_add"), {"provider_type": provider_type})
    assert page.status_code == 200
    html = page.content.decode()
    for f in get_backend_class(provider_type).credential_fields:
        assert f"credential_{f.name}" in html, f.name


@pytest.mark.parametrize("provider_type", TYPES)
def test_every_type_has_its_docs_page(provider_type):
    from django.conf import settings

    page = settings.BASE_DIR / "docs" / "providers" / f"{provider_type}.md"
    assert page.exists(), page
    assert f"`{provider_type}`" in page.read_text() or provider_type in page.read_text()
