"""POST /api/v1/media {"url"}: fetched through the guarded client from a real loopback
server, sniffed and limited as an upload is; nothing inside the network unless allowed."""

import pytest

from tests.helpers import assert_error
from tests.test_ssrf import Listener, resolver
from tests.uploads import samples
from uploads.models import Media


@pytest.fixture
def files():
    """A loopback server that answers every GET with a PDF (declared as JSON: the content,
    not the header, decides)."""
    server = Listener(body=samples.pdf())
    yield server
    server.close()


def test_a_remote_file_is_fetched_sniffed_and_stored(client, files):
    r = client.post("/api/v1/media", {"url": f"{files.url}/docs/Receipt%201.pdf"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["contentType"], body["filename"], body["size"]) == (
        "application/pdf", "Receipt 1.pdf", len(samples.pdf()),
    )  # fmt: skip
    assert files.requests == [("GET", "/docs/Receipt%201.pdf")]
    with Media.objects.get(pk=body["mediaId"]).file.open("rb") as stored:
        assert stored.read() == samples.pdf()


def test_the_filename_given_wins_and_takes_the_real_extension(client, files):
    r = client.post(
        "/api/v1/media", {"url": f"{files.url}/x", "filename": "menu.png"}, format="json"
    )
    assert r.status_code == 201, r.content
    assert r.json()["filename"] == "menu.pdf"


def test_a_remote_file_of_another_type_is_refused(client):
    server = Listener(body=samples.EXE)
    try:
        r = client.post("/api/v1/media", {"url": f"{server.url}/setup.pdf"}, format="json")
    finally:
        server.close()
    assert_error(r, 400, source="url", code="unsupported_media_type")
    assert not Media.objects.exists()


def test_a_remote_file_over_the_limit_is_a_413(client, files, settings):
    settings.MEDIA_MAX_DOCUMENT_BYTES = len(samples.pdf()) - 1  # the fetch stops there
    r = client.post("/api/v1/media", {"url": f"{files.url}/big.pdf"}, format="json")
    assert_error(r, 413, source="url", code="file_too_large")
    settings.MEDIA_MAX_DOCUMENT_BYTES = len(samples.pdf())
    assert (
        client.post("/api/v1/media", {"url": f"{files.url}/ok.pdf"}, format="json").status_code
        == 201
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "[::ffff:127.0.0.1]", "localhost"])
def test_a_loopback_url_is_refused_unless_allowed(client, files, settings, host):
    settings.ALLOW_PRIVATE_URLS = False
    r = client.post("/api/v1/media", {"url": f"http://{host}:{files.port}/a.pdf"}, format="json")
    assert_error(r, 400, source="url", code="private_url")
    assert files.requests == []
    settings.ALLOW_PRIVATE_URLS = True  # the control
    assert (
        client.post("/api/v1/media", {"url": f"{files.url}/a.pdf"}, format="json").status_code
        == 201
    )


def test_a_name_that_resolves_inside_is_refused_at_the_connection(
    client, files, settings, monkeypatch
):
    settings.ALLOW_PRIVATE_URLS = False
    resolver(monkeypatch, {"files.example.com": ["127.0.0.1"]})
    r = client.post(
        "/api/v1/media", {"url": f"http://files.example.com:{files.port}/a.pdf"}, format="json"
    )
    (err,) = assert_error(r, 400, source="url", code="private_url")
    assert "private or loopback" in err["detail"]
    assert files.requests == []


@pytest.mark.parametrize(
    ("status", "code", "answer"),
    [(404, "url_not_fetched", 400), (500, "url_unavailable", 400), (429, "url_unavailable", 400)],
)
def test_what_the_remote_server_answers(client, status, code, answer):
    server = Listener(status=status, body=b"{}")
    try:
        r = client.post("/api/v1/media", {"url": f"{server.url}/a.pdf"}, format="json")
    finally:
        server.close()
    assert_error(r, answer, source="url", code=code)


def test_a_server_that_is_not_there_is_worth_another_try(client):
    server = Listener()
    server.close()  # the port is free now: nothing listens
    r = client.post("/api/v1/media", {"url": f"{server.url}/a.pdf"}, format="json")
    (err,) = assert_error(r, 400, source="url", code="url_unavailable")
    assert "Could not connect" in err["detail"]


@pytest.mark.parametrize("url", ["ftp://files.example.com/a.pdf", "files.example.com/a.pdf", 7])
def test_what_is_not_an_http_url(client, url):
    r = client.post("/api/v1/media", {"url": url}, format="json")
    assert_error(r, 400, source="url")
