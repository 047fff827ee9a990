"""Uploaded media (POST /api/v1/media): the file in Django's storage, its facts in a row."""

from __future__ import annotations

import secrets

from django.db import models

from tenants.models import App, Tenant

# Our ids say they are ours, so a send's `mediaId` can be told apart from a provider's own
# id of a file uploaded to it (Meta, Messente, websms) without a look-up.
MEDIA_ID_PREFIX = "med_"


def new_media_id() -> str:
    return MEDIA_ID_PREFIX + secrets.token_hex(16)


def storage_name(instance: Media, filename: str) -> str:
    """Where the file lies in the storage: by tenant and id, never by the name a client
    gave (which stays in `filename`)."""
    return f"{instance.tenant_id}/{instance.id}.{instance.extension}"


class Media(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image"
        DOCUMENT = "document"

    id = models.CharField(primary_key=True, max_length=40, default=new_media_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="media")
    app = models.ForeignKey(App, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    content_type = models.CharField(max_length=100, help_text="Sniffed from the content.")
    filename = models.CharField(
        max_length=255, help_text="As given, with the extension of its real type."
    )
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=storage_name, max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "media"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="media_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.id})"

    @property
    def extension(self) -> str:
        return self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else "bin"
