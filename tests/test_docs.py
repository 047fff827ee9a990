"""The repository documents itself: every link in README.md and docs/ resolves inside the
repository (file and GitHub anchor), and the callback verification snippet of docs/api.md
verifies what the service really sends."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from messaging.services.callbacks import sign, standard_signature
from tests.helpers import HOOK

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# Links may leave the repository only for a provider's or a library's own documentation
# (what a page about that provider cites), or for the service a reader runs locally.
EXTERNAL_HOSTS = {
    "anymail.dev",
    "www.twilio.com",
    "developers.facebook.com",
    "developer.vonage.com",
    "messente.com",
    "www.infobip.com",
    "developer.websms.com",
    "docs.aws.amazon.com",
    "firebase.google.com",
}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_INLINE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp|file):[^>\s]+)>")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
_HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""")


def without_code(text: str) -> str:
    """Markdown with fenced blocks and code spans blanked: a link shown as code is no link."""
    text = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return _CODE_SPAN.sub("", text)


def links_of(text: str) -> list[str]:
    prose = without_code(text)
    found = [m.group(1) for m in _INLINE.finditer(prose)]
    found += [m.group(1) for m in _AUTOLINK.finditer(prose)]
    found += [m.group(1) for m in _REFERENCE.finditer(prose)]
    found += [m.group(1) for m in _HTML.finditer(prose)]
    return [f for f in found if f]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped,
    each space a hyphen (github-slugger)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"(\*+)(.+?)\1", r"\2", text)  # emphasis markers are not text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    prose = _FENCE.sub("", text)
    anchors: set[str] = set(_HTML_ANCHOR.findall(prose))
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(prose):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeats
    return anchors


def link_problem(doc: Path, target: str, root: Path = ROOT) -> str | None:
    """Why `target`, a link in `doc`, is broken or leaves the repository; None if fine."""
    parts = urlsplit(target)
    if parts.scheme:
        if parts.scheme in ("http", "https"):
            host = (parts.hostname or "").lower()
            if host in EXTERNAL_HOSTS or host in LOCAL_HOSTS:
                return None
        return f"{target}: leaves the repository (allowed: provider documentation hosts)"
    if target.startswith("/"):
        return f"{target}: an absolute path, not a file of the repository"
    path, anchor = unquote(parts.path), unquote(parts.fragment)
    resolved = (doc.parent / path).resolve() if path else doc
    if not resolved.is_relative_to(root):
        return f"{target}: points outside the repository"
    if not resolved.exists():
        return f"{target}: no such file"
    if anchor and resolved.suffix == ".md" and anchor not in anchors_of(resolved):
        return f"{target}: no heading #{anchor} in {resolved.relative_to(root)}"
    return None


# --- the checker itself: each kind of broken link is caught ------------------------------------


def test_slug_is_githubs():
    assert slug("Timers, the ticker and the sweep") == "timers-the-ticker-and-the-sweep"
    assert slug("Amazon SES (`ses`)") == "amazon-ses-ses"
    assert slug("The delivery core (issue 7)") == "the-delivery-core-issue-7"
    assert slug("Callbacks: an **outbox**") == "callbacks-an-outbox"
    assert slug("[Providers](#providers) and `aws_sms`") == "providers-and-aws_sms"


def test_checker_catches_every_kind_of_bad_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Real heading\n", encoding="utf-8")
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(
        "# Page\n\n## Same\n\n## Same\n\n"
        "[ok](other.md#real-heading) [self](#same-1) [dir](./) [site](http://127.0.0.1:8000/)\n"
        "[gone](missing.md) [anchor](other.md#nope) [escape](../../shared/docs/API.md)\n"
        "[abs](/work/shared/docs/API.md) <https://example.com/x> [ext](https://evil.example)\n"
        "`[in code](missing-too.md)`\n\n```\n[fenced](missing-three.md)\n```\n",
        encoding="utf-8",
    )
    problems = {t: link_problem(doc, t, tmp_path) for t in links_of(doc.read_text())}
    assert [t for t, p in problems.items() if p is None] == [
        "other.md#real-heading", "#same-1", "./", "http://127.0.0.1:8000/",
    ]  # fmt: skip
    assert problems["missing.md"].endswith("no such file")
    assert "no heading #nope" in problems["other.md#nope"]
    assert problems["../../shared/docs/API.md"].endswith("outside the repository")
    assert "absolute path" in problems["/work/shared/docs/API.md"]
    assert "leaves the repository" in problems["https://example.com/x"]
    assert "leaves the repository" in problems["https://evil.example"]


# --- the repository's own documents -------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(doc):
    problems = [p for t in links_of(doc.read_text(encoding="utf-8")) if (p := link_problem(doc, t))]
    assert not problems, f"{doc.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_readme_links_the_api_and_the_architecture():
    links = links_of((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "docs/api.md" in links
    assert "docs/architecture.md" in links
    assert "docs/api.md#verifying-a-callback" in links


# --- the verification snippet of docs/api.md ---------------------------------------------------

SECRET = "whsec-test-secret-Ünïcode"
API_MD = ROOT / "docs" / "api.md"


def _python_blocks() -> list[str]:
    text = API_MD.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


@pytest.fixture
def snippet() -> dict:
    """The namespace of the block that starts `# verify-callback:`, run as a reader would."""
    (code,) = [b for b in _python_blocks() if b.startswith("# verify-callback:")]
    namespace: dict = {"__name__": "receiver"}
    exec(compile(code, str(API_MD), "exec"), namespace)
    return namespace


def _signed(body: bytes, *, webhook_id: str = "cb_42", timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "X-Signature": sign(body, SECRET),
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(webhook_id, timestamp, body, SECRET),
    }


BODY = json.dumps(
    {"event": "message.status", "messageId": "m-1", "status": {"name": "DELIVERED_TO_HANDSET"}},
    separators=(",", ":"),
).encode()


def test_snippet_verifies_what_the_service_signs(snippet):
    headers = _signed(BODY)
    assert snippet["verify_callback"](BODY, headers, SECRET) == json.loads(BODY)
    # Frameworks hand headers over in their own letter case.
    upper = {k.upper(): v for k, v in headers.items()}
    assert snippet["verify_callback"](BODY, upper, SECRET)["messageId"] == "m-1"


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda b, h: (b.replace(b"m-1", b"m-2"), h), "X-Signature"),
        (lambda b, h: (b, {**h, "X-Signature": "sha256=" + "0" * 64}), "X-Signature"),
        (lambda b, h: (b, {**h, "webhook-signature": "v1,AAAA"}), "webhook-signature"),
        (lambda b, h: (b, {**h, "webhook-id": "cb_43"}), "webhook-signature"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-timestamp"}), "missing"),
    ],
    ids=["body", "x-signature", "webhook-signature", "other-id", "no-timestamp"],
)
def test_snippet_refuses_a_forged_callback(snippet, tamper, reason):
    body, headers = tamper(BODY, _signed(BODY))
    with pytest.raises(snippet["InvalidCallback"], match=reason):
        snippet["verify_callback"](body, headers, SECRET)


def test_snippet_refuses_a_replay_older_than_five_minutes(snippet):
    old = int(time.time()) - 301  # correctly signed, but for a time long past
    with pytest.raises(snippet["InvalidCallback"], match="5 minutes"):
        snippet["verify_callback"](BODY, _signed(BODY, timestamp=old), SECRET)
    recent = int(time.time()) - 290
    assert snippet["verify_callback"](BODY, _signed(BODY, timestamp=recent), SECRET)


def test_snippet_handles_a_retried_callback_once(snippet):
    first = snippet["handle_callback"](BODY, _signed(BODY), SECRET)
    assert first["messageId"] == "m-1"
    # The retry carries the same webhook-id with a fresh timestamp: verified, then ignored.
    retry = _signed(BODY, timestamp=int(time.time()) + 1)
    assert snippet["handle_callback"](BODY, retry, SECRET) is None
    assert snippet["handle_callback"](BODY, _signed(BODY, webhook_id="cb_44"), SECRET)


def test_snippet_and_library_verify_a_real_callback(
    snippet, client, app, sandbox, templates, run_tasks, hook
):
    """A send with a callback, delivered by the service to a loopback app: both the
    documented snippet and the documented standardwebhooks lines accept what arrives."""
    run_tasks(
        client.post,
        "/api/v1/messages",
        {
            "sms": [{"template": "otp", "data": {"otp": "342365"}, "to": ["+14155550100"]}],
            "callback": {"url": HOOK, "meta": {"orderId": "o-1"}},
        },
        format="json",
    )
    calls = [c for c in hook.calls if c.request.url == HOOK]
    assert calls, "no callback arrived"
    (library,) = [b for b in _python_blocks() if "from standardwebhooks import Webhook" in b]
    for call in calls:
        body, headers = call.request.body, dict(call.request.headers)
        event = snippet["verify_callback"](body, headers, app.webhook_secret)
        assert event["event"] == "message.status" and event["meta"] == {"orderId": "o-1"}
        namespace = {"secret": app.webhook_secret, "body": body, "headers": headers}
        exec(compile(library, str(API_MD), "exec"), namespace)
        assert namespace["event"] == event
        with pytest.raises(snippet["InvalidCallback"]):
            snippet["verify_callback"](body, headers, "another app's secret")
    assert [json.loads(c.request.body)["status"]["name"] for c in calls][-1] == (
        "DELIVERED_TO_HANDSET"
    )
