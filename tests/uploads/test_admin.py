"""The admin's Media list: a tenant admin sees their tenant's files (and fetches them by
the signed link), nothing of another tenant's, and changes nothing."""

from urllib.parse import urlsplit

import pytest
from django.contrib.admin.utils import quote
from django.test import Client

from tests.factories import AppFactory, TenantFactory, staff_user
from tests.uploads import samples
from tests.uploads.conftest import upload


@pytest.fixture
def admin_client(tenant):
    c = Client()
    c.force_login(staff_user("alice", tenant=tenant, role="tenant_admin"))
    return c


def test_a_tenant_admin_lists_their_media_and_downloads_it(client, other_client, admin_client):
    mine = upload(client, samples.pdf(), "receipt.pdf").json()["mediaId"]
    theirs = upload(other_client, samples.png(), "secret-plan.png").json()["mediaId"]
    page = admin_client.get("/admin/uploads/media/")
    assert page.status_code == 200
    assert b"receipt.pdf" in page.content and b"secret-plan.png" not in page.content
    assert f"/admin/uploads/media/{quote(mine)}/change/".encode() in page.content

    detail = admin_client.get(f"/admin/uploads/media/{quote(mine)}/change/")
    assert detail.status_code == 200
    html = detail.content.decode()
    link = html.split('href="http://127.0.0.1:8000/media/', 1)[1].split('"', 1)[0]
    served = Client().get(urlsplit(f"/media/{link}").path)
    assert b"".join(served.streaming_content) == samples.pdf()

    assert admin_client.get(f"/admin/uploads/media/{quote(theirs)}/change/").status_code == 404
    assert admin_client.get("/admin/uploads/media/add/").status_code == 403
    assert admin_client.post(f"/admin/uploads/media/{quote(mine)}/delete/").status_code == 403


def test_other_roles_of_other_tenants_see_nothing(client, db):
    upload(client, samples.pdf(), "receipt.pdf")
    stranger = Client()
    stranger.force_login(
        staff_user("bob", tenant=TenantFactory(slug="globex"), role="tenant_admin")
    )
    AppFactory(tenant=TenantFactory(slug="globex"))
    page = stranger.get("/admin/uploads/media/")
    assert page.status_code == 200
    assert b"receipt.pdf" not in page.content
