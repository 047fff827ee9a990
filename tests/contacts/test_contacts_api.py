"""The contacts API: CRUD, lookup by externalId, import (JSON and CSV) with per-row errors."""

import pytest

from contacts.models import Contact, ContactAddress, Suppression
from tests.factories import AppFactory, TenantFactory, issue_key
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def create(client, **body):
    r = client.post("/api/v1/contacts", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_create_read_change_delete(client):
    got = create(
        client, externalId="u-1", name="Ann", locale="en", phone="(415) 555-0100",
        email="Ann@Example.com", attributes={"tier": "gold", "city": "Oslo"},
    )  # fmt: skip
    assert got["externalId"] == "u-1" and got["name"] == "Ann" and got["locale"] == "en"
    assert got["phone"] == ["+14155550100"]  # the tenant's country reads the national format
    assert got["email"] == ["ann@example.com"]
    assert got["attributes"] == {"tier": "gold", "city": "Oslo"}
    assert got["careWindowUntil"] is None

    r = client.get(f"/api/v1/contacts/{got['id']}")
    assert r.status_code == 200 and r.json()["name"] == "Ann"

    # PATCH: attributes merge (null removes one), an address field replaces that kind.
    r = client.patch(
        f"/api/v1/contacts/{got['id']}",
        {"attributes": {"city": None, "tier": "platinum"}, "phone": ["+447700900123"]},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["attributes"] == {"tier": "platinum"}
    assert r.json()["phone"] == ["+447700900123"] and r.json()["email"] == ["ann@example.com"]

    assert client.delete(f"/api/v1/contacts/{got['id']}").status_code == 204
    assert client.get(f"/api/v1/contacts/{got['id']}").status_code == 404
    assert not ContactAddress.objects.exists()


def test_lookup_by_external_id_and_pagination(client):
    for n in range(3):
        create(client, externalId=f"u-{n}", name=f"P{n}")
    r = client.get("/api/v1/contacts", {"externalId": "u-1"})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 1 and body["results"][0]["name"] == "P1"
    page = client.get("/api/v1/contacts", {"pageSize": 2}).json()
    assert set(page) == {"count", "next", "previous", "results"} and len(page["results"]) == 2


def test_bad_input_names_the_field(client):
    r = client.post("/api/v1/contacts", {"phone": ["+1415555010x"], "nickname": "x"}, format="json")
    assert_error(r, 400, source="phone[0]", code="invalid_address")
    assert_error(r, 400, source="nickname", code="unknown_field")
    r = client.post("/api/v1/contacts", {"attributes": {"bad name": 1}}, format="json")
    assert_error(r, 400, source="attributes.bad name", code="invalid_name")
    create(client, externalId="dup")
    r = client.post("/api/v1/contacts", {"externalId": "dup"}, format="json")
    assert_error(r, 409, source="externalId", code="duplicate")
    assert Contact.objects.count() == 1


def test_another_tenants_contact_is_a_404(client):
    other = TenantFactory(slug="other")
    contact = Contact.objects.create(tenant=other, external_id="x")
    assert_error(client.get(f"/api/v1/contacts/{contact.pk}"), 404)
    assert client.get("/api/v1/contacts", {"externalId": "x"}).json()["count"] == 0


def test_no_key_is_a_401(anon_client):
    assert_error(anon_client.get("/api/v1/contacts"), 401)


def test_import_json_upserts_and_reports_bad_rows(client):
    create(client, externalId="u-1", name="Old", attributes={"a": "1"})
    rows = [
        {"externalId": "u-1", "name": "Ann", "attributes": {"b": "2"}},
        {"externalId": "u-2", "phone": "not a phone"},
        {"name": "no id"},
        {"externalId": "u-3", "email": "c@example.com"},
    ]
    r = client.post("/api/v1/contacts/import", rows, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["created"], body["updated"]) == (1, 1)
    assert body["errors"] == [
        {"row": 1, "source": "phone[0]", "detail": "'not a phone' is not a valid phone number"},
        {"row": 2, "source": "externalId", "detail": "externalId is required."},
    ]
    assert sorted(Contact.objects.values_list("external_id", flat=True)) == ["u-1", "u-3"]
    assert Contact.objects.get(external_id="u-1").attributes == {"a": "1", "b": "2"}


def test_import_csv_with_attribute_columns(client):
    text = (
        "externalId,name,locale,phone,email,tier\n"
        "c-1,Ann,en,+14155550100,ann@example.com,gold\n"
        "c-2,Bob,de,+1415,bob@example.com,silver\n"
        "c-3,Cy,,+14155550102;+14155550103,,\n"
    )
    r = client.post("/api/v1/contacts/import", text, content_type="text/csv")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["created"], body["updated"]) == (2, 0)
    # Rows are the file's lines: the header is line 1.
    assert [(e["row"], e["source"]) for e in body["errors"]] == [(3, "phone[0]")]
    ann = client.get("/api/v1/contacts", {"externalId": "c-1"}).json()["results"][0]
    assert ann["attributes"] == {"tier": "gold"} and ann["email"] == ["ann@example.com"]
    cy = client.get("/api/v1/contacts", {"externalId": "c-3"}).json()["results"][0]
    assert cy["phone"] == ["+14155550102", "+14155550103"]


def test_import_refuses_what_is_not_a_list_or_csv(client):
    assert_error(client.post("/api/v1/contacts/import", {"x": 1}, format="json"), 400)
    r = client.post("/api/v1/contacts/import", "name\nAnn\n", content_type="text/csv")
    assert_error(r, 400, source="externalId", code="required")


def test_other_app_of_the_tenant_sees_the_same_contacts(client, tenant):
    create(client, externalId="shared")
    from rest_framework.test import APIClient

    other = APIClient()
    other.credentials(HTTP_X_API_KEY=issue_key(AppFactory(tenant=tenant, name="crm")))
    assert other.get("/api/v1/contacts").json()["count"] == 1


@pytest.mark.parametrize(
    ("url", "body", "content_type"),
    [
        ("/api/v1/contacts", '{"externalId": "u-8", "phone": ["+14155550109"]}', None),
        ("/api/v1/contacts/import", "externalId,name\nu-8,Ann\n", "text/csv"),
        ("/api/v1/suppressions", '{"channel": "sms", "address": "+14155550108"}', None),
    ],
)
def test_every_post_honours_an_idempotency_key(client, url, body, content_type):
    """API.md: Idempotency-Key on every POST. A repeat replays; another body is a 409."""
    kind = content_type or "application/json"
    first = client.post(url, body, content_type=kind, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code in (200, 201), first.content
    before = (Contact.objects.count(), Suppression.objects.count())
    again = client.post(url, body, content_type=kind, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert (Contact.objects.count(), Suppression.objects.count()) == before
    other = client.post(url, body.replace("8", "7"), content_type=kind, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409
