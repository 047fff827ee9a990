"""API keys: issued by create_tenant, stored hashed, checked on every call, rate-limited."""

import hashlib
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.authentication import AppRateThrottle
from tenants.models import ApiKey, App, Tenant
from tests.factories import AppFactory, issue_key
from tests.helpers import assert_error


def keyed(raw):
    c = APIClient()
    c.credentials(HTTP_X_API_KEY=raw)
    return c


def create_tenant(*args):
    out = StringIO()
    call_command("create_tenant", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


# --- create_tenant ----------------------------------------------------------------------------


def test_create_tenant_prints_one_json_line_and_the_key_works(db):
    line = create_tenant("initech", "--app", "billing")
    assert set(line) == {"tenant", "app", "apiKey", "webhookSecret"}
    assert line["tenant"] == "initech" and line["app"] == "billing"
    app = App.objects.get(tenant__slug="initech", name="billing")
    assert line["webhookSecret"] == app.webhook_secret and len(app.webhook_secret) >= 32
    r = keyed(line["apiKey"]).get("/api/v1/providers")
    assert r.status_code == 200 and r.json()["count"] == 0


def test_create_tenant_again_reuses_tenant_and_app_and_issues_a_new_key(db):
    first = create_tenant("initech", "--app", "billing")
    second = create_tenant("initech", "--app", "billing")
    third = create_tenant("initech", "--app", "crm")
    assert Tenant.objects.count() == 1 and App.objects.count() == 2
    assert first["apiKey"] != second["apiKey"]
    assert first["webhookSecret"] == second["webhookSecret"] != third["webhookSecret"]
    for line in (first, second, third):
        assert keyed(line["apiKey"]).get("/api/v1/templates").status_code == 200


@pytest.mark.parametrize("args", [("Not A Slug", "--app", "x"), ("ok", "--app", " ")])
def test_create_tenant_refuses_bad_input(db, args):
    with pytest.raises(CommandError):
        call_command("create_tenant", *args, stdout=StringIO())
    assert Tenant.objects.count() == 0


def test_key_is_stored_hashed(db):
    raw = create_tenant("initech", "--app", "billing")["apiKey"]
    key = ApiKey.objects.get()
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(key.prefix) and len(key.prefix) < len(raw) // 2
    stored = json.dumps(list(ApiKey.objects.values()), default=str)
    assert raw not in stored


# --- authentication ---------------------------------------------------------------------------


def test_last_used_time_is_recorded(client, api_key):
    key = ApiKey.objects.get()
    assert key.last_used_at is None
    assert client.get("/api/v1/templates").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert timezone.now() - key.last_used_at < timedelta(seconds=5)


def test_last_used_time_is_not_written_on_every_call(client, api_key):
    client.get("/api/v1/templates")
    earlier = timezone.now() - timedelta(seconds=30)
    ApiKey.objects.update(last_used_at=earlier)
    client.get("/api/v1/templates")
    assert ApiKey.objects.get().last_used_at == earlier
    ApiKey.objects.update(last_used_at=timezone.now() - timedelta(minutes=5))
    client.get("/api/v1/templates")
    assert ApiKey.objects.get().last_used_at > earlier


@pytest.mark.parametrize("path", ["/api/v1/providers", "/api/v1/templates", "/api/v1/messages"])
def test_no_key_is_401(anon_client, db, path):
    r = anon_client.get(path)
    (err,) = assert_error(r, 401, code="unauthorized")
    assert "X-API-Key" in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("raw", ["omk_unknown", "", " ", "x" * 500])
def test_unknown_key_is_401(db, raw):
    (err,) = assert_error(keyed(raw).get("/api/v1/templates"), 401)


def test_revoked_key_is_401(client, api_key):
    assert client.get("/api/v1/templates").status_code == 200
    ApiKey.objects.get().revoke()
    (err,) = assert_error(client.get("/api/v1/templates"), 401, code="unauthorized")
    r = client.post("/api/v1/providers", {"name": "x", "providerType": "sandbox"}, format="json")
    (err,) = assert_error(r, 401)


def test_other_keys_of_the_app_survive_a_revocation(app, api_key):
    second = issue_key(app)
    ApiKey.objects.get(key_hash=hashlib.sha256(api_key.encode()).hexdigest()).revoke()
    assert keyed(second).get("/api/v1/templates").status_code == 200


def test_disabled_app_is_401(client, app):
    app.is_active = False
    app.save()
    (err,) = assert_error(client.get("/api/v1/templates"), 401)


def test_key_is_trimmed(api_key):
    assert keyed(f" {api_key} ").get("/api/v1/templates").status_code == 200


# --- throttling -------------------------------------------------------------------------------


@pytest.fixture
def low_rate(monkeypatch):
    """DRF reads THROTTLE_RATES once, at import: set the rate on the class instead, and
    start from an empty cache so no earlier test's history counts."""
    monkeypatch.setattr(AppRateThrottle, "rate", "3/minute", raising=False)
    cache.clear()
    yield
    cache.clear()


def test_throttled_app_gets_429_with_retry_after(client, low_rate):
    for _ in range(3):
        assert client.get("/api/v1/templates").status_code == 200
    r = client.get("/api/v1/templates")
    (err,) = assert_error(r, 429, code="throttled")
    assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_throttling_is_per_app(client, low_rate):
    for _ in range(4):
        client.get("/api/v1/templates")
    assert client.get("/api/v1/templates").status_code == 429
    other = keyed(issue_key(AppFactory()))
    assert other.get("/api/v1/templates").status_code == 200


def test_throttling_counts_every_key_of_an_app(app, client, low_rate):
    for _ in range(3):
        client.get("/api/v1/templates")
    assert keyed(issue_key(app)).get("/api/v1/templates").status_code == 429


def test_throttling_slides_over_the_previous_window(app, client, monkeypatch):
    """Half a minute into a window, half of the previous minute's requests still count."""
    import time as time_module

    monkeypatch.setattr(AppRateThrottle, "rate", "10/minute", raising=False)
    cache.clear()
    start = (int(time_module.time() // 60) + 1) * 60  # a window boundary
    monkeypatch.setattr(time_module, "time", lambda: start + 30.0)
    cache.set(f"throttle:app:{app.pk}:{start // 60 - 1}", 10)  # a full previous minute
    codes = [client.get("/api/v1/templates").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    cache.clear()


def test_the_rate_limit_holds_under_parallel_requests(app, monkeypatch):
    """60 requests at once against a limit of 30: exactly 30 pass (the counter is one atomic
    increment; DRF's read-then-write history let 34–60 through)."""
    import threading
    from types import SimpleNamespace

    from tenants.authentication import AppPrincipal

    monkeypatch.setattr(AppRateThrottle, "rate", "30/minute", raising=False)
    cache.clear()
    request = SimpleNamespace(user=AppPrincipal(app=app, api_key=None))
    start, passed, lock = threading.Barrier(60), [], threading.Lock()

    def call():
        start.wait()
        ok = AppRateThrottle().allow_request(request, None)
        with lock:
            passed.append(ok)

    threads = [threading.Thread(target=call) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert passed.count(True) == 30
    cache.clear()
