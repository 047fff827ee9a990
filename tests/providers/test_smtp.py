"""SMTP through Django's SMTP backend with the tenant's host and login: the conversation the
server sees (STARTTLS or SSL, login, envelope, MIME parts) and how its refusals are mapped."""

import email
import smtplib
from email import policy

import pytest
import responses

from core import status as st
from messaging.models import Message
from providers.backends import CredentialsInvalid, OutboundMessage, SendError
from providers.backends.smtp import SmtpBackend
from tests.factories import ProviderFactory

CREDS = {
    "host": "smtp.example.com",
    "port": 587,
    "username": "shop",
    "password": "pw",
    "useTls": True,
    "useSsl": False,
}
PDF_URL = "https://files.example.com/inv.pdf"


class FakeSMTP:
    """Stands in for smtplib.SMTP / SMTP_SSL and records the conversation."""

    sessions: list["FakeSMTP"] = []
    refuse: Exception | None = None

    def __init__(self, host, port, **kwargs):
        self.host, self.port, self.kwargs = host, port, kwargs
        self.log: list = [("connect", host, port)]
        self.sent: list = []
        FakeSMTP.sessions.append(self)

    def ehlo(self):
        self.log.append(("ehlo",))

    def starttls(self, **kwargs):
        self.log.append(("starttls",))

    def login(self, user, password):
        self.log.append(("login", user, password))
        if isinstance(FakeSMTP.refuse, smtplib.SMTPAuthenticationError):
            raise FakeSMTP.refuse

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        if FakeSMTP.refuse is not None:
            raise FakeSMTP.refuse
        self.sent.append((from_addr, list(to_addrs), msg))
        return {}

    def quit(self):
        self.log.append(("quit",))

    def close(self):
        pass


class FakeSMTPSSL(FakeSMTP):
    pass


@pytest.fixture(autouse=True)
def fake_smtp(monkeypatch):
    FakeSMTP.sessions = []
    FakeSMTP.refuse = None
    monkeypatch.setattr("providers.backends.smtp.GuardedSMTP", FakeSMTP)
    monkeypatch.setattr("providers.backends.smtp.GuardedSMTP_SSL", FakeSMTPSSL)
    return FakeSMTP


def outbound(**kw):
    fields = {
        "id": "11111111-2222-4333-8444-555555555555",
        "channel": "email",
        "to": "ann@example.com",
        "body": "Hello",
        "html": "<p>Hello</p>",
        "sender": "Shop <shop@example.com>",
        "subject": "Hi",
        "cc": ["cc@example.com"],
        "bcc": ["bcc@example.com"],
        "payload": {
            "to": ["ann@example.com", "bob@example.com"],
            "replyTo": "help@example.com",
            "media": {"document": {"url": PDF_URL, "filename": "invoice.pdf"}},
        },
    }
    return OutboundMessage(**{**fields, **kw})


@responses.activate
def test_send_speaks_starttls_logs_in_and_sends_every_part():
    responses.get(PDF_URL, body=b"%PDF-1.4", content_type="application/pdf")
    result = SmtpBackend(CREDS).send(outbound())
    [session] = FakeSMTP.sessions
    assert session.log[:3] == [
        ("connect", "smtp.example.com", 587),
        ("starttls",),
        ("login", "shop", "pw"),
    ]
    [(envelope_from, rcpts, raw)] = session.sent
    assert smtplib.quoteaddr(envelope_from) == "<shop@example.com>"  # as MAIL FROM sends it
    assert rcpts == ["ann@example.com", "bob@example.com", "cc@example.com", "bcc@example.com"]
    mime = email.message_from_bytes(raw, policy=policy.default)
    assert mime["To"] == "ann@example.com, bob@example.com"
    assert mime["Cc"] == "cc@example.com"
    assert mime["Bcc"] is None  # the envelope carries bcc, never a header
    assert mime["Reply-To"] == "help@example.com"
    assert mime["Subject"] == "Hi"
    assert mime["X-Message-Id"] == "11111111-2222-4333-8444-555555555555"
    assert mime["Message-ID"] == result.provider_message_id
    assert "11111111-2222-4333-8444-555555555555" in result.provider_message_id
    assert mime.get_body(("plain",)).get_content().strip() == "Hello"
    assert mime.get_body(("html",)).get_content().strip() == "<p>Hello</p>"
    [attachment] = list(mime.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == b"%PDF-1.4"
    # No delivery reports over SMTP: accepted by the relay is as far as we can know.
    assert result.status == st.DELIVERED_TO_OPERATOR


def test_ssl_on_465_without_login():
    creds = {"host": "mail.example.com", "port": 465, "useSsl": True, "useTls": False}
    SmtpBackend(SmtpBackend.clean_credentials(creds)).send(outbound(payload={}, cc=[], bcc=[]))
    [session] = FakeSMTP.sessions
    assert isinstance(session, FakeSMTPSSL)
    assert ("starttls",) not in session.log
    assert not [e for e in session.log if e[0] == "login"]


def test_credentials():
    with pytest.raises(CredentialsInvalid) as exc:
        SmtpBackend.clean_credentials({"host": "h", "useTls": True, "useSsl": True})
    assert "useSsl" in exc.value.errors
    with pytest.raises(CredentialsInvalid) as exc:
        SmtpBackend.clean_credentials({"port": "25"})
    assert set(exc.value.errors) == {"host", "port"}
    assert SmtpBackend.clean_credentials({"host": "h"}) == {"host": "h"}


@pytest.mark.parametrize(
    ("error", "code", "permanent", "status"),
    [
        (
            smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"5.1.1 no such user")}),
            "SMTP_RECIPIENTS_REFUSED",
            True,
            st.REJECTED_DESTINATION,
        ),
        (
            smtplib.SMTPRecipientsRefused({"ann@example.com": (450, b"4.2.0 greylisted")}),
            "SMTP_RECIPIENTS_REFUSED",
            False,
            st.REJECTED_DESTINATION,
        ),
        (smtplib.SMTPDataError(554, b"5.7.1 spam"), "SMTP_554", True, st.REJECTED_CONTENT),
        (smtplib.SMTPDataError(451, b"4.3.0 try later"), "SMTP_451", False, st.REJECTED_CONTENT),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 not yours", "shop@example.com"),
            "SMTP_553",
            True,
            st.REJECTED_PROVIDER,
        ),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
            "SMTP_SMTPAUTHENTICATIONERROR",
            True,
            st.REJECTED_PROVIDER,
        ),
        (
            smtplib.SMTPServerDisconnected("gone"),
            "SMTP_SMTPSERVERDISCONNECTED",
            False,
            st.REJECTED_PROVIDER,
        ),
        (TimeoutError("timed out"), "SMTP_TIMEOUTERROR", False, st.REJECTED_PROVIDER),
    ],
)
def test_refusals_are_mapped(error, code, permanent, status):
    FakeSMTP.refuse = error
    with pytest.raises(SendError) as exc:
        SmtpBackend(CREDS).send(outbound(payload={}, cc=[], bcc=[]))
    assert (exc.value.code, exc.value.permanent, exc.value.status) == (code, permanent, status)


def test_test_connection_logs_in():
    assert SmtpBackend(CREDS).test_connection() == "Connected to smtp.example.com:587 as shop."
    FakeSMTP.refuse = smtplib.SMTPAuthenticationError(535, b"bad")
    with pytest.raises(SendError) as exc:
        SmtpBackend(CREDS).test_connection()
    assert exc.value.permanent


def test_end_to_end_through_the_api(client, tenant, run_tasks):
    ProviderFactory(
        tenant=tenant, name="relay", provider_type="smtp", channels=["email"], credentials=CREDS
    )
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {
            "email": [
                {
                    "to": ["ann@example.com", "bob@example.com"],
                    "bcc": ["audit@example.com"],
                    "subject": "Order shipped",
                    "body": "On its way.",
                    "from": "shop@example.com",
                    "provider": "relay",
                }
            ]
        },
        format="json",
    )
    assert r.status_code == 202, r.content
    [message] = Message.objects.all()
    assert message.status == st.DELIVERED_TO_OPERATOR
    [(envelope_from, rcpts, raw)] = FakeSMTP.sessions[0].sent
    assert rcpts == ["ann@example.com", "bob@example.com", "audit@example.com"]
    mime = email.message_from_bytes(raw, policy=policy.default)
    assert mime["Subject"] == "Order shipped"
    assert mime["X-Message-Id"] == str(message.id)


def test_a_window_of_emails_shares_a_few_sessions(client, tenant, run_tasks, settings):
    """One SMTP session per lane for the whole window, not one per message (each session:
    one login, many messages, one quit)."""
    ProviderFactory(
        tenant=tenant, name="relay", provider_type="smtp", channels=["email"], credentials=CREDS
    )
    entries = [
        {"to": [f"user{i}@example.com"], "subject": f"Hi {i}", "body": "x", "provider": "relay",
         "from": "shop@example.com"}
        for i in range(40)
    ]  # fmt: skip
    r = run_tasks(client.post, "/api/v1/messages", {"email": entries}, format="json")
    assert r.status_code == 202, r.content
    assert set(Message.objects.values_list("status", flat=True)) == {st.DELIVERED_TO_OPERATOR}
    sessions = FakeSMTP.sessions
    assert 1 <= len(sessions) <= 4  # SmtpBackend.max_concurrency lanes
    assert sum(len(s.sent) for s in sessions) == 40
    assert sorted(rcpt for s in sessions for _, [rcpt], _ in s.sent) == sorted(
        f"user{i}@example.com" for i in range(40)
    )
    for s in sessions:
        assert [e[0] for e in s.log].count("login") == 1
        assert s.log[-1] == ("quit",)


# --- attachments from the one content model ------------------------------------------------------


@responses.activate
def test_os1_image_and_documents_become_mime_attachments():
    png = "https://files.example.com/pics/logo.png"
    responses.get(png, body=b"\x89PNG", content_type="image/png")
    responses.get(PDF_URL, body=b"%PDF-1.4", content_type="application/pdf")
    media = {"image": {"url": png},
             "document": [{"url": PDF_URL, "filename": "invoice.pdf"}]}  # fmt: skip
    SmtpBackend(CREDS).send(outbound(payload={"to": ["ann@example.com"], "media": media}))
    [session] = FakeSMTP.sessions
    mime = email.message_from_bytes(session.sent[0][2], policy=policy.default)
    got = [(a.get_filename(), a.get_content_type(), a.get_content())
           for a in mime.iter_attachments()]  # fmt: skip
    assert got == [("logo.png", "image/png", b"\x89PNG"),
                   ("invoice.pdf", "application/pdf", b"%PDF-1.4")]  # fmt: skip


@responses.activate
def test_a_location_is_refused_before_connecting():
    with pytest.raises(SendError) as err:
        SmtpBackend(CREDS).send(
            outbound(payload={"to": ["a@example.com"],
                              "media": {"location": {"latitude": 1, "longitude": 2}}})
        )  # fmt: skip
    assert (err.value.code, err.value.permanent, err.value.status) == (
        "UNSUPPORTED_CONTENT", True, st.REJECTED_CONTENT
    )  # fmt: skip
    assert not FakeSMTP.sessions and not responses.calls
