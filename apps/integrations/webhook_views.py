"""The webhook endpoints: read the raw body and headers, hand them to webhooks.py, answer its status.

No session, no CSRF token: platforms authenticate each delivery with an HMAC signature instead, or (Yandex
Market, Ozon) by sending from the networks they publish, so the socket's address is passed along.
The answer is short plain text for the platform's delivery log, never stored data.
"""

from uuid import UUID

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.integrations import webhooks


def _answer(reception: webhooks.Reception) -> HttpResponse:
    if reception.payload is not None:  # Yandex Market and Ozon prescribe JSON answers
        return JsonResponse(reception.payload, status=reception.status_code)
    return HttpResponse(reception.detail, status=reception.status_code, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def receive(request: HttpRequest, platform: str, connection_uuid: UUID) -> HttpResponse:
    return _answer(webhooks.webhook_receive(platform=platform, connection_uuid=connection_uuid, body=request.body,
                                            headers=request.headers, remote_addr=request.META.get("REMOTE_ADDR", "")))


@csrf_exempt
@require_POST
def receive_shopify_app(request: HttpRequest) -> HttpResponse:
    return _answer(webhooks.webhook_receive_shopify_app(body=request.body, headers=request.headers))
