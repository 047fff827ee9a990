"""The sandbox: delivers every channel without an account, into an outbox admins can browse.

Its recipients steer the outcome (API.md), by a phone number's last four digits or the
start of an email address's local part: the magic table it shares with the provider
simulator (providers/magic.py, docs/simulator.md). Its delivery report is posted through the
same status-webhook path a real provider's report takes.
"""

from __future__ import annotations

import uuid

from core import status as st
from core import textstore

from ..email import EMAIL_CAPABILITIES
from ..magic import ACCOUNT_CHANNELS, FLAKY_FAILURES, magic_outcome
from .base import (
    Backend,
    CredentialField,
    Inbound,
    OutboundMessage,
    SendError,
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
    register,
)
from .content import MEDIA_KINDS, RCS_CARDS, VIBER_VIDEO, Capabilities

PHONE_CHANNELS = ("sms", "whatsapp", "viber", "rcs")
# The limits of the channel itself, which the sandbox keeps as the real providers do.
CHANNEL_LIMITS = {"viber": VIBER_VIDEO, "rcs": RCS_CARDS}
REPORT_STATUSES = {
    "DELIVERED": st.DELIVERED_TO_HANDSET,
    "READ": st.DELIVERED_READ,
    "UNDELIVERABLE": st.UNDELIVERABLE_NOT_DELIVERED,
    "EXPIRED": st.EXPIRED_EXPIRED,
    "REJECTED": st.REJECTED_DESTINATION,
}


def outcome_for(channel: str, to: str) -> str:
    """The scripted outcome, from the table shared with the simulator (providers.magic)."""
    return magic_outcome(to, channel)


def _text(value) -> str:
    """An optional field as text: absent and null are both empty (never "None")."""
    return "" if value is None else str(value)


def _error(code: str, description: str, **kwargs) -> SendError:
    """A refusal, with the answer a provider's API would give, for the attempts log."""
    raw = {"error": {"code": code, "description": description}}
    return SendError(code, description, raw=raw, **kwargs)


@register
class SandboxBackend(Backend):
    provider_type = "sandbox"
    label = "Sandbox (no account, nothing leaves the server)"
    channels = ("sms", "email", "whatsapp", "viber", "rcs", "push")
    # Off by default: apps rehearse free-form WhatsApp without writing to themselves first.
    credential_fields = (
        CredentialField(
            "enforceCareWindow",
            required=False,
            secret=False,
            kind=bool,
            default=False,
            help="Refuse free-form WhatsApp outside the 24-hour care window, as WhatsApp does.",
        ),
    )
    # Pure computation: threads would only add switching. Its outbox rows are written in
    # dispatch's record transaction, so a crashed window "sent" nothing.
    max_concurrency = 1
    send_commits_with_record = True
    sms_udh = True  # kept in the outbox's payload, as a real provider's request carries it
    # It carries whatever a real chat provider may, so apps can rehearse any content, within
    # the channel's own limits: Viber's video details, RCS's cards and suggestions.
    capabilities = {
        channel: Capabilities(
            media_kinds=frozenset(MEDIA_KINDS), max_media=10, media_by_id=True, location=True,
            quick_replies=11 if channel == "rcs" else 10,
            url_buttons=11 if channel == "rcs" else 10, mixed_buttons=True,
            media_with_location=True, templates=channel == "whatsapp",
            template_header_media=frozenset({*MEDIA_KINDS, "location"}),
            **{"video_thumbnail": True, **CHANNEL_LIMITS.get(channel, {})},
        )
        for channel in ("whatsapp", "viber", "rcs")
    } | {"email": EMAIL_CAPABILITIES} | {
        # One image, as FCM and Web Push show it.
        "push": Capabilities(media_kinds=frozenset({"image"}), max_media=1),
    }  # fmt: skip
    _window: list | None = None

    def enforces_care_window(self) -> bool:
        return self.credentials.get("enforceCareWindow") is True

    def window_begin(self) -> None:
        self._window = []

    def window_end(self) -> None:
        from django.utils import timezone

        from core import bulk
        from providers.models import SandboxOutboxEntry

        if self._window:
            now = timezone.now()
            columns = [*self._window[0], "created_at"]
            # One INSERT for the window's outbox, inside dispatch's record transaction.
            bulk.rows_insert(
                SandboxOutboxEntry, columns, ([*e.values(), now] for e in self._window)
            )
        self._window = []

    def window_close(self) -> None:
        self._window = None

    def send(self, message: OutboundMessage) -> SendResult:
        outcome = outcome_for(message.channel, message.to)
        if outcome == "reject":
            raise _error(
                "SANDBOX_REJECTED",
                f"The sandbox rejects {message.to} (magic recipient).",
                permanent=True,
                status=st.REJECTED_DESTINATION,
            )
        if outcome == "flaky" and message.attempt <= FLAKY_FAILURES:
            # Retried by the production policy: its first backoff is 5-10 s.
            raise _error(
                "SANDBOX_TRANSIENT",
                f"Simulated transient failure (magic recipient), attempt {message.attempt}; "
                "the next attempt delivers.",
                permanent=False,
            )
        if outcome == "throttle":
            # A provider answering 429 every time: transient, retried with backoff until the
            # attempts or the validity run out ("slow" needs no stand-in here: it delivers).
            raise _error(
                "SANDBOX_THROTTLED",
                f"Too many requests (HTTP 429), simulated for {message.to} (magic recipient).",
                permanent=False,
            )
        if outcome == "no_account" and message.channel in ACCOUNT_CHANNELS:
            raise _error(
                "SANDBOX_NO_ACCOUNT",
                f"{message.to} has no {message.channel} account (magic recipient).",
                permanent=True,
                status=st.REJECTED_NOT_ON_CHANNEL,
            )
        provider_message_id = f"sbx-{uuid.uuid4().hex}"
        self._record(message, provider_message_id)
        # Our id comes back in the report, as a real provider's reference does.
        report = {"messageId": provider_message_id, "status": "DELIVERED", "messageRef": message.id}
        if outcome == "bounce":
            report = {
                "messageId": provider_message_id,
                "messageRef": message.id,
                "status": "UNDELIVERABLE",
                "errorCode": "SANDBOX_BOUNCE",
                "errorDescription": "Simulated bounce (magic recipient).",
            }
        return SendResult(
            provider_message_id=provider_message_id,
            raw={"messageId": provider_message_id, "status": "ACCEPTED", "outcome": outcome},
            follow_up_report=report,
        )

    def _record(self, message: OutboundMessage, provider_message_id: str) -> None:
        # The outbox is the sandbox's own "network": the one adapter that writes a table.
        from providers.models import SandboxOutboxEntry

        entry = {
            "provider_id": self.provider_id,
            "message_id": message.id,
            "provider_message_id": provider_message_id,
            "channel": message.channel,
            "to": message.to[:320],  # a push subscription is longer than the outbox shows
            "sender": self.sender_for(message),
            "subject": message.subject,
            "body": message.body,
            "html": message.html,
            "payload": {"cc": message.cc, "bcc": message.bcc, **message.payload},
        }
        if not textstore.keeps_text(message.text_store):
            # The outbox stands for the provider's store, which honours textStore as
            # Messente's does: the hash of the text or nothing, and no content but references.
            kept = textstore.kept_fields(
                message.text_store, body=message.body, html=message.html,
                subject=message.subject, content=entry["payload"],
            )  # fmt: skip
            content = kept.pop("content")
            entry.update(kept, payload={**content, "textStore": message.text_store})
        if self._window is not None:
            self._window.append(entry)  # one INSERT for the window, in dispatch's transaction
        else:
            SandboxOutboxEntry.objects.create(**entry)

    def rcs_capable(self, number: str) -> bool:
        """The RCS capability check, as websms's: the magic no-account numbers (...0003) have
        no RCS, every other number has."""
        return outcome_for("rcs", number) != "no_account"

    def parse_status_webhook(self, request: WebhookRequest) -> list[StatusReport]:
        body = request.json()
        items = body if isinstance(body, list) else [body]
        reports = []
        for item in items:
            if not isinstance(item, dict) or not item.get("messageId"):
                raise WebhookRejected("Each report needs a messageId.", status=400)
            name = REPORT_STATUSES.get(str(item.get("status", "")).upper())
            if name is None:
                raise WebhookRejected(
                    f"Unknown status {item.get('status')!r}; use one of "
                    f"{', '.join(REPORT_STATUSES)}.",
                    status=400,
                )
            reports.append(
                StatusReport(
                    provider_message_id=str(item["messageId"]),
                    status=name,
                    error_code=_text(item.get("errorCode")),
                    error_description=_text(item.get("errorDescription")),
                    # A failure is final unless the report says `"permanent": false`, as a
                    # provider's verdict on a passing failure (retried).
                    permanent=item.get("permanent") is not False,
                    event_id=_text(item.get("eventId")),
                    message_ref=_text(item.get("messageRef")),
                    raw=item,
                )
            )
        return reports

    def parse_inbound_webhook(self, request: WebhookRequest) -> list[Inbound]:
        body = request.json()
        if not isinstance(body, dict):
            raise WebhookRejected("The body must be a JSON object.", status=400)
        missing = [k for k in ("from", "to", "text") if not isinstance(body.get(k), str)]
        if missing:
            raise WebhookRejected(f"Missing or non-string field(s): {', '.join(missing)}.", 400)
        channel = body.get("channel") or "sms"
        if channel not in self.channels:
            raise WebhookRejected(f"Unknown channel {channel!r}.", status=400)
        return [
            Inbound(
                channel=channel,
                sender=body["from"],
                recipient=body["to"],
                text=body["text"],
                provider_message_id=_text(body.get("messageId")),
                raw=body,
            )
        ]
