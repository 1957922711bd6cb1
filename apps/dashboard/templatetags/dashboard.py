"""Small template helpers the dashboard pages share."""

from django import template
from django.conf import settings

from apps.accounts.selectors import editable_shg_ids

register = template.Library()


@register.simple_tag(takes_context=True)
def editable_shgs(context) -> set[int]:
    """The SHGs the signed-in user may change (one query, memoised on the request), so a page shows its inline
    edit forms only where a save would be allowed."""
    request = context.get("request")
    if request is None:
        return set()
    if not hasattr(request, "_editable_shg_ids"):
        request._editable_shg_ids = editable_shg_ids(request.user)
    return request._editable_shg_ids


@register.filter
def is_low(available) -> bool:
    """Whether an available quantity is low enough to highlight (LOW_STOCK_THRESHOLD, default 5)."""
    try:
        return int(available) <= getattr(settings, "LOW_STOCK_THRESHOLD", 5)
    except (TypeError, ValueError):
        return False


@register.simple_tag
def price_form(variant):
    """An unbound inline price form for one variant row (prefixed, so every row's ids are unique)."""
    from apps.dashboard.forms import PriceForm

    return PriceForm(prefix=f"v{variant.pk}", initial={"price": variant.price, "mrp": variant.mrp})


@register.simple_tag
def stock_form(variant, on_hand):
    from apps.dashboard.forms import StockCountForm

    return StockCountForm(prefix=f"s{variant.pk}", initial={"count": on_hand})


@register.filter
def has(collection, item) -> bool:
    """`{{ ids|has:x }}`: membership, which the template language cannot say in a `with`."""
    try:
        return item in collection
    except TypeError:
        return False


@register.simple_tag(takes_context=True)
def importable_channels(context) -> list:
    """Connections the user may change whose platform can list its products (one query): the products page
    offers each an "import its products" button; a platform without that capability is not offered it."""
    from apps.integrations.connectors.base import Capability
    from apps.integrations.models import Connection
    from apps.integrations.selectors import connector_class_or_none

    ids = editable_shgs(context)
    connections = (Connection.objects.filter(shg_id__in=ids, status=Connection.Status.ACTIVE)
                   .only("id", "display_name", "platform").order_by("display_name"))
    return [c for c in connections
            if (cls := connector_class_or_none(c.platform)) is not None and cls.supports(Capability.PRODUCTS)]
