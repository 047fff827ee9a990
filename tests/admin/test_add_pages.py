"""Every Add button leads somewhere that works: an API key is issued (shown once, never in a
cookie), a form with a mistake says so (never a 500), and tables nobody can add to have no
Add."""

import re

from django.urls import reverse

from providers.models import DeadRecipient
from tenants.models import ApiKey, hash_key

ADD_KEY = "/admin/tenants/apikey/add/"


def test_adding_an_api_key_issues_one_and_shows_it_once(login, alpha_developer, alpha):
    c = login(alpha_developer)
    assert c.get(ADD_KEY).status_code == 200
    r = c.post(ADD_KEY, {"app": alpha["app"].pk, "name": "billing service"})
    assert r.status_code == 302
    assert "messages" not in r.cookies  # the key is in the session, server-side
    key = ApiKey.objects.get(name="billing service")
    assert r["Location"] == reverse("admin:tenants_apikey_change", args=[key.pk])
    page = c.get(r["Location"]).content.decode()
    (raw,) = re.findall(r"New API key for [^:]+: (\S+) \(copy it now", page)
    assert key.key_hash == hash_key(raw) and key.app == alpha["app"]
    assert raw.startswith(key.prefix)
    assert raw not in c.get(r["Location"]).content.decode()  # shown once
    # The key works against the API.
    api = c.get("/api/v1/templates", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.status_code == 200


def test_a_superuser_adds_a_key_too(login, admin_user, alpha):
    c = login(admin_user)
    r = c.post(ADD_KEY, {"app": alpha["app"].pk, "name": "ops"})
    assert r.status_code == 302
    assert ApiKey.objects.filter(app=alpha["app"], name="ops").exists()


def test_an_api_key_form_with_a_mistake_is_answered_on_the_form(
    login, alpha_developer, alpha, beta
):
    c = login(alpha_developer)
    before = ApiKey.objects.count()
    r = c.post(ADD_KEY, {"name": "no app"})
    assert r.status_code == 200
    assert "This field is required." in r.content.decode()
    r = c.post(ADD_KEY, {"app": beta["app"].pk, "name": "theirs"})  # another tenant's app
    assert r.status_code == 200
    assert "Select a valid choice" in r.content.decode()
    assert ApiKey.objects.count() == before


def test_support_cannot_issue_keys(login, alpha_support):
    assert login(alpha_support).get(ADD_KEY).status_code == 403


def test_dead_recipients_have_no_add(login, admin_user, alpha_admin, alpha):
    dead = DeadRecipient.objects.create(
        provider=alpha["provider"], recipient="token-1", recipient_hash=DeadRecipient.hash("t"),
        code="UNREGISTERED",
    )  # fmt: skip
    for user in (admin_user, alpha_admin):
        c = login(user)
        assert c.get("/admin/providers/deadrecipient/add/").status_code == 403
        r = c.post("/admin/providers/deadrecipient/add/", {"recipient": "x", "code": "y"})
        assert r.status_code == 403
        page = c.get("/admin/providers/deadrecipient/").content.decode()
        assert "/admin/providers/deadrecipient/add/" not in page
        r = c.post(f"/admin/providers/deadrecipient/{dead.pk}/change/", {"code": "FORGED"})
        assert r.status_code == 403
    # Deleting one is the operation that lets messages go to it again.
    c = login(alpha_admin)
    r = c.post(f"/admin/providers/deadrecipient/{dead.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    assert not DeadRecipient.objects.filter(pk=dead.pk).exists()
