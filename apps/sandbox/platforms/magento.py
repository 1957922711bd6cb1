"""Magento 2 / Adobe Commerce stores, played locally: `/sandbox/magento/<store>/` is a store's base URL and
`<base>/rest/<store code>/V1/...` (or `<base>/rest/V1/...` for the default store view) its admin REST API.

The subset Haat uses, in the shapes of the official admin schema (../shared/specs/magento/, checked by the
tests): `store/storeConfigs`, `orders` (search) and `orders/{id}`, `order/{id}/ship`, `shipments` (search),
`products` (search), `stockItems/{sku}` and `products/{sku}/stockItems/{itemId}` (legacy stock), and, on a
store with Multi-Source Inventory (`settings["msi"]`), `inventory/sources` and `inventory/source-items`;
`products/base-prices`.

Faithful on purpose:
- Auth: `Authorization: Bearer <integration access token>`. A missing or unknown token answers 401
  `{"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources": ...}}`
  (Magento's named placeholders: `parameters` is an object there, although the generated schema calls it
  an array). Tokens do not expire; `revoke_token` plays the admin re-authorising the integration.
- searchCriteria: `filterGroups` (or `filter_groups`) whose filters are ORed within a group and groups ANDed,
  condition types eq/neq/gt/gteq/lt/lteq/in/nin/like, `sortOrders`, `pageSize`, `currentPage`. Dates are
  UTC "Y-m-d H:i:s". A `currentPage` past the last page answers the last page again, as Magento's
  collections did for years (magento/magento2#3787, #26986; 2.4 answers some searches empty instead), so a
  client must stop on `total_count`, not on an empty page. Without a sort the order is
  by id.
- Orders: state/status pairs new/pending, processing/processing, complete/complete, canceled/canceled,
  closed/closed (refunded). Magento has no "delivered": a delivered order is complete. A configurable
  product's line is a parent item (carrying price and the chosen child's SKU) plus a child item with
  `parent_item_id` and price 0. Shipping the whole order makes it complete (its invoice is already paid).
- Errors are `{"message", "parameters"}`; an unknown route is 404 "Request does not match any route.";
  5xx is Magento's "Internal Error ... Report ID"; 429 comes from the host's front (nginx) with Retry-After,
  since Magento Open Source does not rate limit its admin REST API.
- Stock: each product's legacy stock item mirrors the "default" source; with MSI, source items of other
  sources are kept beside it.

Data are the neutral orders and products of apps/sandbox/dataset.py in the store's currency (INR).
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.utils import timezone as dj_timezone
from django.views.decorators.csrf import csrf_exempt

from apps.sandbox import dataset
from apps.sandbox.http import sandbox_endpoint, store_demo_order_view
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import checkout

PLATFORM = "magento"
STORE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
RETRY_AFTER_SECONDS = 1
CONFIGURABLE_CATEGORIES = {"Sarees", "Apparel"}
CHILD_ITEM_OFFSET = 9_000_000
SHIPMENT_ID_BASE = 500
SOURCES = [
    {"source_code": "default", "name": "Default Source", "enabled": True, "country_id": "IN", "postcode": "411001"},
    {"source_code": "pune_workshop", "name": "Pune workshop", "enabled": True, "country_id": "IN",
     "postcode": "411002"},
]
STATES = {"pending": ("new", "pending"), "unshipped": ("processing", "processing"),
          "shipped": ("complete", "complete"), "delivered": ("complete", "complete"),
          "cancelled": ("canceled", "canceled"), "returned": ("closed", "closed")}
CARRIER_TITLES = {"ups": "United Parcel Service", "usps": "United States Postal Service", "fedex": "Federal Express",
                  "dhl": "DHL"}
RESOURCES = {"orders": "Magento_Sales::actions_view", "order": "Magento_Sales::ship", "shipments": "Magento_Sales::shipment",
             "products": "Magento_Catalog::products", "stockItems": "Magento_CatalogInventory::cataloginventory",
             "inventory": "Magento_InventoryApi::source", "store": "Magento_Backend::store"}


class MagentoError(Exception):
    """A Webapi exception: rendered as {"message", "parameters"?} with the status Magento uses for it."""

    def __init__(self, status: int, message: str, parameters: Any = None, errors: list | None = None):
        super().__init__(message)
        self.status, self.message, self.parameters, self.errors = status, message, parameters, errors

    def body(self) -> dict:
        body: dict[str, Any] = {"message": self.message}
        if self.parameters is not None:
            body["parameters"] = self.parameters
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def magento_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    # Magento's JSON renderer escapes slashes like PHP's json_encode.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
    response = HttpResponse(body.encode(), status=status, content_type="application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def server_error(status: int, message: str) -> HttpResponse:
    report = secrets.token_hex(6)
    return magento_response({"message": f"Internal Error. Details are available in Magento log file. Report ID: "
                                        f"webapi-{report}"}, status=status)


def rate_limited() -> HttpResponse:
    body = ("<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many "
            "Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    response = HttpResponse(body, status=429, content_type="text/html")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(DATE_FORMAT)


def _iso_stamp(value: str) -> str:
    return _stamp(dataset.parse_iso(value))


def _now() -> datetime:
    return dj_timezone.now().replace(microsecond=0)


def _number(value: Any) -> float | int:
    """Magento's JSON numbers: decimal columns come back as floats (1450.0 would read 1450 in PHP's encoder)."""
    amount = Decimal(str(value))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


# --- accounts and the helpers tests and the demo use ---------------------------------------------------------------


def create_demo_account(account_id: str, name: str, *, msi: bool = True) -> SandboxAccount:
    """A Magento store (INR) with an activated integration whose access token is in `secrets`; idempotent."""
    if not STORE_SLUG.match(account_id):
        raise ValueError("A sandbox store id is lower-case letters, digits and hyphens")
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": {"access_token": secrets.token_hex(16)[:32]},
                  "settings": {"currency": "INR", "msi": msi, "store_code": "default",
                               "order_id_base": 3000}},
    )
    dataset.ensure_seeded(account)
    return account


def store_home(account: SandboxAccount, sandbox_root: str) -> str:
    return f"{sandbox_root.rstrip('/')}/{PLATFORM}/{account.account_id}"


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    home = store_home(account, sandbox_root)
    return {"store_url": home, "store_code": "default", "base_url": f"{home}/rest/default/V1"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"access_token": account.secrets["access_token"]}


def configure(account: SandboxAccount, **options: Any) -> SandboxAccount:
    """Change what the store has: msi (Multi-Source Inventory modules enabled)..."""
    account.settings = {**account.settings, **options}
    account.save(update_fields=["settings"])
    return account


def revoke_token(account: SandboxAccount) -> str:
    """The admin re-authorised the integration: the old token stops working; returns the new one."""
    account.secrets = {**account.secrets, "access_token": secrets.token_hex(16)}
    account.save(update_fields=["secrets"])
    return account.secrets["access_token"]


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None,
                 sandbox_root: str | None = None) -> dict:
    """A buyer just checked out and paid: a processing order, its products' stock reduced. Magento Open
    Source sends no webhooks: Haat sees the order at its next poll. Returns the neutral order."""
    return checkout(account, skus,
                    not_enough=lambda _sku, product, _stock: f'The requested qty of "{product["title"]}" is not available')


# --- rendering neutral data in Magento's shapes ----------------------------------------------------------------------


def _entity_id(neutral: dict) -> int:
    return int(neutral["id"])


def _stock_item(product: dict) -> dict:
    qty = int(product.get("quantity") or 0)
    return {
        "item_id": int(product["id"]) - 999, "product_id": int(product["id"]), "stock_id": 1, "qty": qty,
        "is_in_stock": qty > 0, "is_qty_decimal": False, "show_default_notification_message": False,
        "use_config_min_qty": True, "min_qty": 0, "use_config_min_sale_qty": 1, "min_sale_qty": 1,
        "use_config_max_sale_qty": True, "max_sale_qty": 10000, "use_config_backorders": True, "backorders": 0,
        "use_config_notify_stock_qty": True, "notify_stock_qty": 1, "use_config_qty_increments": True,
        "qty_increments": 0, "use_config_enable_qty_inc": True, "enable_qty_increments": False,
        "use_config_manage_stock": True, "manage_stock": True, "low_stock_date": "", "is_decimal_divided": False,
        "stock_status_changed_auto": 0,
    }


def render_product(row: SandboxObject) -> dict:
    product = row.data
    return {
        "id": int(product["id"]), "sku": product["sku"], "name": product["title"], "attribute_set_id": 4,
        "price": _number(product["price"]), "status": 1, "visibility": 4, "type_id": "simple",
        "created_at": _stamp(row.updated_at), "updated_at": _stamp(row.updated_at), "weight": 0.5,
        "extension_attributes": {"website_ids": [1], "stock_item": _stock_item(product),
                                 "category_links": [{"position": 0, "category_id": str(3 + sorted(
                                     {c for _t, c, _p in dataset.PRODUCT_NAMES}).index(product["category"]))}]},
        "product_links": [], "options": [], "media_gallery_entries": [], "tier_prices": [],
        "custom_attributes": [{"attribute_code": "description", "value": f"<p>{product['description']}</p>"},
                              {"attribute_code": "url_key", "value": re.sub(r"[^a-z0-9]+", "-",
                                                                            product["title"].lower()).strip("-")},
                              {"attribute_code": "barcode", "value": product["barcode"]}],
    }


def _address(neutral: dict, kind: str, entity_id: int) -> dict:
    first, _, last = neutral["address"]["name"].partition(" ")
    return {
        "address_type": kind, "entity_id": entity_id, "parent_id": _entity_id(neutral),
        "firstname": first, "lastname": last or first, "street": [neutral["address"]["line1"]],
        "city": neutral["address"]["city"], "region": neutral["address"]["state"],
        "postcode": neutral["address"]["postcode"], "country_id": neutral["address"]["country"],
        "telephone": neutral["buyer"]["phone"], "email": neutral["buyer"]["email"],
    }


def _order_items(neutral: dict, categories: dict[str, str], created: str) -> list[dict]:
    shipped = (neutral.get("magento") or {}).get("shipped") or {}
    complete = neutral["status"] in ("shipped", "delivered", "returned")
    items = []
    for line in neutral["lines"]:
        item_id = int(line["id"])
        quantity = int(line["quantity"])
        qty_shipped = quantity if complete else int(shipped.get(str(item_id), 0))
        price = Decimal(line["unit_price"])
        common = {"order_id": _entity_id(neutral), "created_at": created, "updated_at": created, "store_id": 1,
                  "sku": line["sku"], "name": line["title"], "qty_ordered": quantity, "qty_shipped": qty_shipped,
                  "qty_invoiced": quantity if neutral["status"] != "pending" else 0,
                  "qty_canceled": quantity if neutral["status"] == "cancelled" else 0,
                  "qty_refunded": quantity if neutral["status"] == "returned" else 0, "is_virtual": 0}
        configurable = categories.get(line["sku"]) in CONFIGURABLE_CATEGORIES
        items.append({**common, "item_id": item_id, "product_id": int(line["product_id"]),
                      "product_type": "configurable" if configurable else "simple",
                      "price": _number(price), "base_price": _number(price), "original_price": _number(price),
                      "price_incl_tax": _number(price), "row_total": _number(price * quantity),
                      "base_row_total": _number(price * quantity), "row_total_incl_tax": _number(price * quantity),
                      "tax_amount": 0, "discount_amount": 0})
        if configurable:
            items.append({**common, "item_id": CHILD_ITEM_OFFSET + item_id, "parent_item_id": item_id,
                          "product_id": int(line["product_id"]), "product_type": "simple", "price": 0,
                          "base_price": 0, "original_price": 0, "row_total": 0, "base_row_total": 0})
    return items


def render_order(neutral: dict, categories: dict[str, str], currency: str) -> dict:
    state, status = STATES[neutral["status"]]
    created = _iso_stamp(neutral["created_at"])
    total = _number(neutral["total"])
    first, _, last = neutral["buyer"]["name"].partition(" ")
    entity_id = _entity_id(neutral)
    items = _order_items(neutral, categories, created)
    shipping_address = _address(neutral, "shipping", entity_id * 2)
    return {
        "entity_id": entity_id, "increment_id": f"{int(neutral['number']):09d}", "state": state, "status": status,
        "created_at": created, "updated_at": _iso_stamp(neutral["updated_at"]), "store_id": 1,
        "store_name": "Main Website\nMain Website Store\nDefault Store View",
        "order_currency_code": currency, "base_currency_code": currency, "global_currency_code": currency,
        "store_currency_code": currency, "base_to_global_rate": 1, "base_to_order_rate": 1,
        "grand_total": total, "base_grand_total": total, "subtotal": total, "base_subtotal": total,
        "shipping_amount": 0, "base_shipping_amount": 0, "tax_amount": 0, "discount_amount": 0,
        "total_paid": total if neutral["status"] not in ("pending", "cancelled") else 0,
        "total_due": total if neutral["status"] == "pending" else 0,
        "total_qty_ordered": sum(int(line["quantity"]) for line in neutral["lines"]),
        "total_item_count": len(neutral["lines"]), "is_virtual": 0, "customer_is_guest": 1,
        "customer_email": neutral["buyer"]["email"], "customer_firstname": first, "customer_lastname": last or first,
        "customer_group_id": 0, "email_sent": 1, "shipping_description": "Flat Rate - Fixed", "weight": 0.5,
        "billing_address_id": entity_id * 2 + 1, "billing_address": _address(neutral, "billing", entity_id * 2 + 1),
        "items": items,
        "payment": {"entity_id": entity_id, "parent_id": entity_id, "method": "cashondelivery", "account_status": "",
                    "additional_information": ["Cash On Delivery"], "cc_last4": "",
                    "amount_ordered": total, "base_amount_ordered": total},
        "status_histories": [],
        "extension_attributes": {"shipping_assignments": [{
            "shipping": {"address": shipping_address, "method": "flatrate_flatrate"},
            "items": [item for item in items if "parent_item_id" not in item],
        }]},
    }


def render_shipment(row: SandboxObject) -> dict:
    return row.data


# --- searchCriteria ------------------------------------------------------------------------------------------------

_KEY = re.compile(r"\[([^\]]*)\]")
_SNAKE = {"filter_groups": "filterGroups", "condition_type": "conditionType", "sort_orders": "sortOrders",
          "page_size": "pageSize", "current_page": "currentPage"}


def _nested_query(request: HttpRequest) -> dict:
    """PHP's parsing of `searchCriteria[a][0][b]=v` into nested arrays (snake_case keys accepted, as Magento
    converts them to its camelCase setters)."""
    tree: dict = {}
    for key, values in request.GET.lists():
        head, _, rest = key.partition("[")
        if head != "searchCriteria":
            continue
        parts = _KEY.findall("[" + rest) if rest else []
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(_SNAKE.get(part, part), {})
            if not isinstance(node, dict):
                raise MagentoError(400, "\"%fieldName\" is not expected here", {"fieldName": key})
        if parts:
            node[_SNAKE.get(parts[-1], parts[-1])] = values[-1]
    return tree


def _ordered(node: dict) -> list:
    return [node[k] for k in sorted(node, key=lambda k: int(k) if str(k).isdigit() else 0)] if isinstance(node, dict) else []


class Criteria:
    def __init__(self, request: HttpRequest):
        tree = _nested_query(request)
        self.groups = []
        for group in _ordered(tree.get("filterGroups") or {}):
            filters = []
            for item in _ordered((group or {}).get("filters") or {}):
                if not isinstance(item, dict) or "field" not in item:
                    raise MagentoError(400, "\"%fieldName\" is required. Enter and try again.", {"fieldName": "field"})
                filters.append((item["field"], str(item.get("value", "")), item.get("conditionType") or "eq"))
            self.groups.append(filters)
        self.sorts = [(s.get("field"), str(s.get("direction") or "ASC").upper())
                      for s in _ordered(tree.get("sortOrders") or {}) if isinstance(s, dict)]
        self.page_size = self._int(tree.get("pageSize"), "pageSize")
        self.current_page = self._int(tree.get("currentPage"), "currentPage") or 1

    @staticmethod
    def _int(value: Any, name: str) -> int | None:
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise MagentoError(400, 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify '
                                    "and try again.", {"value": value, "type": "int"}) from None

    def echo(self) -> dict:
        echo: dict[str, Any] = {"filter_groups": [{"filters": [{"field": f, "value": v, "condition_type": c}
                                                               for f, v, c in group]} for group in self.groups]}
        if self.sorts:
            echo["sort_orders"] = [{"field": f, "direction": d} for f, d in self.sorts]
        if self.page_size:
            echo["page_size"] = self.page_size
        if self.current_page and self.page_size:
            echo["current_page"] = self.current_page
        return echo

    def apply(self, rows: list[dict], default_sort: str, aliases: dict[str, str] | None = None) -> tuple[list[dict], int]:
        """Filter, sort and page rendered rows; `aliases` maps a column name to the field the answer calls it."""
        aliases = aliases or {}
        kept = [row for row in rows
                if all(any(_match(row.get(aliases.get(f, f)), v, c) for f, v, c in group) for group in self.groups)]
        for field, direction in reversed(self.sorts or [(default_sort, "ASC")]):
            name = aliases.get(field, field)
            kept.sort(key=lambda row, name=name: _sort_key(row.get(name)), reverse=direction == "DESC")
        total = len(kept)
        if not self.page_size:
            return kept, total
        last_page = max(1, -(-total // self.page_size))
        page = min(self.current_page, last_page)  # Magento's collections answer the last page past the end
        start = (page - 1) * self.page_size
        return kept[start:start + self.page_size], total


def _sort_key(value: Any) -> tuple:
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value or ""))


def _comparable(actual: Any, wanted: str) -> tuple[Any, Any]:
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        try:
            return Decimal(str(actual)), Decimal(wanted)
        except InvalidOperation:
            return str(actual), wanted
    if isinstance(actual, str) and re.match(r"^\d{4}-\d{2}-\d{2}", actual):
        # MySQL compares the DATETIME column with the string: "2026-11-20T10:00:00" reads like "... 10:00:00".
        return actual, wanted.replace("T", " ").replace("Z", "")[:19]
    return str(actual), wanted


def _match(actual: Any, wanted: str, condition: str) -> bool:
    if actual is None:
        return condition in ("neq", "nin", "null")
    if condition in ("in", "nin"):
        found = str(actual) in [w.strip() for w in wanted.split(",")]
        return found if condition == "in" else not found
    if condition == "like":
        pattern = "^" + re.escape(wanted).replace("%", ".*") + "$"
        return re.match(pattern, str(actual), re.IGNORECASE) is not None
    left, right = _comparable(actual, wanted)
    try:
        return {"eq": left == right, "neq": left != right, "gt": left > right, "gteq": left >= right,
                "lt": left < right, "lteq": left <= right}[condition]
    except KeyError:
        raise MagentoError(400, 'Invalid condition type "%1"', [condition]) from None
    except TypeError:
        return False


# --- the store -------------------------------------------------------------------------------------------------------


class Store:
    def __init__(self, account: SandboxAccount):
        self.account = account
        self.currency = account.settings.get("currency", "INR")
        self._products: dict[str, SandboxObject] | None = None

    @property
    def msi(self) -> bool:
        return bool(self.account.settings.get("msi"))

    def products(self) -> dict[str, SandboxObject]:
        if self._products is None:
            self._products = {row.key: row for row in dataset.objects(self.account, "product")}
        return self._products

    def categories(self) -> dict[str, str]:
        return {sku: row.data.get("category", "") for sku, row in self.products().items()}

    def order_row(self, order_id: str) -> SandboxObject:
        row = dataset.objects(self.account, "order").filter(key=order_id).first() if order_id.isdigit() else None
        if row is None:
            raise MagentoError(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
        return row

    def product_row(self, sku: str) -> SandboxObject:
        row = self.products().get(sku)
        if row is None:
            raise MagentoError(404, "The product that was requested doesn't exist. Verify the product and try again.")
        return row


def _call_body(request: HttpRequest) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        raise MagentoError(400, "Decoding error: \nSyntax error\n") from None


def store_configs(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    home = request.build_absolute_uri(request.path.split("/rest/", 1)[0] + "/")
    static = home + "static/version1700000000/"
    return [{
        "id": 1, "code": "default", "website_id": 1, "locale": "en_IN", "base_currency_code": store.currency,
        "default_display_currency_code": store.currency, "timezone": "Asia/Kolkata", "weight_unit": "kgs",
        "base_url": home, "base_link_url": home, "base_static_url": static, "base_media_url": home + "media/",
        "secure_base_url": home, "secure_base_link_url": home, "secure_base_static_url": static,
        "secure_base_media_url": home + "media/",
    }], 200


def orders_search(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    criteria = Criteria(request)
    categories = store.categories()
    rendered = [render_order(row.data, categories, store.currency) for row in dataset.objects(store.account, "order")]
    page, total = criteria.apply(rendered, "entity_id")
    return {"items": page, "search_criteria": criteria.echo(), "total_count": total}, 200


def order_get(store: Store, request: HttpRequest, body: Any, order_id: str) -> tuple[Any, int]:
    return render_order(store.order_row(order_id).data, store.categories(), store.currency), 200


def shipments_search(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    criteria = Criteria(request)
    page, total = criteria.apply([row.data for row in dataset.objects(store.account, "shipment")], "entity_id")
    return {"items": page, "search_criteria": criteria.echo(), "total_count": total}, 200


def _ship_error(*reasons: str) -> MagentoError:
    return MagentoError(400, "Shipment Document Validation Error(s):\n" + "\n".join(reasons))


@transaction.atomic
def order_ship(store: Store, request: HttpRequest, body: Any, order_id: str) -> tuple[Any, int]:
    """ShipOrderInterface::execute: validate, create the shipment with its tracks, move the order on."""
    row = store.order_row(order_id)
    row = SandboxObject.objects.select_for_update().get(pk=row.pk)
    neutral = row.data
    body = body if isinstance(body, dict) else {}
    rendered = render_order(neutral, store.categories(), store.currency)
    if rendered["state"] in ("canceled", "closed", "complete", "holded") or neutral["status"] == "pending":
        raise _ship_error("The order does not allow a shipment to be created.")
    parents = {item["item_id"]: item for item in rendered["items"] if "parent_item_id" not in item}
    remaining = {item_id: int(item["qty_ordered"]) - int(item["qty_shipped"]) for item_id, item in parents.items()}
    asked = body.get("items") or []
    if not isinstance(asked, list):
        raise MagentoError(400, "\"%fieldName\" is required. Enter and try again.", {"fieldName": "items"})
    wanted: dict[int, int] = {}
    for item in asked or [{"order_item_id": k, "qty": v} for k, v in remaining.items() if v > 0]:
        if not isinstance(item, dict) or "order_item_id" not in item or "qty" not in item:
            raise MagentoError(400, "\"%fieldName\" is required. Enter and try again.", {"fieldName": "order_item_id"})
        try:
            item_id, qty = int(item["order_item_id"]), int(Decimal(str(item["qty"])))
        except (TypeError, ValueError, InvalidOperation):
            raise MagentoError(400, "The shipment item is invalid") from None
        wanted[item_id] = wanted.get(item_id, 0) + qty
    problems = [f"The order item {i} does not belong to the order." for i in wanted if i not in parents]
    problems += [f"The quantity to ship must not be greater than the unshipped quantity of item {i}."
                 for i, q in wanted.items() if i in parents and q > remaining[i]]
    if not any(q > 0 for q in wanted.values()):
        problems.append("You can't create a shipment without products.")
    tracks = body.get("tracks") or []
    for track in tracks if isinstance(tracks, list) else [None]:
        for name in ("track_number", "title", "carrier_code"):
            if not isinstance(track, dict) or not str(track.get(name) or "").strip():
                raise MagentoError(400, "\"%fieldName\" is required. Enter and try again.", {"fieldName": name})
    if problems:
        raise _ship_error(*problems)
    now = _stamp(_now())
    shipment_id = SHIPMENT_ID_BASE + dataset.objects(store.account, "shipment").count() + 1
    shipment = {
        "entity_id": shipment_id, "increment_id": f"{shipment_id:09d}", "order_id": int(order_id), "store_id": 1,
        "created_at": now, "updated_at": now, "total_qty": sum(wanted.values()), "email_sent": 1 if body.get("notify") else 0,
        "items": [{"entity_id": shipment_id * 100 + n, "parent_id": shipment_id, "order_item_id": item_id, "qty": qty,
                   "sku": parents[item_id]["sku"], "name": parents[item_id]["name"],
                   "price": parents[item_id]["price"], "product_id": parents[item_id]["product_id"]}
                  for n, (item_id, qty) in enumerate(sorted(wanted.items()))],
        "tracks": [{"entity_id": shipment_id * 100 + n, "parent_id": shipment_id, "order_id": int(order_id),
                    "created_at": now, "updated_at": now, "weight": 0, "qty": 0, "description": "",
                    "track_number": str(t["track_number"]), "title": str(t["title"]),
                    "carrier_code": str(t["carrier_code"])} for n, t in enumerate(tracks)],
        "comments": [], "packages": [],
    }
    SandboxObject.objects.create(account=store.account, kind="shipment", key=str(shipment_id), data=shipment,
                                 updated_at=_now())
    shipped = dict((neutral.get("magento") or {}).get("shipped") or {})
    for item_id, qty in wanted.items():
        shipped[str(item_id)] = int(shipped.get(str(item_id), 0)) + qty
    changes: dict[str, Any] = {"magento": {**(neutral.get("magento") or {}), "shipped": shipped}}
    if all(int(shipped.get(str(i), 0)) >= int(parents[i]["qty_ordered"]) for i in parents):
        changes["status"] = "shipped"
    if tracks:
        first = tracks[0]
        changes["tracking"] = {"carrier": str(first["title"]), "number": str(first["track_number"]), "url": ""}
    dataset.order_update(store.account, order_id, **changes)
    return shipment_id, 200


def products_search(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    criteria = Criteria(request)
    rendered = [render_product(row) for row in store.products().values()]
    page, total = criteria.apply(rendered, "id", {"entity_id": "id"})
    return {"items": page, "search_criteria": criteria.echo(), "total_count": total}, 200


def stock_item_get(store: Store, request: HttpRequest, body: Any, sku: str) -> tuple[Any, int]:
    return _stock_item(store.product_row(sku).data), 200


def _set_quantity(row: SandboxObject, quantity: int, source_code: str = "default") -> None:
    if source_code == "default":
        row.data["quantity"] = quantity
    else:
        row.data.setdefault("magento_sources", {})[source_code] = quantity
    row.updated_at = _now()


def stock_item_put(store: Store, request: HttpRequest, body: Any, sku: str, item_id: str) -> tuple[Any, int]:
    row = store.product_row(sku)
    item = body.get("stockItem") if isinstance(body, dict) else None
    if not isinstance(item, dict):
        raise MagentoError(400, "\"%fieldName\" is required. Enter and try again.", {"fieldName": "stockItem"})
    if "qty" in item:
        try:
            quantity = Decimal(str(item["qty"]))
        except InvalidOperation:
            raise MagentoError(400, 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and '
                                    "try again.", {"value": str(item["qty"]), "type": "float"}) from None
        _set_quantity(row, int(quantity))
        row.save(update_fields=["data", "updated_at"])
    return _stock_item(row.data)["item_id"], 200


def sources_search(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    criteria = Criteria(request)
    page, total = criteria.apply([dict(s) for s in SOURCES], "source_code")
    return {"items": page, "search_criteria": criteria.echo(), "total_count": total}, 200


@transaction.atomic
def source_items_save(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    """SourceItemsSaveInterface: validates every item first, then saves all of them or none."""
    items = body.get("sourceItems") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise MagentoError(400, "Input data is empty")
    codes = {s["source_code"] for s in SOURCES}
    errors = []
    for item in items:
        if not isinstance(item, dict) or not str(item.get("sku") or "").strip():
            errors.append({"message": '"%field" can not be empty.', "parameters": {"field": "sku"}})
        elif item.get("source_code") not in codes:
            errors.append({"message": 'Source with code "%code" does not exist.', "parameters": {
                "code": str(item.get("source_code"))}})
        elif not isinstance(item.get("quantity"), (int, float)) or isinstance(item.get("quantity"), bool):
            errors.append({"message": '"%field" should be numeric.', "parameters": {"field": "quantity"}})
        elif item.get("status") not in (0, 1):
            errors.append({"message": '"%field" should be source status (0 or 1).', "parameters": {"field": "status"}})
    if errors:
        raise MagentoError(400, "Validation Failed", errors=errors)
    rows = {sku: SandboxObject.objects.select_for_update().get(pk=row.pk) for sku, row in store.products().items()}
    changed = []
    for item in items:
        row = rows.get(item["sku"])
        if row is None:
            # Source items are keyed by SKU with no link to the catalogue: one for an unknown SKU is kept.
            continue
        _set_quantity(row, int(item["quantity"]), item["source_code"])
        changed.append(row)
    SandboxObject.objects.bulk_update(changed, ["data", "updated_at"])
    return [], 200


def base_prices(store: Store, request: HttpRequest, body: Any) -> tuple[Any, int]:
    """BasePriceStorageInterface::update: bad items are reported and skipped, the rest saved."""
    prices = body.get("prices") if isinstance(body, dict) else None
    if not isinstance(prices, list):
        raise MagentoError(400, "\"%fieldName\" is required. Enter and try again.", {"fieldName": "prices"})
    failures, changed = [], []
    for item in prices:
        item = item if isinstance(item, dict) else {}
        sku, price, store_id = item.get("sku"), item.get("price"), item.get("store_id")
        row = store.products().get(str(sku))
        if row is None:
            failures.append({"message": "The SKU is incorrect. Verify the SKU and try again. Row ID: SKU = %SKU, "
                                        "Store ID: %storeId.", "parameters": [str(sku), str(store_id)]})
        elif not isinstance(price, (int, float)) or isinstance(price, bool) or price < 0:
            failures.append({"message": "Invalid attribute %fieldName = %fieldValue. Row ID: SKU = %SKU, Store ID: "
                                        "%storeId.", "parameters": ["Price", str(price), str(sku), str(store_id)]})
        elif store_id != 0 and store_id != 1:
            failures.append({"message": "Requested store is not found. Row ID: SKU = %SKU, Store ID: %storeId.",
                             "parameters": [str(sku), str(store_id)]})
        else:
            row.data["price"] = dataset.money(Decimal(str(price)))
            row.updated_at = _now()
            changed.append(row)
    SandboxObject.objects.bulk_update(changed, ["data", "updated_at"])
    return failures, 200


# (method, pattern) -> handler; the ACL resource each family needs is in RESOURCES.
ROUTES: list[tuple[str, re.Pattern, Any, bool]] = [
    ("GET", re.compile(r"^store/storeConfigs$"), store_configs, False),
    ("GET", re.compile(r"^orders$"), orders_search, False),
    ("GET", re.compile(r"^orders/(?P<order_id>[^/]+)$"), order_get, False),
    ("POST", re.compile(r"^order/(?P<order_id>[^/]+)/ship$"), order_ship, False),
    ("GET", re.compile(r"^shipments$"), shipments_search, False),
    ("GET", re.compile(r"^products$"), products_search, False),
    ("GET", re.compile(r"^stockItems/(?P<sku>[^/]+)$"), stock_item_get, False),
    ("PUT", re.compile(r"^products/(?P<sku>[^/]+)/stockItems/(?P<item_id>[^/]+)$"), stock_item_put, False),
    ("GET", re.compile(r"^inventory/sources$"), sources_search, True),
    ("POST", re.compile(r"^inventory/source-items$"), source_items_save, True),
    ("POST", re.compile(r"^products/base-prices$"), base_prices, False),
]


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@endpoint
def rest_view(request: HttpRequest, store: str, code: str | None, route: str) -> HttpResponse:
    account = dataset.get_account(PLATFORM, store)
    if account is None:
        return HttpResponse("<h1>404 Not Found</h1>", status=404, content_type="text/html")
    try:
        if code not in (None, "default", "all"):
            raise MagentoError(400, "Requested store is not found")
        for method, pattern, handler, needs_msi in ROUTES:
            match = pattern.fullmatch(route)
            if match is None or method != request.method or (needs_msi and not account.settings.get("msi")):
                continue
            token = _bearer(request)
            if not token or not secrets.compare_digest(token, str(account.secrets.get("access_token", ""))):
                resource = RESOURCES.get(route.split("/", 1)[0], "Magento_Backend::admin")
                raise MagentoError(401, "The consumer isn't authorized to access %resources.",
                                   {"resources": resource})
            body = _call_body(request) if request.method in ("POST", "PUT") else None
            data, status = handler(Store(account), request, body, **match.groupdict())
            return magento_response(data, status=status)
        raise MagentoError(404, "Request does not match any route.")
    except MagentoError as error:
        return magento_response(error.body(), status=error.status)


@csrf_exempt
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """The demo's "a buyer just bought" button: 201 with the order as the store's API shows it."""

    def place(account, skus) -> dict:
        order, store = create_order(account, skus=skus), Store(account)
        return {"order": render_order(order, store.categories(), store.currency)}

    return store_demo_order_view(request, platform=PLATFORM, place=place)


urlpatterns = [
    path("_sandbox/orders", demo_order_view, name="demo-order"),
    re_path(r"^(?P<store>[a-z0-9][a-z0-9-]{0,62})/rest/(?:(?P<code>[a-z][a-z0-9_]*)/)?V1/(?P<route>.+)$", rest_view,
            name="rest"),
]

__all__ = ["configure", "connection_config", "connection_credentials", "create_demo_account", "create_order",
           "render_order", "render_product", "revoke_token", "store_home", "urlpatterns"]
