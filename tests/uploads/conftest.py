"""Uploads through the API: a helper that posts a file, and a second tenant to hide from."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.factories import AppFactory, TenantFactory, issue_key


def upload(client, content: bytes, name: str = "file.bin", **headers):
    """POST /api/v1/media with `content` as the multipart part `file`."""
    part = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post("/api/v1/media", {"file": part}, format="multipart", headers=headers)


@pytest.fixture
def other_client(db):
    """The API client of another tenant's app."""
    app = AppFactory(tenant=TenantFactory(slug="globex"), name="other")
    c = APIClient()
    c.credentials(HTTP_X_API_KEY=issue_key(app))
    return c
