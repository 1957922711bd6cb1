"""Which Amazon marketplaces one connection sells on, in which SP-API regions: read from Amazon, chosen by the
coordinator.

Amazon makes a seller authorise an app once per region (North America; Europe, which includes India; Far
East), and each authorisation is valid only for its region's marketplaces. The OAuth connect authorises the
region of the marketplace chosen there (the home region, whose selling partner id is the connection's
account id). This page then:

- lists, per authorised region, what getMarketplaceParticipations says the seller sells on there, to tick;
- adds a region: the coordinator picks a marketplace of another region, Haat sends them to that region's
  consent page, and the OAuth callback adds the region's tokens and the marketplace to this same connection
  (`AmazonConnector.merge_grant`); authorising a region again replaces only that region's tokens;
- removes a region other than the home one: its marketplaces, tokens and selling partner id are forgotten.

Orders are then read region by region, listings learn which marketplaces they are offered on from the next
products import, and stock and prices go to each through its region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.integrations import flows
from apps.integrations.connectors.amazon import MARKETPLACES, TOKEN_KEYS, AmazonConnector
from apps.integrations.connectors.errors import ConnectorError
from apps.integrations.connectors.registry import build_connector
from apps.integrations.models import Connection, SyncRun
from apps.integrations.selectors import can_edit_connection, connections_for
from apps.integrations.services import ConnectFailed, interactive_http, safe_error_message
from apps.integrations.tasks import enqueue_sync

PLATFORM = "amazon"


@dataclass(frozen=True)
class MarketplaceChoice:
    id: str
    name: str
    currency: str
    selectable: bool
    chosen: bool
    why_not: str = ""
    region: str = ""
    locked: bool = False  # its region did not answer: kept as it is until it does


@dataclass
class RegionSection:
    """One authorised region as the page shows it. No token is ever part of it."""

    region: str
    label: str
    seller_id: str
    home: bool
    choices: list[MarketplaceChoice] = field(default_factory=list)
    error: str = ""
    reauthorise_marketplace: str = ""  # the marketplace whose consent page authorises this region again


def _regions_of(connection: Connection) -> list[str]:
    return AmazonConnector.regions(connection.config or {})


def amazon_marketplace_choices(*, connection: Connection,
                               participations: dict[str, list[dict[str, Any]] | None]) -> list[MarketplaceChoice]:
    """Each region's participations as choices: selectable when Haat serves the marketplace, the seller sells there
    and it is in that region. A region whose participations are None (Amazon did not answer) keeps its current
    marketplaces, locked."""
    config = connection.config or {}
    chosen = set(AmazonConnector.marketplace_ids(config))
    choices = []
    for region in _regions_of(connection):
        entries = participations.get(region)
        if entries is None:
            choices.extend(MarketplaceChoice(id=m, name=MARKETPLACES[m].name, currency=MARKETPLACES[m].currency,
                                             selectable=False, chosen=True, region=region, locked=True,
                                             why_not=_("Amazon did not answer for this region; kept as it is."))
                           for m in AmazonConnector.region_marketplace_ids(config, region))
            continue
        for entry in entries:
            why_not = ""
            if not entry["participating"]:
                why_not = _("You do not sell there.")
            elif not entry["region"]:
                why_not = _("Haat does not serve this marketplace yet.")
            elif entry["region"] != region:
                why_not = _("Another Amazon region: add that region below.")
            choices.append(MarketplaceChoice(id=entry["id"], name=entry["name"], currency=entry["currency"],
                                             selectable=not why_not, chosen=entry["id"] in chosen, why_not=why_not,
                                             region=region))
    return choices


@transaction.atomic
def amazon_marketplaces_set(*, connection: Connection, marketplace_ids: list[str],
                            choices: list[MarketplaceChoice]) -> list[str]:
    """Save the chosen marketplaces (the home region's first, then in the order they were added). Raises
    ValidationError naming what cannot be chosen, or a region left without a marketplace (remove that region
    instead). Listings learn which of them they are offered on from the next import of the channel's listings."""
    selectable = {c.id: c for c in choices if c.selectable}
    wanted = list(dict.fromkeys([*marketplace_ids, *(c.id for c in choices if c.locked)]))
    if not wanted:
        raise ValidationError(_("Choose at least one marketplace."))
    refused = [m for m in wanted if m not in selectable and not any(c.id == m and c.locked for c in choices)]
    if refused:
        names = ", ".join(next((c.name for c in choices if c.id == m), m) for m in refused)
        raise ValidationError(_("These cannot be chosen: %(names)s.") % {"names": names})
    locked = Connection.objects.select_for_update().get(pk=connection.pk, platform=PLATFORM)
    config = dict(locked.config or {})
    regions = AmazonConnector.regions(config)
    empty = [r for r in regions if not any(MARKETPLACES[m].region == r for m in wanted)]
    if empty:
        raise ValidationError(_("Keep at least one marketplace of %(regions)s, or remove that region.")
                              % {"regions": ", ".join(AmazonConnector.region_label(r) for r in empty)})
    current = AmazonConnector.marketplace_ids(config)
    kept = [m for m in current if m in wanted] + [m for m in wanted if m not in current]
    ordered = sorted(kept, key=lambda m: regions.index(MARKETPLACES[m].region))  # stable: keeps the order within
    config.update(marketplace_ids=ordered, home_region=AmazonConnector.home_region(config))
    config.pop("marketplace_id", None)
    Connection.objects.filter(pk=locked.pk).update(config=config, updated_at=timezone.now())
    connection.config = config
    return ordered


@transaction.atomic
def amazon_region_remove(*, connection: Connection, region: str) -> list[str]:
    """Forget one region other than the home one: its marketplaces, its tokens and its selling partner id. Returns
    the marketplace ids that were dropped."""
    locked = Connection.objects.select_for_update().get(pk=connection.pk, platform=PLATFORM)
    config = dict(locked.config or {})
    if region not in AmazonConnector.regions(config):
        raise ValidationError(_("This channel does not sell in that Amazon region."))
    if region == AmazonConnector.home_region(config):
        raise ValidationError(_("The region this channel was connected in cannot be removed; disconnect the channel "
                                "instead."))
    dropped = AmazonConnector.region_marketplace_ids(config, region)
    home = AmazonConnector.home_region(config)
    config["marketplace_ids"] = [m for m in AmazonConnector.marketplace_ids(config) if m not in dropped]
    config["selling_partner_ids"] = {r: s for r, s in (config.get("selling_partner_ids") or {}).items() if r != region}
    config["home_region"] = home
    tokens = AmazonConnector.region_tokens(locked.credentials or {}, locked.config or {})
    tokens.pop(region, None)
    credentials = {k: v for k, v in (locked.credentials or {}).items() if k not in TOKEN_KEYS}
    credentials["regions"] = tokens
    Connection.objects.filter(pk=locked.pk).update(config=config, credentials=credentials, updated_at=timezone.now())
    connection.config, connection.credentials = config, credentials
    return dropped


def _refresh_listings(request: HttpRequest, connection: Connection) -> None:
    """Queue a products sync, so each listing learns the marketplaces it is offered on. In the background: reading
    every product of every region takes many rate-limited calls, too long for a page to wait on."""
    enqueue_sync(connection=connection, stream=SyncRun.Stream.PRODUCTS, trigger=SyncRun.Trigger.MANUAL,
                 requested_by=request.user)
    messages.info(request, _("Haat is reading the channel's listings again in the background (see Sync activity)."))


def _editable_amazon_connection(request: HttpRequest, connection_pk: int) -> Connection:
    connection = get_object_or_404(connections_for(request.user), pk=connection_pk, platform=PLATFORM)
    if not can_edit_connection(request.user, connection):
        raise PermissionDenied
    return connection


def _sections(connection: Connection) -> tuple[list[RegionSection], list[MarketplaceChoice], str]:
    """Each region with its participations read live (a region that fails shows its error, the others work)."""
    config = connection.config or {}
    sellers = AmazonConnector.region_seller_ids(config, connection.external_account_id)
    home = AmazonConnector.home_region(config)
    try:
        connector = build_connector(connection, http=interactive_http(connection.connector_class, str(connection.pk)))
    except (ConnectorError, ValueError) as exc:
        return [], [], safe_error_message(exc)
    participations: dict[str, list[dict[str, Any]] | None] = {}
    sections = []
    for region in _regions_of(connection):
        section = RegionSection(region=region, label=AmazonConnector.region_label(region), home=region == home,
                                seller_id=sellers.get(region, ""),
                                reauthorise_marketplace=AmazonConnector.region_marketplace_ids(config, region)[0]
                                if AmazonConnector.region_marketplace_ids(config, region) else "")
        try:
            participations[region] = connector.marketplace_participations(region)
        except ConnectorError as exc:
            participations[region] = None
            section.error = safe_error_message(exc)
        sections.append(section)
    choices = amazon_marketplace_choices(connection=connection, participations=participations)
    for section in sections:
        section.choices = [c for c in choices if c.region == section.region]
    return sections, choices, ""


@login_required
@require_http_methods(["GET", "POST"])
def amazon_marketplaces(request: HttpRequest, connection_pk: int) -> HttpResponse:
    connection = _editable_amazon_connection(request, connection_pk)
    sections, choices, error = _sections(connection)
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
    connected = set(_regions_of(connection))
    addable = [m for m in MARKETPLACES.values() if m.region not in connected]
    return render(request, "integrations/amazon_marketplaces.html", {
        "connection": connection, "sections": sections, "error": error, "addable": addable,
    }, status=400 if error and request.method == "POST" else 200)


@login_required
@require_POST
def amazon_region_authorise(request: HttpRequest, connection_pk: int) -> HttpResponse:
    """Send the coordinator to the consent page of the chosen marketplace's region; the OAuth callback adds that
    region (or, for a region the channel has, its new tokens) to this connection."""
    connection = _editable_amazon_connection(request, connection_pk)
    marketplace_id = request.POST.get("marketplace_id", "")
    if marketplace_id not in MARKETPLACES:
        messages.error(request, _("Choose an Amazon marketplace."))
        return redirect("amazon:marketplaces", connection_pk=connection.pk)
    try:
        url = flows.oauth_begin(request.session, connector_class=connection.connector_class, shg=connection.shg,
                                params={"marketplace_id": marketplace_id}, reconnecting=connection)
    except ConnectFailed as exc:
        messages.error(request, exc.message)
        return redirect("amazon:marketplaces", connection_pk=connection.pk)
    return HttpResponseRedirect(url)


@login_required
@require_POST
def amazon_region_remove_view(request: HttpRequest, connection_pk: int) -> HttpResponse:
    connection = _editable_amazon_connection(request, connection_pk)
    region = request.POST.get("region", "")
    try:
        dropped = amazon_region_remove(connection=connection, region=region)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("amazon:marketplaces", connection_pk=connection.pk)
    messages.success(request, _("%(region)s removed from %(name)s: %(list)s no longer synced.") % {
        "region": AmazonConnector.region_label(region), "name": connection.display_name,
        "list": ", ".join(MARKETPLACES[m].name for m in dropped) or "-"})
    _refresh_listings(request, connection)
    return redirect("amazon:marketplaces", connection_pk=connection.pk)
