import hashlib
import secrets

from django.conf import settings
from django.db import models

from tenants.models import Tenant

from .crypto import decrypt_json, encrypt_json

CHANNELS = ("sms", "email", "whatsapp", "viber", "rcs", "push")
CHANNEL_LABELS = {"sms": "SMS", "email": "Email", "whatsapp": "WhatsApp", "viber": "Viber",
                  "rcs": "RCS", "push": "Push"}  # fmt: skip
CHANNEL_CHOICES = [(c, CHANNEL_LABELS[c]) for c in CHANNELS]


def channel_label(channel: str) -> str:
    """How a channel is written for people: SMS, WhatsApp, RCS."""
    return CHANNEL_LABELS.get(channel, channel.capitalize())


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class Provider(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(max_length=100)
    provider_type = models.CharField(max_length=32)
    channels = models.JSONField(default=list)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    default_sender = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    is_tenant_default = models.BooleanField(
        default=False, help_text="The provider used for its channels when a request names none."
    )
    webhook_token = models.CharField(
        max_length=64, unique=True, default=new_webhook_token, editable=False
    )
    # When the WhatsApp template catalogue was last synced (providers.catalogue); null: never,
    # and then accept cannot know which templates are approved and lets them go.
    templates_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    templates_sync_error = models.TextField(blank=True, editable=False)
    # {channel: provider id}: where a message of that channel goes when this provider is
    # down (timeouts, 5xx, 429 after its retries, an open circuit). Ids, so a rename keeps
    # it; a provider of the same tenant serving the channel (providers.services).
    backups = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_provider_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_type})"

    @property
    def credentials(self) -> dict:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = encrypt_json(value)

    @property
    def status_webhook_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/webhooks/providers/{self.webhook_token}/status"

    @property
    def inbound_webhook_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/webhooks/providers/{self.webhook_token}/inbound"

    def backend_class(self):
        from .backends import get_backend_class

        return get_backend_class(self.provider_type)

    def backend(self):
        from .backends import get_backend_class

        return get_backend_class(self.provider_type)(
            self.credentials, default_sender=self.default_sender, provider_id=self.pk
        )


class ProviderCircuit(models.Model):
    """A provider's circuit breaker, shared by every worker (providers.circuit): closed
    while `opened_until` is null; open until then; half-open once that time has passed, when
    one send (the probe) may try it. Its own row, written by single UPDATE statements, so the
    admin's save of the provider never overwrites it."""

    provider = models.OneToOneField(
        Provider, on_delete=models.CASCADE, primary_key=True, related_name="circuit"
    )
    # Outage-class failures (timeouts, connection errors, 5xx, 429) since the last success.
    failures = models.PositiveIntegerField(default=0)
    opened_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"circuit of provider {self.provider_id}"


class SandboxOutboxEntry(models.Model):
    """What the sandbox provider "sent": browsable by admins, nothing leaves the server."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="outbox")
    message_id = models.UUIDField(db_index=True)
    provider_message_id = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=16)
    to = models.CharField(max_length=320)
    sender = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "sandbox outbox entry"
        verbose_name_plural = "sandbox outbox"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to}"


class InboundMessage(models.Model):
    """A message a recipient sent to us, through a provider's inbound webhook."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="inbound_messages")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="inbound")
    channel = models.CharField(max_length=16)
    sender = models.CharField(max_length=320, db_index=True)
    recipient = models.CharField(max_length=320, blank=True)
    text = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The tenant's contact with the sender's address, found when the message is stored.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="uniq_inbound_provider_msg",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} from {self.sender}"


class DeadRecipient(models.Model):
    """A recipient a provider said is gone for good (FCM's UNREGISTERED token, a Web Push
    subscription answered 404/410): later messages to it through that provider are refused
    at once instead of being sent again."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="dead")
    recipient = models.CharField(max_length=2048)
    recipient_hash = models.CharField(max_length=64)
    code = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "recipient_hash"], name="uniq_dead_recipient"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient[:40]} ({self.code})"

    @staticmethod
    def hash(recipient: str) -> str:
        # Push subscriptions are long JSON: the unique index is on their hash.
        return hashlib.sha256(recipient.encode()).hexdigest()


class ProviderTemplate(models.Model):
    """One language of a WhatsApp template the provider holds, with its approval, as its
    list call last gave it (providers.catalogue.catalogue_sync). Read-only for people."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=512)  # what a send names (Twilio: the Content SID)
    language = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=32, db_index=True)  # backends.base.TEMPLATE_STATUSES
    provider_status = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=64, blank=True)
    components = models.JSONField(default=list, blank=True)
    provider_template_id = models.CharField(max_length=128, blank=True)
    label = models.CharField(max_length=512, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        verbose_name = "WhatsApp template"
        verbose_name_plural = "WhatsApp templates"
        ordering = ["provider", "name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "name", "language"], name="uniq_provider_template"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label or self.name} ({self.language or 'any'})"
