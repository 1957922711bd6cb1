"""Reads of connections and of the platforms one can connect, always scoped by tenancy.

Every view starts from `connections_for(user)` (what the user may see) and checks
`can_edit_connection` / `editable_shgs_for` before a change, so another tenant's connection is simply
not found (404) and a viewer may look but not connect, test or disconnect.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import SHG
from apps.accounts.selectors import editable_shg_ids, scope_by_shg
from apps.integrations.connectors.base import AuthKind, Capability, Connector
from apps.integrations.connectors.registry import UnknownPlatform, available_slugs, get_connector_class
from apps.integrations.models import Connection

# What each capability means to a coordinator, in the words the picker and the detail page use.
CAPABILITY_LABELS = {
    Capability.ORDERS: _("Brings orders in"),
    Capability.PRODUCTS: _("Reads your product list"),
    Capability.STOCK_PUSH: _("Updates stock"),
    Capability.PRICE_PUSH: _("Updates prices"),
    Capability.LISTING_CREATE: _("Creates new listings"),
    Capability.FULFILMENT_PUSH: _("Sends tracking numbers"),
    Capability.WEBHOOKS: _("Instant order updates"),
    Capability.INQUIRIES: _("Brings buyer inquiries in"),
    Capability.TENDERS: _("Brings tenders in"),
    Capability.MARKETPLACE_INVENTORY: _("Shows stock held in the marketplace's warehouses"),
    Capability.RATINGS: _("Brings ratings and reviews in"),
}


@dataclass(frozen=True)
class PlatformCard:
    """One platform as the picker shows it."""

    slug: str
    name: str
    auth_kind: AuthKind
    capabilities: tuple[str, ...]
    docs_url: str

    @property
    def is_oauth(self) -> bool:
        return self.auth_kind == AuthKind.OAUTH


def capability_labels(connector_class: type[Connector]) -> list[str]:
    """The connector's capabilities as readable phrases, in a stable order."""
    return [str(CAPABILITY_LABELS.get(c, c.value)) for c in Capability if c in connector_class.capabilities]


def platform_card(connector_class: type[Connector]) -> PlatformCard:
    """A plain description for templates (a class would be called by the template engine)."""
    return PlatformCard(slug=connector_class.slug, name=connector_class.name, auth_kind=connector_class.auth_kind,
                        capabilities=tuple(capability_labels(connector_class)), docs_url=connector_class.docs_url)


def platform_cards() -> list[PlatformCard]:
    """Every platform whose connector is installed, in the registry's order."""
    return [platform_card(get_connector_class(slug)) for slug in available_slugs()]


def connector_class_or_none(platform: str) -> type[Connector] | None:
    """The connector class of an installed platform, or None for an unknown or not-yet-built one."""
    try:
        return get_connector_class(platform)
    except (UnknownPlatform, ImportError):
        return None


def connections_for(user: AbstractBaseUser) -> QuerySet[Connection]:
    return scope_by_shg(Connection.objects.select_related("shg", "shg__federation"), user)


def get_connection_for(user: AbstractBaseUser, pk: int) -> Connection:
    """The connection if the user may see it; raises Connection.DoesNotExist otherwise (views answer 404)."""
    return connections_for(user).get(pk=pk)


def editable_shgs_for(user: AbstractBaseUser) -> QuerySet[SHG]:
    """SHGs whose channels the user may connect and change (org admins and coordinators, not viewers)."""
    return SHG.objects.filter(id__in=editable_shg_ids(user), is_active=True).select_related("federation")


def can_edit_connection(user: AbstractBaseUser, connection: Connection) -> bool:
    return connection.shg_id in editable_shg_ids(user)
