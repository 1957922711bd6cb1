"""Writes the dashboard needs that the catalog and inventory services do not offer as such. Each one goes
through those apps' own services, so a change made on a page behaves exactly like one made through the API."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from apps.catalog.models import Variant
from apps.inventory import services as inventory
from apps.inventory.models import StockMovement


def variant_stock_count(*, variant: Variant, count: int, reason: str, user: AbstractBaseUser | None) -> int:
    """Set the counted on-hand quantity of a variant at its SHG's default location (an adjustment with a
    reason, pushed to every channel by the inventory service). Returns the new available quantity."""
    inventory.stock_adjust(variant=variant, kind=StockMovement.Kind.ADJUSTMENT, count=count, reason=reason, user=user)
    return inventory.available_by_variant(variant_ids=[variant.pk])[variant.pk]["available"]
