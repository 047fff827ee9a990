"""Deploying: production settings from the environment pass `check --deploy`, answer with the
security headers, redirect to HTTPS but not the health check, serve static files through
whitenoise; unknown API paths answer the error document for every method; the webhook URLs
follow HOST and PORT."""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import tomllib
from itertools import groupby
from pathlib import Path

import pytest
import yaml
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import CommandError, get_commands, load_command_class
from django.test import Client, override_settings
from rest_framework.test import APIClient

from config.settings import SECURE_REDIRECT_EXEMPT, derive_public_base_url
from core import status
from tests.helpers import assert_error

ROOT = Path(__file__).resolve().parents[1]

# Variables a developer's shell may have set that would change what production looks like.
_LEAKY = (
    "DJANGO_SETTINGS_MODULE", "DEBUG", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "HOST",
    "PORT", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS", "ALLOWED_HOSTS", "STATIC_ROOT",
    # Set by tests/browser (Playwright's loop) for this process only; check --deploy refuses it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)  # fmt: skip


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production web process: DEBUG off, real keys, one host."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        CREDENTIALS_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        # Set empty, so a developer's .env cannot fill them in (the environment wins).
        PUBLIC_BASE_URL="",
        HOST="",
        PORT="",
    )
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """`collectstatic` as a production deploy runs it (compressed, content-hashed names): the
    production pages need its manifest. Once per run: it takes some seconds."""
    root = tmp_path_factory.mktemp("staticfiles")
    env = production_env(root, STATIC_ROOT=str(root))
    r = run(["manage.py", "collectstatic", "--noinput"], env)
    assert r.returncode == 0, r.stderr
    assert (root / "staticfiles.json").exists()
    return root


# --- manage.py check --deploy ---------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    r = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    assert "W0" not in output
    assert "System check identified no issues" in output


def test_each_https_setting_can_be_turned_off_by_the_environment(tmp_path):
    """Behind a proxy that already redirects and sets HSTS, the environment turns them off
    (and `check --deploy` then says so)."""
    env = production_env(
        tmp_path,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
    )
    r = run(["manage.py", "check", "--deploy"], env)
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in r.stderr + r.stdout


# --- the answers of a production process ------------------------------------------------------

# Runs in a production process: asks its own WSGI handler (Django's test client) and prints
# what came back. The task queue's table exists so the health check can answer 200.
PROBE = """
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", "django_q", verbosity=0)
out = {}
for name, path, secure, headers in json.loads(sys.argv[1]):
    r = Client(HTTP_HOST="example.com", **headers).get(path, secure=secure)
    out[name] = {
        "status": r.status_code,
        "headers": dict(r.headers),
        "cookies": {k: {"secure": bool(v["secure"])} for k, v in r.cookies.items()},
    }
print(json.dumps(out))
"""


def probe(tmp_path: Path, static_root: Path, requests: list, **env: str) -> dict:
    env = production_env(tmp_path, STATIC_ROOT=str(static_root), **env)
    r = run(["-c", PROBE, json.dumps(requests)], env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_production_answers_carry_the_security_headers(tmp_path, collected_static):
    out = probe(
        tmp_path,
        collected_static,
        [
            ("login", "/admin/login/", True, {}),
            ("login_http", "/admin/login/", False, {}),
            ("health_http", "/healthz", False, {}),
            ("api_http", "/api/v1/messages", False, {}),
        ],
    )
    login = out["login"]
    assert login["status"] == 200
    headers = login["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    csp = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")}
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert not any("http" in source for sources in csp.values() for source in sources)
    assert login["cookies"]["csrftoken"]["secure"] is True

    # Plain HTTP goes to HTTPS, the health check excepted: load balancers probe over HTTP.
    assert out["login_http"]["status"] == 301
    assert out["login_http"]["headers"]["Location"] == "https://example.com/admin/login/"
    assert out["api_http"]["status"] == 301
    health = out["health_http"]
    assert health["status"] == 200, health
    assert "Location" not in health["headers"]


def test_behind_a_tls_proxy_the_forwarded_proto_counts_as_https(tmp_path, collected_static):
    out = probe(
        tmp_path,
        collected_static,
        [
            ("proxied", "/admin/login/", False, {"HTTP_X_FORWARDED_PROTO": "https"}),
            ("plain", "/admin/login/", False, {"HTTP_X_FORWARDED_PROTO": "http"}),
        ],
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    assert out["proxied"]["status"] == 200
    assert "Strict-Transport-Security" in out["proxied"]["headers"]
    assert out["plain"]["status"] == 301


def test_a_malformed_proxy_header_setting_is_refused(tmp_path):
    r = run(["manage.py", "check"], production_env(tmp_path, SECURE_PROXY_SSL_HEADER="https"))
    assert r.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER is 'HEADER,value'" in r.stderr


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True, SECURE_REDIRECT_EXEMPT=SECURE_REDIRECT_EXEMPT)
def test_health_check_is_not_redirected_to_https():
    r = Client().get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert Client().get("/admin/login/").status_code == 301


@pytest.mark.django_db
def test_webhooks_answer_over_https_as_before(sandbox):
    """A provider's report over HTTPS under the production settings gets the same answer as
    without them (no CSRF page, no redirect)."""
    url = f"/webhooks/providers/{sandbox.webhook_token}/status"
    before = Client(enforce_csrf_checks=True).post(url, "{}", content_type="application/json")
    with override_settings(
        SECURE_SSL_REDIRECT=True, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True
    ):
        client = Client(enforce_csrf_checks=True)
        after = client.post(url, "{}", content_type="application/json", secure=True)
    assert (after.status_code, after.content) == (before.status_code, before.content)
    assert after.status_code not in (301, 403)


# --- static files through whitenoise ----------------------------------------------------------


def test_static_files_are_served_by_whitenoise_with_debug_off(collected_static):
    """As in production: collected with the compressed manifest storage, served by
    WhiteNoiseMiddleware (not Django's static view, not the finders)."""
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(
        DEBUG=False,
        STATIC_ROOT=collected_static,
        STORAGES=storages,
        WHITENOISE_USE_FINDERS=False,
        WHITENOISE_AUTOREFRESH=False,
    ):
        hashed = staticfiles_storage.url("admin/css/base.css")
        assert hashed != "/static/admin/css/base.css"  # a content-hashed name
        client = Client()
        r = client.get("/static/admin/css/base.css")
        assert r.status_code == 200
        assert r["Content-Type"].startswith("text/css")
        assert b"".join(r.streaming_content).startswith(b"/*")
        r = client.get(hashed, HTTP_ACCEPT_ENCODING="gzip")
        assert r.status_code == 200
        assert r["Content-Encoding"] == "gzip"
        assert "immutable" in r["Cache-Control"]  # hashed names are cached for good
        # The API docs' assets (the sidecar's) are there too: /api/docs/ works offline.
        bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
        assert client.get(bundle).status_code == 200


# --- unknown API paths, every method -----------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
@pytest.mark.parametrize("keyed", [True, False])
def test_unknown_api_path_is_the_json_404_for_every_method(api_key, method, keyed):
    client = APIClient(enforce_csrf_checks=True)  # as a real client: CSRF is checked
    if keyed:
        client.credentials(HTTP_X_API_KEY=api_key)
    for path in ("/api/v1/nope", "/api/v2/messages", "/api/"):
        r = getattr(client, method)(path, {"a": 1}, format="json")
        (err,) = assert_error(r, 404, code="not_found")
        assert path in err["detail"]


# --- API docs --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_nothing_from_another_origin(path):
    r = Client().get(path)
    assert r.status_code == 200
    page = r.content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    assert "https://" not in page and "http://" not in page
    assert "<script>" not in page  # no inline script: the CSP allows none
    assert (
        "'unsafe-inline'" not in r["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )


# --- PUBLIC_BASE_URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "host", "port", "expected"),
    [
        ("", "", "", "http://127.0.0.1:8000"),
        ("", "", "8300", "http://127.0.0.1:8300"),
        ("", "192.0.2.7", "9000", "http://192.0.2.7:9000"),
        ("", "0.0.0.0", "8300", "http://127.0.0.1:8300"),
        ("", "::1", "", "http://[::1]:8000"),
        ("https://msg.example.com/", "", "8300", "https://msg.example.com"),
    ],
)
def test_public_base_url_follows_host_and_port_unless_set(public, host, port, expected):
    assert derive_public_base_url(public, host, port) == expected


def test_port_moves_the_webhook_urls_handed_to_providers(tmp_path):
    """`PORT=8300 make run`: the settings a fresh process reads say :8300."""
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.PUBLIC_BASE_URL)"
    env = production_env(tmp_path, DEBUG="true", PORT="8300")
    r = run(["-c", code], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "http://127.0.0.1:8300"
    env["PUBLIC_BASE_URL"] = "https://msg.example.com"
    assert run(["-c", code], env).stdout.strip() == "https://msg.example.com"


# --- several machines: the Procfile, Dockerfile, compose.yaml and docs/deploy.md ----------------

DEPLOY_MD = ROOT / "docs" / "deploy.md"
# Variables the deploy files name that are not the service's: they configure another image.
FOREIGN_VARIABLES = {"POSTGRES_PASSWORD": "compose.yaml"}
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*(?:_\*)?")


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def deploy_commands() -> dict[str, list[list[str]]]:
    """Every command the Procfile, the Dockerfile's CMD and compose.yaml's services run, each
    split into words (a `&&` chain into its commands)."""
    found: dict[str, list[list[str]]] = {}
    for name, line in procfile().items():
        words = shlex.split(line)
        found[f"Procfile {name}"] = [
            list(group) for is_and, group in groupby(words, lambda w: w == "&&") if not is_and
        ]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (cmd,) = re.findall(r"^CMD (\[.*?\])\s*$", dockerfile.replace("\\\n", " "), re.M)
    found["Dockerfile CMD"] = [json.loads(cmd)]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        if "command" in service:
            found[f"compose {name}"] = [service["command"]]
    return found


def check_command(words: list[str]) -> str | None:
    """Why `words` would not start what it names here; None if it would."""
    if words[0] == "gunicorn":
        app = next(w for w in words[1:] if not w.startswith("-") and "." in w)
        module, _, attr = app.partition(":")
        try:
            wsgi = importlib.import_module(module)
        except ImportError as exc:
            return f"{app}: {exc}"
        if not callable(getattr(wsgi, attr or "application", None)):
            return f"{app}: no WSGI application"
        return None
    if words[:2] != ["python", "manage.py"]:
        return f"{words}: neither gunicorn nor manage.py"
    name, args = words[2], words[3:]
    commands = get_commands()
    if name not in commands:
        return f"manage.py {name}: no such command"
    if name == "qcluster" and commands[name] != "messaging.workers":
        return "qcluster is django-q2's, not ours with the ticker"
    try:
        load_command_class(commands[name], name).create_parser("manage.py", name).parse_args(args)
    except CommandError as exc:
        return f"manage.py {name} {' '.join(args)}: {exc}"
    return None


def test_the_deploy_files_run_real_entry_points():
    commands = deploy_commands()
    assert set(procfile()) == {"release", "web", "worker"}
    problems = [
        f"{where}: {p}" for where, cmds in commands.items() for c in cmds if (p := check_command(c))
    ]
    assert not problems, "\n".join(problems)
    names = {
        where: [c[2] if c[0] == "python" else c[0] for c in cmds]
        for where, cmds in commands.items()
    }
    assert names["Procfile release"] == ["migrate", "collectstatic"]
    assert names["Procfile web"] == names["Dockerfile CMD"] == ["gunicorn"]
    assert names["Procfile worker"] == names["compose worker"] == ["qcluster"]
    assert names["compose migrate"] == ["migrate"]
    web = procfile()["web"]
    assert "--bind 0.0.0.0:$PORT" in web and "--workers ${WEB_CONCURRENCY" in web
    # gunicorn is no dependency of the tests, but the service names it: it must install.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(d.startswith("gunicorn") for d in pyproject["project"]["dependencies"])


def test_deploy_md_names_only_real_commands():
    spans = re.findall(r"`(python manage\.py [^`]+)`", DEPLOY_MD.read_text(encoding="utf-8"))
    assert len(spans) >= 5  # migrate, collectstatic, qcluster, qinfo, qmonitor ...
    problems = [p for span in spans if (p := check_command(shlex.split(span)))]
    assert not problems, "\n".join(problems)


def test_the_entry_point_check_can_fail():
    assert "no WSGI application" in check_command(["gunicorn", "config.urls"])
    assert "No module named" in check_command(["gunicorn", "config.wsgy"])
    assert "no such command" in check_command(["python", "manage.py", "qclusters"])
    assert "unrecognized arguments" in check_command(["python", "manage.py", "migrate", "--nope"])
    assert check_command(["python", "manage.py", "qcluster", "--no-ticker"]) is None


def known_variables() -> set[str]:
    """What the service reads from the environment: config/settings.py's env(...) calls and
    the names in README's Configuration table (`AWS_*` stands for its prefix)."""
    settings_py = (ROOT / "config" / "settings.py").read_text(encoding="utf-8")
    known = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_py))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for row in re.findall(r"^\| ([^|]+) \|", table, re.M):
        known.update(re.findall(r"`([A-Z][A-Z0-9_]*(?:_\*)?)`", row))
    return known


def variables_named(markdown: str) -> set[str]:
    """The environment variables a page names in code spans (`NAME`, `NAME=value`, `$NAME`),
    not message statuses (`PENDING_UNKNOWN`) or signals (`SIGTERM`)."""
    statuses = {v for k, v in vars(status).items() if k.isupper() and isinstance(v, str)}
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    names = set()
    for span in re.findall(r"`([^`\n]+)`", prose):
        head = span.lstrip("$").split("=", 1)[0]
        if _ENV_NAME.fullmatch(head) and head not in statuses | set(signal.Signals.__members__):
            names.add(head)
    return names


def unknown_variables(names: set[str], known: set[str]) -> set[str]:
    prefixes = tuple(k[:-1] for k in known if k.endswith("*"))  # AWS_* covers AWS_LOCATION
    return {n for n in names if n not in known and not n.startswith(prefixes)}


def test_deploy_md_names_only_variables_the_service_reads():
    """The page cannot drift: a variable it tells an operator to set is read by the settings
    or documented in README's table (or is another image's, used by compose.yaml)."""
    known = known_variables()
    named = variables_named(DEPLOY_MD.read_text(encoding="utf-8"))
    for variable, where in FOREIGN_VARIABLES.items():
        assert variable in (ROOT / where).read_text(encoding="utf-8")
    assert {"SECRET_KEY", "CREDENTIALS_KEY", "PUBLIC_BASE_URL", "WEB_CONCURRENCY"} <= named
    assert not unknown_variables(named - set(FOREIGN_VARIABLES), known)
    # The variables the Procfile and compose.yaml expand, too.
    expanded = set()
    for name in ("Procfile", "compose.yaml"):
        text = (ROOT / name).read_text(encoding="utf-8")
        expanded.update(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
    assert {"PORT", "WEB_CONCURRENCY", "POSTGRES_PASSWORD"} <= expanded
    assert not unknown_variables(expanded - set(FOREIGN_VARIABLES), known)


def test_the_variable_check_can_fail():
    known = known_variables()
    assert "DISPATCH_WINDOW_SIZE" in known and "AWS_*" in known
    named = variables_named(
        "Set `SECRET_KEY=...`, `$PORT`, `AWS_S3_REGION_NAME` and `DISPATCH_WAVE_SIZE`; "
        "not `PENDING_UNKNOWN` on `SIGTERM`.\n```\nIN_A_BLOCK=1\n```\n"
    )
    assert named == {"SECRET_KEY", "PORT", "AWS_S3_REGION_NAME", "DISPATCH_WAVE_SIZE"}
    # DISPATCH_WAVE_SIZE is a setting, not read from the environment: an operator cannot set it.
    assert unknown_variables(named, known) == {"DISPATCH_WAVE_SIZE"}
