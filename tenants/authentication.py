"""`X-API-Key` authentication: the key names one app of one tenant."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling

from .models import ApiKey, App, Tenant, hash_key

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
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return AppPrincipal(app=key.app, api_key=key), key

    def authenticate_header(self, request) -> str:
        # A non-empty value makes DRF answer 401 rather than 403.
        return 'ApiKey header="X-API-Key"'


class IsApp(permissions.BasePermission):
    message = "An X-API-Key header with a valid key is required."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AppPrincipal)


class AppRateThrottle(throttling.SimpleRateThrottle):
    """Per-app request rate (cache-backed: Redis when REDIS_URL is set)."""

    scope = "app"

    def get_cache_key(self, request, view):
        if isinstance(request.user, AppPrincipal):
            return self.cache_format % {"scope": self.scope, "ident": request.user.app.pk}
        return None
