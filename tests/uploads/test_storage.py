"""Where files go: the file system by default, an S3-compatible bucket (django-storages) when
the environment says MEDIA_STORAGE=s3; the S3 round trip runs against moto's in-process S3,
so nothing leaves the machine."""

from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, StorageHandler, default_storage
from django.test import Client
from moto import mock_aws
from storages.backends.s3 import S3Storage

from config.settings import media_storage
from tests.uploads import samples
from tests.uploads.conftest import upload
from uploads.models import Media

S3_ENV = {
    "AWS_STORAGE_BUCKET_NAME": "acme-media",
    "AWS_S3_ENDPOINT_URL": "https://minio.internal.example:9000",
    "AWS_S3_REGION_NAME": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_S3_ADDRESSING_STYLE": "path",
    "AWS_LOCATION": "uploads",
}


def resolved(config: dict):
    """The storage Django builds from a STORAGES entry (as `storages["default"]` does)."""
    return StorageHandler({"default": config})["default"]


def test_the_file_system_by_default(tmp_path):
    storage = resolved(media_storage("filesystem", lambda name: "", tmp_path))
    assert type(storage) is FileSystemStorage
    assert Path(storage.location) == tmp_path


def test_the_test_run_keeps_its_files_outside_the_code():
    assert isinstance(default_storage, FileSystemStorage)
    assert not Path(default_storage.location).is_relative_to(Path(__file__).parents[2])


def test_s3_is_configured_by_the_environment(tmp_path):
    storage = resolved(media_storage("s3", lambda name: S3_ENV.get(name, ""), tmp_path))
    assert type(storage) is S3Storage
    assert storage.bucket_name == "acme-media"
    assert storage.endpoint_url == "https://minio.internal.example:9000"
    assert storage.region_name == "eu-central-1"
    assert (storage.access_key, storage.secret_key) == ("AKIAEXAMPLE", "secret")
    assert storage.addressing_style == "path"
    assert storage.location == "uploads"
    # Private: no ACL sent (the bucket's own, private by default), signed URLs, no overwrite.
    assert storage.default_acl is None and storage.querystring_auth is True
    assert storage.file_overwrite is False
    # Signing a URL needs no network: the configuration is complete.
    url = storage.url("1/med_x.pdf")
    assert url.startswith("https://minio.internal.example:9000/acme-media/uploads/1/med_x.pdf?")
    assert "X-Amz-Signature=" in url


def test_only_the_keys_given_are_set(tmp_path):
    config = media_storage(
        "s3", lambda name: {"AWS_STORAGE_BUCKET_NAME": "b"}.get(name, ""), tmp_path
    )
    assert config["OPTIONS"] == {
        "bucket_name": "b", "default_acl": None, "querystring_auth": True, "file_overwrite": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "env", "said"),
    [
        ("s3", {}, "needs AWS_STORAGE_BUCKET_NAME"),
        ("gcs", {}, "filesystem or s3"),
    ],
)
def test_a_wrong_configuration_stops_the_start(tmp_path, kind, env, said):
    with pytest.raises(ImproperlyConfigured, match=said):
        media_storage(kind, lambda name: env.get(name, ""), tmp_path)


@pytest.fixture
def s3(settings, tmp_path):
    """The service's storage on an S3 bucket (moto's, in process)."""
    env = {"AWS_STORAGE_BUCKET_NAME": "acme-media", "AWS_S3_REGION_NAME": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="acme-media")
        settings.STORAGES = {
            **settings.STORAGES,
            "default": media_storage("s3", lambda name: env.get(name, ""), tmp_path),
        }
        yield boto3.client("s3", region_name="us-east-1")


def test_an_upload_goes_to_the_bucket_and_its_link_serves_it(client, s3, tmp_path):
    r = upload(client, samples.docx(), "terms.docx")
    assert r.status_code == 201, r.content
    media = Media.objects.get(pk=r.json()["mediaId"])
    assert isinstance(media.file.storage, S3Storage)
    stored = s3.get_object(Bucket="acme-media", Key=media.file.name)
    assert stored["Body"].read() == samples.docx()
    assert list(tmp_path.iterdir()) == []  # nothing on the local disk

    served = Client().get(urlsplit(r.json()["url"]).path)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == samples.docx()
    assert served["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )


def test_a_refused_upload_leaves_the_bucket_empty(client, s3, monkeypatch):
    from uploads import services

    def broken(staged):
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "media_save", broken)
    client.raise_request_exception = False
    assert upload(client, samples.pdf(), "a.pdf").status_code == 500
    assert s3.list_objects_v2(Bucket="acme-media").get("KeyCount") == 0
