"""Which Amazon marketplaces one connection sells on: read from Amazon, chosen by the coordinator.

The OAuth connect asks for one marketplace (its Seller Central shows the consent page). One authorisation
covers its region's marketplaces (India, the UK and Germany are all EU), so afterwards the coordinator picks
from what getMarketplaceParticipations says the seller participates in; orders are then read for all of
them in one call per page, listings learn which marketplaces they are offered on from the next products
sync, and stock and prices go to each. A marketplace of another region needs its own authorisation: a
second Amazon connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.integrations.connectors.amazon import MARKETPLACES
from apps.integrations.connectors.errors import ConnectorError
from apps.integrations.connectors.registry import build_connector
from apps.integrations.models import Connection
from apps.integrations.selectors import can_edit_connection, connections_for
from apps.integrations.services import interactive_http, safe_error_message

PLATFORM = "amazon"


@dataclass(frozen=True)
class MarketplaceChoice:
    id: str
    name: str
    currency: str
    selectable: bool
    chosen: bool
    why_not: str = ""


def amazon_marketplace_choices(*, connection: Connection, participations: list[dict[str, Any]]) -> list[MarketplaceChoice]:
    """The participations as choices: selectable when Haat serves the marketplace, the seller sells there and it is
    in the region of this authorisation."""
    cls = connection.connector_class
    chosen = set(cls.marketplace_ids(connection.config or {}))
    region = MARKETPLACES[next(iter(cls.marketplace_ids(connection.config or {})))].region
    choices = []
    for entry in participations:
        why_not = ""
        if not entry["participating"]:
            why_not = _("You do not sell there.")
        elif not entry["region"]:
            why_not = _("Haat does not serve this marketplace yet.")
        elif entry["region"] != region:
            why_not = _("Another Amazon region: connect it as a second Amazon channel.")
        choices.append(MarketplaceChoice(id=entry["id"], name=entry["name"], currency=entry["currency"],
                                         selectable=not why_not, chosen=entry["id"] in chosen, why_not=why_not))
    return choices


@transaction.atomic
def amazon_marketplaces_set(*, connection: Connection, marketplace_ids: list[str],
                            choices: list[MarketplaceChoice]) -> list[str]:
    """Save the chosen marketplaces (the home one first when kept). Raises ValidationError naming what cannot be
    chosen. Listings learn which of them they are offered on from the next import of the channel's listings."""
    selectable = {c.id: c for c in choices if c.selectable}
    wanted = list(dict.fromkeys(marketplace_ids))
    if not wanted:
        raise ValidationError(_("Choose at least one marketplace."))
    refused = [m for m in wanted if m not in selectable]
    if refused:
        names = ", ".join(next((c.name for c in choices if c.id == m), m) for m in refused)
        raise ValidationError(_("These cannot be chosen: %(names)s.") % {"names": names})
    locked = Connection.objects.select_for_update().get(pk=connection.pk, platform=PLATFORM)
    current = connection.connector_class.marketplace_ids(locked.config or {})
    ordered = [m for m in current if m in wanted] + [m for m in wanted if m not in current]
    config = {**(locked.config or {}), "marketplace_ids": ordered}
    config.pop("marketplace_id", None)
    Connection.objects.filter(pk=locked.pk).update(config=config, updated_at=timezone.now())
    connection.config = config
    return ordered


def _refresh_listings(request: HttpRequest, connection: Connection) -> None:
    """Read the listings again so each knows the marketplaces it is offered on; the choice is saved either way."""
    from apps.catalog.services import listings_import_from_channel

    try:
        result = listings_import_from_channel(connection=connection)
    except (ConnectorError, ValueError) as exc:
        messages.warning(request, _("Amazon did not list the offers just now (%(error)s); import the channel's listings "
                                    "again from the catalog.") % {"error": safe_error_message(exc)})
        return
    messages.info(request, _("%(count)s listing(s) read from Amazon.") % {"count": result.listings})


@login_required
@require_http_methods(["GET", "POST"])
def amazon_marketplaces(request: HttpRequest, connection_pk: int) -> HttpResponse:
    connection = get_object_or_404(connections_for(request.user), pk=connection_pk, platform=PLATFORM)
    if not can_edit_connection(request.user, connection):
        raise PermissionDenied
    error = ""
    choices: list[MarketplaceChoice] = []
    try:
        connector = build_connector(connection, http=interactive_http(connection.connector_class, str(connection.pk)))
        choices = amazon_marketplace_choices(connection=connection, participations=connector.marketplace_participations())
    except ConnectorError as exc:
        error = safe_error_message(exc)
    if request.method == "POST" and not error:
        try:
            saved = amazon_marketplaces_set(connection=connection, marketplace_ids=request.POST.getlist("marketplace"),
                                            choices=choices)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("%(name)s now sells on: %(list)s.") % {
                "name": connection.display_name, "list": ", ".join(MARKETPLACES[m].name for m in saved)})
            _refresh_listings(request, connection)
            return redirect("integrations:detail", pk=connection.pk)
    return render(request, "integrations/amazon_marketplaces.html",
                  {"connection": connection, "choices": choices, "error": error}, status=400 if error and
                  request.method == "POST" else 200)
