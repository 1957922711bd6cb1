"""Tenant A's objects for the cross-tenant sweep, and how to fill each URL argument from them.

When a new model or URL argument appears, add one builder line and one entry here; the sweep fails with
the URL's route until then.
"""

from __future__ import annotations

from django.apps import apps

from apps.accounts.models import Membership
from apps.accounts.services import partner_token_create
from tests.factories import make_connection, make_org, make_shg, make_user


def build_tenant_a() -> dict:
    federation = make_org("Tenant A Federation")
    shg = make_shg(federation, name="Tenant A Secret Sakhi SHG")
    make_user("tenant-a-admin", organization=federation, role=Membership.Role.ORG_ADMIN)
    token, _key = partner_token_create(organization=federation, name="Tenant A token")
    connection = make_connection(shg, display_name="Tenant A Secret Store")
    objects = {"shg": shg, "federation": federation, "token": token, "connection": connection}
    objects.update(_optional_objects(shg, connection))
    return objects


def _optional_objects(shg, connection) -> dict:
    """Objects of apps that exist once their issue has landed (orders, sync runs, ...)."""
    from django.utils import timezone

    built = {}
    if apps.is_installed("apps.orders") and _has_model("orders", "Order"):
        Order = apps.get_model("orders", "Order")
        fields = {f.name for f in Order._meta.get_fields()}
        data = {"connection": connection, "shg": shg, "external_id": "TENANT-A-ORDER-991", "currency": "INR",
                "total": "100.00", "placed_at": timezone.now()}
        order = Order.objects.create(**{k: v for k, v in data.items() if k in fields})
        built["order"] = order
        if _has_model("orders", "Fulfilment"):
            Fulfilment = apps.get_model("orders", "Fulfilment")
            ffields = {f.name for f in Fulfilment._meta.get_fields()}
            fdata = {"order": order, "carrier": "India Post", "tracking_number": "EK000", "shipped_at": timezone.now()}
            built["fulfilment"] = Fulfilment.objects.create(**{k: v for k, v in fdata.items() if k in ffields})
    if _has_model("catalog", "Variant"):
        from apps.catalog.models import Product, Variant

        product = Product.objects.create(shg=shg, title="Tenant A Secret Pickle")
        built["variant"] = Variant.objects.create(product=product, shg=shg, sku="TENANT-A-SKU-1", price="10.00",
                                                  mrp="12.00")
    if _has_model("catalog", "ChannelProduct"):
        from apps.catalog.models import ChannelProduct

        built["channelproduct"] = ChannelProduct.objects.create(
            connection=connection, shg=shg, external_id="TENANT-A-EXT-1", sku="TENANT-A-UNMATCHED", title="Tenant A item")
    if _has_model("inventory", "StockItem") and "variant" in built:
        from apps.inventory.models import StockItem, StockLocation

        location = StockLocation.objects.create(shg=shg, name="Tenant A store room", is_default=True)
        built["stockitem"] = StockItem.objects.create(variant=built["variant"], location=location, on_hand=5)
    if _has_model("tenders", "Tender"):
        built.update(_tender_objects(shg, connection))
    if _has_model("ops", "Notification"):
        from django.contrib.auth import get_user_model

        from apps.ops.models import Alert, Notification

        alert = Alert.objects.create(kind="connection_failing", key=f"connection:{connection.pk}", shg=shg,
                                     connection=connection, title="Tenant A Secret Store is failing")
        built["notification"] = Notification.objects.create(
            user=get_user_model().objects.get(username="tenant-a-admin"), alert=alert)
    if _has_model("integrations", "SyncRun"):
        SyncRun = apps.get_model("integrations", "SyncRun")
        built["syncrun"] = SyncRun.objects.create(connection=connection, stream="orders")
    if _has_model("reviews", "Review"):
        from apps.reviews.models import Review

        built["review"] = Review.objects.create(
            shg=shg, connection=connection, external_id="TENANT-A-REVIEW-991", variant=built.get("variant"), rating=1,
            sku="TENANT-A-SKU-1", product_title="Tenant A Secret Pickle", body="Tenant A secret review text",
            reviewer="Tenant A Secret Reviewer", published_at=timezone.now())
    return built


def _tender_objects(shg, connection) -> dict:
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from apps.tenders.models import Bid, Inquiry, Quote, SellerDocument, SellerProfile, Tender

    tender = Tender.objects.create(shg=shg, source="file", bid_number="GEM/TENANT-A/B/991", category="Secret pickle jars",
                                   deadline=timezone.now() + timedelta(days=5))
    bid = Bid.objects.create(tender=tender, shg=shg)
    profile = SellerProfile.objects.create(shg=shg, legal_name="Tenant A Secret Seller", pan="AAPFU0939F",
                                           address="Pune", state="Maharashtra", pincode="411001")
    inquiry = Inquiry.objects.create(shg=shg, unique_query_id="TENANT-A-LEAD-991", buyer_name="Tenant A Secret Buyer",
                                     received_at=timezone.now())
    quote = Quote.objects.create(inquiry=inquiry, shg=shg, quantity=1, unit_price=Decimal("10"), total=Decimal("10"),
                                 delivery_days=3, payment_terms="advance")
    # A name only: the file is never written, another tenant is refused before it would be opened.
    document = SellerDocument.objects.create(shg=shg, kind="pan", title="Tenant A secret PAN",
                                             file="seller-documents/tenant-a-pan.pdf")
    return {"tender": tender, "bid": bid, "inquiry": inquiry, "quote": quote, "sellerdocument": document,
            "sellerprofile": profile}


def _has_model(app_label: str, name: str) -> bool:
    try:
        apps.get_model(app_label, name)
    except LookupError:
        return False
    return True


# URL argument name -> how to read it from tenant A's objects.
KWARG_SOURCES = {
    "shg_pk": lambda o: o["shg"].pk,
    "shg_id": lambda o: o["shg"].pk,
    "connection_pk": lambda o: o["connection"].pk,
    "connection_id": lambda o: o["connection"].pk,
    "connection_uuid": lambda o: o["connection"].uuid,
    "order_pk": lambda o: o["order"].pk,
    "order_id": lambda o: o["order"].pk,
    "run_pk": lambda o: o["syncrun"].pk,
    "syncrun_pk": lambda o: o["syncrun"].pk,
    "token_pk": lambda o: o["token"].pk,
    "fulfilment_pk": lambda o: o["fulfilment"].pk,
    "variant_pk": lambda o: o["variant"].pk,
}

# Arguments that choose a format, not an object: such a URL is swept like a list (it must show nothing of
# another tenant) rather than expected to answer 404.
VALUE_KWARGS = {"signed_quote": "not-a-signed-quote", "file_format": "csv"}

# The first path segment of a route -> the object a bare <pk>/<uuid> refers to.
SEGMENT_OBJECTS = {
    "unmatched": "channelproduct",
    "inventory": "stockitem",
    "stock": "stockitem",
    "shgs": "shg",
    "tokens": "token",
    "connections": "connection",
    "orders": "order",
    "sync": "connection",
    "fulfilments": "fulfilment",
    "tenders": "tender",
    "inquiries": "inquiry",
    "quotes": "quote",
    "documents": "sellerdocument",
    "notifications": "notification",
    "reviews": "review",
}


def kwargs_for(route: str, pattern, names: list[str], objects: dict) -> dict | None:
    values = {}
    for name in names:
        if name in KWARG_SOURCES:
            try:
                values[name] = KWARG_SOURCES[name](objects)
            except KeyError:
                return None
            continue
        if name in ("pk", "id", "uuid"):
            segments = [s for s in route.split("/") if s and not s.startswith("<")]
            key = SEGMENT_OBJECTS.get(segments[-1] if segments else "") or SEGMENT_OBJECTS.get(segments[0] if segments else "")
            # A nested route such as sync/runs/<pk>/ names its object by the segment before the argument.
            for segment in reversed(segments):
                if segment in ("runs",):
                    key = "syncrun"
                    break
                if segment in SEGMENT_OBJECTS:
                    key = SEGMENT_OBJECTS[segment]
                    break
            if key is None or key not in objects:
                return None
            obj = objects[key]
            values[name] = obj.uuid if name == "uuid" else obj.pk
            continue
        if name in VALUE_KWARGS:
            values[name] = VALUE_KWARGS[name]
            continue
        if name == "slug" or name == "platform":
            values[name] = objects["connection"].platform
            continue
        return None
    return values


def markers(objects: dict) -> list[str]:
    found = [objects["shg"].name, objects["connection"].display_name]
    if "order" in objects:
        found.append(objects["order"].external_id)
    if "variant" in objects:
        found.append(objects["variant"].sku)
    if "tender" in objects:
        found.extend([objects["tender"].bid_number, objects["inquiry"].buyer_name])
    if "review" in objects:
        found.extend([objects["review"].body, objects["review"].reviewer])
    return found
