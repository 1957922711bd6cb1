"""What several sandbox platforms do to a seller's neutral data the same way: a store's checkout against its
stock, the checks of a marketplace's demo order lines, and rounding a catalogue's prices to whole units once.

Each platform passes its own words (the name it gives a SKU, its "not enough stock" sentence), so errors and
answers still read like that platform's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.sandbox import dataset
from apps.sandbox.models import SandboxAccount, SandboxObject

Lines = list[tuple[str, int]]


def first_two_in_stock(rows: dict[str, SandboxObject]) -> Lines:
    """The basket of a buyer who names nothing: one each of the first two products in stock, by SKU."""
    return [(sku, 1) for sku in sorted(rows) if int(rows[sku].data.get("quantity") or 0) > 0][:2]


def checkout(account: SandboxAccount, skus: Lines | None, *, not_enough: Callable[[str, dict, int], str],
             basket: Callable[[dict[str, SandboxObject]], Lines] = first_two_in_stock,
             whole_quantities: bool = False) -> dict:
    """A store's buyer checks out: under row locks, every line must name a product of the store (and, with
    `whole_quantities`, a whole quantity of at least 1) with that much stock; then the neutral order is made and
    the stock taken, in one transaction. `skus` None lets `basket` choose. Raises ValueError in the store's words:
    `not_enough(sku, product, stock)` says a line asks for more than there is. Returns the neutral order."""
    dataset.ensure_seeded(account)
    with transaction.atomic():
        rows = {row.key: row for row in dataset.objects(account, "product").select_for_update()}
        lines = list(skus) if skus is not None else basket(rows)
        if not lines:
            raise ValueError("Every product of this store is out of stock")
        for sku, quantity in lines:
            if sku not in rows:
                raise ValueError(f"No product with SKU {sku} in this store")
            if whole_quantities and (isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1):
                raise ValueError("Quantities must be whole numbers of at least 1")
            stock = int(rows[sku].data.get("quantity") or 0)
            if stock < quantity:
                raise ValueError(not_enough(sku, rows[sku].data, stock))
        order = dataset.order_create(account, skus=lines)
        now = timezone.now().replace(microsecond=0)
        for sku, quantity in lines:
            rows[sku].data["quantity"] = int(rows[sku].data["quantity"]) - quantity
            rows[sku].updated_at = now
        SandboxObject.objects.bulk_update([rows[sku] for sku, _q in lines], ["data", "updated_at"])
    return order


def check_order_lines(account: SandboxAccount, skus: Lines | None, *, unknown: str, most: int | None = None) -> None:
    """A marketplace's demo order names only the seller's products (`unknown` is the platform's word for them,
    "offer_id(s)"), in whole quantities of at least 1 (and at most `most`). Raises ValueError. Stock is not
    checked: a marketplace takes the order and the seller's stock catches up through Haat."""
    if not skus:
        return
    known = set(dataset.objects(account, "product").values_list("key", flat=True))
    missing = [sku for sku, _qty in skus if sku not in known]
    if missing:
        raise ValueError(f"Unknown {unknown}: {', '.join(missing)}")
    if most is None:
        if any(not isinstance(qty, int) or isinstance(qty, bool) or qty < 1 for _sku, qty in skus):
            raise ValueError("Quantities must be whole numbers of at least 1")
    elif any(not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= most for _sku, qty in skus):
        raise ValueError(f"Quantities must be whole numbers from 1 to {most}")


def whole_units(value: Any) -> Decimal:
    """A neutral amount rounded half up to whole rupees or rubles."""
    return Decimal(str(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def round_prices_once(account: SandboxAccount, *, flag: str) -> None:
    """Seed the account, then round its catalogue's prices (and MRPs, never below the price) to whole units the
    first time only, for a platform whose price fields are whole units. `flag` in the account's settings marks
    it done; the account row is locked so two first calls do not round twice."""
    if account.seeded and account.settings.get(flag):
        return
    with transaction.atomic():
        dataset.ensure_seeded(account)
        locked = SandboxAccount._default_manager.select_for_update().get(pk=account.pk)
        if not locked.settings.get(flag):
            rows = list(dataset.objects(locked, "product"))
            for row in rows:
                price = whole_units(row.data["price"])
                row.data["price"] = dataset.money(price)
                row.data["mrp"] = dataset.money(max(whole_units(row.data.get("mrp") or price), price))
            SandboxObject.objects.bulk_update(rows, ["data"])
            locked.settings[flag] = True
            locked.save(update_fields=["settings"])
        account.settings, account.seeded = locked.settings, True
