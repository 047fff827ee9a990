"""`X-API-Key` authentication: the key names one app of one tenant."""

import ipaddress
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.settings import api_settings

from .models import ApiKey, App, Tenant, hash_key, networks_of

# Recording every use would turn each API read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass
class AppPrincipal:
    """What `request.user` is for an API call: the calling app."""

    app: App
    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def tenant(self) -> Tenant:
        return self.app.tenant

    @property
    def pk(self) -> int:
        return self.app.pk


class ApiKeyAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_API_KEY"

    def authenticate(self, request):
        raw = request.META.get(self.header)
        if not raw:
            return None
        # A slice, not first(): the hash is unique, and no ORDER BY to compile and run.
        found = ApiKey.objects.select_related("app__tenant").filter(key_hash=hash_key(raw.strip()))
        key = next(iter(found[:1]), None)
        if key is None or key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("The API key is unknown or has been revoked.")
        if not key.app.is_active:
            raise exceptions.AuthenticationFailed("The app of this API key is disabled.")
        if key.app.allowed_ips:
            ip_check(key.app, client_ip(request))
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return AppPrincipal(app=key.app, api_key=key), key

    def authenticate_header(self, request) -> str:
        # A non-empty value makes DRF answer 401 rather than 403.
        return 'ApiKey header="X-API-Key"'


class IpNotAllowed(exceptions.APIException):
    status_code = 403
    default_code = "ip_not_allowed"


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or with API_TRUSTED_PROXY_HOPS = N (N proxies of
    our own in front) the Nth address from the right of X-Forwarded-For, which our nearest
    proxy appended; what a client writes further left is not trusted."""
    hops = settings.API_TRUSTED_PROXY_HOPS
    if hops:
        chain = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [a for a in chain if a]
        if len(chain) >= hops:
            return chain[-hops]
    return request.META.get("REMOTE_ADDR", "")


def ip_check(app: App, ip: str) -> None:
    """403 ip_not_allowed unless `ip` is in one of the app's ranges."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        address = None
    if address is not None and address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address is None or not any(address in n for n in networks_of(app.allowed_ips)):
        raise IpNotAllowed(
            f"Requests from {ip or 'an unknown address'} are not allowed for this app."
        )


class IsApp(permissions.BasePermission):
    message = "An X-API-Key header with a valid key is required."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AppPrincipal)


class AppRateThrottle(throttling.BaseThrottle):
    """Per-app request rate, a sliding window over two fixed-window counters in the cache
    (Redis when REDIS_URL is set): one atomic increment and one read a request, whatever the
    rate. DRF's SimpleRateThrottle keeps a list of every request's time in the window and
    rewrites it whole on each request (6,000 floats at the default rate), which cost more
    than the rest of a one-message POST, and lets concurrent requests through (read, then
    write)."""

    scope = "app"
    rate: str | None = None  # default: REST_FRAMEWORK's DEFAULT_THROTTLE_RATES["app"]

    def __init__(self) -> None:
        rate = self.rate or api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        self.num, self.duration = throttling.SimpleRateThrottle.parse_rate(None, rate)
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.user, AppPrincipal) or self.num is None:
            return True
        now = time.time()
        window, into = divmod(now, self.duration)
        key = f"throttle:{self.scope}:{request.user.app.pk}:{int(window)}"
        try:
            current = cache.incr(key)
        except ValueError:  # the window's first request (or a racing first one)
            if cache.add(key, 1, timeout=2 * self.duration):
                current = 1
            else:
                current = cache.incr(key)
        previous = cache.get(f"throttle:{self.scope}:{request.user.app.pk}:{int(window) - 1}")
        weight = 1 - into / self.duration  # the share of the previous window still inside
        if current + (previous or 0) * weight <= self.num:
            return True
        if current > self.num or not previous:
            self._wait = self.duration - into
        else:  # until the previous window's share has shrunk enough
            self._wait = max(1.0, (weight - (self.num - current) / previous) * self.duration)
        return False

    def wait(self) -> float | None:
        return self._wait
