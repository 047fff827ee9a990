"""/api/v1/providers: register, list, change, remove; credentials never leave the server."""

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from messaging.models import IdempotencyRecord
from providers.backends import base
from providers.backends.base import Backend, CredentialField
from providers.models import Provider
from tests.factories import AppFactory, ProviderFactory, TenantFactory, issue_key
from tests.helpers import assert_error, counts

URL = "/api/v1/providers"
SECRET = "s3cr3t-token-do-not-leak"


class FakeBackend(Backend):
    """A provider type with credentials, independent of the real adapters."""

    provider_type = "fakesms"
    label = "Fake"
    channels = ("sms", "whatsapp")
    credential_fields = (
        CredentialField("apiKey"),
        CredentialField("region", required=False, secret=False),
        CredentialField("port", required=False, kind=int),
    )


@pytest.fixture(autouse=True)
def fake_type(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, FakeBackend.provider_type, FakeBackend)


FAKE = {
    "name": "tfn",
    "providerType": "fakesms",
    "channels": ["sms"],
    "credentials": {"apiKey": SECRET, "region": "eu"},
    "defaultSender": "ACME",
    "isActive": True,
    "isTenantDefault": False,
}


@pytest.fixture
def theirs(db):
    return ProviderFactory(tenant=TenantFactory(slug="globex"), name="secret")


# --- create -----------------------------------------------------------------------------------


def test_create_sandbox(client, tenant):
    r = client.post(
        URL,
        {"name": "sandbox", "providerType": "sandbox", "isActive": True, "isTenantDefault": True},
        format="json",
    )
    assert r.status_code == 201, r.content
    data = r.json()["data"]
    assert {"name", "providerType", "channels", "isActive", "isTenantDefault",
            "inboundWebhookUrl", "statusWebhookUrl"} <= set(data)  # fmt: skip
    assert data["name"] == "sandbox" and data["providerType"] == "sandbox"
    assert data["channels"] == ["sms", "email", "whatsapp", "viber", "rcs", "push"]
    assert data["isActive"] is True and data["isTenantDefault"] is True
    p = Provider.objects.get()
    base_url = f"{settings.PUBLIC_BASE_URL}/webhooks/providers/{p.webhook_token}"
    assert data["statusWebhookUrl"] == f"{base_url}/status"
    assert data["inboundWebhookUrl"] == f"{base_url}/inbound"
    assert p.tenant == tenant and len(p.webhook_token) >= 24
    assert "credentials" not in data


def test_webhook_urls_differ_per_provider(client, tenant):
    a = client.post(URL, {"name": "a", "providerType": "sandbox"}, format="json").json()["data"]
    b = client.post(URL, {"name": "b", "providerType": "sandbox"}, format="json").json()["data"]
    assert a["statusWebhookUrl"] != b["statusWebhookUrl"]


def test_credentials_are_stored_encrypted_and_never_returned(client, tenant):
    r = client.post(URL, FAKE, format="json")
    assert r.status_code == 201, r.content
    assert SECRET not in r.content.decode() and "credentials" not in r.json()["data"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials_encrypted FROM providers_provider")
        (stored,) = cursor.fetchone()
    assert stored and SECRET not in stored and "apiKey" not in stored
    assert Provider.objects.get().credentials == {"apiKey": SECRET, "region": "eu"}
    for got in (client.get(URL), client.get(f"{URL}/tfn")):
        assert got.status_code == 200 and SECRET not in got.content.decode()
        assert "credentials" not in got.content.decode()
    patched = client.patch(f"{URL}/tfn", {"credentials": {"region": "us"}}, format="json")
    assert patched.status_code == 200, patched.content
    assert SECRET not in patched.content.decode()
    # A PATCH replaces the keys it names and keeps the others.
    assert Provider.objects.get().credentials == {"apiKey": SECRET, "region": "us"}


def test_channels_default_to_what_the_type_serves(client, tenant):
    r = client.post(URL, {**FAKE, "channels": None}, format="json")
    assert r.json()["data"]["channels"] == ["sms", "whatsapp"]


BAD = {
    "duplicate name": ({**FAKE, "name": "taken"}, 409, "name"),
    "no name": ({k: v for k, v in FAKE.items() if k != "name"}, 400, "name"),
    "name with slash": ({**FAKE, "name": "a/b"}, 400, "name"),
    "name not a string": ({**FAKE, "name": 1}, 400, "name"),
    "no providerType": ({"name": "x"}, 400, "providerType"),
    "unknown providerType": ({**FAKE, "providerType": "carrier-pigeon"}, 400, "providerType"),
    "unsupported channel": ({**FAKE, "channels": ["sms", "email"]}, 400, "channels[1]"),
    "channel not a string": ({**FAKE, "channels": [["sms"]]}, 400, "channels[0]"),
    "channels not a list": ({**FAKE, "channels": "sms"}, 400, "channels"),
    "missing credential": ({**FAKE, "credentials": {"region": "eu"}}, 400, "credentials.apiKey"),
    "no credentials": ({**FAKE, "credentials": {}}, 400, "credentials.apiKey"),
    "unknown credential": (
        {**FAKE, "credentials": {"apiKey": "k", "password": "p"}},
        400,
        "credentials.password",
    ),
    "credential of a wrong type": (
        {**FAKE, "credentials": {"apiKey": "k", "port": "25"}},
        400,
        "credentials.port",
    ),
    "credentials not an object": ({**FAKE, "credentials": "k"}, 400, "credentials"),
    "sandbox with credentials": (
        {"name": "sbx", "providerType": "sandbox", "credentials": {"apiKey": "x"}},
        400,
        "credentials.apiKey",
    ),
    "isActive not a bool": ({**FAKE, "isActive": "true"}, 400, "isActive"),
    "isTenantDefault not a bool": ({**FAKE, "isTenantDefault": 1}, 400, "isTenantDefault"),
    "defaultSender not a string": ({**FAKE, "defaultSender": 5}, 400, "defaultSender"),
    "unknown field": ({**FAKE, "webhookToken": "mine"}, 400, "webhookToken"),
    "second default for sms": (
        {**FAKE, "isTenantDefault": True},
        409,
        "isTenantDefault",
    ),
    "body not an object": ([FAKE], 400, None),
}


@pytest.mark.parametrize(("body", "status", "source"), BAD.values(), ids=BAD.keys())
def test_bad_create(client, tenant, sandbox, body, status, source):
    ProviderFactory(tenant=tenant, name="taken")
    before = counts()
    assert_error(client.post(URL, body, format="json"), status, source=source)
    assert counts() == before


def test_one_default_per_channel_names_the_holder(client, tenant, sandbox):
    r = client.post(URL, {**FAKE, "isTenantDefault": True}, format="json")
    (err,) = assert_error(r, 409, code="default_conflict")
    assert "'sandbox'" in err["detail"] and "sms" in err["detail"]


def test_defaults_for_other_channels_do_not_clash(client, tenant):
    ProviderFactory(tenant=tenant, name="mailer", channels=["email"], is_tenant_default=True)
    r = client.post(URL, {**FAKE, "isTenantDefault": True}, format="json")
    assert r.status_code == 201, r.content


def test_defaults_are_per_tenant(client, tenant, theirs):
    theirs.is_tenant_default = True
    theirs.save()
    r = client.post(URL, {"name": "sbx", "providerType": "sandbox", "isTenantDefault": True},
                    format="json")  # fmt: skip
    assert r.status_code == 201, r.content


def test_malformed_json_and_wrong_content_type(client, tenant):
    assert_error(client.post(URL, b'{"name":', content_type="application/json"), 400)
    assert_error(client.post(URL, b"<xml/>", content_type="application/xml"), 415)
    assert Provider.objects.count() == 0


def test_idempotent_create(client, tenant):
    first = client.post(URL, FAKE, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == 201, first.content
    again = client.post(URL, FAKE, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert Provider.objects.count() == 1
    # The replayed answer is stored without the credentials too.
    assert SECRET not in str(IdempotencyRecord.objects.get().response_body)
    other = client.post(URL, {**FAKE, "name": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert_error(other, 409, source="Idempotency-Key")
    assert Provider.objects.count() == 1


# --- list, get, change, delete ----------------------------------------------------------------


def test_list_is_paginated(client, tenant, theirs):
    for i in range(5):
        ProviderFactory(tenant=tenant, name=f"p{i}")
    first = client.get(URL, {"pageSize": 2}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 5 and [p["name"] for p in first["results"]] == ["p0", "p1"]
    assert first["previous"] is None and "page=2" in first["next"]
    last = client.get(URL, {"pageSize": 2, "page": 3}).json()
    assert [p["name"] for p in last["results"]] == ["p4"] and last["next"] is None
    assert all("statusWebhookUrl" in p for p in first["results"])
    assert_error(client.get(URL, {"page": 9}), 404)


def test_get(client, sandbox):
    r = client.get(f"{URL}/sandbox")
    assert r.status_code == 200
    assert r.json()["data"]["name"] == "sandbox" and r.json()["data"]["isTenantDefault"]


def test_patch(client, tenant, sandbox):
    r = client.patch(
        f"{URL}/sandbox",
        {"name": "sbx", "channels": ["sms", "email"], "defaultSender": "ACME", "isActive": False},
        format="json",
    )
    assert r.status_code == 200, r.content
    data = r.json()["data"]
    assert data["name"] == "sbx" and data["channels"] == ["sms", "email"]
    assert data["defaultSender"] == "ACME" and data["isActive"] is False
    sandbox.refresh_from_db()
    assert sandbox.name == "sbx" and not sandbox.is_active
    assert_error(client.get(f"{URL}/sandbox"), 404)


@pytest.mark.parametrize(
    ("body", "status", "source"),
    [
        ({"isTenantDefault": True}, 409, "isTenantDefault"),
        ({"name": "sandbox"}, 409, "name"),
        ({"providerType": "sandbox"}, 400, "providerType"),
        ({"channels": ["email", "fax"]}, 400, "channels[1]"),
        ({"credentials": {"nope": 1}}, 400, "credentials.nope"),
        ({"isActive": "no"}, 400, "isActive"),
        ({"name": ""}, 400, "name"),
    ],
)
def test_bad_patch(client, tenant, sandbox, body, status, source):
    ProviderFactory(tenant=tenant, name="other", channels=["sms"], credentials={"apiKey": "k"},
                    provider_type="fakesms")  # fmt: skip
    before = list(Provider.objects.order_by("pk").values())
    assert_error(client.patch(f"{URL}/other", body, format="json"), status, source=source)
    assert list(Provider.objects.order_by("pk").values()) == before


def test_patch_default_conflict_names_the_holder(client, tenant, sandbox):
    ProviderFactory(tenant=tenant, name="other", channels=["whatsapp"])
    r = client.patch(f"{URL}/other", {"isTenantDefault": True}, format="json")
    (err,) = assert_error(r, 409)
    assert "'sandbox'" in err["detail"] and "whatsapp" in err["detail"]
    # Moving the default: unset it on the holder first, then set it.
    assert (
        client.patch(f"{URL}/sandbox", {"isTenantDefault": False}, format="json").status_code == 200
    )
    assert client.patch(f"{URL}/other", {"isTenantDefault": True}, format="json").status_code == 200


def test_delete(client, sandbox):
    assert client.delete(f"{URL}/sandbox").status_code == 204
    assert Provider.objects.count() == 0
    assert_error(client.delete(f"{URL}/sandbox"), 404)


def test_delete_of_a_provider_with_messages_is_a_conflict(client, sandbox, templates):
    sent = client.post(
        "/api/v1/messages",
        {"sms": [{"template": "otp", "data": {"otp": "1"}, "to": ["+14155550100"]}]},
        format="json",
    )
    assert sent.status_code == 202
    assert_error(client.delete(f"{URL}/sandbox"), 409, code="provider_in_use")
    assert Provider.objects.filter(name="sandbox").exists()
    # Deactivating it is the way out.
    assert client.patch(f"{URL}/sandbox", {"isActive": False}, format="json").status_code == 200


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_tenants_provider_is_not_found(client, tenant, theirs, method):
    r = getattr(client, method)(f"{URL}/secret", {"isActive": False}, format="json")
    assert_error(r, 404)
    theirs.refresh_from_db()
    assert theirs.is_active


def test_another_tenants_providers_are_not_listed(client, tenant, theirs):
    assert client.get(URL).json()["count"] == 0


def test_providers_need_a_key(db):
    c = APIClient()
    assert_error(c.get(URL), 401)
    assert_error(c.post(URL, FAKE, format="json"), 401)
    c.credentials(HTTP_X_API_KEY=issue_key(AppFactory()))
    assert c.get(URL).status_code == 200
    assert Provider.objects.count() == 0
