"""Connection pages: the platform picker, connect forms, the OAuth start and callback, detail and actions.

Views only check who may do what and call flows/services. Everything is tenancy-scoped: another
tenant's SHG or connection is a 404; a viewer may look but not change (403). State changes are POST.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.selectors import editable_shg_ids
from apps.integrations import flows, services
from apps.integrations.connectors.base import AuthKind, Connector
from apps.integrations.forms import CredentialForm
from apps.integrations.models import Connection, SyncRun
from apps.integrations.selectors import (
    PlatformCard,
    can_edit_connection,
    connections_for,
    connector_class_or_none,
    editable_shgs_for,
    platform_card,
    platform_cards,
)
from apps.integrations.sync import available_streams


def back_or(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Back to the page the button was on (a card on the channel list) when it said so, else to `args`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect(*args, **kwargs)


def _connector_or_404(platform: str, auth_kind: AuthKind | None = None) -> type[Connector]:
    cls = connector_class_or_none(platform)
    if cls is None or (auth_kind is not None and cls.auth_kind != auth_kind):
        raise Http404("No such platform")
    return cls


def _editable_connection(request: HttpRequest, pk: int) -> Connection:
    connection = get_object_or_404(connections_for(request.user), pk=pk)
    if not can_edit_connection(request.user, connection):
        raise PermissionDenied
    return connection


@dataclass(frozen=True)
class ConnectionCard:
    """One connection as its card shows it: which buttons it gets comes from the connector class's declared
    capabilities, so a platform that cannot do something is never offered it."""

    connection: Connection
    platform: PlatformCard | None
    can_edit: bool
    streams: tuple[tuple[str, str], ...]  # (stream, label) a "Sync now" may ask for
    can_test: bool
    can_reconnect: bool
    can_disconnect: bool


# The model's choices are English; the buttons say the stream in the page's language.
STREAM_LABELS = {SyncRun.Stream.ORDERS: gettext_lazy("orders"), SyncRun.Stream.PRODUCTS: gettext_lazy("products"),
                 SyncRun.Stream.RATINGS: gettext_lazy("ratings and reviews")}
RECONNECT_STATUSES = (Connection.Status.NEEDS_REAUTH, Connection.Status.DISABLED, Connection.Status.ERROR)


def connection_card(connection: Connection, *, editable: bool) -> ConnectionCard:
    cls = connector_class_or_none(connection.platform)
    active = connection.status != Connection.Status.DISABLED
    streams = tuple((value, STREAM_LABELS.get(value, label)) for value, label in SyncRun.Stream.choices
                    if value in available_streams(connection)) if connection.is_syncable else ()
    return ConnectionCard(connection=connection, platform=platform_card(cls) if cls else None, can_edit=editable,
                          streams=streams if editable else (), can_test=editable and active and cls is not None,
                          can_reconnect=editable and cls is not None and connection.status in RECONNECT_STATUSES,
                          can_disconnect=editable and active)


@login_required
def connection_list(request: HttpRequest) -> HttpResponse:
    # The cards never use the keys: not read, not decrypted (a federation has dozens of channels).
    connections = connections_for(request.user).defer("credentials").order_by("shg__name", "platform", "display_name")
    editable = set(editable_shg_ids(request.user))
    return render(request, "integrations/connection_list.html", {
        "connections": connections, "editable_shgs": editable_shgs_for(request.user).order_by("name"),
        "cards": [connection_card(c, editable=c.shg_id in editable) for c in connections],
    })


@login_required
def platform_picker(request: HttpRequest, shg_pk: int) -> HttpResponse:
    shg = get_object_or_404(editable_shgs_for(request.user), pk=shg_pk)
    return render(request, "integrations/platform_picker.html", {"shg": shg, "cards": platform_cards()})


@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest, shg_pk: int, platform: str) -> HttpResponse:
    """API-key platforms: the key form, tested live before saving. OAuth: the start form, then the consent page."""
    shg = get_object_or_404(editable_shgs_for(request.user), pk=shg_pk)
    cls = _connector_or_404(platform)
    return _connect_page(request, shg=shg, cls=cls, reconnecting=None)


@login_required
@require_http_methods(["GET", "POST"])
def reconnect(request: HttpRequest, pk: int) -> HttpResponse:
    """Connect the same account again (new keys or a new consent); the same row is updated."""
    connection = _editable_connection(request, pk)
    cls = _connector_or_404(connection.platform)
    return _connect_page(request, shg=connection.shg, cls=cls, reconnecting=connection)


def _connect_page(request: HttpRequest, *, shg, cls: type[Connector], reconnecting: Connection | None) -> HttpResponse:
    is_oauth = cls.auth_kind == AuthKind.OAUTH
    fields = cls.oauth_start_fields if is_oauth else cls.credential_fields
    initial = {}
    if reconnecting is not None:
        # Only non-secret values come back into the form; secret inputs always start empty.
        stored = {**(reconnecting.credentials or {}), **(reconnecting.config or {})}
        initial = {f.name: stored[f.name] for f in fields if not f.secret and stored.get(f.name)}
    form = CredentialForm(request.POST or None, fields=fields, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if is_oauth:
                url = flows.oauth_begin(request.session, connector_class=cls, shg=shg, params=form.values(),
                                        reconnecting=reconnecting)
                return HttpResponseRedirect(url)
            connection = services.connection_connect_api_key(shg=shg, platform=cls.slug, values=form.values(),
                                                             created_by=request.user, reconnecting=reconnecting)
        except services.ConnectFailed as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("%(name)s is connected.") % {"name": connection.display_name})
            return redirect("integrations:detail", pk=connection.pk)
    return render(request, "integrations/connect.html", {
        "shg": shg, "platform": platform_card(cls), "form": form, "is_oauth": is_oauth, "reconnecting": reconnecting,
    })


@login_required
def oauth_callback(request: HttpRequest, platform: str) -> HttpResponse:
    """Where the platform sends the coordinator back after consent."""
    cls = _connector_or_404(platform, AuthKind.OAUTH)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    params = request.GET.dict()
    try:
        pending = flows.oauth_take(request.session, platform=platform, state=params.get("state"))
    except flows.StateRejected as exc:
        return _oauth_error(request, cls, exc.message)
    shg = editable_shgs_for(request.user).filter(pk=pending.shg_id).first()
    if shg is None:
        return _oauth_error(request, cls, _("You may no longer connect channels for this SHG."), status=403)
    reconnecting = None
    if pending.reconnect_id is not None:
        reconnecting = connections_for(request.user).filter(pk=pending.reconnect_id, shg=shg).first()
        if reconnecting is None:
            return _oauth_error(request, cls, _("The connection being reconnected no longer exists."))
    try:
        connection, outcome = flows.oauth_complete(pending=pending, connector_class=cls, callback_params=params, shg=shg,
                                                   user=request.user, reconnecting=reconnecting)
    except flows.PlatformUnavailable as exc:
        return _oauth_error(request, cls, exc.message, status=502, shg=shg)
    except services.ConnectFailed as exc:
        return _oauth_error(request, cls, exc.message, shg=shg)
    if outcome.ok:
        messages.success(request, _("%(name)s is connected.") % {"name": connection.display_name})
    else:
        messages.error(request, _("%(name)s was authorised, but the first check failed: %(error)s")
                       % {"name": connection.display_name, "error": outcome.message})
    return redirect("integrations:detail", pk=connection.pk)


def _oauth_error(request: HttpRequest, cls: type[Connector], message: str, *, status: int = 400, shg=None) -> HttpResponse:
    return render(request, "integrations/oauth_error.html",
                  {"platform": platform_card(cls), "message": message, "shg": shg}, status=status)


@login_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connections_for(request.user), pk=pk)
    cls = connector_class_or_none(connection.platform)
    can_edit = can_edit_connection(request.user, connection)
    return render(request, "integrations/connection_detail.html", {
        "connection": connection, "platform": platform_card(cls) if cls else None,
        "can_edit": can_edit, "card": connection_card(connection, editable=can_edit),
        "needs_reconnect": connection.status in (Connection.Status.NEEDS_REAUTH, Connection.Status.DISABLED,
                                                 Connection.Status.ERROR),
    })


@login_required
@require_POST
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _editable_connection(request, pk)
    outcome = services.connection_test(connection=connection)
    (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return back_or(request, "integrations:detail", pk=connection.pk)


@login_required
@require_POST
def connection_disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _editable_connection(request, pk)
    outcome = services.connection_disconnect(connection=connection)
    messages.success(request, _("%(name)s is disconnected; its keys were deleted from Haat.")
                     % {"name": connection.display_name})
    if outcome.webhook_error:
        messages.warning(request, _("The platform did not confirm removing its notifications: %(error)s")
                         % {"error": outcome.webhook_error})
    return back_or(request, "integrations:detail", pk=connection.pk)
