"""The admin: conversations read-only with their events, inbound webhooks editable, both
limited to the user's tenant."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, ConversationEvent, InboundRoute
from tests.factories import AppFactory, ProviderFactory, TenantFactory, staff_user


@pytest.fixture
def world(db):
    out = {}
    for slug in ("alpha", "beta"):
        tenant = TenantFactory(slug=slug)
        app = AppFactory(tenant=tenant, name=f"{slug}-app")
        provider = ProviderFactory(tenant=tenant, name=f"{slug}-sandbox")
        conversation = Conversation.objects.create(
            tenant=tenant, app=app, provider=provider, sender="+14155550199",
            recipient=f"+1415555{'0100' if slug == 'alpha' else '0222'}", response_timeout=60,
            expires_at=timezone.now() + timedelta(minutes=1),
        )  # fmt: skip
        ConversationEvent.objects.create(conversation=conversation, kind="created",
                                         detail={"note": f"{slug} created"})  # fmt: skip
        out[slug] = {"tenant": tenant, "app": app, "provider": provider, "c": conversation}
    return out


@pytest.fixture
def alice(world):
    c = Client()
    c.force_login(staff_user("alice", tenant=world["alpha"]["tenant"], role="tenant_admin"))
    return c


def test_conversations_are_listed_read_only_with_their_events(alice, world):
    page = alice.get("/admin/conversations/conversation/").content.decode()
    assert "+14155550100" in page and "+14155550222" not in page
    r = alice.get(f"/admin/conversations/conversation/{world['alpha']['c'].pk}/change/")
    assert r.status_code == 200
    assert "alpha created" in r.content.decode()
    assert 'name="_save"' not in r.content.decode()
    other = alice.get(f"/admin/conversations/conversation/{world['beta']['c'].pk}/change/")
    assert other.status_code == 404
    assert alice.get("/admin/conversations/conversation/add/").status_code == 403


def test_an_inbound_webhook_is_added_with_its_secret_encrypted(alice, world):
    url = "/admin/conversations/inboundroute/add/"
    assert alice.get(url).status_code == 200
    r = alice.post(url, {"app": world["alpha"]["app"].pk, "url": "https://app.example.com/in",
                         "number": "+14155550199", "secret": "admin-secret"})  # fmt: skip
    assert r.status_code == 302, r.content.decode()
    route = InboundRoute.objects.get()
    assert (route.tenant, route.secret, route.number) == (
        world["alpha"]["tenant"],
        "admin-secret",
        "+14155550199",
    )
    assert "admin-secret" not in route.secret_encrypted
    # Another tenant's app is not a choice; a route needs a secret; a bad URL is refused.
    for bad, message in (
        ({"app": world["beta"]["app"].pk, "url": "https://x.example", "secret": "s"},
         "Select a valid choice"),
        ({"app": world["alpha"]["app"].pk, "url": "https://x.example"}, "needs its own secret"),
        ({"app": world["alpha"]["app"].pk, "url": "ftp://x", "secret": "s"}, "http(s) URL"),
    ):  # fmt: skip
        r = alice.post(url, bad)
        assert r.status_code == 200 and message in r.content.decode(), message
    assert InboundRoute.objects.count() == 1
