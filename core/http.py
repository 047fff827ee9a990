"""The one outbound HTTP client: pooled keep-alive sessions (one per provider type, or per
purpose, per worker process), always with a timeout, guarded against requests aimed inside
the network.

The guard (unless ALLOW_PRIVATE_URLS) is requests-hardened's: the host is resolved as the
connection is made, the connection goes to that very address (the Host header, SNI and the
certificate check keep the name), and a private address is refused; we add the ranges it
lets through (IPv4-compatible IPv6, NAT64, multicast and reserved). Every redirect hop is a
new connection and so checked again; most sessions follow no redirect at all.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from .netsafe import PrivateAddress, address_is_public, public_address


class BlockedAddress(requests.exceptions.ConnectionError):
    """Refused before connecting: the URL's host is, or resolves to, a private address.
    Nothing left, so it is safe to say so permanently."""


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


class GuardedAdapter(IPFilterAdapter):
    def __init__(self, *, https: bool, pool_maxsize: int = 16) -> None:
        # Retries are ours (on the message, with backoff), never urllib3's hidden ones.
        HTTPAdapter.__init__(self, pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        self._is_https_proto = https
        self._allow_loopback = False
        self._tls_sni_support = True

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        if not settings.ALLOW_PRIVATE_URLS:
            # Every address of the name must be public (the connection below re-resolves
            # and checks the one it uses): a clear refusal before anything is opened.
            host = urlsplit(request.url).hostname or ""
            try:
                public_address(host, _port(request.url))
            except PrivateAddress as exc:
                raise BlockedAddress(str(exc), request=request) from None
            except OSError as exc:  # the name does not resolve: a network error, retried
                raise requests.ConnectionError(f"{host}: {exc}", request=request) from None
        return super().send(request, **kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        if settings.ALLOW_PRIVATE_URLS:
            return HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(
                request, verify, cert
            )
        except InvalidIPAddress as exc:
            raise BlockedAddress(
                f"{exc} is a private or loopback address", request=request
            ) from None
        pinned = ipaddress.ip_address(host_params["host"].strip("[]"))
        if not address_is_public(pinned):
            raise BlockedAddress(f"{pinned} is a private or loopback address", request=request)
        return host_params, pool_kwargs


class GuardedSession(requests.Session):
    """A session whose requests always carry a timeout (a hung peer must not hang a worker)
    and follow at most `redirects` redirects (0: a 3xx is the answer)."""

    def __init__(self, redirects: int = 0) -> None:
        super().__init__()
        self.follows = redirects > 0
        self.max_redirects = max(redirects, 1)
        self.mount("https://", GuardedAdapter(https=True))
        self.mount("http://", GuardedAdapter(https=False))

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT))
        return super().request(*args, **kwargs)

    def get_redirect_target(self, resp):
        return super().get_redirect_target(resp) if self.follows else None


_sessions: dict[tuple[str, int], requests.Session] = {}


def pooled_session(name: str, *, redirects: int = 0) -> requests.Session:
    session = _sessions.get((name, redirects))
    if session is None:
        session = _sessions[(name, redirects)] = GuardedSession(redirects)
    return session


# --- fetching media on a tenant's behalf --------------------------------------------------------

MEDIA_REDIRECTS = 3


class FetchFailed(Exception):
    """A media URL that could not be fetched; `permanent` when trying again cannot help."""

    def __init__(self, code: str, description: str, *, permanent: bool) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.permanent = permanent


@dataclass
class Fetched:
    content: bytes
    content_type: str


def fetch(url: str, *, max_bytes: int, session: requests.Session | None = None) -> Fetched:
    """GET a tenant-given URL through the guarded client (each redirect hop checked), reading
    at most `max_bytes`. Refusals are FetchFailed; a network error is requests' own."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchFailed("INVALID_URL", f"'{url}' is not an http(s) URL.", permanent=True)
    http = session or pooled_session("media", redirects=MEDIA_REDIRECTS)
    try:
        response = http.get(url, stream=True, allow_redirects=True)
    except BlockedAddress as exc:
        raise FetchFailed("PRIVATE_URL", f"{url}: {exc}", permanent=True) from None
    except requests.TooManyRedirects:
        raise FetchFailed(
            "TOO_MANY_REDIRECTS", f"{url} redirects more than {MEDIA_REDIRECTS} times.",
            permanent=True,
        ) from None  # fmt: skip
    with response:
        status = response.status_code
        said = f"Fetching {url} answered HTTP {status}."
        if status >= 500 or status == 429:
            raise FetchFailed("UNAVAILABLE", said, permanent=False)
        if status >= 300:  # a 3xx here is a redirect past the limit's end or without a target
            raise FetchFailed("NOT_FOUND", said, permanent=True)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(url, max_bytes)
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(url, max_bytes)
            chunks.append(chunk)
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    return Fetched(b"".join(chunks), content_type)


def _too_large(url: str, max_bytes: int) -> FetchFailed:
    return FetchFailed("TOO_LARGE", f"{url} is larger than {max_bytes} bytes.", permanent=True)


def describe_error(exc: requests.RequestException) -> str:
    """A failed request in words a tenant can act on, not urllib3's nested repr."""
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    host = urlsplit(url).netloc or "the host"
    if isinstance(exc, BlockedAddress):
        return f"Refused: {exc}."
    if isinstance(exc, requests.ConnectTimeout):
        return f"No connection to {host} within the connect timeout."
    if isinstance(exc, requests.ReadTimeout):
        return f"{host} took the request but did not answer in time."
    if isinstance(exc, requests.ConnectionError):
        # Only the OS's reason: the rest (urllib3's pool repr, the URL) says nothing a reader
        # can use and may carry a credential in a query string.
        found = re.search(r"\[Errno -?\d+\] ([^'\"()\]]+)", str(exc))
        why = found.group(1).strip() if found else "the connection failed"
        return f"Could not connect to {host}: {why}."
    return f"{type(exc).__name__}: {exc}"
