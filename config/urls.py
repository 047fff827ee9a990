from csp.constants import SELF
from csp.decorators import csp_update
from django.contrib import admin
from django.http import HttpRequest
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found, server_error
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from core.errors import json_error
from messaging import webhooks as provider_views

from .health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before messaging's: POST messages/notifications is the notifications app's.
    path("api/v1/", include("notifications.urls")),
    # Before messaging's too: POST messages/two-way is the conversations app's.
    path("api/v1/", include("conversations.urls")),
    path("api/v1/", include("omnichannel.urls")),
    path("api/v1/", include("messaging.api.urls")),
    path("api/v1/", include("messaging.api.contacts_urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline, so
    # the CSP needs no 'unsafe-inline' for scripts; its assets come from the sidecar package.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    # Redoc runs its search index in a worker it creates from a blob: URL of its own script.
    # (Its "by Redocly" logo is on their CDN: the policy refuses it and Redoc then hides it.)
    path(
        "api/redoc/",
        csp_update({"worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(
                url_name="schema", authentication_classes=[], permission_classes=[]
            )
        ),
        name="redoc",
    ),
    path(
        "webhooks/providers/<str:token>/status",
        provider_views.status_webhook,
        name="webhook-status",
    ),
    path(
        "webhooks/providers/<str:token>/inbound",
        provider_views.inbound_webhook,
        name="webhook-inbound",
    ),
    # Uploaded media behind signed links (no API key): what providers fetch to send a file.
    path("", include("uploads.urls")),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page links: the admin's icon, not a 404.
    path("favicon.ico", lambda request: redirect(static("favicon.svg"), permanent=True)),
    # Unknown API paths get the error document even with DEBUG on, for every method: exempt
    # from CSRF, or a POST without the admin's cookie would get Django's HTML 403 page.
    re_path(r"^api/", csrf_exempt(lambda request, *a, **k: handler404(request))),
]


def handler404(request: HttpRequest, exception=None):
    if request.path.startswith("/api/"):
        return json_error("not_found", f"No such resource: {request.path}", 404)
    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    if request.path.startswith("/api/"):
        return json_error("server_error", "An unexpected error occurred.", 500)
    return server_error(request)
