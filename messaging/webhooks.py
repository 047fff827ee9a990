"""Provider webhooks: no API key; the unguessable token in the URL names the provider, and
each provider type verifies its own signature where the provider signs."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.errors import json_error
from providers.backends import WebhookRejected, WebhookReply, WebhookRequest

from .services.webhooks import webhook_challenge, webhook_receive

logger = logging.getLogger(__name__)


def _webhook_request(request: HttpRequest) -> WebhookRequest:
    return WebhookRequest(
        method=request.method or "POST",
        # The URL as we handed it to the provider, which is what providers sign (Twilio),
        # whatever proxy stands in front of us.
        url=settings.PUBLIC_BASE_URL + request.get_full_path(),
        headers={k: v for k, v in request.headers.items()},
        body=request.body,
        query=request.GET.dict(),
    )


def _reply(reply: WebhookReply) -> HttpResponse:
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)


def _handle(request: HttpRequest, token: str, kind: str) -> HttpResponse:
    if request.method == "HEAD":
        # Some ESPs probe a webhook URL with HEAD when it is configured (anymail's note).
        return HttpResponse(status=200)
    webhook_request = _webhook_request(request)
    try:
        if request.method == "GET":
            challenge = webhook_challenge(token=token, kind=kind, request=webhook_request)
            if challenge is not None:
                return _reply(challenge)
        for attempt in (1, 2):
            try:
                with transaction.atomic():
                    outcome = webhook_receive(token=token, kind=kind, request=webhook_request)
                break
            except IntegrityError:
                # A provider's retry raced its first call and stored the same inbound message
                # first; the second pass finds it (inbound is deduplicated by provider id).
                if attempt == 2:
                    raise
    except WebhookRejected as exc:
        return json_error("webhook_rejected", exc.detail, exc.status)
    reply = outcome.provider.backend().webhook_reply(kind, webhook_request, outcome.events)
    if reply is not None:
        return _reply(reply)
    return JsonResponse({"accepted": outcome.applied if kind == "status" else len(outcome.stored)})


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def status_webhook(request: HttpRequest, token: str) -> HttpResponse:
    return _handle(request, token, "status")


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def inbound_webhook(request: HttpRequest, token: str) -> HttpResponse:
    return _handle(request, token, "inbound")
