"""One pooled keep-alive HTTP session per provider type per worker process."""

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter


class _TimeoutSession(requests.Session):
    """A session whose requests always carry a timeout: a hung provider must not hang a worker."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT))
        return super().request(*args, **kwargs)


_sessions: dict[str, requests.Session] = {}


def pooled_session(name: str) -> requests.Session:
    session = _sessions.get(name)
    if session is None:
        session = _TimeoutSession()
        # Retries are ours (on the message, with backoff), never urllib3's hidden ones.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _sessions[name] = session
    return session
