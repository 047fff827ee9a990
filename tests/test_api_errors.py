"""The API as a whole: the error document everywhere, OpenAPI, health."""

import json

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver

from messaging.models import Message
from tests.helpers import assert_error, counts

# --- unknown paths and methods ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v2/messages",
        "/api/v1/providers/",
        "/api/v1/messages/not-a-uuid",
        "/api/v1/templates/a/b/c",
    ],
)
@pytest.mark.parametrize("keyed", [True, False])
def test_unknown_api_path_is_a_json_404(client, anon_client, path, keyed):
    r = (client if keyed else anon_client).get(path)
    (err,) = assert_error(r, 404, code="not_found")
    assert path in err["detail"]


def test_unknown_path_outside_the_api_is_not_json(anon_client, db):
    r = anon_client.get("/nope")
    assert r.status_code == 404
    assert not r["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/providers"),
        ("delete", "/api/v1/providers"),
        ("put", "/api/v1/providers/sandbox"),
        ("post", "/api/v1/providers/sandbox"),
        ("delete", "/api/v1/templates"),
        ("get", "/api/v1/templates/otp/preview"),
        ("patch", "/api/v1/messages"),
        ("post", "/api/v1/messages/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_wrong_method_is_a_405(client, sandbox, templates, method, path):
    before = counts()
    r = getattr(client, method)(path, {}, format="json")
    (err,) = assert_error(r, 405, code="method_not_allowed")
    assert method.upper() in err["detail"]
    assert counts() == before


def test_unexpected_error_is_a_json_500(client, sandbox, templates, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("messaging.api.views.message_accept", boom)
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"template": "otp", "data": {"otp": "1"}, "to": ["+14155550100"]}]},
        format="json",
    )
    (err,) = assert_error(r, 500, code="server_error")
    assert "fire" not in err["detail"]  # nothing internal leaks


# --- never a 500 for bad input ----------------------------------------------------------------

JUNK = [None, 0, 1.5, True, "text", [], [None], {"": None}, {"a": {"b": []}}, {"data": None}]
WRITES = [
    ("post", "/api/v1/providers"),
    ("patch", "/api/v1/providers/sandbox"),
    ("post", "/api/v1/templates"),
    ("patch", "/api/v1/templates/otp"),
    ("post", "/api/v1/templates/otp/preview"),
    ("post", "/api/v1/messages"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_junk_bodies_are_refused_cleanly(client, sandbox, templates, method, path):
    before = counts()
    for junk in JUNK:
        r = getattr(client, method)(path, json.dumps(junk), content_type="application/json")
        if r.status_code == 200 and method == "patch" and junk in ({"data": None},):
            continue  # an empty change is fine
        if r.status_code == 200 and path.endswith("/preview") and junk == {"data": None}:
            continue
        assert 400 <= r.status_code < 500, (junk, r.status_code, r.content)
        assert_error(r, r.status_code)
    assert counts() == before


@pytest.mark.parametrize(
    "entry",
    [
        {"template": None, "to": None, "data": None},
        {"template": 1, "provider": 1, "to": [None], "data": "x"},
        {"template": {}, "provider": {}, "to": [{}], "senderId": []},
        {"body": 5, "to": [{"countryCode": [], "number": {}}]},
        {"body": "x", "to": "+14155550100"},
        {"body": "x", "to": ["+14155550100"], "media": [], "buttons": "b", "tags": 1},
        {"body": "x", "to": ["+" + "9" * 300]},
        {"body": "x", "to": ["+14155550100"], "externalRef": {"a": 1}, "from": 5},
    ],
)
@pytest.mark.parametrize("channel", ["sms", "whatsapp", "email"])
def test_junk_entries_are_refused_cleanly(client, sandbox, templates, channel, entry):
    before = counts()
    r = client.post("/api/v1/messages", {channel: [entry]}, format="json")
    assert 400 <= r.status_code < 500, r.content
    assert_error(r, r.status_code)
    assert counts() == before


@pytest.mark.parametrize(
    "entry",
    [
        {"to": None, "subject": None, "body": "x"},
        {"to": [{"address": "a@x.com"}], "subject": "s", "body": "x"},
        {"to": "a@x.com", "cc": "b@", "bcc": {}, "subject": "s", "body": "x"},
        {"to": ["a@x.com"], "subject": 1, "body": "x", "format": []},
        {"to": ["a@x.com"], "subject": "s", "body": "x", "replyTo": "nope"},
        {"to": ["a@" + "x" * 300 + ".com"], "subject": "s", "body": "x"},
    ],
)
def test_junk_email_entries_are_refused_cleanly(client, sandbox, templates, entry):
    before = counts()
    r = client.post("/api/v1/messages", {"email": [entry]}, format="json")
    assert_error(r, 400)
    assert counts() == before


# --- OpenAPI ----------------------------------------------------------------------------------


def _api_paths():
    """Every /api/v1 route, in OpenAPI form ({name} for a parameter)."""
    import re

    out = set()

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(p.pattern)))

    walk(get_resolver().url_patterns, "")
    return {p for p in out if p.startswith("/api/v1/")}


def test_schema_is_public_and_lists_every_api_path(anon_client, db):
    r = anon_client.get("/api/schema/")
    assert r.status_code == 200, r.content
    schema = yaml.safe_load(r.content)
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    expected = _api_paths()
    assert {"/api/v1/providers", "/api/v1/templates/{name}/preview",
            "/api/v1/messages/{message_id}"} <= expected  # fmt: skip
    assert expected <= paths, expected - paths
    assert "ApiKey" in schema["components"]["securitySchemes"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"


def test_schema_as_json(anon_client, db):
    r = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    assert "/api/v1/messages" in json.loads(r.content)["paths"]


def test_schema_documents_the_error_document(anon_client, db):
    schema = yaml.safe_load(anon_client.get("/api/schema/").content)
    post = schema["paths"]["/api/v1/messages"]["post"]
    assert {"202", "400", "401"} <= set(post["responses"])


def test_docs_page(anon_client, db):
    r = anon_client.get("/api/docs/")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    assert b"swagger" in r.content.lower() and b"/api/schema/" in r.content


# --- health -----------------------------------------------------------------------------------


def test_healthz(anon_client, db):
    r = anon_client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"].startswith("ok")


def test_healthz_reports_a_broken_broker(anon_client, db, monkeypatch):
    def broken():
        raise ConnectionError("no broker")

    monkeypatch.setattr("config.health._broker", broken)
    r = anon_client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["broker"].startswith("error: ConnectionError")


# --- bodies the database could not store --------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"sms": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"sms": [{"body": "x\\ud800", "to": ["+14155550100"]}]}',
        b'{"sms": [{"body": "x\\u0000", "to": ["+14155550100"]}]}',
        b'{"sms": [{"body": "{{a}}", "data": {"a": "\\udfff"}, "to": ["+14155550100"]}]}',
        b'{"sms": [{"body": "x", "to": ["+14155550100"]}], "callback": '
        b'{"url": "https://x.com/h", "meta": {"k\\u0000": 1}}}',
        b'{"sms": [{"body": "x", "to": ["+14155550100"], "data": {"n": NaN}}]}',
        b'{"sms": [{"body": "x", "to": ["+14155550100"], "data": {"n": ' + b"9" * 5000 + b"}}]}",
        b"\xff\xfe{}",
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/providers", "/api/v1/templates"])
def test_unstorable_json_is_a_400(client, sandbox, templates, raw, path):
    before = counts()
    assert_error(
        client.post(path, raw, content_type="application/json"), 400, code="malformed_body"
    )
    assert counts() == before


def test_emoji_written_as_a_surrogate_pair_is_fine(client, sandbox):
    raw = b'{"sms": [{"body": "Hi \\ud83d\\ude00", "to": ["+14155550100"]}]}'
    r = client.post("/api/v1/messages", raw, content_type="application/json")
    assert r.status_code == 202, r.content
    assert Message.objects.get().body == "Hi \U0001f600"


# --- limits -------------------------------------------------------------------------------------


def test_message_limit_boundary(client, sandbox, templates, settings):
    settings.API_MAX_MESSAGES = 3
    to = ["+14155550100", "+14155550101", "+14155550102"]
    entry = {"template": "otp", "data": {"otp": "1"}}
    r = client.post("/api/v1/messages", {"sms": [{**entry, "to": to}]}, format="json")
    assert r.status_code == 202, r.content
    before = counts()
    body = {"sms": [{**entry, "to": to}], "whatsapp": [{"body": "x", "to": ["+14155550100"]}]}
    (err,) = assert_error(client.post("/api/v1/messages", body, format="json"), 413)
    assert "4 messages" in err["detail"]
    # Email counts one message per entry, whatever its recipients.
    mail = {"template": "order", "data": {"orderId": 1, "name": "A"},
            "to": ["a@x.com", "b@x.com"], "cc": ["c@x.com"], "bcc": ["d@x.com"]}  # fmt: skip
    assert client.post("/api/v1/messages", {"email": [mail] * 3}, format="json").status_code == 202
    assert_error(client.post("/api/v1/messages", {"email": [mail] * 4}, format="json"), 413)
    assert counts()["Message"] == before["Message"] + 3


def test_body_size_limit_boundary(client, sandbox, settings):
    settings.API_MAX_BODY_BYTES = 200
    small = {"sms": [{"body": "x", "to": ["+14155550100"]}]}
    assert client.post("/api/v1/messages", small, format="json").status_code == 202
    big = {"sms": [{"body": "x" * 200, "to": ["+14155550100"]}]}
    (err,) = assert_error(client.post("/api/v1/messages", big, format="json"), 413)
    assert err["code"] == "request_too_large"
    for path in ("/api/v1/providers", "/api/v1/templates"):
        assert_error(client.post(path, {"name": "x" * 300}, format="json"), 413)
    assert Message.objects.count() == 1
