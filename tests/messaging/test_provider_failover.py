"""Provider failover: a provider that is down (503, timeouts, 429 after its retries, an open
circuit) hands its messages to its backup for the channel; a circuit breaker keeps workers
from calling it meanwhile. Twilio (responses-mocked) is the provider that fails; the sandbox
is its backup, whose outbox shows what it sent."""

from datetime import timedelta

import pytest
import requests
import responses
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import status as st
from messaging.models import Message, MessageAttempt
from messaging.services import timers
from messaging.services.dispatch import dispatch_window
from providers.models import Provider, ProviderCircuit, SandboxOutboxEntry
from tenants.models import Tenant
from tests.factories import ProviderFactory, staff_user
from tests.helpers import assert_error

TWILIO = "https://api.twilio.test"
SID = "AC" + "0" * 32
SEND_URL = f"{TWILIO}/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
def twilio(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="tw",
        provider_type="twilio",
        channels=["sms", "whatsapp"],
        is_tenant_default=True,
        default_sender="+15005550006",
        credentials={"accountSid": SID, "authToken": "t" * 32, "apiBaseUrl": TWILIO},
    )


@pytest.fixture
def backup(tenant):
    return ProviderFactory(tenant=tenant, name="spare", channels=["sms", "email"])


@pytest.fixture
def with_backup(twilio, backup):
    twilio.backups = {"sms": backup.pk}
    twilio.save()
    return backup


@pytest.fixture(autouse=True)
def policy(settings):
    settings.DISPATCH_CONCURRENCY = 1  # sends in order: the window's breaker is deterministic
    settings.PROVIDER_FAILOVER_ATTEMPTS = 3
    settings.PROVIDER_CIRCUIT_FAILURES = 100  # out of the way unless a test is about it
    settings.PROVIDER_CIRCUIT_COOLDOWN = 30.0


def accept(client, numbers):
    r = client.post("/api/v1/messages", {"sms": [{"body": "Code 1234", "to": numbers}]}, "json")
    assert r.status_code == 202, r.content
    return [m["messageId"] for m in r.json()["messages"]]


def numbers(n, start=0):
    return [f"+1415555{2000 + start + i:04d}" for i in range(n)]


def retry_now():
    Message.objects.filter(status=st.PENDING_WAITING_RETRY).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def sent_by_backup(backup):
    return sorted(
        str(m)
        for m in SandboxOutboxEntry.objects.filter(provider=backup).values_list(
            "message_id", flat=True
        )
    )


def twilio_calls(rsps):
    return [c for c in rsps.calls if c.request.url == SEND_URL]


def detail(client, mid):
    return client.get(f"/api/v1/messages/{mid}").json()


def ok(request):
    return 201, {}, '{"sid": "SM' + "1" * 32 + '", "status": "queued"}'


# --- failing over after the provider's retries ----------------------------------------------


def test_503_then_the_backup_delivers_and_the_timeline_says_so(client, twilio, with_backup):
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=503, json={"code": 20500, "message": "Service Unavailable"})
        assert dispatch_window()["retry"] == 1
        for _ in range(2):
            retry_now()
            dispatch_window()
        # The third outage on tw: the message moved to the backup, due at once.
        m = Message.objects.get(pk=mid)
        assert (m.status, m.provider_id) == (st.PENDING_WAITING_RETRY, with_backup.pk)
        assert m.next_attempt_at <= timezone.now()
        assert dispatch_window()["sent"] == 1
        assert len(twilio_calls(rsps)) == 3
        assert "To=%2B14155552000" in twilio_calls(rsps)[0].request.body
    assert sent_by_backup(with_backup) == [mid]
    got = detail(client, mid)
    assert got["provider"] == "spare"
    assert got["status"]["name"] == "PENDING_ENROUTE"
    assert got["error"] is None
    failover = [e for e in got["events"] if "failed over" in e["description"]]
    assert [e["description"] for e in failover] == [
        "Provider tw unavailable (20500: Service Unavailable, after 3 attempts); "
        "failed over to spare."
    ]
    attempts = MessageAttempt.objects.filter(message_id=mid).order_by("number")
    assert [(a.number, a.provider_id, a.outcome) for a in attempts] == [
        (1, twilio.pk, "transient"), (2, twilio.pk, "transient"), (3, twilio.pk, "transient"),
        (4, with_backup.pk, "sent"),
    ]  # fmt: skip


def test_connect_timeouts_then_the_backup(client, twilio, with_backup):
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, body=requests.ConnectTimeout("connect timed out"))
        dispatch_window()
        for _ in range(2):
            retry_now()
            dispatch_window()
        dispatch_window()
        assert len(twilio_calls(rsps)) == 3
    assert sent_by_backup(with_backup) == [mid]
    events = [e["description"] for e in detail(client, mid)["events"]]
    assert any("NETWORK_ERROR: ConnectTimeout" in e and "failed over to spare" in e for e in events)


def test_429_honours_retry_after_then_the_backup(client, twilio, with_backup):
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(
            SEND_URL,
            status=429,
            json={"code": 20429, "message": "Too Many Requests"},
            headers={"Retry-After": "120"},
        )
        before = timezone.now()
        dispatch_window()
        m = Message.objects.get(pk=mid)
        assert m.status == st.PENDING_WAITING_RETRY
        assert m.next_attempt_at >= before + timedelta(seconds=119)  # not the 5-10 s backoff
        assert dispatch_window()["claimed"] == 0  # nothing before Retry-After
        for _ in range(2):
            retry_now()
            dispatch_window()
        dispatch_window()
        assert len(twilio_calls(rsps)) == 3
    assert sent_by_backup(with_backup) == [mid]
    assert Message.objects.get(pk=mid).provider_id == with_backup.pk


def test_a_permanent_error_does_not_fail_over(client, twilio, with_backup):
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=400, json={"code": 21211, "message": "Invalid 'To' number"})
        assert dispatch_window()["failed"] == 1
        assert dispatch_window()["claimed"] == 0
    got = detail(client, mid)
    assert got["status"]["name"] == "REJECTED_DESTINATION"
    assert got["provider"] == "tw"
    assert sent_by_backup(with_backup) == []
    assert not ProviderCircuit.objects.filter(failures__gt=0).exists()  # it answered: it is up


def test_without_a_backup_the_message_retries_on_its_provider(client, twilio, backup):
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=503)
        dispatch_window()
        for _ in range(4):
            retry_now()
            dispatch_window()
        assert len(twilio_calls(rsps)) == 5
    m = Message.objects.get(pk=mid)
    assert (m.status, m.provider_id, m.attempts) == (st.PENDING_WAITING_RETRY, twilio.pk, 5)
    assert sent_by_backup(backup) == []


def test_a_backup_for_another_channel_is_not_used(client, twilio, backup):
    twilio.backups = {"whatsapp": backup.pk}
    twilio.save()
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=503)
        for _ in range(4):
            dispatch_window()
            retry_now()
    assert Message.objects.get(pk=mid).provider_id == twilio.pk
    assert sent_by_backup(backup) == []


# --- unknown outcomes keep their policy -----------------------------------------------------


def test_a_read_timeout_is_held_not_resent_through_the_backup(client, tenant, twilio, with_backup):
    Tenant.objects.filter(pk=tenant.pk).update(unknown_outcome_policy="hold")
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, body=requests.ReadTimeout("read timed out"))
        assert dispatch_window()["unknown"] == 1
    Message.objects.filter(pk=mid).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert timers.unknowns_settle(timezone.now())["held"] == 1
    assert dispatch_window()["claimed"] == 0
    m = Message.objects.get(pk=mid)
    assert (m.status, m.provider_id) == (st.PENDING_UNKNOWN, twilio.pk)
    assert sent_by_backup(with_backup) == []


def test_under_resend_an_unknown_goes_to_the_backup_when_the_circuit_is_open(
    client, tenant, twilio, with_backup, settings
):
    settings.PROVIDER_CIRCUIT_FAILURES = 1
    Tenant.objects.filter(pk=tenant.pk).update(unknown_outcome_policy="resend")
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, body=requests.ReadTimeout("read timed out"))
        assert dispatch_window()["unknown"] == 1
        assert ProviderCircuit.objects.get(provider=twilio).opened_until > timezone.now()
        Message.objects.filter(pk=mid).update(claimed_until=timezone.now() - timedelta(seconds=1))
        assert timers.unknowns_settle(timezone.now())["resent"] == 1
        dispatch_window()  # the circuit is open: to the backup, without calling tw
        dispatch_window()
        assert len(twilio_calls(rsps)) == 1
    assert sent_by_backup(with_backup) == [mid]


# --- the circuit breaker --------------------------------------------------------------------


def test_the_circuit_opens_and_later_messages_go_straight_to_the_backup(
    client, twilio, with_backup, settings
):
    settings.PROVIDER_CIRCUIT_FAILURES = 3
    first = accept(client, numbers(10))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=503)
        dispatch_window()
        # Three failures opened it: the window's other seven were not sent to tw.
        assert len(twilio_calls(rsps)) == 3
        circuit = ProviderCircuit.objects.get(provider=twilio)
        assert circuit.failures == 3
        assert circuit.opened_until > timezone.now() + timedelta(seconds=25)
        # All ten moved to the backup (the seven spent no attempt).
        assert Message.objects.filter(pk__in=first, provider=with_backup).count() == 10
        dispatch_window()
        later = accept(client, numbers(5, start=100))
        dispatch_window()
        dispatch_window()
        assert len(twilio_calls(rsps)) == 3  # never called while open
    assert sent_by_backup(with_backup) == sorted(first + later)
    m = Message.objects.get(pk=later[0])
    assert m.attempts == 1  # the claim that found the circuit open did not count
    events = [e["description"] for e in detail(client, later[0])["events"]]
    assert any(
        e.startswith("Provider tw unavailable (circuit open after 3 failures in a row)")
        and e.endswith("failed over to spare.")
        for e in events
    ), events


def test_concurrent_lanes_stop_calling_a_provider_once_its_circuit_opens(
    client, twilio, with_backup, settings
):
    settings.DISPATCH_CONCURRENCY = 16
    settings.DISPATCH_PROVIDER_CONCURRENCY = 4
    settings.PROVIDER_CIRCUIT_FAILURES = 5
    ids = accept(client, numbers(60))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, body=requests.ConnectTimeout("connect timed out"))
        dispatch_window()
        called = len(twilio_calls(rsps))
        dispatch_window()
        assert len(twilio_calls(rsps)) == called
    # The five failures, and at most the sends already in flight on the other lanes.
    assert 5 <= called <= 5 + 4 + settings.DISPATCH_WAVE_SIZE
    assert sorted(sent_by_backup(with_backup)) == sorted(ids)


def test_while_open_without_a_backup_messages_wait_for_the_cool_down(client, twilio, settings):
    settings.PROVIDER_CIRCUIT_FAILURES = 2
    accept(client, numbers(2))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=503)
        dispatch_window()
        opened_until = ProviderCircuit.objects.get(provider=twilio).opened_until
        [mid] = accept(client, numbers(1, start=50))
        assert dispatch_window()["claimed"] == 1
        assert len(twilio_calls(rsps)) == 2  # the third was not sent
    m = Message.objects.get(pk=mid)
    assert (m.status, m.attempts, m.error_code) == (
        st.PENDING_WAITING_RETRY, 0, "PROVIDER_UNAVAILABLE",
    )  # fmt: skip
    assert opened_until <= m.next_attempt_at <= opened_until + timedelta(seconds=3)
    assert "waiting until" in m.events.latest("created_at").description


def open_circuit(provider, *, failures=5, ago=1):
    """A circuit whose cool-down ended `ago` seconds ago: half-open."""
    ProviderCircuit.objects.create(
        provider=provider,
        failures=failures,
        opened_until=timezone.now() - timedelta(seconds=ago),
        last_error="20500: Service Unavailable",
        updated_at=timezone.now(),
    )


def test_half_open_lets_one_message_try_and_success_closes_it(client, twilio, with_backup):
    open_circuit(twilio)
    ids = accept(client, numbers(3))
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, SEND_URL, ok)
        dispatch_window()
        assert len(twilio_calls(rsps)) == 1  # the probe only; the other two went to the backup
        circuit = ProviderCircuit.objects.get(provider=twilio)
        assert (circuit.failures, circuit.opened_until) == (0, None)
        assert Message.objects.filter(pk__in=ids, provider=with_backup).count() == 2
        more = accept(client, numbers(2, start=10))
        dispatch_window()
        assert len(twilio_calls(rsps)) == 3  # closed: tw sends again
    assert set(Message.objects.filter(pk__in=more).values_list("provider_id", flat=True)) == {
        twilio.pk
    }


def test_a_failed_probe_opens_the_circuit_again(client, twilio, settings):
    open_circuit(twilio)
    ids = accept(client, numbers(3))
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, status=503)
        dispatch_window()
        assert len(twilio_calls(rsps)) == 1
    circuit = ProviderCircuit.objects.get(provider=twilio)
    assert circuit.failures == 6
    assert circuit.opened_until > timezone.now() + timedelta(seconds=25)
    waiting = Message.objects.filter(pk__in=ids, attempts=0)
    assert waiting.count() == 2
    assert all(m.next_attempt_at >= circuit.opened_until - timedelta(seconds=1) for m in waiting)


def test_a_probe_taken_by_another_worker_holds_this_one(client, twilio, with_backup):
    open_circuit(twilio)
    # Another worker took the probe a moment ago: the circuit is open again for its send.
    ProviderCircuit.objects.filter(provider=twilio).update(
        opened_until=timezone.now() + timedelta(seconds=30)
    )
    [mid] = accept(client, numbers(1))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, SEND_URL, ok)
        dispatch_window()
        dispatch_window()
        assert len(twilio_calls(rsps)) == 0
    assert sent_by_backup(with_backup) == [mid]


def test_a_backup_whose_circuit_is_open_is_skipped(client, twilio, backup, tenant, settings):
    third = ProviderFactory(tenant=tenant, name="third", channels=["sms"])
    twilio.backups = {"sms": backup.pk}
    twilio.save()
    backup.backups = {"sms": third.pk}
    backup.save()
    ProviderCircuit.objects.create(
        provider=backup, failures=9, opened_until=timezone.now() + timedelta(minutes=1),
        updated_at=timezone.now(),
    )  # fmt: skip
    ProviderCircuit.objects.create(
        provider=twilio, failures=9, opened_until=timezone.now() + timedelta(minutes=1),
        updated_at=timezone.now(),
    )  # fmt: skip
    [mid] = accept(client, numbers(1))
    dispatch_window()
    dispatch_window()
    assert sent_by_backup(third) == [mid]


def test_mutual_backups_do_not_loop(client, twilio, backup, settings):
    """tw and spare back each other up: a message both fail stays on the second."""
    twilio.backups = {"sms": backup.pk}
    twilio.save()
    backup.backups = {"sms": twilio.pk}
    backup.save()
    settings.DISPATCH_MAX_ATTEMPTS = 8
    [mid] = accept(client, numbers(1))

    def spare_down(self, message):
        from providers.backends import SendError

        raise SendError("HTTP_503", "down", permanent=False, outage=True)

    from providers.backends.sandbox import SandboxBackend

    with responses.RequestsMock() as rsps, pytest.MonkeyPatch.context() as mp:
        mp.setattr(SandboxBackend, "send", spare_down)
        rsps.post(SEND_URL, status=503)
        for _ in range(10):
            dispatch_window()
            retry_now()
        assert len(twilio_calls(rsps)) == 3
    m = Message.objects.get(pk=mid)
    assert (m.provider_id, m.status, m.attempts) == (
        backup.pk, st.UNDELIVERABLE_NOT_DELIVERED, 8,
    )  # fmt: skip


def test_a_healthy_window_writes_nothing_for_the_circuit(client, twilio, with_backup):
    accept(client, numbers(20))
    with responses.RequestsMock() as rsps, CaptureQueriesContext(connection) as queries:
        rsps.add_callback(responses.POST, SEND_URL, ok)
        assert dispatch_window()["sent"] == 20
    sql = " ".join(q["sql"] for q in queries)
    assert "providers_providercircuit" in sql  # read with the providers (a join) ...
    assert not any(
        q["sql"].startswith(('UPDATE "providers_providercircuit"', 'INSERT INTO "providers_p'))
        for q in queries
    )  # ... and never written
    assert not ProviderCircuit.objects.exists()


# --- configuration: API and admin --------------------------------------------------------------


def test_the_api_sets_and_shows_backups(client, twilio, backup):
    r = client.patch("/api/v1/providers/tw", {"backups": {"sms": "spare"}}, "json")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["backups"] == {"sms": "spare"}
    assert client.get("/api/v1/providers/tw").json()["data"]["backups"] == {"sms": "spare"}
    listed = {p["name"]: p["backups"] for p in client.get("/api/v1/providers").json()["results"]}
    assert listed == {"spare": {}, "tw": {"sms": "spare"}}
    # A rename of the backup keeps the link; null removes it.
    assert client.patch("/api/v1/providers/spare", {"name": "reserve"}, "json").status_code == 200
    assert client.get("/api/v1/providers/tw").json()["data"]["backups"] == {"sms": "reserve"}
    r = client.patch("/api/v1/providers/tw", {"backups": {"sms": None}}, "json")
    assert r.json()["data"]["backups"] == {}


def test_a_provider_is_created_with_a_backup(client, backup):
    body = {
        "name": "tw2", "providerType": "twilio", "channels": ["sms"],
        "credentials": {"accountSid": SID, "authToken": "t" * 32}, "backups": {"sms": "spare"},
    }  # fmt: skip
    r = client.post("/api/v1/providers", body, "json")
    assert r.status_code == 201, r.content
    assert r.json()["data"]["backups"] == {"sms": "spare"}
    assert Provider.objects.get(name="tw2").backups == {"sms": backup.pk}


@pytest.mark.parametrize(
    "backups, source, words",
    [
        ({"sms": "nobody"}, "backups.sms", "no provider named 'nobody'"),
        ({"sms": "tw"}, "backups.sms", "its own backup"),
        ({"sms": "mail"}, "backups.sms", "does not send on 'sms'"),
        ({"viber": "spare"}, "backups.viber", "does not send on 'viber'"),
        ({"sms": 7}, "backups.sms", "A provider's name"),
        ({"sms": "other-tenant"}, "backups.sms", "no provider named 'other-tenant'"),
        ("spare", "backups", "must be"),
    ],
)
def test_a_bad_backup_is_a_400_naming_the_field(client, twilio, backup, tenant, backups, source,
                                                words):  # fmt: skip
    ProviderFactory(tenant=tenant, name="mail", channels=["email"])
    ProviderFactory(name="other-tenant", channels=["sms"])  # another tenant's
    r = client.patch("/api/v1/providers/tw", {"backups": backups}, "json")
    errors = assert_error(r, 400, source=source)
    assert words in errors[0]["detail"], errors
    twilio.refresh_from_db()
    assert twilio.backups == {}


def test_an_inactive_backup_is_refused_and_creation_stores_nothing(client, backup):
    Provider.objects.filter(pk=backup.pk).update(is_active=False)
    body = {"name": "tw3", "providerType": "sandbox", "backups": {"sms": "spare"}}
    r = client.post("/api/v1/providers", body, "json")
    assert_error(r, 400, source="backups.sms")
    assert not Provider.objects.filter(name="tw3").exists()


def test_dropping_a_channel_drops_its_backup(client, twilio, with_backup):
    r = client.patch("/api/v1/providers/tw", {"channels": ["whatsapp"]}, "json")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["backups"] == {}


@pytest.fixture
def admin_client(tenant):
    c = Client()
    c.force_login(staff_user("ada", tenant=tenant, role="tenant_admin"))
    return c


def change_url(provider):
    return f"/admin/providers/provider/{provider.pk}/change/"


def test_the_admin_page_shows_the_backup_and_the_circuit(admin_client, twilio, with_backup):
    ProviderCircuit.objects.create(
        provider=twilio, failures=5, opened_until=timezone.now() + timedelta(seconds=30),
        last_error="20500: Service Unavailable", updated_at=timezone.now(),
    )  # fmt: skip
    page = admin_client.get(change_url(twilio)).content.decode()
    assert "Backup for SMS" in page
    assert '<option value="spare" selected>' in page
    assert "Backups: SMS → spare" in page
    assert "<strong>open</strong> until" in page and "after 5 failures in a row" in page
    assert "last error: 20500: Service Unavailable" in page


def change_form(provider, **over):
    form = {
        "name": provider.name,
        "channels": provider.channels,
        "default_sender": provider.default_sender,
        "is_active": "on",
        "credential_accountSid": SID,
        "credential_apiBaseUrl": TWILIO,
        "backup_sms": "",
        "backup_whatsapp": "",
    }
    form.update(over)
    return form


def test_the_admin_form_sets_a_backup(admin_client, twilio, backup):
    r = admin_client.post(change_url(twilio), change_form(twilio, backup_sms="spare"))
    assert r.status_code == 302, r.content.decode()[:3000]
    twilio.refresh_from_db()
    assert twilio.backups == {"sms": backup.pk}
    r = admin_client.post(change_url(twilio), change_form(twilio, backup_sms=""))
    twilio.refresh_from_db()
    assert twilio.backups == {}


def test_the_admin_form_offers_only_providers_serving_the_channel(admin_client, twilio, tenant):
    ProviderFactory(tenant=tenant, name="mail", channels=["email"])
    ProviderFactory(tenant=tenant, name="texts", channels=["sms"])
    ProviderFactory(name="foreign", channels=["sms"])
    page = admin_client.get(change_url(twilio)).content.decode()
    sms = page.split('name="backup_sms"', 1)[1].split("</select>", 1)[0]
    assert 'value="texts"' in sms
    assert 'value="mail"' not in sms and 'value="foreign"' not in sms and 'value="tw"' not in sms
