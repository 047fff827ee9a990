"""textStore (Messente's `text_store`): what is kept of a message's text once it has left.

`plaintext` keeps everything. `sha256` and `nostore` keep, once the message has left (or
never will), only what routes and references it, never what its recipient reads:

- the text fields: `sha256` replaces the body and the subject (an email's, a push's title)
  by the hex SHA-256 of each (so a client can prove which text was sent), `nostore` blanks
  them; the HTML part is blanked by both;
- the content (`Message.content`): only KEPT_CONTENT_KEYS stay, and of a provider's template
  its name and language; media, location, buttons, cards, carousels, push data, template
  parameters and header all go;
- what a provider answers or reports about it: the fields that carry text (TEXT_KEYS) and
  any string holding a piece of the text (`fragments`) read `[not stored]`.

Pure functions on plain values, shared by messaging (the message rows, attempts, events) and
the sandbox adapter (its outbox stands for the provider's own store).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

PLAINTEXT, SHA256, NOSTORE = "plaintext", "sha256", "nostore"
NOT_STORED = "[not stored]"

# Content that routes or references a message, kept whatever the textStore: addresses, the
# client's own reference and tags, the sending number, SMS header and conversion options.
KEPT_CONTENT_KEYS = (
    "externalRef", "tags", "originationNumber", "replyTo", "udh", "autoconvert",
    "to", "cc", "bcc",
)  # fmt: skip
KEPT_TEMPLATE_KEYS = ("name", "language")
# Fields of providers' answers and reports that carry a message's text, compared lowercased
# without punctuation: Twilio's `body`, Infobip's and Vonage's `text`, email events' `subject`
# (Mailgun's message.headers, SES's commonHeaders), Postmark's `Content`, `TextBody`,
# `HtmlBody`, Mailgun's `body-plain`, `stripped-text`, ...
TEXT_KEYS = frozenset({
    "body", "text", "html", "subject", "caption", "content", "textbody", "htmlbody",
    "bodyplain", "bodyhtml", "strippedtext", "strippedhtml", "messagebody", "messagetext",
})  # fmt: skip
# Shorter pieces (a "No" button, a one-digit parameter) would blank ids and codes in answers
# and say next to nothing about the text.
MIN_FRAGMENT = 3
_PUNCTUATION = re.compile(r"[^a-z0-9]")


def digest(text: str) -> str:
    """The hex SHA-256 of `text` (UTF-8): what `sha256` stores in its place."""
    return hashlib.sha256(text.encode()).hexdigest()


def keeps_text(text_store: str) -> bool:
    return text_store not in (SHA256, NOSTORE)


def kept_content(content: Any) -> Any:
    """What of a message's content (or a provider payload built from it) outlives the send
    under sha256 and nostore."""
    if not isinstance(content, dict):
        return None if content is None else {}
    kept = {k: content[k] for k in KEPT_CONTENT_KEYS if k in content}
    template = content.get("providerTemplate")
    if isinstance(template, dict):
        kept["providerTemplate"] = {k: template[k] for k in KEPT_TEMPLATE_KEYS if k in template}
    return kept


def kept_fields(
    text_store: str, *, body: str, html: str = "", subject: str = "", content: Any = None
) -> dict[str, Any]:
    """The text fields as `text_store` keeps them once the message has left; {} for
    plaintext. The values given must still be the whole text (before the send)."""
    if keeps_text(text_store):
        return {}
    hashed = text_store == SHA256
    return {
        "body": digest(body or "") if hashed else "",
        "subject": digest(subject) if hashed and subject else "",
        "html": "",
        "content": kept_content(content),
    }


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(str(value))
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, out)


def fragments(
    *, body: str, html: str = "", subject: str = "", content: Any = None
) -> tuple[str, ...]:
    """The pieces of a message's text a provider may echo: the body, each of its lines, the
    subject, the HTML, and every string of the content that kept_content drops (button
    labels, captions, card texts, push data, template parameters), longest first."""
    pieces = [body, *body.splitlines(), subject, html]
    dropped = dict(content) if isinstance(content, dict) else {}
    for key in KEPT_CONTENT_KEYS:
        dropped.pop(key, None)
    template = dropped.get("providerTemplate")
    if isinstance(template, dict):
        dropped["providerTemplate"] = {
            k: v for k, v in template.items() if k not in KEPT_TEMPLATE_KEYS
        }
    _strings(dropped, pieces)
    found = set()
    for piece in pieces:
        piece = piece.strip()
        if len(piece) < MIN_FRAGMENT:
            continue
        # As the answer may spell it: escaped in XML or HTML, in JSON text, in a form or URL.
        found.update(
            {
                piece,
                html_lib.escape(piece),
                html_lib.escape(piece, quote=False),
                json.dumps(piece)[1:-1],
                json.dumps(piece, ensure_ascii=False)[1:-1],
                quote_plus(piece),
                quote(piece),
            }
        )
    return tuple(sorted((f for f in found if len(f) >= MIN_FRAGMENT), key=len, reverse=True))


def _text_key(key: Any) -> bool:
    return isinstance(key, str) and _PUNCTUATION.sub("", key.lower()) in TEXT_KEYS


def scrub(value: Any, *, pieces: Iterable[str] = (), digests: Iterable[str] = ()) -> Any:
    """`value` (a provider's answer or report: JSON-like, or text) without the message's text:
    a field that carries text (TEXT_KEYS, or a header {"name": "Subject", "value"}) and a
    string whose SHA-256 is one of `digests` become NOT_STORED; each piece of `pieces`
    (fragments) inside any other string is replaced by NOT_STORED."""
    pieces = tuple(pieces)
    digests = frozenset(d for d in digests if d)

    def text(s: str) -> str:
        if digests and digest(s) in digests:
            return NOT_STORED
        for piece in pieces:
            if piece in s:
                s = s.replace(piece, NOT_STORED)
        return s

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return text(v)
        if isinstance(v, dict):
            header = _text_key(v.get("name")) and isinstance(v.get("value"), str)
            return {
                k: NOT_STORED
                if (isinstance(item, str) and item and (_text_key(k) or (header and k == "value")))
                else walk(item)
                for k, item in v.items()
            }
        if isinstance(v, list | tuple):
            return [walk(item) for item in v]
        return v

    return walk(value)
