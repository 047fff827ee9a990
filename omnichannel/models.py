"""Scenarios (an ordered list of channels, Infobip's OMNI) and omnimessages (one message to
one person over those channels in turn, Messente's Omnichannel): each step is a messaging
Message, created at accept and held (PENDING_FAILOVER) until the step before it fails."""

from __future__ import annotations

import secrets
import uuid

from django.db import models

from messaging.models import Message
from tenants.models import App, Tenant

# Channels an omnimessage can use: it goes to one phone number.
OMNI_CHANNELS = ("sms", "whatsapp", "viber", "rcs")
# What a step may count as success: the message delivered, or read (chat channels only).
SUCCESS_DELIVERED = "DELIVERED"
SUCCESS_SEEN = "SEEN"
SEEN_CHANNELS = ("whatsapp", "viber", "rcs")


def scenario_key() -> str:
    return secrets.token_hex(16).upper()  # Infobip's shape: 32 hex digits


class Scenario(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scenarios")
    key = models.CharField(max_length=32, unique=True, default=scenario_key, editable=False)
    name = models.CharField(max_length=200)
    # [{"channel": "whatsapp", "from"?, "provider"?, "validity"? | "ttl"?, "successStatus"?}]
    flow = models.JSONField()
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(is_default=True),
                name="one_default_scenario",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({' → '.join(s['channel'] for s in self.flow)})"


class OmniMessage(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "SCHEDULED"
        PENDING = "PENDING"  # a step is on its way
        DELIVERED = "DELIVERED"  # a step reached its success status
        FAILED = "FAILED"  # every step failed
        CANCELLED = "CANCELLED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="omnimessages")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="omnimessages")
    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="omnimessages"
    )
    to = models.CharField(max_length=32)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    callback_url = models.URLField(max_length=2000, blank=True)
    callback_meta = models.JSONField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "omnimessage"
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="omni_tenant_created"),
            # The tick's release of scheduled omnimessages whose time came.
            models.Index(
                fields=["scheduled_at"],
                name="omni_scheduled",
                condition=models.Q(state="SCHEDULED"),
            ),
        ]

    def __str__(self) -> str:
        return f"omnimessage to {self.to} ({self.state})"


class OmniStep(models.Model):
    class State(models.TextChoices):
        HELD = "held"  # waiting for the step before it
        ACTIVE = "active"  # its message is on its way; the next waits for its outcome
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # rejected, failed for good, or its validity passed
        SKIPPED = "skipped"  # not needed (an earlier step succeeded) or cancelled

    omnimessage = models.ForeignKey(OmniMessage, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=16)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="omni_step")
    # How long the step may take to reach its success status once started (validity/ttl).
    window_seconds = models.PositiveIntegerField()
    success_status = models.CharField(max_length=10, default=SUCCESS_DELIVERED)
    state = models.CharField(max_length=10, choices=State.choices, default=State.HELD)
    started_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["omnimessage", "position"]
        constraints = [
            models.UniqueConstraint(fields=["omnimessage", "position"], name="uniq_omni_step")
        ]
        indexes = [
            # The step timer: active steps whose window has passed.
            models.Index(
                fields=["deadline"],
                name="omni_step_due",
                condition=models.Q(state="active"),
            )
        ]

    def __str__(self) -> str:
        return f"step {self.position} ({self.channel}, {self.state})"
