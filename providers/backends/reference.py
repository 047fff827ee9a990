"""Our message id as a reference that travels with a send and comes back in its reports.

Providers with a reference field of their own (Infobip callbackData, Vonage client-ref, Meta
biz_opaque_callback_data, ...) carry it there; the others get it as a query parameter of
the per-message report URL we give them, which every such provider calls as given.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The query parameter of a report URL that carries our message id.
REF_PARAM = "ref"
# Our ids are UUIDs in their canonical 8-4-4-4-12 form (`str(uuid)`); nothing else is taken
# for one (a provider's own 32-hex id, say).
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def with_ref(url: str, message_id: str) -> str:
    """`url` with our message id as its `ref` query parameter (replacing any earlier one)."""
    if not url or not message_id:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != REF_PARAM]
    query.append((REF_PARAM, message_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_ref(request) -> str:
    """Our id from the `ref` query parameter of a webhook call (a WebhookRequest): its parsed
    query, else the query of its URL."""
    value = request.query.get(REF_PARAM)
    if value is None:
        value = dict(parse_qsl(urlsplit(request.url).query)).get(REF_PARAM)
    return our_ref(value)


def our_ref(value) -> str:
    """`value` as our message id when it is a canonical UUID, else ""."""
    if not isinstance(value, str):
        return ""
    value = value.strip().lower()
    return value if _UUID.match(value) else ""
