"""Callbacks: signed POSTs of each status change, retried with backoff until a 2xx."""

import base64
import socket
import time
from datetime import timedelta

import pytest
import requests
import responses
import standardwebhooks
from django.utils import timezone

from messaging.models import CallbackAttempt, CallbackDelivery, Message
from messaging.services import callbacks
from messaging.services.callbacks import callback_delay, callback_deliver
from messaging.services.sweep import sweep
from tests.helpers import HOOK, verified

PUBLIC_HOOK = "https://hooks.example.com/status"


def send(client, run_tasks, url=HOOK, to="+14155550001", meta=None):
    """A message that is rejected at once: exactly one callback (REJECTED_DESTINATION)."""
    body = {"sms": [{"body": "hi", "to": [to]}], "callback": {"url": url, "meta": meta}}
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


def make_due():
    CallbackDelivery.objects.filter(state="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def attempts():
    return list(
        CallbackAttempt.objects.order_by("number").values(
            "number", "response_status", "response_body", "error"
        )
    )


def test_callback_body_and_signature(client, app, sandbox, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=204)
        mid = send(client, run_tasks, meta={"orderId": "o-1", "n": [1, 2]})
        [call] = rsps.calls
    body = verified(call, app)
    m = Message.objects.get(pk=mid)
    assert body == {
        "event": "message.status",
        "messageId": mid,
        "requestId": str(m.request_id),
        "channel": "sms",
        "to": "+14155550001",
        "status": {
            "groupName": "REJECTED",
            "name": "REJECTED_DESTINATION",
            "description": "The provider rejected the destination.",
        },
        "error": {
            "code": "SANDBOX_REJECTED",
            "description": "The sandbox rejects +14155550001 (magic recipient).",
            "permanent": True,
        },
        "timestamp": body["timestamp"],
        "meta": {"orderId": "o-1", "n": [1, 2]},
    }
    assert timezone.datetime.fromisoformat(body["timestamp"]) == m.final_at
    assert CallbackDelivery.objects.get().state == "delivered"


def test_standard_webhooks_id_is_stable_and_an_old_timestamp_is_refused(
    client, app, sandbox, run_tasks
):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=500)
        send(client, run_tasks)
        make_due()
        run_tasks(sweep)
        first, second = rsps.calls
    delivery = CallbackDelivery.objects.get()
    # One callback, one id on every attempt, so a receiver that saw it already can drop it.
    assert first.request.headers["webhook-id"] == f"cb_{delivery.pk}"
    assert second.request.headers["webhook-id"] == first.request.headers["webhook-id"]
    assert abs(int(second.request.headers["webhook-timestamp"]) - time.time()) < 60
    verified(second, app)

    # The timestamp is signed: re-dating a captured callback breaks the signature, and the
    # captured one replayed later is outside the library's 5-minute tolerance.
    key = "whsec_" + base64.b64encode(app.webhook_secret.encode()).decode()
    headers = dict(first.request.headers)
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(key).verify(first.request.body, headers)
    old = int(time.time()) - 600
    replay = dict(first.request.headers)
    replay["webhook-timestamp"] = str(old)
    replay["webhook-signature"] = callbacks.standard_signature(
        replay["webhook-id"], old, first.request.body, app.webhook_secret
    )
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(key).verify(first.request.body, replay)


def test_retried_with_backoff_until_a_2xx(client, app, sandbox, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=500, body="boom")
        send(client, run_tasks)
        delivery = CallbackDelivery.objects.get()
        assert (delivery.state, delivery.attempts) == ("pending", 1)
        first_wait = delivery.next_attempt_at - timezone.now()
        assert timedelta(seconds=20) < first_wait <= timedelta(seconds=36)

        # Not due: nothing happens.
        assert callback_deliver(delivery_id=delivery.pk) == "skipped"

        make_due()
        run_tasks(sweep)
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts) == ("pending", 2)
        second_wait = delivery.next_attempt_at - timezone.now()
        assert timedelta(seconds=45) < second_wait <= timedelta(seconds=72)

        rsps.replace(responses.POST, HOOK, status=200, body="thanks")
        make_due()
        run_tasks(sweep)
        assert len(rsps.calls) == 3
        bodies = {c.request.body for c in rsps.calls}
        assert len(bodies) == 1  # the same event each time
        assert [c.request.headers["X-Callback-Attempt"] for c in rsps.calls] == ["1", "2", "3"]
        for call in rsps.calls:
            verified(call, app)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 3)
    assert delivery.delivered_at is not None
    assert attempts() == [
        {"number": 1, "response_status": 500, "response_body": "boom", "error": ""},
        {"number": 2, "response_status": 500, "response_body": "boom", "error": ""},
        {"number": 3, "response_status": 200, "response_body": "thanks", "error": ""},
    ]
    # Delivered: never again.
    make_due()
    assert callback_deliver(delivery_id=delivery.pk) == "skipped"


def test_gives_up_after_max_attempts(client, app, sandbox, run_tasks, settings):
    settings.CALLBACK_MAX_ATTEMPTS = 3
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=502)
        send(client, run_tasks)
        for _ in range(5):
            make_due()
            run_tasks(sweep)
        assert len(rsps.calls) == 3
    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert [a["response_status"] for a in attempts()] == [502, 502, 502]


def test_a_redirect_is_not_followed_and_counts_as_a_failure(client, app, sandbox, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=302, headers={"Location": "http://10.0.0.1/"})
        send(client, run_tasks)
        assert len(rsps.calls) == 1
    assert CallbackDelivery.objects.get().state == "pending"
    assert attempts()[0]["response_status"] == 302


def test_a_network_error_is_recorded_and_retried(client, app, sandbox, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, body=requests.ConnectionError("connection refused"))
        send(client, run_tasks)
        rsps.replace(responses.POST, HOOK, status=200)
        make_due()
        run_tasks(sweep)
    [first, second] = attempts()
    assert first["response_status"] is None
    assert first["error"] == "Could not connect to 127.0.0.1:8765: the connection failed."
    assert second["response_status"] == 200
    assert CallbackDelivery.objects.get().state == "delivered"


def test_a_long_response_body_is_cut(client, app, sandbox, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=500, body="x" * 10000)
        send(client, run_tasks)
    assert len(attempts()[0]["response_body"]) == 2000


def test_a_private_callback_url_is_refused_at_accept(client, sandbox, settings):
    settings.ALLOW_PRIVATE_URLS = False
    for url in (HOOK, "http://localhost/x", "http://10.1.2.3/x", "http://[::1]/x"):
        r = client.post(
            "/api/v1/messages",
            {"sms": [{"body": "hi", "to": ["+14155550100"]}], "callback": {"url": url}},
            format="json",
        )
        assert r.status_code == 400, url
        [error] = r.json()["errors"]
        assert (error["code"], error["source"]) == ("private_url", "callback.url")
    assert not Message.objects.exists()


def test_a_private_callback_url_is_refused_at_delivery(client, app, sandbox, run_tasks, settings):
    # Accepted while allowed (or before the setting changed), delivered when not.
    with responses.RequestsMock() as rsps:
        settings.ALLOW_PRIVATE_URLS = True
        mid = client.post(
            "/api/v1/messages",
            {"sms": [{"body": "hi", "to": ["+14155550001"]}], "callback": {"url": HOOK}},
            format="json",
        ).json()["messages"][0]["messageId"]
        settings.ALLOW_PRIVATE_URLS = False
        Message.objects.filter(pk=mid).update(updated_at=timezone.now() - timedelta(minutes=3))
        run_tasks(sweep)
        assert len(rsps.calls) == 0
    [attempt] = attempts()
    assert attempt["response_status"] is None
    assert "private or loopback" in attempt["error"]
    assert CallbackDelivery.objects.get().state == "pending"


def test_a_public_name_that_resolves_to_a_private_address_is_refused(
    client, app, sandbox, run_tasks, settings, monkeypatch
):
    settings.ALLOW_PRIVATE_URLS = False

    def fake_getaddrinfo(host, *args, **kwargs):
        assert host == "hooks.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with responses.RequestsMock() as rsps:
        send(client, run_tasks, url=PUBLIC_HOOK)
        assert len(rsps.calls) == 0
    assert "private or loopback" in attempts()[0]["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://localhost./hook",
        "http://[::127.0.0.1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://100.64.0.1/hook",
        "http://224.0.0.1/hook",
        "http://printer.local/hook",
    ],
)
def test_every_spelling_of_an_inside_address_is_refused_at_accept(client, sandbox, settings, url):
    settings.ALLOW_PRIVATE_URLS = False
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "hi", "to": ["+14155550100"]}], "callback": {"url": url}},
        format="json",
    )
    assert r.status_code == 400, url
    [error] = r.json()["errors"]
    assert (error["code"], error["source"]) == ("private_url", "callback.url")
    assert not Message.objects.exists()


def test_a_public_address_is_called(client, app, sandbox, run_tasks, settings, monkeypatch):
    settings.ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0))],
    )
    with responses.RequestsMock() as rsps:
        rsps.post(PUBLIC_HOOK, status=200)
        send(client, run_tasks, url=PUBLIC_HOOK)
        assert len(rsps.calls) == 1
    assert CallbackDelivery.objects.get().state == "delivered"


def test_an_unexpected_error_is_recorded_not_stuck(client, app, sandbox, run_tasks, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("bad url")

    monkeypatch.setattr(callbacks, "pooled_session", lambda name: type("S", (), {"post": explode}))
    send(client, run_tasks)
    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert attempts()[0]["error"] == "RuntimeError: bad url"


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 9, 12, 40])
def test_callback_delay_bounds(attempt):
    base = min(30 * 2 ** (attempt - 1), 7200)
    delays = [callback_delay(attempt) for _ in range(100)]
    assert all(base * 0.8 <= d <= base * 1.2 for d in delays)
    assert len(set(delays)) > 1


def test_every_status_change_gets_its_own_callback_in_order(client, app, sandbox, run_tasks):
    with responses.RequestsMock() as rsps:
        rsps.post(HOOK, status=200)
        send(client, run_tasks, to="+14155550002")  # flaky: retry, sent, delivered
        Message.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        run_tasks(sweep)
        names = [verified(c, app)["status"]["name"] for c in rsps.calls]
    assert names == [
        "PENDING_WAITING_RETRY",
        "PENDING_ENROUTE",
        "DELIVERED_TO_HANDSET",
    ]


def test_a_batch_of_reports_wakes_the_callback_worker_once(
    client, app, sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    """One webhook call with many reports: one callback task for all of them."""
    from messaging import queue
    from messaging.models import Message
    from messaging.services.dispatch import dispatch_window
    from messaging.services.status import message_reports_apply
    from providers.backends import StatusReport

    r = client.post(
        "/api/v1/messages",
        {
            "sms": [{"body": "hi", "to": [f"+1415555{i:04d}" for i in range(100, 110)]}],
            "callback": {"url": "http://127.0.0.1:8765/hooks/status"},
        },
        format="json",
    )
    assert r.status_code == 202
    dispatch_window()
    tasks = []
    monkeypatch.setattr(
        "messaging.services.status.enqueue", lambda func, *a: tasks.append((func, a))
    )
    monkeypatch.setattr(
        "messaging.services.status.enqueue_on_commit", lambda func, *a: tasks.append((func, a))
    )
    reports = [
        StatusReport(provider_message_id=m.provider_message_id, status="DELIVERED_TO_HANDSET")
        for m in Message.objects.all()
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert message_reports_apply(provider=sandbox, reports=reports) == 10
    assert [func for func, _ in tasks] == [queue.DELIVER_CALLBACKS]
    assert len(tasks[0][1][0]) == 10
