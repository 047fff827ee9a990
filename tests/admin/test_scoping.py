"""A user of tenant A finds none of tenant B's rows anywhere in the admin."""

import pytest
from django.urls import reverse

ADMIN_URLS = {
    "provider": "admin:providers_provider",
    "template": "admin:messaging_template",
    "message": "admin:messaging_message",
    "app": "admin:tenants_app",
}


def changelist(name):
    return reverse(f"{ADMIN_URLS[name]}_changelist")


def change(name, obj):
    return reverse(f"{ADMIN_URLS[name]}_change", args=[obj.pk])


@pytest.mark.parametrize("name", ["provider", "template", "message", "app"])
def test_changelist_shows_only_own_tenant(login, alpha_admin, alpha, beta, name):
    c = login(alpha_admin)
    page = c.get(changelist(name)).content.decode()
    own, other = alpha[name], beta[name]
    assert str(own) in page or getattr(own, "name", "") in page or own.to in page
    assert (
        getattr(other, "name", None) not in page if hasattr(other, "name") else other.to not in page
    )


@pytest.mark.parametrize("name", ["provider", "template", "message", "app"])
def test_another_tenants_object_is_404(login, alpha_admin, beta, name):
    c = login(alpha_admin)
    assert c.get(change(name, beta[name])).status_code == 404
    if name in ("provider", "template"):
        delete = reverse(f"{ADMIN_URLS[name]}_delete", args=[beta[name].pk])
        assert c.get(delete).status_code == 404
        history = reverse(f"{ADMIN_URLS[name]}_history", args=[beta[name].pk])
        assert c.get(history).status_code == 404


def test_foreign_key_choices_and_filters_are_scoped(login, alpha_admin, alpha, beta):
    c = login(alpha_admin)
    page = c.get(reverse("admin:providers_provider_add")).content.decode()
    assert "beta" not in page
    page = c.get(changelist("message")).content.decode()
    assert "beta-sandbox" not in page  # the provider filter lists own providers only
    assert "alpha-sandbox" in page


def test_autocomplete_is_scoped(login, alpha_admin, alpha, beta):
    c = login(alpha_admin)
    r = c.get(
        reverse("admin:autocomplete"),
        {"app_label": "tenants", "model_name": "apikey", "field_name": "app", "term": ""},
    )
    # Whatever the answer, it never names the other tenant's rows.
    assert "beta" not in r.content.decode()


def test_support_can_look_but_not_change(login, alpha_support, alpha, beta):
    c = login(alpha_support)
    assert c.get(changelist("message")).status_code == 200
    assert c.get(change("message", alpha["message"])).status_code == 200
    assert c.get(change("message", beta["message"])).status_code == 404
    assert c.get(changelist("provider")).status_code == 403
    assert c.get(changelist("template")).status_code == 403
    r = c.post(change("message", alpha["message"]), {"to": "+14155550111"})
    assert r.status_code == 403
    alpha["message"].refresh_from_db()
    assert alpha["message"].to == "+14155550100"


def test_developer_manages_apps_only(login, alpha_developer, alpha):
    c = login(alpha_developer)
    assert c.get(changelist("app")).status_code == 200
    assert c.get(changelist("provider")).status_code == 403
    assert c.get(changelist("message")).status_code == 403


def test_django_q_operations_are_for_superusers_only(login, alpha_admin, admin_user):
    url = reverse("admin:django_q_schedule_changelist")
    assert login(alpha_admin).get(url).status_code == 403
    assert login(admin_user).get(url).status_code == 200


def test_a_one_tenant_user_is_not_asked_for_the_tenant(login, alpha_admin, alpha):
    c = login(alpha_admin)
    page = c.get(reverse("admin:messaging_template_add")).content.decode()
    assert 'type="hidden" name="tenant"' in page
    assert f'value="{alpha["tenant"].pk}"' in page


def test_dead_recipients_are_scoped(login, alpha_admin, alpha, beta):
    from providers.models import DeadRecipient

    for t in (alpha, beta):
        DeadRecipient.objects.create(
            provider=t["provider"], recipient=f"{t['tenant'].slug}-token",
            recipient_hash=DeadRecipient.hash(f"{t['tenant'].slug}-token"), code="UNREGISTERED",
        )  # fmt: skip
    c = login(alpha_admin)
    page = c.get(reverse("admin:providers_deadrecipient_changelist")).content.decode()
    assert "alpha-token" in page and "beta-token" not in page
