"""The website feed (key-authenticated, no session) and the website's Keys page (coordinators).

Feed: GET /feeds/<connection uuid>/products.json (paged by `cursor`, `limit`) and products.csv (streamed),
with the connection's key in X-Haat-Feed-Key. A missing or wrong key, an unknown or disconnected
connection all answer the same 404, whatever the method, so the feed says nothing about which exists.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.integrations import feeds
from apps.integrations.connectors import website
from apps.integrations.models import Connection
from apps.integrations.selectors import can_edit_connection, connections_for
from apps.integrations.webhooks import webhook_callback_url


def _feed_connection(request: HttpRequest, connection_uuid) -> Connection:
    connection = feeds.feed_connection(connection_uuid=connection_uuid,
                                       key=request.headers.get(feeds.FEED_KEY_HEADER, ""))
    if connection is None:
        raise Http404("Unknown feed, or a wrong X-Haat-Feed-Key.")
    if request.method not in ("GET", "HEAD"):
        raise _MethodNotAllowed
    return connection


class _MethodNotAllowed(Exception):
    pass


def _guarded(view):
    def wrapper(request: HttpRequest, connection_uuid):
        try:
            return view(request, _feed_connection(request, connection_uuid))
        except _MethodNotAllowed:
            response = HttpResponse("The feed is read-only.", status=405, content_type="text/plain")
            response["Allow"] = "GET, HEAD"
            return response
        except feeds.FeedError as exc:
            return JsonResponse({"error": str(exc)}, status=400)

    return csrf_exempt(never_cache(wrapper))


@_guarded
def products_json(request: HttpRequest, connection: Connection) -> HttpResponse:
    after_id = feeds.decode_cursor(request.GET.get("cursor"))
    limit = feeds.page_size(request.GET.get("limit"))
    rows, next_id = feeds.feed_page(connection=connection, after_id=after_id, limit=limit)
    next_cursor = feeds.encode_cursor(next_id) if next_id is not None else None
    next_url = None
    if next_cursor:
        next_url = request.build_absolute_uri(f"{request.path}?cursor={next_cursor}&limit={limit}")
    return JsonResponse({"connection": str(connection.uuid), "generated_at": timezone.now().isoformat(),
                         "items": [row.as_json() for row in rows], "next_cursor": next_cursor, "next": next_url},
                        json_dumps_params={"ensure_ascii": False})


class _Echo:
    def write(self, value: str) -> str:
        return value


@_guarded
def products_csv(request: HttpRequest, connection: Connection) -> HttpResponse:
    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(feeds.CSV_COLUMNS)
        for row in feeds.feed_rows(connection=connection):
            yield writer.writerow(row.as_csv())

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="products.csv"'
    return response


# --- the Keys page -----------------------------------------------------------------------------------------------


def _website_connection(request: HttpRequest, connection_pk: int) -> Connection:
    connection = get_object_or_404(connections_for(request.user), pk=connection_pk, platform=feeds.PLATFORM)
    if not can_edit_connection(request.user, connection):
        raise PermissionDenied
    return connection


def _addresses(connection: Connection) -> dict[str, str]:
    def absolute(name: str) -> str:
        return settings.SITE_URL.rstrip("/") + reverse(name, kwargs={"connection_uuid": connection.uuid})

    return {"webhook_url": webhook_callback_url(connection), "feed_json": absolute("feeds:products_json"),
            "feed_csv": absolute("feeds:products_csv")}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def website_keys(request: HttpRequest, connection_pk: int) -> HttpResponse:
    """What the site's developer needs: the addresses, and the keys (shown once, then only new ones on rotation)."""
    connection = _website_connection(request, connection_pk)
    shown = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "reveal":
                shown = feeds.website_keys_reveal(connection=connection)
                if shown is None:
                    messages.error(request, _("These keys were already shown once. Make new ones if they are lost."))
                    return redirect("feeds:website_keys", connection_pk=connection.pk)
            elif action in ("rotate_signing", "rotate_feed", "rotate_both"):
                shown = feeds.website_keys_rotate(connection=connection,
                                                  signing_secret=action in ("rotate_signing", "rotate_both"),
                                                  feed_key=action in ("rotate_feed", "rotate_both"))
            else:
                return HttpResponse(_("Unknown action."), status=400)
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect("feeds:website_keys", connection_pk=connection.pk)
    return render(request, "integrations/website_keys.html", {
        "connection": connection, "shown": shown, "state": feeds.website_keys_state(connection),
        "addresses": _addresses(connection), "headers": {
            "signature": website.SIGNATURE_HEADER, "timestamp": website.TIMESTAMP_HEADER,
            "delivery": website.DELIVERY_HEADER, "event": website.EVENT_HEADER, "feed_key": feeds.FEED_KEY_HEADER},
    })
