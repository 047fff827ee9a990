"""Provider webhooks: no API key; the unguessable token in the URL names the provider."""

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from messaging.api.errors import json_error

from .backends import WebhookRejected, WebhookRequest
from .services import inbound_webhook_receive, status_webhook_receive

logger = logging.getLogger(__name__)


def _webhook_request(request: HttpRequest) -> WebhookRequest:
    return WebhookRequest(
        method=request.method or "POST",
        url=request.build_absolute_uri(),
        headers={k: v for k, v in request.headers.items()},
        body=request.body,
        query=request.GET.dict(),
    )


@csrf_exempt
@require_POST
def status_webhook(request: HttpRequest, token: str) -> JsonResponse:
    try:
        applied = status_webhook_receive(token=token, request=_webhook_request(request))
    except WebhookRejected as exc:
        return json_error("webhook_rejected", exc.detail, exc.status)
    return JsonResponse({"accepted": applied})


@csrf_exempt
@require_POST
def inbound_webhook(request: HttpRequest, token: str) -> JsonResponse:
    try:
        stored = inbound_webhook_receive(token=token, request=_webhook_request(request))
    except WebhookRejected as exc:
        return json_error("webhook_rejected", exc.detail, exc.status)
    return JsonResponse({"accepted": len(stored)})
