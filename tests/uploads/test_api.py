"""POST /api/v1/media and GET /api/v1/media/{mediaId}: what a client gets, what is stored."""

import hashlib
import os

import pytest
from django.core.files.storage import default_storage

from tests.helpers import assert_error
from tests.uploads import samples
from tests.uploads.conftest import upload
from uploads.models import Media

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def stored_files() -> list[str]:
    found = []
    for root, _, names in os.walk(default_storage.location):
        found += [os.path.join(root, n) for n in names]
    return found


@pytest.fixture(autouse=True)
def empty_storage():
    """Each test starts from (and is checked against) an empty media directory."""
    for path in stored_files():
        os.remove(path)


@pytest.mark.parametrize(
    ("content", "name", "kind", "content_type"),
    [
        (samples.JPEG, "photo.jpeg", "image", "image/jpeg"),
        (samples.png(), "map.png", "image", "image/png"),
        (samples.pdf(), "receipt.pdf", "document", "application/pdf"),
        (samples.doc(), "letter.doc", "document", "application/msword"),
        (samples.docx(), "letter.docx", "document", DOCX_TYPE),
    ],
    ids=["jpg", "png", "pdf", "doc", "docx"],
)
def test_each_allowed_type_is_stored_and_described(client, app, content, name, kind, content_type):
    r = upload(client, content, name)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["mediaId"].startswith("med_") and len(body["mediaId"]) == 36
    assert body["kind"] == kind
    assert body["contentType"] == content_type
    assert body["filename"] == name
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()

    media = Media.objects.get(pk=body["mediaId"])
    assert (media.tenant_id, media.app_id) == (app.tenant_id, app.pk)
    with media.file.open("rb") as stored:
        assert stored.read() == content
    # The storage name is ours (tenant, id, real extension), never the client's.
    assert media.file.name == f"{app.tenant_id}/{media.pk}.{name.rsplit('.', 1)[1]}"

    got = client.get(f"/api/v1/media/{body['mediaId']}")
    assert got.status_code == 200
    assert {k: v for k, v in got.json().items() if k not in ("url", "urlExpiresAt")} == {
        k: v for k, v in body.items() if k not in ("url", "urlExpiresAt")
    }


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (samples.pdf(), "scan.png", "scan.pdf"),  # a PDF named as a PNG is a PDF
        (samples.png(), "chart.pdf", "chart.png"),
        (samples.JPEG, "IMG_1.JPG", "IMG_1.JPG"),  # its own extension, in any case, stays
        (samples.JPEG, "IMG_2.jpeg", "IMG_2.jpeg"),
        (samples.docx(), "notes.doc", "notes.docx"),
        (samples.doc(), "notes.docx", "notes.doc"),
        (samples.pdf(), "no-extension", "no-extension.pdf"),
        (samples.pdf(), "../../etc/..pdf", "file.pdf"),
    ],
)
def test_the_content_decides_the_type_and_the_name_follows(client, content, name, expected):
    r = upload(client, content, name)
    assert r.status_code == 201, r.content
    assert r.json()["filename"] == expected


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (samples.EXE, "invoice.pdf"),  # an executable renamed .pdf
        (samples.zip_archive(), "letter.docx"),
        (samples.ole("Workbook"), "letter.doc"),  # an Excel sheet renamed .doc
        (samples.ooxml(samples.DOCM_MAIN), "letter.docx"),  # macros inside
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.png"),
        (b"", "empty.pdf"),
    ],
    ids=["exe", "zip", "xls", "docm", "gif", "empty"],
)
def test_other_types_are_a_400_and_nothing_is_stored(client, content, name):
    r = upload(client, content, name)
    (err,) = assert_error(r, 400, source="file", code="unsupported_media_type")
    assert "the API takes images (jpg, jpeg, png) up to 5 MB and documents" in err["detail"]
    assert not Media.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize(
    ("content", "limit_setting"),
    [
        (samples.png(pad_to=2000), "MEDIA_MAX_IMAGE_BYTES"),
        (samples.pdf(), "MEDIA_MAX_DOCUMENT_BYTES"),
    ],
    ids=["image", "document"],
)
def test_each_limit_at_and_over_the_boundary(client, settings, content, limit_setting):
    setattr(settings, limit_setting, len(content))
    assert upload(client, content, "at-the-limit").status_code == 201

    setattr(settings, limit_setting, len(content) - 1)
    r = upload(client, content, "one-byte-over")
    (err,) = assert_error(r, 413, source="file", code="file_too_large")
    assert f"of {len(content)} bytes" in err["detail"]
    assert Media.objects.count() == 1
    assert len(stored_files()) == 1


def test_the_real_image_limit_is_5_mb(client):
    five_mb = 5 * 1024 * 1024
    assert upload(client, samples.png(pad_to=five_mb), "big.png").status_code == 201
    r = upload(client, samples.png(pad_to=five_mb + 1), "bigger.png")
    (err,) = assert_error(r, 413, source="file", code="file_too_large")
    assert err["detail"] == (
        f"The file is a PNG image of {five_mb + 1} bytes; images are at most {five_mb} bytes "
        "(5 MB)."
    )
    # The same bytes are fine as a document would be: a 5 MB+1 PDF is under 100 MB.
    assert Media.objects.count() == 1


def test_an_upload_over_the_document_limit_is_refused_before_it_is_read(client, settings):
    settings.MEDIA_MAX_BODY_BYTES = 1000
    r = upload(client, samples.pdf() + b"\x00" * 2000, "big.pdf")
    assert_error(r, 413, source="file", code="file_too_large")
    # Other API bodies keep their 5 MB limit; this path alone takes the documents' size.
    settings.MEDIA_MAX_BODY_BYTES = 101 * 1024 * 1024
    assert upload(client, samples.pdf(), "small.pdf").status_code == 201


def test_what_the_body_must_be(client):
    r = client.post("/api/v1/media", {}, format="multipart")
    assert_error(r, 400, source="file", code="required")
    r = client.post("/api/v1/media", {"file": "not a file"}, format="multipart")
    assert_error(r, 400, source="file", code="required")
    r = client.post(
        "/api/v1/media", {"file": _part(samples.pdf()), "caption": "x"}, format="multipart"
    )
    assert_error(r, 400, source="caption", code="unknown_field")
    r = client.post("/api/v1/media", {"url": "https://x.example/a.pdf", "x": 1}, format="json")
    assert_error(r, 400, source="x", code="unknown_field")
    r = client.post("/api/v1/media", {}, format="json")
    assert_error(r, 400, source="url", code="required")
    r = client.post("/api/v1/media", "a.pdf", content_type="text/plain")
    assert_error(r, 415)
    assert not Media.objects.exists()


def _part(content: bytes, name: str = "a.pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def test_another_tenants_media_is_a_404(client, other_client):
    media_id = upload(client, samples.pdf(), "mine.pdf").json()["mediaId"]
    assert client.get(f"/api/v1/media/{media_id}").status_code == 200
    assert_error(other_client.get(f"/api/v1/media/{media_id}"), 404)
    assert_error(client.get("/api/v1/media/med_00000000000000000000000000000000"), 404)


def test_without_a_key_nothing(anon_client, db):
    assert anon_client.get("/api/v1/media/med_x").status_code == 401
    r = upload(anon_client, samples.pdf(), "a.pdf")
    assert r.status_code == 401
    assert not Media.objects.exists()


def test_an_idempotent_repeat_replays_and_stores_nothing_more(client):
    first = upload(client, samples.pdf(), "a.pdf", **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = upload(client, samples.pdf(), "a.pdf", **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Media.objects.count() == 1
    assert len(stored_files()) == 1

    # The same key with another file (same name) is a conflict, and stores nothing.
    other = upload(client, samples.docx(), "a.pdf", **{"Idempotency-Key": "k-1"})
    assert_error(other, 409, source="Idempotency-Key", code="idempotency_conflict")
    assert Media.objects.count() == 1
    assert len(stored_files()) == 1
    # Another key is another upload.
    assert upload(client, samples.pdf(), "a.pdf", **{"Idempotency-Key": "k-2"}).status_code == 201
    assert Media.objects.count() == 2


def test_a_concurrent_twin_that_wins_leaves_no_file_behind(client, monkeypatch):
    """Two uploads with one key at once: the one that records second answers the first's
    document, and its own stored file is taken back."""
    from messaging.api.media import MediaListView

    real_stage, twin = MediaListView._stage, {}

    def stage_then_let_the_twin_through(self, request):
        staged = real_stage(self, request)
        if not twin:  # the twin commits its row and record while this one was storing
            twin["busy"] = True
            twin["r"] = upload(client, samples.pdf(), "a.pdf", **{"Idempotency-Key": "race"})
        return staged

    monkeypatch.setattr(MediaListView, "_stage", stage_then_let_the_twin_through)
    r = upload(client, samples.pdf(), "a.pdf", **{"Idempotency-Key": "race"})
    assert twin["r"].status_code == 201
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert r.json()["mediaId"] == twin["r"].json()["mediaId"]
    assert Media.objects.count() == 1
    assert len(stored_files()) == 1


def test_a_row_that_cannot_be_written_takes_its_file_back(client, monkeypatch):
    from uploads import services

    def broken(staged):
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "media_save", broken)
    client.raise_request_exception = False
    r = upload(client, samples.pdf(), "a.pdf")
    assert r.status_code == 500
    assert stored_files() == []
