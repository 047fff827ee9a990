"""The one webhook engine: any event for an app, signed with the webhook's own secret (or the
app's), delivered after commit through the callback worker, retried, logged, redeliverable."""

import base64
import hashlib
import hmac
import json

import pytest
import responses
import standardwebhooks
from django.db import transaction
from django.urls import reverse

from messaging.models import CallbackAttempt, CallbackDelivery
from messaging.services.callbacks import webhook_enqueue
from tests.factories import AppFactory, TenantFactory, staff_user

HOOK = "https://app.example.com/hooks/replies"


def check_signed(call, secret: str) -> dict:
    raw = call.request.body
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert call.request.headers["X-Signature"] == f"sha256={expected}"
    key = "whsec_" + base64.b64encode(secret.encode()).decode()
    standardwebhooks.Webhook(key).verify(raw, dict(call.request.headers))
    return json.loads(raw)


@pytest.fixture
def app(db):
    return AppFactory(tenant=TenantFactory(slug="acme"))


def test_an_event_is_posted_signed_with_its_own_secret(app, run_tasks):
    payload = {"event": "conversation.reply", "text": "YES", "context": {"order": 7}}
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=200)
        with transaction.atomic():
            run_tasks(
                webhook_enqueue, app=app, url=HOOK, payload=payload,
                event="conversation.reply", secret="reply-secret",
            )  # fmt: skip
        [call] = rsps.calls
    assert check_signed(call, "reply-secret") == payload
    with pytest.raises(AssertionError):  # not the app's secret
        check_signed(call, app.webhook_secret)
    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.event, delivery.message) == (
        "delivered",
        "conversation.reply",
        None,
    )
    # The secret is not kept readable in the database.
    assert "reply-secret" not in delivery.secret_encrypted


def test_without_a_secret_the_app_s_signs(app, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=204)
        run_tasks(webhook_enqueue, app=app, url=HOOK, payload={"a": 1}, event="inbound.message")
        [call] = rsps.calls
    assert check_signed(call, app.webhook_secret) == {"a": 1}


def test_nothing_is_sent_when_the_cause_rolls_back(app, django_capture_on_commit_callbacks):
    with responses.RequestsMock() as rsps, django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            webhook_enqueue(app=app, url=HOOK, payload={}, event="inbound.message")
            raise RuntimeError("the inbound could not be stored")
        assert len(rsps.calls) == 0
    assert not CallbackDelivery.objects.exists()


def test_a_failed_webhook_is_redelivered_from_the_admin(app, client, run_tasks, settings):
    settings.CALLBACK_MAX_ATTEMPTS = 1
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=503)
        run_tasks(webhook_enqueue, app=app, url=HOOK, payload={"n": 1}, event="inbound.message")
    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 1)

    url = reverse("admin:messaging_callbackdelivery_changelist")
    support = staff_user("sam", tenant=app.tenant, role="support")
    client.force_login(support)
    page = client.get(url).content.decode()
    assert "redeliver" not in page  # support looks, does not act
    r = client.post(url, {"action": "redeliver", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.state == "failed"

    client.force_login(staff_user("alice", tenant=app.tenant, role="tenant_admin"))
    assert "Redeliver the selected webhooks" in client.get(url).content.decode()
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=200)
        r = run_tasks(client.post, url, {"action": "redeliver", "_selected_action": [delivery.pk]})
        assert r.status_code == 302
        [call] = rsps.calls
    assert check_signed(call, app.webhook_secret) == {"n": 1}
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert list(CallbackAttempt.objects.values_list("response_status", flat=True)) == [503, 200]


def test_another_tenant_s_admin_cannot_redeliver(app, client, run_tasks, settings):
    settings.CALLBACK_MAX_ATTEMPTS = 1
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=503)
        run_tasks(webhook_enqueue, app=app, url=HOOK, payload={}, event="inbound.message")
    delivery = CallbackDelivery.objects.get()
    other = TenantFactory(slug="other")
    client.force_login(staff_user("eve", tenant=other, role="tenant_admin"))
    url = reverse("admin:messaging_callbackdelivery_changelist")
    assert client.get(url).context["cl"].result_count == 0
    with responses.RequestsMock() as rsps:
        run_tasks(client.post, url, {"action": "redeliver", "_selected_action": [delivery.pk]})
        assert len(rsps.calls) == 0
    delivery.refresh_from_db()
    assert delivery.state == "failed"
