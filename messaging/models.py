import uuid

from django.db import models

from core import status as st
from providers.models import CHANNEL_CHOICES, Provider
from tenants.models import App, Tenant

TEMPLATE_MODES = CHANNEL_CHOICES


class Template(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=16, choices=TEMPLATE_MODES)
    # body, subject, format, from, externalRef, originationNumber, media, buttons
    data = models.JSONField(default=dict)
    # The language `data` is written in ("" when not said), and {tag: fields of data} that a
    # message in that locale gets instead (messaging.locales).
    language = models.CharField(max_length=35, blank=True, default="")
    translations = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_template_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.mode})"


class Priority(models.IntegerChoices):
    HIGH = 0, "high"
    NORMAL = 1, "normal"
    LOW = 2, "low"


class TextStore(models.TextChoices):
    PLAINTEXT = "plaintext"
    SHA256 = "sha256"
    NOSTORE = "nostore"


class MessageRequest(models.Model):
    """One accepted POST: the messages it made share its callback and options."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="requests")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="requests")
    callback_url = models.URLField(max_length=2000, blank=True)
    callback_meta = models.JSONField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    validity = models.PositiveIntegerField(help_text="Minutes a message may wait to be delivered.")
    text_store = models.CharField(
        max_length=10, choices=TextStore.choices, default=TextStore.PLAINTEXT
    )
    message_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return str(self.id)


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # tenant, app and provider: indexed by the composite indexes below, which lead with them.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="messages", db_index=False)
    request = models.ForeignKey(MessageRequest, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=16, choices=CHANNEL_CHOICES)
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    template = models.ForeignKey(
        Template, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # A phone number, an email address, or a push token or subscription (JSON, ~500 chars).
    to = models.CharField(max_length=2048)
    # Email: every address of the one email ({"to": [...], "cc": [...], "bcc": [...]}).
    recipients = models.JSONField(null=True, blank=True)
    sender = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True)
    # Channel extras: media, buttons, replyTo, externalRef, ...
    content = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=40, default=st.PENDING_ACCEPTED)
    error_code = models.CharField(max_length=64, blank=True)
    error_description = models.TextField(blank=True)
    error_permanent = models.BooleanField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Set just before the send leaves for the provider (a wave of a window at a time): after
    # a crash, a claim without it was certainly never sent and goes back at once.
    handed_over_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    text_store = models.CharField(max_length=10, default=TextStore.PLAINTEXT)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)
    # A copy an admin resent (the message log's "Resend"); its original stays as it was.
    resent_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resends",
        db_index=False,  # msg_resent_from: a partial index, as few messages are resends
    )

    class Meta:
        # The message log lists newest first: the tenant, status, channel and app filters have
        # an index that ends in created_at, so a page is an index range scan, not a sort of
        # the set. A provider is either common in its tenant (the created_at scan finds its
        # rows at once) or rare (msg_provider_ref finds them all); tenant, app and provider
        # need no index of their own, as these lead with them.
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="msg_tenant_created"),
            models.Index(fields=["-created_at"], name="msg_created"),  # a superuser's list
            models.Index(fields=["tenant", "status", "-created_at"], name="msg_tenant_status"),
            models.Index(fields=["tenant", "channel", "-created_at"], name="msg_tenant_channel"),
            models.Index(fields=["tenant", "to"], name="msg_tenant_to"),
            models.Index(fields=["status", "next_attempt_at"], name="msg_status_due"),
            models.Index(fields=["provider", "provider_message_id"], name="msg_provider_ref"),
            models.Index(fields=["app", "-created_at"], name="msg_app_created"),
            models.Index(fields=["claim_token"], name="msg_claim"),
            # Dispatch's lanes: the accepted backlog by priority, then age (a window's claim
            # walks this index; partial, so it holds only what is waiting).
            models.Index(
                fields=["priority", "created_at"],
                name="msg_accepted_lane",
                condition=models.Q(status="PENDING_ACCEPTED"),
            ),
            # The ticker's timers: scheduled releases and validity expiry of waiting messages.
            models.Index(
                fields=["scheduled_at"],
                name="msg_scheduled_due",
                condition=models.Q(status="PENDING_SCHEDULED"),
            ),
            models.Index(
                fields=["expires_at"],
                name="msg_waiting_expiry",
                condition=models.Q(status__in=["PENDING_ACCEPTED", "PENDING_WAITING_RETRY"]),
            ),
            # Sent and waiting for a final report: expired when its validity passes.
            models.Index(
                fields=["expires_at"],
                name="msg_sent_expiry",
                condition=models.Q(status="PENDING_ENROUTE"),
            ),
            models.Index(
                fields=["resent_from"],
                name="msg_resent_from",
                condition=models.Q(resent_from__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to} ({self.status})"

    @property
    def status_info(self) -> st.Status:
        return st.get(self.status)

    @property
    def error(self) -> dict | None:
        if not self.error_code:
            return None
        return {
            "code": self.error_code,
            "description": self.error_description,
            "permanent": bool(self.error_permanent),
        }


class MessageAttempt(models.Model):
    """One hand-over to the provider and its answer, recorded with the status it caused."""

    class Outcome(models.TextChoices):
        SENT = "sent"
        TRANSIENT = "transient"
        PERMANENT = "permanent"
        UNKNOWN = "unknown"  # no answer: the provider may have it

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="send_attempts", db_index=False
    )
    number = models.PositiveSmallIntegerField()
    # The provider this attempt went to: after a failover, a message's attempts name several.
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # read through the message's attempts (attempt_message_number)
    )
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    provider_message_id = models.CharField(max_length=128, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_description = models.TextField(blank=True)
    # The provider's raw answer (SendResult.raw / SendError.raw), cut to a few kilobytes.
    provider_response = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number", "id"]
        indexes = [models.Index(fields=["message", "number"], name="attempt_message_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id} ({self.outcome})"


class MessageEvent(models.Model):
    """One step of a message's status timeline."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=40)
    source = models.CharField(max_length=16)  # api, dispatch, provider, sweep, client
    error_code = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    provider_event_id = models.CharField(max_length=128, blank=True)
    raw = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["message", "created_at"], name="event_message_time")]

    def __str__(self) -> str:
        return f"{self.status} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class MessagePart(models.Model):
    """One part of a message the provider split and reports part by part (Vonage's long SMS):
    the message is delivered when every part is, and fails as soon as one part fails."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="parts")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField()  # 1, 2, ... in the provider's order
    provider_message_id = models.CharField(max_length=128)
    status = models.CharField(max_length=40)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="uniq_message_part")
        ]
        indexes = [models.Index(fields=["provider", "provider_message_id"], name="part_ref")]

    def __str__(self) -> str:
        return f"part {self.number} ({self.provider_message_id})"


class CallbackDelivery(models.Model):
    """One webhook POST to an app, retried until a 2xx: a message's status change (its
    callback.url) or any other event (a conversation's reply, an inbound message), each
    signed with the app's webhookSecret or the webhook's own secret."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERING = "delivering"
        DELIVERED = "delivered"
        FAILED = "failed"

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="callbacks", null=True, blank=True
    )
    event = models.CharField(max_length=40, default="message.status")
    url = models.URLField(max_length=2000)
    # The webhook's own secret, encrypted (providers.crypto); empty: the app's webhookSecret.
    secret_encrypted = models.TextField(blank=True, default="")
    payload = models.JSONField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "callback deliveries"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="callback_due")]

    def __str__(self) -> str:
        return f"callback {self.pk} ({self.state})"


class CallbackAttempt(models.Model):
    delivery = models.ForeignKey(CallbackDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveSmallIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of callback {self.delivery_id}"


class IdempotencyRecord(models.Model):
    """The first answer to a POST with an Idempotency-Key, replayed for 24 hours."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "key"], name="uniq_idempotency")]

    def __str__(self) -> str:
        return self.key


class EarlyReport(models.Model):
    """A provider's status report that arrived before its send was recorded (the provider
    answered our request, then reported, faster than we stored its message id). Applied as
    soon as the id is stored; the sweep catches any it missed and drops them after a day."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=128)
    # Our message id when the provider echoed it: settles a send a crash left unrecorded.
    message_ref = models.CharField(max_length=64, blank=True, db_index=True)
    report = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["provider", "provider_message_id"], name="early_ref")]

    def __str__(self) -> str:
        return f"early report for {self.provider_message_id}"


class DispatchWake(models.Model):
    """One row: whether a dispatch run is already queued (so wake-ups coalesce: a burst of
    requests buys one task, not one each). Used where the cache is not shared (no Redis)."""

    pending_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"dispatch wake-up pending since {self.pending_since}"
