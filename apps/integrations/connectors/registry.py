"""Which connector class serves which platform slug.

An explicit table of dotted paths (no registration by import side effect): adding a platform is one
module, one line here, its sandbox and its test file.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from apps.integrations.connectors.base import Connector

CONNECTOR_PATHS: dict[str, str] = {
    "amazon": "apps.integrations.connectors.amazon.AmazonConnector",
    "flipkart": "apps.integrations.connectors.flipkart.FlipkartConnector",
    "shopify": "apps.integrations.connectors.shopify.ShopifyConnector",
    "woocommerce": "apps.integrations.connectors.woocommerce.WooCommerceConnector",
    "gem": "apps.integrations.connectors.gem.GemConnector",
    "indiamart": "apps.integrations.connectors.indiamart.IndiaMartConnector",
    "ozon": "apps.integrations.connectors.ozon.OzonConnector",
    "wildberries": "apps.integrations.connectors.wildberries.WildberriesConnector",
    "magento": "apps.integrations.connectors.magento.MagentoConnector",
    "bigcommerce": "apps.integrations.connectors.bigcommerce.BigCommerceConnector",
    "yandex_market": "apps.integrations.connectors.yandex_market.YandexMarketConnector",
    "uzum": "apps.integrations.connectors.uzum.UzumConnector",
    "website": "apps.integrations.connectors.website.WebsiteConnector",
}


class UnknownPlatform(LookupError):
    pass


@cache
def get_connector_class(slug: str) -> type[Connector]:
    try:
        return import_string(CONNECTOR_PATHS[slug])
    except KeyError:
        raise UnknownPlatform(f"No connector for platform {slug!r}") from None


def available_slugs() -> list[str]:
    """Slugs whose module imports (a platform still being built is simply absent)."""
    slugs = []
    for slug in CONNECTOR_PATHS:
        try:
            get_connector_class(slug)
        except ImportError:
            continue
        slugs.append(slug)
    return slugs


def all_connector_classes() -> list[type[Connector]]:
    return [get_connector_class(slug) for slug in available_slugs()]


def build_connector(connection, *, http=None) -> Connector:
    """A connector bound to a stored Connection, persisting refreshed tokens back to it."""
    from apps.integrations.connectors.base import ConnectionContext

    cls = get_connector_class(connection.platform)
    return cls(ConnectionContext.from_connection(connection), http=http)


def platforms_with(capability) -> list[str]:
    """Slugs of the platforms that declare `capability` (what a scheduler may ask of them)."""
    return [cls.slug for cls in all_connector_classes() if cls.supports(capability)]
