"""Provider webhooks: no API key; the unguessable token in the URL names the provider."""

import logging

from django.db import IntegrityError, transaction
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
    webhook_request = _webhook_request(request)
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                stored = inbound_webhook_receive(token=token, request=webhook_request)
            break
        except WebhookRejected as exc:
            return json_error("webhook_rejected", exc.detail, exc.status)
        except IntegrityError:
            # A provider's retry raced its first call and stored the same message first;
            # the second pass finds it (the receive deduplicates by provider message id).
            if attempt == 2:
                raise
    return JsonResponse({"accepted": len(stored)})
