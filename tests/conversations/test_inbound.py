"""Inbound to the app: registered inbound webhooks (per app, provider or number) receive
every inbound message no conversation claims, signed with their own secret; GET
/api/v1/inbound lists the tenant's inbound messages."""

import json
import re

import pytest
import responses

from conversations.models import InboundRoute
from messaging.models import CallbackDelivery
from providers.models import InboundMessage
from tests.factories import ProviderFactory
from tests.helpers import assert_error, verified_with

HOOKS = "http://127.0.0.1:8765/in/"


@pytest.fixture
def hooks():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, re.compile(re.escape(HOOKS) + ".*"), status=200)
        yield rsps


def calls(hooks, name):
    return [c for c in hooks.calls if c.request.url == HOOKS + name]


@pytest.fixture
def register(client):
    def run(name, **extra):
        body = {"url": HOOKS + name, "secret": f"{name}-secret", **extra}
        r = client.post("/api/v1/inbound/webhooks", body, format="json")
        assert r.status_code == 201, r.content
        return r.json()["data"]

    return run


@pytest.fixture
def inbound(anon_client, sandbox, run_tasks):
    def run(text, to="+14155550199", sender="+14155550100", provider=None, **extra):
        provider = provider or sandbox
        body = {"from": sender, "to": to, "text": text, **extra}
        r = run_tasks(
            anon_client.post,
            f"/webhooks/providers/{provider.webhook_token}/inbound",
            body,
            format="json",
        )
        assert r.status_code == 200, r.content
        return r

    return run


def test_an_inbound_goes_to_the_app_s_webhook_signed_with_its_secret(hooks, register, inbound):
    route = register("app")
    assert route["provider"] is None and route["number"] is None
    inbound("Hello there", messageId="in-1")
    [call] = calls(hooks, "app")
    payload = verified_with(call, "app-secret")
    stored = InboundMessage.objects.get()
    assert payload == {
        "event": "inbound.message",
        "inboundId": stored.pk,
        "channel": "sms",
        "from": "+14155550100",
        "to": "+14155550199",
        "text": "Hello there",
        "provider": "sandbox",
        "providerMessageId": "in-1",
        "buttonReply": None,
        "receivedAt": stored.received_at.isoformat(),
    }


def test_a_retried_inbound_is_posted_once(hooks, register, inbound):
    register("app")
    inbound("Hello", messageId="in-1")
    inbound("Hello", messageId="in-1")
    assert len(calls(hooks, "app")) == 1
    assert CallbackDelivery.objects.filter(event="inbound.message").count() == 1


def test_the_most_specific_route_wins(hooks, register, inbound, tenant, sandbox):
    other = ProviderFactory(tenant=tenant, name="other")
    register("app")
    register("provider", provider="sandbox")
    register("number", number="+14155550199")

    inbound("to the number")
    inbound("to another number", to="+14155550111")
    inbound("through another provider", to="+14155550111", provider=other)

    assert [json.loads(c.request.body)["text"] for c in calls(hooks, "number")] == ["to the number"]
    assert [json.loads(c.request.body)["text"] for c in calls(hooks, "provider")] == [
        "to another number"
    ]
    assert [json.loads(c.request.body)["text"] for c in calls(hooks, "app")] == [
        "through another provider"
    ]
    verified_with(calls(hooks, "number")[0], "number-secret")
    verified_with(calls(hooks, "provider")[0], "provider-secret")


def test_routes_are_listed_and_deleted(client, hooks, register, inbound):
    route = register("app")
    listed = client.get("/api/v1/inbound/webhooks").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == route["id"]
    assert "secret" not in json.dumps(listed)
    r = client.delete(f"/api/v1/inbound/webhooks/{route['id']}")
    assert r.status_code == 204
    assert_error(client.delete(f"/api/v1/inbound/webhooks/{route['id']}"), 404)
    inbound("nobody listens")
    assert not hooks.calls
    assert InboundMessage.objects.count() == 1  # stored all the same


@pytest.mark.parametrize(
    "body, source, code",
    [
        ({"url": HOOKS + "x"}, "secret", "required"),
        ({"secret": "s"}, "url", "invalid_url"),
        ({"url": "ftp://x", "secret": "s"}, "url", "invalid_url"),
        ({"url": HOOKS + "x", "secret": "s", "provider": "nope"}, "provider", "unknown_provider"),
        ({"url": HOOKS + "x", "secret": "s", "number": "12"}, "number", "invalid_number"),
        ({"url": HOOKS + "x", "secret": "s", "colour": 1}, "colour", "unknown_field"),
    ],
)
def test_bad_registrations_name_the_field(client, sandbox, body, source, code):
    assert_error(client.post("/api/v1/inbound/webhooks", body, format="json"), 400, source, code)
    assert not InboundRoute.objects.exists()


def test_a_second_route_for_the_same_place_is_a_conflict(client, register):
    register("app")
    r = client.post("/api/v1/inbound/webhooks", {"url": HOOKS + "b", "secret": "s"}, format="json")
    assert_error(r, 409, code="route_exists")


def test_the_route_secret_is_encrypted_at_rest(register):
    register("app")
    assert "app-secret" not in json.dumps(InboundRoute.objects.values().get(), default=str)


def test_inbound_messages_are_listed_with_filters(client, inbound, tenant, sandbox):
    other = ProviderFactory(tenant=tenant, name="other")
    inbound("one", channel="whatsapp")
    inbound("two", sender="+14155550222")
    inbound("three", provider=other)
    everything = client.get("/api/v1/inbound").json()
    assert everything["count"] == 3
    assert [i["text"] for i in everything["results"]] == ["three", "two", "one"]
    assert set(everything["results"][0]) == {
        "inboundId", "channel", "from", "to", "text", "provider", "providerMessageId",
        "conversationId", "receivedAt",
    }  # fmt: skip

    def texts(query):
        r = client.get("/api/v1/inbound" + query)
        assert r.status_code == 200, r.content
        return [i["text"] for i in r.json()["results"]]

    assert texts("?channel=whatsapp") == ["one"]
    assert texts("?from=4155550222") == ["two"]
    assert texts("?provider=other") == ["three"]
    assert texts("?to=%2B14155550199&pageSize=1") == ["three"]
    assert texts("?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z") == [
        "three", "two", "one",
    ]  # fmt: skip
    assert texts("?until=2000-01-01T00:00:00Z") == []
    assert_error(client.get("/api/v1/inbound?since=yesterday"), 400, source="since")


def test_another_tenant_s_inbound_is_not_listed(client, anon_client, run_tasks):
    from tests.factories import TenantFactory

    stranger = ProviderFactory(tenant=TenantFactory(slug="other"), name="theirs")
    anon_client.post(
        f"/webhooks/providers/{stranger.webhook_token}/inbound",
        {"from": "+14155550100", "to": "+14155550199", "text": "theirs"},
        format="json",
    )
    assert client.get("/api/v1/inbound").json()["count"] == 0


def test_websms_retries_until_acknowledged_and_the_app_hears_it_once(
    anon_client, tenant, hooks, register, run_tasks
):
    from tests.providers.test_websms import ACK, APP, CREDS

    websms = ProviderFactory(
        tenant=tenant, name="websms", provider_type="websms", channels=["sms", "whatsapp"],
        credentials=CREDS,
    )  # fmt: skip
    register("app")
    body = {"type": "whatsapp", "applicationId": APP, "sender": "+436761234567",
            "recipient": "+436761234500", "content": "Yes please"}  # fmt: skip
    url = f"/webhooks/providers/{websms.webhook_token}/inbound"
    for _ in range(3):  # websms retries until it reads its acknowledgement
        r = run_tasks(anon_client.post, url, body, format="json")
        assert (r.status_code, r.json()) == (200, ACK)
    assert InboundMessage.objects.count() == 1
    [call] = calls(hooks, "app")
    assert verified_with(call, "app-secret")["text"] == "Yes please"
