"""Outbound requests cannot be aimed inside the network (SSRF), issue 9.

Every path the service fetches or posts on a tenant's behalf is driven against real
loopback listeners with ALLOW_PRIVATE_URLS=false: nothing may arrive. Each refusal has a
control beside it (the same request with ALLOW_PRIVATE_URLS=true does arrive), so a test
cannot pass because the listener was unreachable anyway. Names are resolved by a stubbed
resolver, never by real DNS and never to a real private host.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.utils import timezone

from core import http
from core.netsafe import address_is_public, host_is_private
from messaging.models import CallbackAttempt, CallbackDelivery, Message
from messaging.services.callbacks import callback_deliver
from providers.backends.aws_sms import AwsSmsBackend
from providers.backends.base import CredentialsInvalid, OutboundMessage, SendError
from providers.backends.smtp import SmtpBackend
from providers.backends.twilio import TwilioBackend
from providers.backends.websms import WebsmsBackend
from providers.email import attachment_fetch
from tests.factories import ProviderFactory

TWILIO = {"accountSid": "AC" + "0" * 32, "authToken": "t" * 32}
REAL_GETADDRINFO = socket.getaddrinfo


class Listener:
    """A loopback HTTP server that records every request it gets."""

    def __init__(self, status: int = 200, body: bytes = b"{}", location: str = "") -> None:
        self.requests: list[tuple[str, str]] = []
        self.body = body
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                listener.requests.append((self.command, self.path))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener(body=b'{"sid": "SM1", "status": "queued"}')
    yield server
    server.close()


@pytest.fixture
def tcp_listener():
    """A loopback TCP port that counts the connections made to it (an SMTP host)."""
    accepted: list[int] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            accepted.append(1)
            self.request.sendall(b"554 go away\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1], accepted
    server.shutdown()
    server.server_close()


def resolver(monkeypatch, answers: dict[str, list[str]]):
    """Stub DNS: each name answers its addresses in turn (the last one repeats)."""
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)  # literals, 127.0.0.1
        calls.append(host)
        seen = answers[host]
        address = seen.pop(0) if len(seen) > 1 else seen[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


# --- the predicate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost",
        "localhost.", "LOCALHOST", "app.localhost", "printer.local", "10.0.0.1", "172.16.0.1",
        "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
        "255.255.255.255", "::1", "[::1]", "::", "::127.0.0.1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "64:ff9b::7f00:1", "64:ff9b:1::1", "2002:7f00:1::", "fe80::1",
        "fc00::1", "ff02::1",
    ],
)  # fmt: skip
def test_every_spelling_of_an_inside_address_is_private(host):
    assert host_is_private(host)


@pytest.mark.parametrize("host", ["93.184.216.34", "api.twilio.com", "2606:4700::1111"])
def test_public_hosts_are_not(host):
    assert not host_is_private(host)
    assert not host.replace(".", "").isdigit() or address_is_public(ipaddress.ip_address(host))


# --- callbacks ----------------------------------------------------------------------------------


def delivery_to(url: str, client) -> CallbackDelivery:
    r = client.post(
        "/api/v1/messages", {"sms": [{"body": "hi", "to": ["+14155550100"]}]}, format="json"
    )
    message = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    return CallbackDelivery.objects.create(
        app_id=message.app_id,
        message=message,
        url=url,
        payload={"event": "message.status"},
        next_attempt_at=timezone.now(),
    )


@pytest.mark.parametrize("allowed", [False, True])
def test_a_callback_to_loopback(client, sandbox, listener, settings, allowed):
    settings.ALLOW_PRIVATE_URLS = allowed
    delivery = delivery_to(f"{listener.url}/hook", client)
    state = callback_deliver(delivery_id=delivery.pk)
    if allowed:  # the control: the listener is reachable
        assert (state, listener.requests) == ("delivered", [("POST", "/hook")])
        return
    assert (state, listener.requests) == ("pending", [])
    attempt = CallbackAttempt.objects.get()
    assert attempt.response_status is None
    assert attempt.error.startswith("Refused: 127.0.0.1 is a private or loopback address")


@pytest.mark.parametrize("allowed", [False, True])
def test_a_callback_name_that_rebinds_to_loopback(
    client, sandbox, listener, settings, monkeypatch, allowed
):
    """The name is public when first looked up and loopback when the connection is made: the
    address checked is the address connected to, so nothing arrives."""
    delivery = delivery_to(f"http://hooks.example.com:{listener.port}/hook", client)
    # The control resolves to the listener only: no test ever connects outside.
    answers = ["127.0.0.1"] if allowed else ["93.184.216.34", "127.0.0.1"]
    calls = resolver(monkeypatch, {"hooks.example.com": answers})
    settings.ALLOW_PRIVATE_URLS = allowed
    state = callback_deliver(delivery_id=delivery.pk)
    if allowed:
        assert (state, listener.requests) == ("delivered", [("POST", "/hook")])
        return
    assert (state, listener.requests) == ("pending", [])
    assert len(calls) == 2  # checked, then resolved again for the connection and refused
    assert "private or loopback" in CallbackAttempt.objects.get().error


def test_a_callback_redirect_to_loopback_is_not_followed(client, sandbox, settings):
    inside = Listener()
    outside = Listener(status=307, location=f"{inside.url}/internal")
    try:
        delivery = delivery_to(f"{outside.url}/hook", client)
        assert callback_deliver(delivery_id=delivery.pk) == "pending"
        assert outside.requests == [("POST", "/hook")] and inside.requests == []
        assert CallbackAttempt.objects.get().response_status == 307
    finally:
        inside.close()
        outside.close()


# --- provider API addresses ---------------------------------------------------------------------


def sms_through(client, provider) -> Message:
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"body": "hi", "to": ["+14155550100"], "provider": provider.name}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    return Message.objects.get(pk=r.json()["messages"][0]["messageId"])


@pytest.mark.parametrize("allowed", [False, True])
def test_a_provider_api_base_url_on_loopback(
    client, tenant, listener, run_tasks, settings, allowed
):
    """A provider stored with an inside apiBaseUrl (say, before ALLOW_PRIVATE_URLS was turned
    off) reaches nothing: the send fails for good with the reason, nothing is retried."""
    provider = ProviderFactory(
        tenant=tenant, provider_type="twilio", channels=["sms"], is_tenant_default=True,
        credentials={**TWILIO, "apiBaseUrl": listener.url}, default_sender="+14155550199",
    )  # fmt: skip
    settings.ALLOW_PRIVATE_URLS = allowed
    message = run_tasks(sms_through, client, provider)
    message.refresh_from_db()
    if allowed:
        assert [m for m, _ in listener.requests] == ["POST"]
        return
    assert listener.requests == []
    assert (message.status, message.error_code, message.error_permanent) == (
        "REJECTED_PROVIDER", "PRIVATE_URL", True,
    )  # fmt: skip
    assert "127.0.0.1 is a private or loopback address" in message.error_description


def test_a_provider_redirect_is_not_followed_and_its_target_never_stored(client, tenant, run_tasks):
    inside = Listener(body=b'{"secret": "from inside"}')
    outside = Listener(status=302, location=f"{inside.url}/latest/meta-data", body=b"moved")
    try:
        provider = ProviderFactory(
            tenant=tenant, provider_type="twilio", channels=["sms"], is_tenant_default=True,
            credentials={**TWILIO, "apiBaseUrl": outside.url}, default_sender="+14155550199",
        )  # fmt: skip
        message = run_tasks(sms_through, client, provider)
        assert inside.requests == [] and len(outside.requests) == 1
        stored = str(list(message.send_attempts.values_list("provider_response", flat=True)))
        assert "from inside" not in stored
    finally:
        inside.close()
        outside.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://[::1]/", "http://0x7f000001/"])
def test_an_inside_api_base_url_is_refused_when_saved(client, tenant, settings, url):
    settings.ALLOW_PRIVATE_URLS = False
    with pytest.raises(CredentialsInvalid) as err:
        TwilioBackend.clean_credentials({**TWILIO, "apiBaseUrl": url})
    assert "private or loopback" in err.value.errors["apiBaseUrl"]
    r = client.post(
        "/api/v1/providers",
        {"name": "inside", "providerType": "twilio", "credentials": {**TWILIO, "apiBaseUrl": url}},
        format="json",
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"] == "credentials.apiBaseUrl"


def test_the_connection_test_reaches_nothing_inside(tenant, listener, settings):
    backend = TwilioBackend({**TWILIO, "apiBaseUrl": listener.url})
    settings.ALLOW_PRIVATE_URLS = False
    with pytest.raises(http.BlockedAddress):
        backend.test_connection()
    assert listener.requests == []
    settings.ALLOW_PRIVATE_URLS = True  # the control
    backend.test_connection()
    assert len(listener.requests) == 1


@pytest.mark.parametrize("allowed", [False, True])
def test_an_aws_endpoint_must_be_aws_s_own(settings, listener, allowed):
    """boto3 opens its own connections, so a custom endpoint may only be an AWS host."""
    settings.ALLOW_PRIVATE_URLS = allowed
    creds = {"accessKeyId": "AKIA", "secretAccessKey": "s", "region": "eu-west-1",
             "originationIdentity": "+14155550199"}  # fmt: skip
    for url in (listener.url, "https://sms.attacker.example"):
        if allowed:
            assert AwsSmsBackend.clean_credentials({**creds, "apiBaseUrl": url})
            continue
        with pytest.raises(CredentialsInvalid):
            AwsSmsBackend.clean_credentials({**creds, "apiBaseUrl": url})
        with pytest.raises(SendError) as err:
            AwsSmsBackend({**creds, "apiBaseUrl": url}).client()
        assert err.value.code == "PRIVATE_URL" and err.value.permanent
    assert AwsSmsBackend.clean_credentials(
        {**creds, "apiBaseUrl": "https://sms-voice.eu-west-1.amazonaws.com"}
    )
    assert listener.requests == []


# --- media --------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "[::ffff:127.0.0.1]"])
def test_an_email_attachment_inside_is_refused(listener, settings, host):
    settings.ALLOW_PRIVATE_URLS = False
    with pytest.raises(SendError) as err:
        attachment_fetch(f"http://{host}:{listener.port}/invoice.pdf", "invoice.pdf")
    assert (err.value.code, err.value.permanent) == ("ATTACHMENT_URL", True)
    assert listener.requests == []
    settings.ALLOW_PRIVATE_URLS = True  # the control
    assert attachment_fetch(f"{listener.url}/invoice.pdf", "invoice.pdf")[0] == "invoice.pdf"
    assert len(listener.requests) == 1


def test_an_attachment_redirect_into_the_network_is_refused(listener, settings, monkeypatch):
    settings.ALLOW_PRIVATE_URLS = False
    resolver(monkeypatch, {"cdn.example.com": ["93.184.216.34"]})
    with responses.RequestsMock() as rsps:
        rsps.get("https://cdn.example.com/a.pdf", status=302, headers={"Location": listener.url})
        rsps.add_passthru(listener.url)
        with pytest.raises(SendError) as err:
            attachment_fetch("https://cdn.example.com/a.pdf", "a.pdf")
        assert "private or loopback" in err.value.description
        assert listener.requests == []
        settings.ALLOW_PRIVATE_URLS = True  # the control: the redirect is followed
        assert attachment_fetch("https://cdn.example.com/a.pdf", "a.pdf")[1] == listener.body
    assert len(listener.requests) == 1


def test_a_websms_media_url_inside_is_never_fetched(listener, settings):
    settings.ALLOW_PRIVATE_URLS = False
    backend = WebsmsBackend({"clientId": "c", "clientSecret": "s"})
    message = OutboundMessage(
        id="11111111-2222-4333-8444-555555555555", channel="whatsapp", to="+436601234567",
        sender="", body="", payload={"media": {"image": {"url": f"{listener.url}/a.png"}}},
    )  # fmt: skip
    with pytest.raises(SendError) as err:
        backend._media_id(message.content.media[0])
    assert (err.value.code, err.value.permanent) == ("MEDIA_FETCH_FAILED", True)
    assert listener.requests == []


# --- SMTP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "mail.example.com"])
def test_an_smtp_host_inside_is_never_connected_to(tcp_listener, settings, monkeypatch, host):
    port, accepted = tcp_listener
    resolver(monkeypatch, {"mail.example.com": ["127.0.0.1"]})
    backend = SmtpBackend({"host": host, "port": port, "useTls": False})
    settings.ALLOW_PRIVATE_URLS = False
    with pytest.raises(SendError) as err:
        backend.test_connection()
    assert (err.value.code, err.value.permanent) == ("PRIVATE_URL", True)
    assert accepted == []
    settings.ALLOW_PRIVATE_URLS = True  # the control: the port is there
    with pytest.raises(SendError):
        backend.test_connection()
    assert accepted == [1]
