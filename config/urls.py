from django.contrib import admin
from django.http import HttpRequest
from django.urls import include, path, re_path
from django.views.defaults import page_not_found, server_error
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.errors import json_error
from messaging import webhooks as provider_views

from .health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("messaging.api.urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
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
    path("healthz", healthz, name="healthz"),
    # Unknown API paths get the error document even with DEBUG on.
    re_path(r"^api/", lambda request, *a, **k: handler404(request)),
]


def handler404(request: HttpRequest, exception=None):
    if request.path.startswith("/api/"):
        return json_error("not_found", f"No such resource: {request.path}", 404)
    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    if request.path.startswith("/api/"):
        return json_error("server_error", "An unexpected error occurred.", 500)
    return server_error(request)
