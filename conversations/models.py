"""Two-way WhatsApp conversations, and the apps' inbound webhooks (routes)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from messaging.models import Message
from providers.crypto import decrypt_json, encrypt_json
from providers.models import InboundMessage, Provider
from tenants.models import App, Tenant

WEBHOOK_NAMES = ("defaultInbound", "status", "invalidResponse")


class Conversation(models.Model):
    """One two-way WhatsApp message and the reply it waits for (OS1's send2waymessage)."""

    class State(models.TextChoices):
        AWAITING_RESPONSE = "AWAITING_RESPONSE"
        RESPONDED = "RESPONDED"
        TIMED_OUT = "TIMED_OUT"
        CLOSED = "CLOSED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="conversations")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    # Our number as the request gave it (or the provider's default sender); may be empty.
    sender = models.CharField(max_length=100, blank=True)
    recipient = models.CharField(max_length=32)  # E.164
    state = models.CharField(max_length=20, choices=State.choices, default=State.AWAITING_RESPONSE)
    # [{"messages": [...], "webhook": {"url"}}]: the secrets live in secrets_encrypted.
    accepted_responses = models.JSONField(default=list)
    regex = models.CharField(max_length=200, blank=True)
    # {"defaultInbound": {"url"}, "status": {"url"}, "invalidResponse": {"url"}}, those given.
    webhooks = models.JSONField(default=dict)
    # {"accepted": [secret, ...], "defaultInbound": secret, ...}, Fernet (providers.crypto).
    secrets_encrypted = models.TextField(blank=True, editable=False)
    context = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    response_timeout = models.PositiveIntegerField(help_text="Seconds to wait for the reply.")
    expires_at = models.DateTimeField()
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "recipient", "-created_at"], name="conv_recipient"),
            # The timeout sweep: only the open ones, by deadline.
            models.Index(
                fields=["expires_at"],
                name="conv_open_expiry",
                condition=models.Q(state="AWAITING_RESPONSE"),
            ),
        ]

    def __str__(self) -> str:
        return f"conversation with {self.recipient} ({self.state})"

    @property
    def secrets(self) -> dict:
        return decrypt_json(self.secrets_encrypted)

    @secrets.setter
    def secrets(self, value: dict) -> None:
        self.secrets_encrypted = encrypt_json(value)

    def webhook(self, name: str) -> tuple[str, str] | None:
        """(url, secret) of defaultInbound, status or invalidResponse, None when not given."""
        url = (self.webhooks.get(name) or {}).get("url")
        return (url, str(self.secrets.get(name) or "")) if url else None

    def accepted_webhook(self, index: int) -> tuple[str, str]:
        url = self.accepted_responses[index]["webhook"]["url"]
        return url, str((self.secrets.get("accepted") or [""] * (index + 1))[index])


class ConversationMessage(models.Model):
    """A message we sent in a conversation: the first one, and each errorMessage reply.
    Their status changes go to the conversation's status webhook."""

    class Role(models.TextChoices):
        INITIAL = "initial"
        ERROR_REPLY = "error_reply"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sent")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=Role.choices)

    def __str__(self) -> str:
        return f"{self.role} {self.message_id}"


class ConversationEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created"
        REPLY_MATCHED = "reply_matched"
        REPLY_DYNAMIC = "reply_dynamic"
        REPLY_INVALID = "reply_invalid"
        REPLY_LATE = "reply_late"  # after it ended: to defaultInbound
        TIMED_OUT = "timed_out"
        CLOSED = "closed"
        STATUS = "status"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    inbound = models.ForeignKey(
        InboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class InboundRoute(models.Model):
    """An app's inbound webhook: every inbound message no conversation claims goes to the
    most specific route that matches it (a number, else a provider, else the app's own)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="inbound_routes")
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    number = models.CharField(
        max_length=32, blank=True, help_text="Our number that receives (E.164); blank: any."
    )
    url = models.URLField(max_length=2000)
    secret_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app", "id"]
        verbose_name = "inbound route"

    def __str__(self) -> str:
        where = self.number or (self.provider.name if self.provider_id else "any number")
        return f"{self.app.name}: {where} → {self.url}"

    @property
    def secret(self) -> str:
        return str(decrypt_json(self.secret_encrypted).get("secret") or "")

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = encrypt_json({"secret": value})

    @property
    def specificity(self) -> int:
        return 2 if self.number else 1 if self.provider_id else 0
