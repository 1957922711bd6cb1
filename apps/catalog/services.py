"""Writes of the catalog: create products with their variants, and the first import from a channel.

The catalog is the SHG's source of truth: importing from a channel creates what Haat does not know yet
and never overwrites what it does (prices and stock are pushed from here to the channels, not back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import SHG
from apps.catalog.models import ChannelProduct, Listing, Product, Variant
from apps.integrations.connectors.base import Capability, ListingDraft, ProductData


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0
    # Products the channel returned without a SKU: nothing to match them by; the coordinator maps them.
    skipped: list[str] = field(default_factory=list)


@transaction.atomic
def product_create(*, shg: SHG, title: str, variants: list[dict[str, Any]], description: str = "", brand: str = "",
                   category: str = "", hsn_code: str = "", images: list[str] | None = None,
                   attributes: dict[str, Any] | None = None) -> Product:
    """Create a product and its variants (each a dict of Variant fields, `sku` required), validated first."""
    if not variants:
        raise ValidationError({"variants": "A product has at least one variant."})
    product = Product(shg=shg, title=title, description=description, brand=brand, category=category,
                      hsn_code=hsn_code, images=images or [], attributes=attributes or {})
    product.full_clean()
    product.save()
    rows = []
    seen: set[str] = set()
    for data in variants:
        variant = Variant(product=product, shg=shg, **data)
        if variant.sku in seen:
            raise ValidationError({"variants": f"SKU {variant.sku} appears twice."})
        seen.add(variant.sku)
        variant.full_clean()  # also checks the SKU is free in this SHG
        rows.append(variant)
    Variant.objects.bulk_create(rows)
    return product


def _clean_price(value: Decimal | None) -> Decimal | None:
    if value is None or value < 0:
        return None
    return value.quantize(Decimal("0.01"))


@transaction.atomic
def products_import_from_channel(*, shg: SHG, products: list[ProductData], default_currency: str) -> ImportResult:
    """Create a product and variant for every SKU the SHG's catalog lacks; leave known SKUs untouched."""
    result = ImportResult()
    by_sku: dict[str, ProductData] = {}
    for item in products:
        sku = (item.sku or "").strip()
        if not sku:
            result.skipped.append(item.external_id)
            continue
        by_sku.setdefault(sku, item)
    known = set(Variant.objects.filter(shg=shg, sku__in=list(by_sku)).values_list("sku", flat=True))
    result.unchanged = len(known)
    new = [(sku, item) for sku, item in by_sku.items() if sku not in known]
    if not new:
        return result
    new_products = Product.objects.bulk_create(
        [Product(shg=shg, title=(item.title or sku)[:255]) for sku, item in new]
    )
    variants = []
    for product, (sku, item) in zip(new_products, new, strict=True):
        price, mrp = _clean_price(item.price), _clean_price(item.mrp)
        if price is not None and mrp is not None and mrp < price:
            mrp = None  # a channel's inconsistent MRP is not worth failing the import; the coordinator sets it
        barcode = item.barcode if item.barcode and item.barcode.isdigit() and len(item.barcode) in (8, 12, 13, 14) else ""
        variants.append(Variant(product=product, shg=shg, sku=sku[:100], barcode=barcode, price=price, mrp=mrp,
                                currency=(item.currency or default_currency or "INR").upper()[:3]))
    Variant.objects.bulk_create(variants)
    result.created = len(variants)
    return result


# --- listings ----------------------------------------------------------------------------------------------------


def channel_currency(connection) -> str:
    """The currency a channel sells in: the connection's config (set at connect time), else the platform's."""
    return str((connection.config or {}).get("currency") or connection.connector_class.default_currency).upper()


def _publish_listing(listing: Listing) -> None:
    from apps.events.services import publish

    publish(type="listing.updated", shg=listing.shg, connection=listing.connection, payload={
        "listing_id": listing.pk, "variant_id": listing.variant_id, "sku": listing.variant.sku, "state": listing.state,
        "external_id": listing.external_id, "error": listing.last_error,
    })


@transaction.atomic
def listing_create(*, variant: Variant, connection, product_type: str = "", price: Decimal | None = None,
                   mrp: Decimal | None = None) -> Listing:
    """A draft listing of a variant on a channel that can create listings; `listing_publish` sends it."""
    if connection.shg_id != variant.shg_id:
        raise ValidationError({"connection": "The channel belongs to another SHG."})
    if not connection.connector_class.supports(Capability.LISTING_CREATE):
        raise ValidationError({"connection": f"{connection.connector_class.name} does not accept new listings from Haat."})
    listing = Listing(variant=variant, connection=connection, shg_id=variant.shg_id, product_type=product_type,
                      price_override=price, mrp_override=mrp)
    listing.full_clean()
    _validate_listing_price(listing)
    listing.save()
    _publish_listing(listing)
    return listing


def _validate_listing_price(listing: Listing) -> None:
    price, mrp = listing.effective_price, listing.effective_mrp
    if price is None:
        raise ValidationError({"price_override": "The variant has no price; set one before listing it."})
    if mrp is not None and mrp < price:
        raise ValidationError({"mrp_override": "The MRP cannot be below the price."})
    currency = channel_currency(listing.connection)
    if listing.variant.currency != currency:
        raise ValidationError({"price_override": f"{listing.connection.display_name} sells in {currency}, "
                                                 f"the variant is priced in {listing.variant.currency}."})


def listing_publish(*, listing: Listing) -> Listing:
    """Send a draft (or refused) listing to its channel: draft -> pending -> live, or error with the channel's words.

    The platform call happens outside any transaction; the outcome is saved with its event afterwards."""
    from apps.inventory.services import available_by_variant, push_quantity

    if listing.state not in (Listing.State.DRAFT, Listing.State.ERROR):
        raise ValidationError("Only a draft or refused listing is sent to the channel.")
    variant, product = listing.variant, listing.variant.product
    _validate_listing_price(listing)
    Listing.objects.filter(pk=listing.pk).update(state=Listing.State.PENDING, updated_at=timezone.now())
    available = available_by_variant(variant_ids={variant.pk}).get(variant.pk, {}).get("available", 0)
    draft = ListingDraft(sku=listing.channel_sku or variant.sku, title=product.title, description=product.description,
                         price=listing.effective_price, currency=variant.currency,
                         quantity=push_quantity(available=available, buffer=listing.stock_buffer, maximum=listing.stock_max),
                         brand=product.brand, barcode=variant.barcode, mrp=listing.effective_mrp,
                         product_type=listing.product_type, attributes=dict(product.attributes), images=list(product.images))
    from apps.integrations.connectors.errors import ConnectorError
    from apps.integrations.connectors.registry import build_connector

    try:
        result = build_connector(listing.connection).create_listing(draft)
        ok, state, refs, error = result.ok, result.state, result.external_refs, result.error
    except ConnectorError as exc:
        ok, state, refs, error = False, "rejected", {}, str(exc)
    with transaction.atomic():
        listing.refresh_from_db()
        if ok:
            listing.state = Listing.State.LIVE if state in ("live", "active", "publish") else Listing.State.PENDING
            listing.external_refs = {**(listing.external_refs or {}), **refs}
            listing.external_id = str(refs.get("asin") or refs.get("product_id") or refs.get("listing_id") or refs.get("sku")
                                      or listing.external_id)[:255]
            listing.last_error = ""
            listing.last_pushed_price = draft.price
            listing.last_pushed_quantity = draft.quantity
            listing.last_pushed_at = timezone.now()
        else:
            listing.state = Listing.State.ERROR
            listing.last_error = (error or "The channel refused the listing.")[:2000]
        listing.save()
        _publish_listing(listing)
    return listing


# --- prices ------------------------------------------------------------------------------------------------------


@transaction.atomic
def variant_price_set(*, variant: Variant, price: Decimal | None, mrp: Decimal | None) -> bool:
    """Change a variant's price and MRP (MRP at least price); the channels that use it get a push. Returns
    whether anything changed."""
    if (variant.price, variant.mrp) == (price, mrp):
        return False
    variant.price, variant.mrp = price, mrp
    variant.full_clean()
    variant.save(update_fields=["price", "mrp", "updated_at"])
    _price_changed(variant=variant, listings=Listing.objects.filter(variant=variant, price_override__isnull=True))
    return True


@transaction.atomic
def listing_price_set(*, listing: Listing, price: Decimal | None, mrp: Decimal | None) -> bool:
    """Override (or, with None, stop overriding) a variant's price on one channel."""
    if (listing.price_override, listing.mrp_override) == (price, mrp):
        return False
    listing.price_override, listing.mrp_override = price, mrp
    listing.full_clean()
    _validate_listing_price(listing)
    listing.save(update_fields=["price_override", "mrp_override", "updated_at"])
    _price_changed(variant=listing.variant, listings=Listing.objects.filter(pk=listing.pk), listing=listing)
    return True


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _price_changed(*, variant: Variant, listings, listing: Listing | None = None) -> None:
    """price.changed (the variant's price, or one listing's effective price when `listing` is given), then mark
    the live and pending listings concerned `price_dirty` and queue one batched push per channel."""
    from apps.catalog.tasks import enqueue_price_push
    from apps.events.services import publish

    payload = {"variant_id": variant.pk, "sku": variant.sku, "currency": variant.currency,
               "price": _money(variant.price), "mrp": _money(variant.mrp)}
    if listing is not None:
        payload.update({"listing_id": listing.pk, "connection_id": listing.connection_id,
                        "price": _money(listing.effective_price), "mrp": _money(listing.effective_mrp)})
    publish(type="price.changed", shg=variant.shg, connection=listing.connection if listing is not None else None,
            payload=payload)
    live = listings.filter(state__in=[Listing.State.LIVE, Listing.State.PENDING])
    connection_ids = set(live.values_list("connection_id", flat=True))
    live.update(price_dirty=True)
    for connection_id in sorted(connection_ids):
        transaction.on_commit(lambda cid=connection_id: enqueue_price_push(cid))


# --- updates (the partner API's PATCHes and the dashboard's edits) ---------------------------------------------

PRODUCT_UPDATE_FIELDS = ("title", "description", "brand", "category", "hsn_code", "images", "attributes")
VARIANT_UPDATE_FIELDS = ("barcode", "weight_grams", "length_cm", "width_cm", "height_cm", "price", "mrp", "currency")
LISTING_UPDATE_FIELDS = ("price_override", "mrp_override", "stock_buffer", "stock_max", "channel_sku", "product_type")
# What identifies a listing on its channel: changed only before it is sent there.
LISTING_IDENTITY_FIELDS = ("channel_sku", "product_type")


def _assign(obj, data: dict[str, Any], allowed: tuple[str, ...]) -> set[str]:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    changed = {name for name, value in data.items() if getattr(obj, name) != value}
    for name in changed:
        setattr(obj, name, data[name])
    return changed


@transaction.atomic
def product_update(*, product: Product, data: dict[str, Any]) -> bool:
    """Change a product's description fields (validated as on create); returns whether anything changed."""
    changed = _assign(product, data, PRODUCT_UPDATE_FIELDS)
    if not changed:
        return False
    product.full_clean()
    product.save(update_fields=[*sorted(changed), "updated_at"])
    return True


@transaction.atomic
def variant_update(*, variant: Variant, data: dict[str, Any]) -> bool:
    """Change a variant's sizes, barcode, price, MRP or currency. The SKU never changes (channels know the item by
    it). MRP must stay at least the price, and the currency must be the one of every channel the variant is
    listed on. A new price, MRP or currency publishes price.changed and is pushed to the listings that use it."""
    variant = Variant.objects.select_for_update().select_related("product", "shg").get(pk=variant.pk)
    changed = _assign(variant, data, VARIANT_UPDATE_FIELDS)
    if not changed:
        return False
    variant.full_clean()
    if "currency" in changed:
        listings = Listing.objects.filter(variant=variant).exclude(state=Listing.State.DELISTED).select_related("connection")
        others = sorted({listing.connection.display_name for listing in listings
                         if channel_currency(listing.connection) != variant.currency})
        if others:
            raise ValidationError({"currency": f"{', '.join(others)} sell(s) in another currency than {variant.currency}."})
    variant.save(update_fields=[*sorted(changed), "updated_at"])
    if changed & {"price", "mrp", "currency"}:
        _price_changed(variant=variant, listings=Listing.objects.filter(variant=variant, price_override__isnull=True))
    return True


@transaction.atomic
def listing_update(*, listing: Listing, data: dict[str, Any]) -> bool:
    """Change a listing's price overrides (validated: MRP at least price, the channel's currency; then pushed),
    its stock buffer or maximum (the channel's quantity is pushed again), or, while it is a draft or refused,
    its channel SKU and product type."""
    listing = Listing.objects.select_for_update().select_related("variant", "variant__shg", "connection").get(pk=listing.pk)
    changed = _assign(listing, data, LISTING_UPDATE_FIELDS)
    if not changed:
        return False
    on_channel = listing.state not in (Listing.State.DRAFT, Listing.State.ERROR)
    frozen = sorted(changed & set(LISTING_IDENTITY_FIELDS)) if on_channel else []
    if frozen:
        raise ValidationError({name: "Only a draft or refused listing changes this; the channel knows the listing by it."
                               for name in frozen})
    listing.full_clean(validate_unique=False)
    if changed & {"price_override", "mrp_override"}:
        _validate_listing_price(listing)
    listing.save(update_fields=[*sorted(changed), "updated_at"])
    if changed & {"price_override", "mrp_override"}:
        _price_changed(variant=listing.variant, listings=Listing.objects.filter(pk=listing.pk), listing=listing)
    if changed & {"stock_buffer", "stock_max"}:
        from apps.inventory.services import stock_push_request

        transaction.on_commit(lambda: stock_push_request(variant_ids={listing.variant_id},
                                                         connection_ids={listing.connection_id}))
    return True


def listing_push(*, listing: Listing) -> dict[str, bool]:
    """Push a live or pending listing's current quantity and price to its channel again (a partner's "resend"),
    through the same coalesced, batched tasks as every change. Returns what was queued."""
    from apps.catalog.tasks import enqueue_price_push
    from apps.inventory.services import stock_push_request

    if listing.state not in (Listing.State.LIVE, Listing.State.PENDING):
        raise ValidationError("Only a live or pending listing is pushed; publish a draft first.")
    capabilities = listing.connection.connector_class
    price = capabilities.supports(Capability.PRICE_PUSH) and listing.effective_price is not None
    stock = (capabilities.supports(Capability.STOCK_PUSH) and not listing.fulfilled_by_marketplace
             and stock_push_request(variant_ids={listing.variant_id}, connection_ids={listing.connection_id}) > 0)
    if price:
        Listing.objects.filter(pk=listing.pk).update(price_dirty=True)
        enqueue_price_push(listing.connection_id)
    return {"stock": bool(stock), "price": bool(price)}


# --- import from a channel ----------------------------------------------------------------------------------------


@dataclass
class ChannelImportResult:
    created: int = 0
    matched: int = 0
    listings: int = 0
    unmatched: int = 0


def listings_import_from_channel(*, connection, max_pages: int = 1000) -> ChannelImportResult:
    """Read the channel's products, create variants for SKUs the catalog lacks, link every SKU'd product as a
    listing, and keep those without a SKU as ChannelProducts for a coordinator to map by hand."""
    from apps.integrations.connectors.registry import build_connector

    connector = build_connector(connection)
    items: list[ProductData] = []
    cursor = None
    for _page in range(max_pages):
        page = connector.fetch_products(cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    return channel_products_store(connection=connection, items=items, currency=channel_currency(connection))


def _marketplace_fulfilled(item: ProductData) -> bool:
    """Amazon lists an FBA offer's availability under its own channel code (AMAZON_IN...), the SHG's as DEFAULT."""
    codes = {str(entry.get("fulfillmentChannelCode") or "") for entry in item.raw.get("fulfillmentAvailability") or []
             if isinstance(entry, dict)}
    return bool(codes) and "DEFAULT" not in codes


@transaction.atomic
def channel_products_store(*, connection, items: list[ProductData], currency: str) -> ChannelImportResult:
    result = ChannelImportResult()
    shg = connection.shg
    imported = products_import_from_channel(shg=shg, products=items, default_currency=currency)
    result.created, result.matched = imported.created, imported.unchanged
    with_sku = {item.sku.strip(): item for item in items if (item.sku or "").strip()}
    variants = dict(Variant.objects.filter(shg=shg, sku__in=list(with_sku)).values_list("sku", "id"))
    rows = [Listing(variant_id=variants[sku], connection=connection, shg=shg, state=Listing.State.LIVE,
                    external_id=str(item.external_refs.get("asin") or item.external_refs.get("product_id")
                                    or item.external_id)[:255],
                    external_refs=item.external_refs, channel_sku=sku[:255],
                    fulfilled_by_marketplace=_marketplace_fulfilled(item),
                    last_pushed_quantity=item.quantity, last_pushed_price=item.price)
            for sku, item in with_sku.items() if sku in variants]
    Listing.objects.bulk_create(rows, update_conflicts=True, unique_fields=["variant", "connection"],
                                update_fields=["external_id", "external_refs", "channel_sku", "updated_at"])
    result.listings = len(rows)
    unmatched = [ChannelProduct(connection=connection, shg=shg, external_id=item.external_id[:255], sku="",
                                title=(item.title or "")[:500], external_refs=item.external_refs)
                 for item in items if not (item.sku or "").strip()]
    ChannelProduct.objects.bulk_create(unmatched, update_conflicts=True, unique_fields=["connection", "external_id"],
                                       update_fields=["title", "external_refs", "updated_at"])
    result.unmatched = len(unmatched)
    return result


@transaction.atomic
def channel_product_map(*, channel_product: ChannelProduct, variant: Variant) -> Listing:
    """A coordinator's hand mapping: the channel's product is this variant; it becomes a listing."""
    if variant.shg_id != channel_product.shg_id:
        raise ValidationError({"variant": "The variant belongs to another SHG."})
    listing, _ = Listing.objects.update_or_create(
        variant=variant, connection=channel_product.connection,
        defaults={"shg_id": variant.shg_id, "external_id": channel_product.external_id,
                  "external_refs": channel_product.external_refs, "state": Listing.State.LIVE},
    )
    channel_product.mapped_to = variant
    channel_product.save(update_fields=["mapped_to", "updated_at"])
    return listing


# --- file import ----------------------------------------------------------------------------------------------------


class ImportRejected(ValidationError):
    """The file had bad rows; `row_errors` is [(row number as the spreadsheet shows it, field, message)]."""

    def __init__(self, row_errors: list[tuple[int, str, str]]):
        self.row_errors = row_errors
        super().__init__([f"row {row}, {name}: {message}" for row, name, message in row_errors])


@dataclass
class FileImportResult:
    created: int = 0
    updated: int = 0
    stock_changed: int = 0


PRODUCT_FIELDS = ["title", "description", "brand", "category", "hsn_code"]
VARIANT_FIELDS = ["barcode", "price", "mrp", "currency", "weight_grams"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def catalog_import_file(*, shg: SHG, content: bytes, file_format: str, user=None) -> FileImportResult:
    """Import products, variants and counted stock from a CSV or XLSX file: every row is checked first; one bad
    row rejects the whole file (ImportRejected names each row and field) and nothing is written."""
    from apps.catalog.resources import FORMATS

    if file_format not in FORMATS:
        raise ValidationError({"file": "Upload a .csv or .xlsx file."})
    try:
        # A CSV is text: UTF-8, with the byte-order mark spreadsheet programs add stripped.
        dataset = FORMATS[file_format]().create_dataset(content.decode("utf-8-sig") if file_format == "csv" else content)
    except Exception as exc:  # tablib and openpyxl raise many types for a damaged file
        raise ValidationError({"file": f"The file cannot be read as {file_format.upper()}: {type(exc).__name__}."}) from None
    headers = [_cell(h).lower() for h in (dataset.headers or [])]
    if "sku" not in headers:
        raise ValidationError({"file": "The first row must name the columns, one of them sku."})
    rows = [dict(zip(headers, (_cell(v) for v in row), strict=False)) for row in dataset]
    errors: list[tuple[int, str, str]] = []
    existing = {v.sku: v for v in Variant.objects.filter(shg=shg, sku__in=[r.get("sku", "") for r in rows])
                .select_related("product")}
    seen: dict[str, int] = {}
    plans = []
    for number, row in enumerate(rows, start=2):
        sku = row.get("sku", "")
        if sku in seen:
            errors.append((number, "sku", f"SKU {sku} is also on row {seen[sku]}."))
            continue
        seen[sku] = number
        variant = existing.get(sku)
        product = variant.product if variant else Product(shg=shg)
        variant = variant or Variant(shg=shg, sku=sku)
        for name in PRODUCT_FIELDS:
            if name in row and (row[name] or variant.pk is None):
                setattr(product, name, row[name])
        for name in VARIANT_FIELDS:
            if name in row and (row[name] or variant.pk is None):
                setattr(variant, name, row[name] or (None if name in ("price", "mrp", "weight_grams") else "INR"
                                                     if name == "currency" else ""))
        row_errors: dict[str, list[str]] = {}
        for obj, exclude in ((product, ["shg"]), (variant, ["product", "shg"])):
            try:
                obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    row_errors.setdefault(name, []).extend(messages)
        on_hand = None
        if row.get("on_hand"):
            try:
                on_hand = int(row["on_hand"])
                if on_hand < 0:
                    raise ValueError
            except ValueError:
                row_errors.setdefault("on_hand", []).append("A count is a whole number, 0 or more.")
        for name, messages in row_errors.items():
            errors.extend((number, "row" if name == "__all__" else name, message) for message in messages)
        plans.append((product, variant, on_hand))
    if errors:
        raise ImportRejected(errors)
    return _write_import(shg=shg, plans=plans, user=user)


@transaction.atomic
def _write_import(*, shg: SHG, plans: list, user) -> FileImportResult:
    from apps.inventory.services import stock_set_counts

    result = FileImportResult()
    is_new = [variant.pk is None for _product, variant, _count in plans]
    Product.objects.bulk_create([product for product, _v, _c in plans if product.pk is None])
    old_products = list({p.pk: p for (p, _v, _c), new in zip(plans, is_new, strict=True) if not new}.values())
    if old_products:
        Product.objects.bulk_update(old_products, PRODUCT_FIELDS)
    new_variants, old_variants = [], []
    for (product, variant, _count), new in zip(plans, is_new, strict=True):
        if new:
            variant.product = product
            new_variants.append(variant)
        else:
            old_variants.append(variant)
    Variant.objects.bulk_create(new_variants)
    if old_variants:
        Variant.objects.bulk_update(old_variants, VARIANT_FIELDS)
    result.created, result.updated = len(new_variants), len(old_variants)
    if any(on_hand is not None for *_x, on_hand in plans):
        ids = dict(Variant.objects.filter(shg=shg, sku__in=[v.sku for _p, v, _ in plans]).values_list("sku", "id"))
        counts = {ids[v.sku]: on_hand for _p, v, on_hand in plans if on_hand is not None}
        result.stock_changed = stock_set_counts(shg_id=shg.pk, counts=counts, reason="stock import", user=user)
    return result
