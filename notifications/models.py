"""Notifications (OS1): an app registers a name with one template per channel, a tenant admin
reviews it, and only an ENABLED notification can be sent. Every registration and review is
kept in NotificationReview, the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.channels import CHANNEL_KEYS
from messaging.models import Template
from tenants.models import App


class Status(models.TextChoices):
    PENDING_REVIEW = "PENDING_REVIEW", "Pending review"
    ENABLED = "ENABLED", "Enabled"
    DISABLED = "DISABLED", "Disabled"


class Notification(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="notifications")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_REVIEW)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="uniq_notification_name")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="notification_queue")]

    def __str__(self) -> str:
        return self.name

    def templates_by_channel(self) -> dict[str, NotificationTemplate]:
        return {t.channel: t for t in self.templates.all()}


class NotificationTemplate(models.Model):
    """The template a notification sends on one channel. A deleted template leaves the row
    (template NULL): the notification then refuses to send on that channel, visibly."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="templates"
    )
    channel = models.CharField(max_length=16, choices=[(c, c) for c in CHANNEL_KEYS])
    template = models.ForeignKey(
        Template, on_delete=models.SET_NULL, null=True, related_name="notification_uses"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="uniq_notification_channel"
            )
        ]
        ordering = ["channel"]

    def __str__(self) -> str:
        return f"{self.channel}: {self.template.name if self.template else '(deleted)'}"


class ReviewAction(models.TextChoices):
    REGISTERED = "registered", "Registered"
    RE_REGISTERED = "re-registered", "Re-registered"
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"


class NotificationReview(models.Model):
    """One line of the audit trail: who did what, why, and with which templates."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="reviews")
    action = models.CharField(max_length=20, choices=ReviewAction.choices)
    # A registration is made by the app (its API key); a review by a user of the admin.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_app = models.ForeignKey(
        App, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The actor's name as it was, kept even if the user or app is deleted later.
    actor_name = models.CharField("by", max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    comment = models.TextField(blank=True)
    # {"sms": {"template": "otp", "mode": "sms", "data": {...}, "isActive": true}, ...}
    templates = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.notification} {self.action} by {self.actor_name}"
