"""The WhatsApp template catalogue in the admin: the provider page's state and "Refresh
templates" button, and the read-only, tenant-scoped template list."""

import html

import responses
from django.urls import reverse

from providers.models import ProviderTemplate
from tests.factories import ProviderFactory
from tests.providers.test_template_lists import HELLO, META_CREDS, META_URL, PROMO


def meta(tenant, name="meta"):
    return ProviderFactory(
        tenant=tenant, name=name, provider_type="meta_whatsapp", channels=["whatsapp"],
        credentials=META_CREDS,
    )  # fmt: skip


def change_url(provider):
    return reverse("admin:providers_provider_change", args=[provider.pk])


def refresh_url(provider):
    return reverse("admin:providers_provider_refresh_templates", args=[provider.pk])


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_whatsapp_provider_page_says_the_catalogue_was_never_synced(login, alpha_admin, alpha):
    provider = meta(alpha["tenant"])
    page = text(login(alpha_admin).get(change_url(provider)))
    assert f'<form method="post" action="{refresh_url(provider)}"' in page
    assert "Refresh templates</button>" in page
    assert "Never synced: sends naming a template are not checked" in page


def test_a_type_without_a_template_list_says_not_available(login, alpha_admin, alpha):
    websms = ProviderFactory(
        tenant=alpha["tenant"], name="websms", provider_type="websms", channels=["whatsapp"],
        credentials={"clientId": "c", "clientSecret": "s", "applicationId": "a"},
    )  # fmt: skip
    for provider in (websms, alpha["provider"]):  # websms and the sandbox
        page = text(login(alpha_admin).get(change_url(provider)))
        assert "Not available for this provider type" in page
        assert "Refresh templates" not in page


@responses.activate
def test_refresh_syncs_and_the_templates_are_listed_with_their_status(login, alpha_admin, alpha):
    provider = meta(alpha["tenant"])
    responses.get(META_URL, json={"data": [HELLO, PROMO], "paging": {}})
    c = login(alpha_admin)
    r = c.post(refresh_url(provider))
    assert r.status_code == 302 and r["Location"] == change_url(provider)
    page = text(c.get(r["Location"]))
    assert "“meta”: 2 templates listed (2 new, 0 no longer listed and removed)." in page
    assert "2 templates</a> (1 may be sent), synced" in page
    listing = text(c.get(reverse("admin:providers_providertemplate_changelist")))
    assert "hello_world" in listing and "2023_april_promo" in listing
    assert "REJECTED" in listing and "APPROVED" in listing
    row = ProviderTemplate.objects.get(name="2023_april_promo")
    detail = text(c.get(reverse("admin:providers_providertemplate_change", args=[row.pk])))
    assert '"text": "Stop promotions"' in detail  # components shown as indented JSON
    assert "Save" not in detail  # read-only


@responses.activate
def test_a_failed_refresh_says_why_and_keeps_the_page(login, alpha_admin, alpha):
    provider = meta(alpha["tenant"])
    responses.get(
        META_URL, status=401, json={"error": {"message": "Invalid OAuth token", "code": 190}}
    )
    c = login(alpha_admin)
    page = text(c.get(c.post(refresh_url(provider))["Location"]))
    assert "“meta”: the templates were not refreshed. Invalid OAuth token [190]" in page
    assert "Last refresh failed: Invalid OAuth token [190]" in page


def test_refresh_is_a_post_of_a_tenant_admin_of_that_tenant(
    login, alpha_admin, alpha_support, alpha, beta
):
    own, other = meta(alpha["tenant"]), meta(beta["tenant"], name="beta-meta")
    c = login(alpha_admin)
    assert c.get(refresh_url(own)).status_code == 405
    assert c.post(refresh_url(other)).status_code == 404
    assert login(alpha_support).post(refresh_url(own)).status_code == 403


def test_the_template_list_is_tenant_scoped_and_has_no_add(login, alpha_developer, alpha, beta):
    from django.utils import timezone

    for provider, name in ((meta(alpha["tenant"]), "alpha_tpl"),
                           (meta(beta["tenant"], name="bm"), "beta_tpl")):  # fmt: skip
        ProviderTemplate.objects.create(
            provider=provider, name=name, language="en", status="APPROVED", synced_at=timezone.now()
        )
    c = login(alpha_developer)
    r = c.get(reverse("admin:providers_providertemplate_changelist"))
    assert r.status_code == 200
    assert "alpha_tpl" in text(r) and "beta_tpl" not in text(r)
    assert c.get(reverse("admin:providers_providertemplate_add")).status_code == 403
    beta_row = ProviderTemplate.objects.get(name="beta_tpl")
    assert (
        c.get(reverse("admin:providers_providertemplate_change", args=[beta_row.pk])).status_code
        == 404
    )
