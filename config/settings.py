"""Settings from the environment (or a `.env` file), named as in API.md's Configuration."""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
_DEV_SECRET = "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

# HTTPS. Off DEBUG the safe settings are the defaults (`check --deploy` is clean); each can be
# turned off by the environment, e.g. where a proxy in front already redirects and sets HSTS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# The `preload` directive commits nothing by itself: only submitting the domain to the browsers'
# preload list does (which then needs it, with include-subdomains and a year).
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Behind a TLS-terminating proxy: "HTTP_X_FORWARDED_PROTO,https" (the header the proxy sets,
# and the value that means HTTPS). Only set it when that proxy always sets the header.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER is 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
# Origins (scheme://host[:port]) the admin's forms may be posted from, e.g. behind a proxy.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

_derived_key = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
CREDENTIALS_KEY = env.str("CREDENTIALS_KEY", default=_derived_key if DEBUG else "")
if not CREDENTIALS_KEY:
    raise ImproperlyConfigured("CREDENTIALS_KEY must be set when DEBUG is false")
ALLOW_PRIVATE_URLS = env.bool("ALLOW_PRIVATE_URLS", default=DEBUG)


def derive_public_base_url(public_base_url: str | None, host: str | None, port: str | None) -> str:
    """The base of the webhook URLs handed to providers: PUBLIC_BASE_URL when set, else where
    `make run` listens (HOST, PORT), so `PORT=8300 make run` hands out URLs on :8300."""
    if public_base_url:
        return public_base_url.rstrip("/")
    host = host or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # a wildcard bind address is nowhere to send a request
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port or 8000}"


PUBLIC_BASE_URL = derive_public_base_url(
    env.str("PUBLIC_BASE_URL", default=""), env.str("HOST", default=""), env.str("PORT", default="")
)
REDIS_URL = env.str("REDIS_URL", default="")

INSTALLED_APPS = [
    "config.admin.MessagingAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from here, offline
    "csp",
    "messaging.workers",  # before django_q: its qcluster runs the ticker too
    "django_q",
    "reversion",
    "rangefilter",
    "axes",
    "tenants",
    "contacts",
    "uploads",
    "providers",
    "messaging",
    "notifications",
    "conversations",
    "omnichannel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, before anything else runs
    "csp.middleware.CSPMiddleware",
    "config.middleware.NulInUrlMiddleware",
    "config.middleware.ApiRequestSizeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login
]

# Admin logins: after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair is locked out for AXES_COOLOFF_MINUTES (a success resets the count). By the
# pair, so nobody can lock an admin out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Messages (an API key issued in the admin is one) are kept in the session, server-side, not
# in Django's default cookie, which is signed but readable by whoever holds it.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Connections are kept (django-q2 closes them after each task otherwise: a reconnect per
# task), checked before reuse so a restarted database is reconnected to.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes write one file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock up front so a busy database waits instead of failing.
    DATABASES["default"]["ENGINE"] = "config.sqlite"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One date format with the time zone in the admin ("2026-12-02 16:07:04 UTC"):
# config/formats/en/formats.py, which wins over the locale's (settings' DATETIME_FORMAT
# would not: localization is always on).
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]


def media_storage(kind: str, get, media_root: Path) -> dict:
    """STORAGES["default"], where uploaded media (POST /api/v1/media) go: files under
    MEDIA_ROOT, or with MEDIA_STORAGE=s3 a private S3-compatible bucket (django-storages;
    AWS S3, MinIO, Ceph, R2 ...). `get(name)` reads a variable ("" when unset)."""
    if kind == "filesystem":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media_root)},
        }
    if kind != "s3":
        raise ImproperlyConfigured(f"MEDIA_STORAGE is filesystem or s3, not {kind!r}")
    if not get("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    options = {
        "bucket_name": get("AWS_STORAGE_BUCKET_NAME"),
        # Files are fetched through our signed links (uploads.views), never made public.
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": False,
    }
    for option, name in (
        ("endpoint_url", "AWS_S3_ENDPOINT_URL"),  # S3-compatible: MinIO, Ceph, R2 ...
        ("region_name", "AWS_S3_REGION_NAME"),
        ("access_key", "AWS_ACCESS_KEY_ID"),  # unset: boto3's chain (instance role, ...)
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
        ("addressing_style", "AWS_S3_ADDRESSING_STYLE"),  # "path" for most MinIO setups
        ("location", "AWS_LOCATION"),  # a key prefix inside the bucket
    ):
        if get(name):
            options[option] = get(name)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="filesystem")
# API.md's limits: images (jpg, jpeg, png) up to 5 MB, documents (pdf, doc, docx) up to 100 MB.
MEDIA_MAX_IMAGE_BYTES = 5 * 1024 * 1024
MEDIA_MAX_DOCUMENT_BYTES = 100 * 1024 * 1024
# Seconds the `url` in GET /api/v1/media/{mediaId} works (a send's link lives as long as the
# message may wait: uploads.services.SEND_LINK_MAX_AGE).
MEDIA_URL_MAX_AGE = env.int("MEDIA_URL_MAX_AGE", default=3600)

# Production serves the collected files through whitenoise (WhiteNoiseMiddleware), compressed
# and under content-hashed names (`collectstatic` first). With DEBUG (make run, tests) files are
# found in place and nothing needs collecting.
STORAGES = {
    "default": media_storage(MEDIA_STORAGE, lambda name: env.str(name, default=""), MEDIA_ROOT),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Fixed when the settings load: the test runner turns DEBUG off later, and tests must keep
# finding files in place (no collectstatic) with whitenoise in the chain.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Content-Security-Policy (django-csp): everything from this origin, nothing third-party.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # Inline scripts only with the request's nonce (`{{ request.csp_nonce }}`).
        "script-src": [SELF, NONCE],
        # 'unsafe-inline' for styles is unavoidable: the admin's email previews are sandboxed
        # srcdoc frames, which inherit this page's policy, and emails are styled with inline
        # style attributes and <style> blocks (Redoc injects <style> elements too). No nonce
        # here: a nonce would make browsers ignore 'unsafe-inline'. Scripts stay strict.
        "style-src": [SELF, UNSAFE_INLINE],
        # data: for the inline SVG icons of Swagger UI's CSS and images inside email previews.
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        # Nobody frames these pages (the previews are frames *in* them, which this leaves be).
        "frame-ancestors": [NONE],
    }
}

# The API refuses bodies over 5 MB itself (413); Django's own limit must not fire first.
API_MAX_BODY_BYTES = 5 * 1024 * 1024
# Proxies of our own in front of the web processes whose X-Forwarded-For entries are
# trusted to name the caller (apps' allowed IP ranges); 0: REMOTE_ADDR is the caller.
API_TRUSTED_PROXY_HOPS = env.int("API_TRUSTED_PROXY_HOPS", default=0)
API_MAX_MESSAGES = 10_000
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES + 1024 * 1024
# POST /api/v1/media: the largest document plus room for the multipart envelope.
MEDIA_MAX_BODY_BYTES = MEDIA_MAX_DOCUMENT_BYTES + 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.authentication.IsApp"],
    "DEFAULT_PARSER_CLASSES": ["messaging.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "messaging.api.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "messaging.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["tenants.authentication.AppRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"app": env.str("API_RATE_LIMIT", default="6000/minute")},
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Omnichannel Messaging API",
    "DESCRIPTION": (
        "Send SMS, email and WhatsApp through one API; follow each message to its final status."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "CAMELIZE_NAMES": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Retry-After on every 429, and request examples' scheduledAt set to a date the API takes.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "messaging.api.schema.postprocess",
    ],
    # One name for the channel list (providers' channels, templates' mode, messages' channel).
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "messaging.api.schema.CHANNELS",
        "MediaKindEnum": "messaging.api.schema.MEDIA_KINDS",
        "MediaContentTypeEnum": "messaging.api.schema.MEDIA_CONTENT_TYPES",
        "OmniChannelEnum": "omnichannel.models.OMNI_CHANNELS",
        "FlowChannelEnum": "omnichannel.api.CHANNEL_CHOICES",
        "OmniStateEnum": "omnichannel.api.OMNI_STATES",
    },
    # Swagger UI and Redoc from the installed sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from the public validator (a third-party origin).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# django-q2. The database row is the truth and the queue a wake-up call (ARCHITECTURE.md):
# a task's timeout stays well under `retry` so a slow task is never re-run beside itself,
# failures are acknowledged (our own retry state lives on the message), and the sweep
# re-finds anything a lost task left behind.
Q_CLUSTER = {
    "name": "messaging",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 180,
    "max_attempts": 2,
    "ack_failures": True,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Task queue",
    "poll": 0.2,
    # Tasks a cluster takes ahead of its workers: a killed cluster takes these with it (on
    # Redis they are gone; the rows stay, and the ticker and sweep re-find the work).
    "queue_limit": env.int("Q_WORKERS", default=2),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Dispatch (messaging/services/dispatch.py): a window is claimed, sent and recorded as one.
DISPATCH_WINDOW_SIZE = env.int("DISPATCH_WINDOW_SIZE", default=250)
# Low-priority messages per window: a high one accepted meanwhile waits behind at most these.
DISPATCH_LOW_WINDOW = env.int("DISPATCH_LOW_WINDOW", default=25)
# Sends in flight per worker process (threads), and per provider within that.
DISPATCH_CONCURRENCY = env.int("DISPATCH_CONCURRENCY", default=16)
DISPATCH_PROVIDER_CONCURRENCY = env.int("DISPATCH_PROVIDER_CONCURRENCY", default=16)
# Messages marked handed over with one UPDATE before they leave (at least one per lane): a
# killed worker leaves at most about two waves unknown per provider.
DISPATCH_WAVE_SIZE = 16
# Seconds a window keeps starting sends; a run (one task) keeps claiming windows.
DISPATCH_WINDOW_BUDGET = 10.0
DISPATCH_RUN_BUDGET = 20.0
# A run whose backlog is empty looks again every DISPATCH_IDLE_POLL seconds for this long
# before it ends (a trickle of requests then buys no task each); a thin window waits
# DISPATCH_GATHER before the next claim (added latency: at most that).
DISPATCH_IDLE_LINGER = env.float("DISPATCH_IDLE_LINGER", default=1.0)
DISPATCH_IDLE_POLL = 0.05
DISPATCH_GATHER = env.float("DISPATCH_GATHER", default=0.1)
# The longest one send can take (HTTP connect + read, SMTP's timeout): part of the lease.
DISPATCH_SEND_TIMEOUT = 30.0
# A handed-over claim whose worker died waits this long for a late report before the
# tenant's policy (resend or hold) applies.
DISPATCH_UNKNOWN_GRACE = env.float("DISPATCH_UNKNOWN_GRACE", default=30.0)
# A sent message with no final report when its validity passes ends EXPIRED this long after
# (seconds): room for a provider's own expiry report, which says more than ours.
SENT_EXPIRY_GRACE = env.float("SENT_EXPIRY_GRACE", default=300.0)
# The ticker's period (0 turns it off; the sweep then fires the timers once a minute).
DISPATCH_TICK = env.float("DISPATCH_TICK", default=0.5)
# A queued dispatch run older than this no longer stops another wake-up (a lost task).
DISPATCH_WAKE_TTL = 5
DISPATCH_MAX_ATTEMPTS = env.int("DISPATCH_MAX_ATTEMPTS", default=6)
# Provider failover (providers.circuit, messaging.services.failover): this many outage-class
# failures in a row (timeouts, connection errors, 5xx, 429) open a provider's circuit for
# PROVIDER_CIRCUIT_COOLDOWN seconds, when dispatch does not call it; then one send tries it.
PROVIDER_CIRCUIT_FAILURES = env.int("PROVIDER_CIRCUIT_FAILURES", default=5)
PROVIDER_CIRCUIT_COOLDOWN = env.float("PROVIDER_CIRCUIT_COOLDOWN", default=30.0)
# Attempts of one message on one provider, the last failing with an outage, before it moves
# to the provider's backup for its channel (sooner when its attempts or validity would run
# out first, or the provider's circuit opens).
PROVIDER_FAILOVER_ATTEMPTS = env.int("PROVIDER_FAILOVER_ATTEMPTS", default=3)
DEFAULT_VALIDITY_MINUTES = 2880
CALLBACK_MAX_ATTEMPTS = env.int("CALLBACK_MAX_ATTEMPTS", default=12)
# Seconds one task keeps delivering a batch of callbacks before handing the rest on.
CALLBACK_BATCH_BUDGET = 20.0
HTTP_CONNECT_TIMEOUT = 5.0
HTTP_READ_TIMEOUT = 15.0
SWEEP_INTERVAL_MINUTES = 1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

LOGIN_URL = "admin:login"
