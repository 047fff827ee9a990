"""Provider failover through the provider simulator: a Twilio-type provider whose API (the
simulator on loopback) answers 503 to everything, then times out on none but still refuses;
its messages go out through the sandbox backup, and the circuit keeps later messages off it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import status as st
from messaging.models import Message
from messaging.services.dispatch import dispatch_window
from providers.models import SandboxOutboxEntry
from providers.simulator import DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN, Simulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulator():
    sim = Simulator(report_delay=0.3).start()
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def policy(settings):
    settings.DISPATCH_CONCURRENCY = 1
    settings.PROVIDER_FAILOVER_ATTEMPTS = 2
    settings.PROVIDER_CIRCUIT_FAILURES = 3
    settings.PROVIDER_CIRCUIT_COOLDOWN = 30.0


def retry_now():
    Message.objects.filter(status=st.PENDING_WAITING_RETRY).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def tw_calls(simulator, to: str | None = None) -> list[dict]:
    return [
        s
        for s in simulator.state()["sends"]
        if s["provider"] == "twilio" and (to is None or ("To", to) in map(tuple, s["form"]))
    ]


def test_an_outage_of_the_simulator_fails_over_to_the_backup(client, simulator):
    made = [
        client.post("/api/v1/providers", body, format="json")
        for body in (
            {"name": "spare", "providerType": "sandbox", "channels": ["sms"]},
            {
                "name": "tw",
                "providerType": "twilio",
                "channels": ["sms"],
                "credentials": {
                    "accountSid": DEFAULT_TWILIO_ACCOUNT_SID,
                    "authToken": DEFAULT_TWILIO_AUTH_TOKEN,
                    "apiBaseUrl": simulator.url,
                },
                "defaultSender": "+14155550999",
                "backups": {"sms": "spare"},
            },
        )
    ]
    assert [r.status_code for r in made] == [201, 201], [r.content for r in made]
    simulator.set_mode("unavailable")  # HTTP 503 to every request

    def send(to: str) -> str:
        entry = {"body": "Your code is 4821", "provider": "tw", "to": [to]}
        r = client.post("/api/v1/messages", {"sms": [entry]}, format="json")
        assert r.status_code == 202, r.content
        return r.json()["messages"][0]["messageId"]

    first = send("+14155552001")
    dispatch_window()  # 503: retried later
    retry_now()
    dispatch_window()  # the second 503: failed over to spare, due at once
    dispatch_window()  # sent by spare
    got = client.get(f"/api/v1/messages/{first}").json()
    assert (got["provider"], got["status"]["name"]) == ("spare", "PENDING_ENROUTE")
    assert any("failed over to spare" in e["description"] for e in got["events"])
    assert len(tw_calls(simulator, "+14155552001")) == 2

    # A third outage opens tw's circuit: the next message goes to spare without calling tw.
    second = send("+14155552002")
    dispatch_window()
    retry_now()
    dispatch_window()
    calls_before = len(tw_calls(simulator))
    third = send("+14155552003")
    for _ in range(3):
        retry_now()
        dispatch_window()
    assert len(tw_calls(simulator)) == calls_before  # tw was not called
    for mid in (second, third):
        m = Message.objects.select_related("provider").get(pk=mid)
        assert (m.provider.name, m.status) == ("spare", st.PENDING_ENROUTE)
    outbox = set(SandboxOutboxEntry.objects.values_list("message_id", flat=True))
    assert {str(m) for m in outbox} == {first, second, third}
