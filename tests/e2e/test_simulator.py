"""End to end through the provider simulator: our app sends to it as Twilio and as Infobip,
and it pushes their delivery reports (signed, for Twilio) and inbound messages back to our
webhook URLs on a live server."""

from __future__ import annotations

import time

import pytest
import requests

from messaging.models import Message
from providers.models import InboundMessage
from providers.simulator import (
    DEFAULT_INFOBIP_API_KEY,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    Simulator,
)

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE = 15.0


@pytest.fixture
def simulator():
    sim = Simulator(report_delay=0.3, slow_seconds=0.2).start()
    yield sim
    sim.stop()


@pytest.fixture
def public(settings, live_server):
    """Webhook URLs handed to the simulator point at the live server."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


def register(client, simulator, provider_type: str) -> dict:
    credentials = {
        "twilio": {
            "accountSid": DEFAULT_TWILIO_ACCOUNT_SID,
            "authToken": DEFAULT_TWILIO_AUTH_TOKEN,
        },
        "infobip": {"apiKey": DEFAULT_INFOBIP_API_KEY},
    }[provider_type]
    r = client.post(
        "/api/v1/providers",
        {
            "name": provider_type,
            "providerType": provider_type,
            "channels": ["sms", "whatsapp"],
            "credentials": {**credentials, "apiBaseUrl": simulator.url},
            "defaultSender": "+14155550999",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    return r.json()["data"]


def send(client, run_tasks, provider: str, to: str, channel: str = "sms") -> str:
    entry = {"body": "Hello through the simulator", "provider": provider, "to": [to]}
    r = run_tasks(client.post, "/api/v1/messages", {channel: [entry]}, format="json")
    assert r.status_code == 202, r.content
    return r.json()["messages"][0]["messageId"]


def wait_for_status(mid: str, wanted: str) -> Message:
    deadline = time.monotonic() + DEADLINE
    message = Message.objects.get(pk=mid)
    while message.status != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
        message.refresh_from_db()
    assert message.status == wanted, (message.status, message.error_code)
    return message


@pytest.mark.parametrize(
    ("provider_type", "channel", "final"),
    [
        ("twilio", "sms", "DELIVERED_TO_HANDSET"),
        ("twilio", "whatsapp", "DELIVERED_READ"),
        ("infobip", "sms", "DELIVERED_TO_HANDSET"),
        ("infobip", "whatsapp", "DELIVERED_READ"),
    ],
)
def test_message_is_delivered_by_the_pushed_report(
    client, run_tasks, simulator, public, provider_type, channel, final
):
    register(client, simulator, provider_type)
    mid = send(client, run_tasks, provider_type, "+14155550100", channel)
    message = wait_for_status(mid, final)
    assert message.provider_message_id
    [sent] = simulator.state()["sends"]
    assert sent["provider"] == provider_type
    hooks = simulator.state()["webhooks"]
    assert hooks and hooks[-1]["status"] == 200, hooks
    assert all(h["url"].startswith(public + "/webhooks/providers/") for h in hooks)


@pytest.mark.parametrize("provider_type", ["twilio", "infobip"])
def test_failing_recipient_ends_undeliverable(client, run_tasks, simulator, public, provider_type):
    register(client, simulator, provider_type)
    simulator.set_mode("fail", "+14155550100")
    mid = send(client, run_tasks, provider_type, "+14155550100")
    message = wait_for_status(mid, "UNDELIVERABLE_NOT_DELIVERED")
    # Twilio 30005 (unknown destination handset) is permanent: final, not retried.
    assert message.error_code in ("30005", "EC_UNKNOWN_SUBSCRIBER")
    assert message.error_permanent is True
    assert len(simulator.state()["sends"]) == 1


@pytest.mark.parametrize(
    ("provider_type", "status", "code"),
    [("twilio", "REJECTED_DESTINATION", "21610"), ("infobip", "REJECTED_DESTINATION", None)],
)
def test_rejecting_recipient_is_rejected_at_once(
    client, run_tasks, simulator, public, provider_type, status, code
):
    register(client, simulator, provider_type)
    # Through the control API, as a developer or another test process would.
    r = requests.post(
        f"{simulator.url}/_control", json={"mode": "reject", "recipient": "+14155550123"}
    )
    assert r.status_code == 200
    mid = send(client, run_tasks, provider_type, "+14155550123")
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == status
    assert got["error"]["permanent"] is True
    if code:
        assert got["error"]["code"] == code
    assert not simulator.state()["webhooks"]


@pytest.mark.parametrize("provider_type", ["twilio", "infobip"])
def test_unavailable_provider_means_a_retry_later(
    client, run_tasks, simulator, public, provider_type
):
    register(client, simulator, provider_type)
    simulator.set_mode("503")
    mid = send(client, run_tasks, provider_type, "+14155550100")
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["permanent"] is False


def test_magic_recipient_429_means_a_retry_later(client, run_tasks, simulator, public):
    register(client, simulator, "infobip")
    mid = send(client, run_tasks, "infobip", "+14155550005")
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == "PENDING_WAITING_RETRY"
    assert got["error"]["code"] == "E429"


@pytest.mark.parametrize("provider_type", ["twilio", "infobip"])
def test_slow_provider_still_delivers(client, run_tasks, simulator, public, provider_type):
    register(client, simulator, provider_type)
    simulator.set_mode("slow", "+14155550188")
    started = time.monotonic()
    mid = send(client, run_tasks, provider_type, "+14155550188")
    assert time.monotonic() - started >= simulator.slow_seconds
    wait_for_status(mid, "DELIVERED_TO_HANDSET")


@pytest.mark.parametrize(
    ("provider_type", "channel"),
    [("twilio", "sms"), ("twilio", "whatsapp"), ("infobip", "sms"), ("infobip", "whatsapp")],
)
def test_inbound_message_arrives_stored(client, simulator, public, provider_type, channel):
    provider = register(client, simulator, provider_type)
    r = requests.post(
        f"{simulator.url}/_control/inbound",
        json={
            "provider": provider_type,
            "url": provider["inboundWebhookUrl"],
            "from": "+14155550177",
            "to": "+14155550999",
            "text": "STOP please",
            "channel": channel,
        },
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == 200, r.json()
    if provider_type == "twilio":
        assert "<Response/>" in r.json()["body"]
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.sender, stored.recipient, stored.text) == (
        channel,
        "+14155550177",
        "+14155550999",
        "STOP please",
    )
    assert stored.provider.provider_type == provider_type


# --- references: our id travels, comes back, is counted, and can be looked up ---------------


def test_twilio_reports_come_back_to_the_callback_url_with_our_ref(
    client, run_tasks, simulator, public
):
    register(client, simulator, "twilio")
    mid = send(client, run_tasks, "twilio", "+14155550100")
    wait_for_status(mid, "DELIVERED_TO_HANDSET")
    hooks = simulator.state()["webhooks"]
    assert hooks and all(h["url"].endswith(f"/status?ref={mid}") for h in hooks), hooks
    assert all(h["status"] == 200 for h in hooks)  # signed over the URL with its query
    state = simulator.state()
    assert state["refCounts"] == {mid: 1}
    assert state["acceptedRefCounts"] == {mid: 1}
    assert state["duplicates"] == {}


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_infobip_keeps_our_message_id_and_echoes_callback_data(
    client, run_tasks, simulator, public, channel
):
    register(client, simulator, "infobip")
    final = "DELIVERED_READ" if channel == "whatsapp" else "DELIVERED_TO_HANDSET"
    mid = send(client, run_tasks, "infobip", "+14155550100", channel)
    message = wait_for_status(mid, final)
    assert message.provider_message_id == mid  # our messageId became Infobip's
    assert simulator.state()["acceptedRefCounts"] == {mid: 1}


def _infobip_backend(simulator):
    from providers.backends import OutboundMessage
    from providers.backends.infobip import InfobipBackend

    backend = InfobipBackend(
        {"apiKey": DEFAULT_INFOBIP_API_KEY, "apiBaseUrl": simulator.url}, default_sender="Sim"
    )
    message = OutboundMessage(
        id="6f1c1c1e-0000-4000-8000-000000000001", channel="sms", to="+14155550100", body="Hi"
    )
    return backend, message


def test_infobip_lookup_against_the_simulator(simulator):
    backend, message = _infobip_backend(simulator)
    assert backend.lookup(message) is None
    sent = backend.send(message)
    found = backend.lookup(message)
    assert found is not None and found.provider_message_id == sent.provider_message_id
    assert found.provider_message_id == message.id


def test_infobip_resend_of_a_taken_message_is_refused_as_duplicate_and_found(simulator):
    """A worker killed after Infobip took the message sends it again: the simulator refuses the
    messageId it has (REJECTED_DUPLICATE_MESSAGE_ID) and the adapter finds the first one."""
    backend, message = _infobip_backend(simulator)
    first = backend.send(message)
    again = backend.send(message)
    assert again.provider_message_id == first.provider_message_id == message.id
    state = simulator.state()
    assert state["refCounts"] == {message.id: 2}
    assert state["acceptedRefCounts"] == {message.id: 1}
    assert state["duplicates"] == {}


def test_control_api_exposes_the_counts(simulator):
    backend, message = _infobip_backend(simulator)
    backend.send(message)
    state = requests.get(f"{simulator.url}/_control", timeout=5).json()
    assert state["refCounts"] == {message.id: 1}
    requests.post(f"{simulator.url}/_control/reset", json={}, timeout=5)
    assert requests.get(f"{simulator.url}/_control", timeout=5).json()["refCounts"] == {}
