"""Email through any SMTP server, with Django's own SMTP backend opened with the tenant's
host and login (never the global EMAIL_* settings).

SMTP has no delivery reports: a message the server accepts ends DELIVERED_TO_OPERATOR
(handed to the relay); a refusal is read from the SMTP reply code.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from contextlib import contextmanager

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from django.core.mail.utils import DNS_NAME

from core import status as st
from core.netsafe import PrivateAddress, public_address
from providers import email as email_kit

from .base import (
    Backend,
    CredentialField,
    CredentialsInvalid,
    OutboundMessage,
    SendError,
    SendResult,
    register,
)

SMTP_TIMEOUT_SECONDS = 30


class SmtpHostRefused(smtplib.SMTPException):
    """The tenant's SMTP host is, or resolves to, an address inside our network."""


class GuardedSMTP(smtplib.SMTP):
    """smtplib's client connecting only to a public address (unless ALLOW_PRIVATE_URLS): the
    name is resolved once and the socket opened to the very address checked, while TLS
    (SMTP_SSL, STARTTLS) still verifies the certificate against the name."""

    def _get_socket(self, host, port, timeout):
        if not settings.ALLOW_PRIVATE_URLS:
            try:
                host = public_address(host, port)
            except PrivateAddress as exc:
                raise SmtpHostRefused(str(exc)) from None
        return super()._get_socket(host, port, timeout)


class GuardedSMTP_SSL(smtplib.SMTP_SSL, GuardedSMTP):  # noqa: N801 (smtplib's own spelling)
    """SMTP_SSL's _get_socket wraps GuardedSMTP's checked socket (server_hostname=the name)."""


class GuardedEmailBackend(DjangoSmtpBackend):
    @property
    def connection_class(self):
        return GuardedSMTP_SSL if self.use_ssl else GuardedSMTP


# smtplib's exceptions that carry no reply code → (our status, permanent?).
SMTP_ERRORS: dict[type[Exception], tuple[str, bool]] = {
    smtplib.SMTPAuthenticationError: (st.REJECTED_PROVIDER, True),
    smtplib.SMTPNotSupportedError: (st.REJECTED_PROVIDER, True),
    smtplib.SMTPServerDisconnected: (st.REJECTED_PROVIDER, False),
    smtplib.SMTPConnectError: (st.REJECTED_PROVIDER, False),
    ssl.SSLError: (st.REJECTED_PROVIDER, False),
    socket.timeout: (st.REJECTED_PROVIDER, False),
    OSError: (st.REJECTED_PROVIDER, False),
}

# A refusal with a reply code: 4xx is "try again later", 5xx is final.
DATA_REFUSED = st.REJECTED_CONTENT  # 552/554 after DATA: size, content, policy
SENDER_REFUSED = st.REJECTED_PROVIDER  # MAIL FROM refused, HELO or greeting failed


def _reply_text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def smtp_send_error(exc: Exception) -> SendError:
    """Our SendError for an SMTP failure, by its reply code or, failing that, its class."""
    if isinstance(exc, SmtpHostRefused):
        return SendError("PRIVATE_URL", f"Refused: {exc}.", permanent=True)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {addr: (code, _reply_text(msg)) for addr, (code, msg) in exc.recipients.items()}
        transient = all(400 <= code < 500 for code, _ in replies.values())
        detail = "; ".join(f"{addr}: {code} {msg}" for addr, (code, msg) in replies.items())
        return SendError(
            "SMTP_RECIPIENTS_REFUSED",
            f"Every recipient was refused: {detail}",
            permanent=not transient,
            status=st.REJECTED_DESTINATION,
            raw={"recipients": {a: {"code": c, "reply": m} for a, (c, m) in replies.items()}},
        )
    code = getattr(exc, "smtp_code", None)
    if (
        isinstance(code, int)
        and code >= 400
        and not isinstance(exc, smtplib.SMTPAuthenticationError)
    ):
        reply = _reply_text(getattr(exc, "smtp_error", "")) or str(exc)
        status = DATA_REFUSED if isinstance(exc, smtplib.SMTPDataError) else SENDER_REFUSED
        return SendError(
            f"SMTP_{code}",
            f"The SMTP server answered {code} {reply}",
            permanent=code >= 500,
            status=status,
            raw={"code": code, "reply": reply},
            outage=code == 421,  # "service not available": the server, not this message
        )
    for cls in type(exc).__mro__:
        if cls in SMTP_ERRORS:
            status, permanent = SMTP_ERRORS[cls]
            return SendError(
                f"SMTP_{type(exc).__name__.upper()}",
                f"{type(exc).__name__}: {exc}",
                permanent=permanent,
                status=status,
            )
    # No SMTP answer at all (refused, reset, DNS): the server is unreachable.
    return SendError("SMTP_ERROR", f"{type(exc).__name__}: {exc}", permanent=False, outage=True)


@register
class SmtpBackend(Backend):
    provider_type = "smtp"
    label = "SMTP server"
    channels = ("email",)
    # Attachments from the entry's (or template's) media; see providers/email.py.
    capabilities = {"email": email_kit.EMAIL_CAPABILITIES}
    credential_fields = (
        CredentialField("host", secret=False, help="The SMTP server's host name."),
        CredentialField(
            "port",
            required=False,
            secret=False,
            kind=int,
            default=587,
            help="The port; 587 with useTls (STARTTLS), 465 with useSsl, 25 for neither.",
        ),
        CredentialField("username", required=False, secret=False, help="The login, if any."),
        CredentialField("password", required=False, help="The password, if any."),
        CredentialField(
            "useTls",
            required=False,
            secret=False,
            kind=bool,
            default=True,
            help="STARTTLS after connecting (port 587).",
        ),
        CredentialField(
            "useSsl",
            required=False,
            secret=False,
            kind=bool,
            default=False,
            help="Implicit TLS from the first byte (port 465).",
        ),
    )

    @classmethod
    def clean_credentials(cls, credentials):
        cleaned = super().clean_credentials(credentials)
        if cleaned.get("useTls", True) and cleaned.get("useSsl"):
            # Django's SMTP backend refuses both at once; say so at registration.
            raise CredentialsInvalid({"useSsl": "and useTls cannot both be true"})
        port = cleaned.get("port")
        if port is not None and not 0 < port < 65536:
            raise CredentialsInvalid({"port": "must be between 1 and 65535"})
        return cleaned

    def connection(self):
        creds = self.credentials
        use_ssl = bool(creds.get("useSsl", False))
        return GuardedEmailBackend(
            host=creds["host"],
            port=int(creds.get("port") or (465 if use_ssl else 587)),
            username=creds.get("username") or "",
            password=creds.get("password") or "",
            use_tls=bool(creds.get("useTls", not use_ssl)) and not use_ssl,
            use_ssl=use_ssl,
            timeout=SMTP_TIMEOUT_SECONDS,
            fail_silently=False,
        )

    # One SMTP session per lane: a few in parallel, each sending its share of the window.
    max_concurrency = 4

    @contextmanager
    def lane(self):
        """One SMTP session for many messages (post-office's habit), reopened once if the
        server drops it between two of them."""
        holder = {"connection": None}

        def opened():
            if holder["connection"] is None:
                connection = self.connection()
                try:
                    connection.open()  # opened here, send_messages leaves it open
                except (smtplib.SMTPException, OSError) as exc:
                    raise smtp_send_error(exc) from exc
                holder["connection"] = connection
            return holder["connection"]

        def send(message: OutboundMessage) -> SendResult:
            try:
                return self._send(message, opened())
            except SendError as exc:
                if exc.code != "SMTP_SMTPSERVERDISCONNECTED" or holder["connection"] is None:
                    raise
                self._close(holder.pop("connection"))
                holder["connection"] = None
                return self._send(message, opened())

        try:
            yield send
        finally:
            if holder["connection"] is not None:
                self._close(holder["connection"])

    @staticmethod
    def _close(connection) -> None:
        try:
            connection.close()
        except Exception:  # a session that is already gone has nothing to close
            pass

    def send(self, message: OutboundMessage) -> SendResult:
        return self._send(message, self.connection())

    def _send(self, message: OutboundMessage, connection) -> SendResult:
        sender = self.sender_for(message)
        domain = sender.rpartition("@")[2].strip(" >") or str(DNS_NAME)
        # Our id in the Message-ID: the one id a bounce or a reply will quote back.
        message_id = f"<{message.id}@{domain}>"
        email = email_kit.plain_email(
            email_kit.email_message_build(
                message,
                sender=sender,
                headers={"Message-ID": message_id, "X-Message-Id": message.id},
            )
        )
        if not email.recipients():
            raise SendError(
                "NO_RECIPIENTS", "The email has no recipient.", permanent=True,
                status=st.REJECTED_DESTINATION,
            )  # fmt: skip
        try:
            connection.send_messages([email])
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_send_error(exc) from exc
        return SendResult(
            provider_message_id=message_id,
            status=st.DELIVERED_TO_OPERATOR,
            raw={"messageId": message_id, "recipients": email.recipients()},
        )

    def test_connection(self) -> str:
        connection = self.connection()
        try:
            connection.open()  # connects, STARTTLS, and logs in when a username is set
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_send_error(exc) from exc
        finally:
            connection.close()
        creds = self.credentials
        who = f" as {creds['username']}" if creds.get("username") else ""
        return f"Connected to {creds['host']}:{connection.port}{who}."
