"""The WhatsApp template catalogue: sync (upsert, removal, stamp, failures), the hourly
schedule, and accept refusing a providerTemplate the provider has not approved."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from django_q.models import Schedule

from messaging.models import Message, MessageEvent, MessageRequest
from providers.catalogue import CatalogueError, catalogue_refresh_all, catalogue_sync
from providers.models import Provider, ProviderTemplate
from providers.tasks import catalogue_refresh
from tests.factories import ProviderFactory, TemplateFactory
from tests.helpers import assert_error, counts
from tests.providers.test_template_lists import HELLO, META_CREDS, META_URL, PROMO

URL = "/api/v1/messages"
MODELS = (MessageRequest, Message, MessageEvent)


@pytest.fixture
def meta(tenant):
    return ProviderFactory(
        tenant=tenant, name="meta", provider_type="meta_whatsapp", channels=["whatsapp"],
        credentials=META_CREDS,
    )  # fmt: skip


def listing(*items):
    responses.get(META_URL, json={"data": list(items), "paging": {"cursors": {"after": "A"}}})


# --- sync ----------------------------------------------------------------------------------
@responses.activate
def test_sync_adds_updates_and_removes_in_step_with_the_provider(meta):
    listing(HELLO, PROMO)
    done = catalogue_sync(meta)
    assert (done.added, done.updated, done.removed) == (2, 0, 0)
    meta.refresh_from_db()
    first_sync = meta.templates_synced_at
    assert first_sync is not None and meta.templates_sync_error == ""
    rows = {t.name: t for t in ProviderTemplate.objects.filter(provider=meta)}
    assert rows["hello_world"].status == "APPROVED"
    assert rows["hello_world"].components == HELLO["components"]
    assert rows["2023_april_promo"].provider_template_id == "920070352646140"

    responses.reset()
    listing({**PROMO, "status": "APPROVED"})  # promo approved, hello_world gone
    done = catalogue_sync(meta)
    assert (done.added, done.updated, done.removed) == (0, 1, 1)
    assert list(ProviderTemplate.objects.values_list("name", "status")) == [
        ("2023_april_promo", "APPROVED")
    ]
    meta.refresh_from_db()
    assert meta.templates_synced_at > first_sync


@responses.activate
def test_a_failed_sync_keeps_the_rows_and_says_why_on_the_provider(meta):
    listing(HELLO)
    catalogue_sync(meta)
    synced = Provider.objects.get(pk=meta.pk).templates_synced_at
    responses.reset()
    responses.get(
        META_URL, status=401, json={"error": {"message": "Invalid OAuth token", "code": 190}}
    )
    with pytest.raises(CatalogueError, match="Invalid OAuth token"):
        catalogue_sync(meta)
    meta.refresh_from_db()
    assert ProviderTemplate.objects.filter(provider=meta).count() == 1
    assert meta.templates_synced_at == synced
    assert "Invalid OAuth token" in meta.templates_sync_error


@responses.activate
def test_refresh_all_syncs_every_whatsapp_catalogue_and_survives_one_failure(meta, tenant, sandbox):
    broken = ProviderFactory(
        tenant=tenant, name="meta-2", provider_type="meta_whatsapp", channels=["whatsapp"],
        credentials={k: v for k, v in META_CREDS.items() if k != "wabaId"},
    )  # fmt: skip
    listing(HELLO)
    assert catalogue_refresh() == {"synced": 1, "failed": 1}  # the sandbox has no catalogue
    assert ProviderTemplate.objects.filter(provider=meta).count() == 1
    broken.refresh_from_db()
    assert broken.templates_synced_at is None and "wabaId" in broken.templates_sync_error
    assert catalogue_refresh_all() == {"synced": 1, "failed": 1}


def test_the_catalogue_refreshes_every_hour(db):
    schedule = Schedule.objects.get(name="providers-template-catalogue")
    assert schedule.func == "providers.tasks.catalogue_refresh"
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1


# --- accept --------------------------------------------------------------------------------
def catalogue(provider, *rows, synced=True):
    now = timezone.now()
    for name, language, status in rows:
        ProviderTemplate.objects.create(
            provider=provider, name=name, language=language, status=status,
            provider_status=status, synced_at=now,
        )  # fmt: skip
    if synced:
        Provider.objects.filter(pk=provider.pk).update(
            templates_synced_at=now - timedelta(minutes=5)
        )
        provider.refresh_from_db()


def wa(template, provider="meta", **extra):
    entry = {
        "provider": provider,
        "body": "Hi",
        "to": ["+14155550100"],
        "providerTemplate": template,
    }
    return {"whatsapp": [{**entry, **extra}]}


def test_an_approved_template_is_accepted(client, meta):
    catalogue(meta, ("hello_world", "en_US", "APPROVED"))
    r = client.post(URL, wa({"name": "hello_world", "language": "en_US"}), format="json")
    assert r.status_code == 202, r.content


def test_an_unapproved_template_is_refused_naming_its_status_and_nothing_is_stored(client, meta):
    catalogue(meta, ("2023_april_promo", "en_US", "REJECTED"))
    before = counts(MODELS)
    r = client.post(URL, wa({"name": "2023_april_promo"}), format="json")  # en_US by default
    (err,) = assert_error(
        r, 400, source="whatsapp[0].providerTemplate.name", code="template_not_approved"
    )
    assert "not approved by Meta WhatsApp Cloud API: REJECTED" in err["detail"]
    assert "'2023_april_promo' (en_US)" in err["detail"]
    assert counts(MODELS) == before


def test_a_template_not_in_the_catalogue_is_refused(client, meta):
    catalogue(meta, ("hello_world", "en_US", "APPROVED"))
    r = client.post(URL, wa({"name": "hello_world", "language": "de"}), format="json")
    (err,) = assert_error(
        r, 400, source="whatsapp[0].providerTemplate.name", code="unknown_provider_template"
    )
    assert "not in the template catalogue of provider 'meta'" in err["detail"]


def test_a_provider_never_synced_is_not_checked(client, meta):
    catalogue(meta, ("hello_world", "en_US", "REJECTED"), synced=False)
    r = client.post(URL, wa({"name": "hello_world"}), format="json")
    assert r.status_code == 202, r.content


def test_external_ref_and_stored_templates_are_checked_and_named(client, meta, tenant):
    catalogue(meta, ("promo", "de", "PAUSED"))
    TemplateFactory(
        tenant=tenant, name="wa-promo", mode="whatsapp",
        data={"body": "Hi", "providerTemplate": {"name": "promo", "language": "de"}},
    )  # fmt: skip
    body = {
        "whatsapp": [
            {"provider": "meta", "body": "Hi {{n}}", "data": {"n": "A"}, "externalRef": "promo:de",
             "to": ["+14155550100"]},
            {"provider": "meta", "template": "wa-promo", "to": ["+14155550101"]},
        ]
    }  # fmt: skip
    errors = assert_error(client.post(URL, body, format="json"), 400)
    assert [(e["source"], e["code"]) for e in errors] == [
        ("whatsapp[0].externalRef", "template_not_approved"),
        ("whatsapp[1].template", "template_not_approved"),
    ]
    assert "PAUSED" in errors[0]["detail"]


def test_one_catalogue_query_per_request_whatever_the_entries(client, meta):
    catalogue(meta, ("hello_world", "en_US", "APPROVED"))
    one = client.post(URL, wa({"name": "hello_world"}), format="json")
    assert one.status_code == 202
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    many = {"whatsapp": [wa({"name": "hello_world"})["whatsapp"][0] for _ in range(20)]}
    with CaptureQueriesContext(connection) as ctx:
        r = client.post(URL, many, format="json")
    assert r.status_code == 202, r.content
    catalogue_queries = [
        q for q in ctx.captured_queries if "providers_providertemplate" in q["sql"]
    ]
    assert len(catalogue_queries) == 1


def test_twilio_sids_are_looked_up_in_any_language_and_unsubmitted_content_goes(client, tenant):
    twilio = ProviderFactory(
        tenant=tenant, name="tw", provider_type="twilio", channels=["whatsapp"],
        credentials={"accountSid": "AC" + "a" * 32, "authToken": "t"},
    )  # fmt: skip
    approved, session, rejected = ("HX" + c * 32 for c in "abc")
    catalogue(twilio, (approved, "en", "APPROVED"), (session, "en", "UNSUBMITTED"),
              (rejected, "en", "REJECTED"))  # fmt: skip
    for sid, status in ((approved, 202), (session, 202)):
        r = client.post(URL, wa({"name": sid}, provider="tw"), format="json")
        assert r.status_code == status, r.content
    r = client.post(URL, wa({"name": rejected}, provider="tw"), format="json")
    (err,) = assert_error(r, 400, source="whatsapp[0].providerTemplate.name")
    assert "not approved by Twilio: REJECTED" in err["detail"]
