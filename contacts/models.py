"""Contacts, their addresses, the suppression list, opt-out keywords and care windows."""

from __future__ import annotations

import uuid

from django.db import models

from tenants.models import Tenant

# What an address is, and which send channels use it: a phone number serves SMS, WhatsApp,
# Viber and RCS; an email address email; a push token push.
KIND_PHONE, KIND_EMAIL, KIND_PUSH = "phone", "email", "push"
ADDRESS_KINDS = [(KIND_PHONE, "Phone"), (KIND_EMAIL, "Email"), (KIND_PUSH, "Push token")]
KIND_OF_CHANNEL = {
    "sms": KIND_PHONE,
    "whatsapp": KIND_PHONE,
    "viber": KIND_PHONE,
    "rcs": KIND_PHONE,
    "email": KIND_EMAIL,
    "push": KIND_PUSH,
}
CHANNELS = [(c, c) for c in KIND_OF_CHANNEL]

DEFAULT_STOP_KEYWORDS = ["STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT"]
DEFAULT_START_KEYWORDS = ["START", "UNSTOP", "YES"]
CARE_WINDOW_HOURS = 24


class Contact(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The app's own id of this person (unique)."
    )
    name = models.CharField(max_length=200, blank=True)
    locale = models.CharField(max_length=35, blank=True, help_text="e.g. en, de-AT")
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Values templates read as {{contact.<name>}}."
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="IANA name (Australia/Sydney). Empty: the phone number's zone where it has "
        "one, else the tenant's.",
    )

    class QuietHours(models.TextChoices):
        TENANT = "", "The tenant's"
        OWN = "own", "Its own (below), every day"
        OFF = "off", "None: never deferred"

    # Quiet hours (contacts.quiet): the tenant's window, one of its own, or none.
    quiet_hours = models.CharField(
        max_length=8, choices=QuietHours.choices, default=QuietHours.TENANT, blank=True
    )
    quiet_start = models.TimeField(null=True, blank=True, help_text="Its own window opens.")
    quiet_end = models.TimeField(null=True, blank=True, help_text="Its own window closes.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~models.Q(external_id=""),
                name="uniq_contact_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.external_id or str(self.id)


class ContactAddress(models.Model):
    """One address of a contact; the first of a kind is the one messages go to."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="addresses")
    # Denormalised from the contact, so a look-up by address is one index scan.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=ADDRESS_KINDS)
    address = models.CharField(max_length=2048, help_text="As given.")
    normalized = models.CharField(
        max_length=2048, editable=False, help_text="E.164 for phones, lower case for email."
    )

    class Meta:
        ordering = ["contact", "id"]
        verbose_name_plural = "contact addresses"
        indexes = [
            models.Index(fields=["tenant", "channel", "normalized"], name="contact_addr_lookup")
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.address}"


class Suppression(models.Model):
    """An address that must not receive messages on a channel: accept rejects them."""

    class Reason(models.TextChoices):
        KEYWORD = "keyword", "Opt-out keyword"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        COMPLAINT = "complaint", "Complaint (marked as spam)"
        MANUAL = "manual", "Added by hand"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="suppressions")
    channel = models.CharField(max_length=16, choices=CHANNELS)
    address = models.CharField(max_length=2048, help_text="Normalised: E.164, lower-case email.")
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.MANUAL)
    source = models.CharField(
        max_length=300, blank=True, help_text="What caused it (the inbound text, a report)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "channel", "address"], name="uniq_suppression"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.address} ({self.get_reason_display()})"


def _stop_default() -> list[str]:
    return list(DEFAULT_STOP_KEYWORDS)


def _start_default() -> list[str]:
    return list(DEFAULT_START_KEYWORDS)


class OptOutSettings(models.Model):
    """A tenant's opt-out keywords: an inbound message that is exactly one of them (trimmed,
    any case) suppresses or lifts its sender on that channel."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="opt_out")
    stop_keywords = models.JSONField(default=_stop_default, blank=True)
    start_keywords = models.JSONField(default=_start_default, blank=True)

    class Meta:
        verbose_name = "opt-out settings"
        verbose_name_plural = "opt-out settings"

    def __str__(self) -> str:
        return f"Opt-out keywords of {self.tenant}"


class CareWindow(models.Model):
    """WhatsApp's customer-care window: free-form messages to `address` through the
    provider are allowed until `expires_at` (24 h after the last inbound message)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="care_windows")
    channel = models.CharField(max_length=16, choices=CHANNELS)
    address = models.CharField(max_length=320)
    # The provider (our number) the sender wrote to; an id, not a foreign key: providers
    # sit above contacts.
    provider_id = models.BigIntegerField()
    our_number = models.CharField(max_length=320, blank=True)
    last_inbound_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-expires_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "channel", "address", "provider_id"], name="uniq_care_window"
            )
        ]
        indexes = [models.Index(fields=["tenant", "address"], name="care_window_lookup")]

    def __str__(self) -> str:
        return f"{self.channel} {self.address} until {self.expires_at:%Y-%m-%d %H:%M}"
