"""The Uzum Market seller OpenAPI, played locally at /sandbox/uzum/ (the host's `/api/seller-openapi`).

Paths, parameters and field names follow Uzum's Swagger as far as it could be read (see
docs/platforms/uzum.md): `GET /v1/shops`, `GET /v2/fbs/orders` (shopIds required, dateFrom/dateTo in
epoch milliseconds on the creation date, page from 0, size <= 50, {payload {orders, totalAmount}}),
`GET /v1/product/shop/{shopId}` (page and size required, {productList, totalProductsAmount}),
`POST /v2/fbs/sku/stocks` ({skuAmountList}) and `POST /v1/product/{shopId}/sendPriceData`
({productId, skuList [{skuId, fullPrice, sellPrice}]}). Answers wrap errors as
{"errors": [{code, message}], "timestamp", "trace"}; an unknown token is 403 `forbidden-001 Token not
found` as sellers report it; the 429 answer carries `Retry-After` (Uzum does not document its shape).
`POST /_sandbox/orders` (Haat's demo button) places a new order.

Data: the neutral orders and products of apps/sandbox/dataset.py, with prices rescaled once to whole
Uzbek sums (x100). Neutral statuses map to Uzum's: pending and unshipped = CREATED (PACKING once
accepted), shipped = DELIVERING, delivered = COMPLETED, cancelled = CANCELED, returned = RETURNED;
each order's last status date is its neutral `updated_at`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone as dj_timezone

from apps.sandbox import dataset
from apps.sandbox.http import DemoOrderRefused, json_response, platform_api, read_demo_order, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import check_order_lines

PLATFORM = "uzum"
TASHKENT = timezone(timedelta(hours=5))
ORDERS_MAX_SIZE = 50
PRICE_SCALE = 100  # neutral prices are rupee-sized; whole sums are a hundred times that
STATUS = {"pending": "CREATED", "unshipped": "CREATED", "shipped": "DELIVERING", "delivered": "COMPLETED",
          "cancelled": "CANCELED", "returned": "RETURNED"}
FINAL_DATE = {"DELIVERING": "deliveringDate", "COMPLETED": "completedDate", "CANCELED": "dateCancelled",
              "RETURNED": "returnDate", "PACKING": "acceptedDate"}
_NAMESPACE = uuid.UUID("0c6a3f0e-8f77-4d0b-9a39-3f1f2b7d5e21")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- accounts and the helpers tests and the demo use ----------------------------------------------------------


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A seller with one shop; `account_id` is the shop id. Idempotent."""
    shop_id = int(account_id) if account_id.isdigit() else 10_000 + int(uuid.uuid5(_NAMESPACE, account_id)) % 90_000
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": {"api_token": secrets.token_urlsafe(32)},
                  "settings": {"shop_id": shop_id, "currency": "UZS", "order_id_base": 7_000_000 + shop_id * 1000}},
    )
    prepare(account)
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}", "shop_id": str(account.settings["shop_id"])}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"api_token": account.secrets["api_token"]}


def _scaled(value: Any) -> str:
    return dataset.money((Decimal(str(value)) * PRICE_SCALE).quantize(Decimal("1")))


def prepare(account: SandboxAccount) -> None:
    """Seed once and rescale every price to whole sums, orders included, so totals stay consistent."""
    if account.seeded and account.settings.get("whole_sums"):
        return
    with transaction.atomic():
        dataset.ensure_seeded(account)
        locked = SandboxAccount._default_manager.select_for_update().get(pk=account.pk)
        if not locked.settings.get("whole_sums"):
            rows = list(dataset.objects(locked, "product")) + list(dataset.objects(locked, "order"))
            for row in rows:
                if row.kind == "product":
                    row.data["price"], row.data["mrp"] = _scaled(row.data["price"]), _scaled(row.data["mrp"])
                else:
                    for line in row.data["lines"]:
                        line["unit_price"] = _scaled(line["unit_price"])
                    row.data["total"] = dataset.money(sum(Decimal(ln["unit_price"]) * ln["quantity"]
                                                          for ln in row.data["lines"]))
            SandboxObject.objects.bulk_update(rows, ["data"], batch_size=500)
            locked.settings["whole_sums"] = True
            locked.save(update_fields=["settings"])
        account.settings, account.seeded = locked.settings, True


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: a new CREATED order. Uzum has no webhooks; Haat sees it on its next poll."""
    prepare(account)
    check_order_lines(account, skus, unknown="SKU(s)")
    return dataset.order_create(account, skus=skus)


def revoke_token(account: SandboxAccount) -> None:
    account.secrets = {**account.secrets, "revoked": True}
    account.save(update_fields=["secrets"])


# --- answers in the platform's shapes -------------------------------------------------------------------------


def _envelope(**fields) -> dict:
    return {**fields, "timestamp": dj_timezone.now().astimezone(UTC).isoformat(timespec="milliseconds"),
            "trace": uuid.uuid4().hex[:16]}


def api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response(_envelope(errors=[{"code": code, "message": message}]), status=status, headers=headers)


def server_error(status: int, message: str) -> HttpResponse:
    return api_error(status, "internal-error", message)


def rate_limited() -> HttpResponse:
    return api_error(429, "too-many-requests", "Too many requests", headers={"Retry-After": "1"})


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _token_account(request: HttpRequest, kwargs: dict) -> SandboxAccount | HttpResponse:
    """Uzum's raw token in Authorization (no scheme); a shop in the path must be the token's."""
    token = request.headers.get("Authorization", "").strip()
    account = (SandboxAccount._default_manager.filter(platform=PLATFORM, secrets__api_token=token).first()
               if token else None)
    if account is None or account.secrets.get("revoked"):
        return api_error(403, "forbidden-001", "Token not found")
    prepare(account)
    if "shop_id" in kwargs and kwargs["shop_id"] != account.settings["shop_id"]:
        return api_error(403, "fbs-2-seller-access-denied", f"No access to shop {kwargs['shop_id']}")
    return account


seller_api = platform_api(
    endpoint=endpoint, authenticate=_token_account, handled=ApiError,
    wrong_method=lambda request: api_error(405, "method-not-allowed", f"Method {request.method} is not allowed"),
    render_error=lambda _request, exc: api_error(exc.status, exc.code, exc.message))


def _int_param(request: HttpRequest, name: str, *, required: bool = False, default: int | None = None) -> int | None:
    raw = request.GET.get(name)
    if raw is None:
        if required:
            raise ApiError(400, "bad-request-001", f"Required parameter {name} is missing")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "bad-request-001", f"{name} must be an integer") from None


def _tashkent(value: datetime) -> str:
    return value.astimezone(TASHKENT).isoformat(timespec="seconds")


def _status(order: dict) -> str:
    status = STATUS[order["status"]]
    if status == "CREATED" and order["updated_at"] != order["created_at"]:
        return "PACKING"  # accepted by the seller since
    return status


def render_order(account: SandboxAccount, order: dict, catalog: dict[str, dict]) -> dict:
    created = dataset.parse_iso(order["created_at"])
    updated = dataset.parse_iso(order["updated_at"])
    status = _status(order)
    rendered: dict[str, Any] = {
        "id": int(order["id"]), "status": status, "dateCreated": _tashkent(created),
        "acceptUntil": _tashkent(created + timedelta(hours=24)), "deliverUntil": _tashkent(created + timedelta(days=3)),
        "identifierRequired": False, "price": int(Decimal(order["total"])), "shopId": account.settings["shop_id"],
        "scheme": "FBS",
        "orderItems": [{
            "id": int(line["id"]), "status": "CANCELED" if status == "CANCELED" else "PROCESSING",
            "date": int(created.timestamp() * 1000), "orderId": int(order["id"]), "skuTitle": line["sku"],
            "sellerSkuCode": line["sku"], "productId": _product_id(account, catalog.get(line["sku"]) or {"id": 0}),
            "shopId": account.settings["shop_id"], "sellerPrice": int(Decimal(line["unit_price"])),
            "amount": int(line["quantity"]), "amountReturns": line["quantity"] if status == "RETURNED" else 0,
            "productTitle": line["title"],
        } for line in order["lines"]],
        "deliveryInfo": {"deliveryAddress": f"{order['address']['line1']}, {order['address']['city']}",
                         "customerFullname": order["buyer"]["name"], "customerPhone": order["buyer"]["phone"]},
    }
    if status != "CREATED":
        middle = created + (updated - created) / 2
        rendered["acceptedDate"] = _tashkent(middle if status != "PACKING" else updated)
    if status in ("COMPLETED", "RETURNED"):
        rendered["deliveringDate"] = rendered["acceptedDate"]
    if status in FINAL_DATE and status != "PACKING":
        rendered[FINAL_DATE[status]] = _tashkent(updated)
    return rendered


# --- views ----------------------------------------------------------------------------------------------------


@seller_api("GET")
def shops_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    return json_response([{"id": account.settings["shop_id"], "name": account.name}])


@seller_api("GET")
def orders_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    shop_ids = request.GET.getlist("shopIds")
    if not shop_ids:
        raise ApiError(400, "bad-request-001", "Required parameter shopIds is missing")
    try:
        wanted = {int(s) for s in shop_ids}
    except ValueError:
        raise ApiError(400, "bad-request-001", "shopIds must be integers") from None
    if wanted - {account.settings["shop_id"]}:
        raise ApiError(403, "fbs-2-seller-access-denied", "No access to one of the shops")
    date_from, date_to = _int_param(request, "dateFrom"), _int_param(request, "dateTo")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ApiError(400, "seller-order-12", "dateTo is before dateFrom")
    page = _int_param(request, "page", default=0)
    size = _int_param(request, "size", default=20)
    if page < 0 or not 1 <= size <= ORDERS_MAX_SIZE:
        raise ApiError(400, "bad-request-001", f"page must be >= 0 and size from 1 to {ORDERS_MAX_SIZE}")
    status = request.GET.get("status")
    scheme = request.GET.get("scheme")
    catalog = {row.key: row.data for row in dataset.objects(account, "product")}
    rows = []
    for row in dataset.objects(account, "order").order_by("key"):
        created_ms = int(dataset.parse_iso(row.data["created_at"]).timestamp() * 1000)
        if (date_from is not None and created_ms < date_from) or (date_to is not None and created_ms > date_to):
            continue
        rendered = render_order(account, row.data, catalog)
        if (status and rendered["status"] != status) or (scheme and rendered["scheme"] != scheme):
            continue
        rows.append(rendered)
    rows.sort(key=lambda o: o["id"])
    page_rows = rows[page * size:(page + 1) * size]
    return json_response(_envelope(payload={"orders": page_rows, "totalAmount": len(rows)}, errors=[]))


def _product_id(account: SandboxAccount, product: dict) -> int:
    return int(product["id"]) + account.settings["shop_id"] * 10_000


def render_sku(account: SandboxAccount, product: dict) -> dict:
    return {
        "skuTitle": product["sku"], "skuFullTitle": f"{product['title']} ({product['sku']})",
        "productTitle": product["title"], "skuId": int(product["variant_id"]) + account.settings["shop_id"] * 10_000,
        "quantityActive": product["quantity"], "quantityFbs": product["quantity"], "quantityCreated": product["quantity"],
        "barcode": int(product["barcode"]), "archived": False, "blocked": False,
        "purchasePrice": int(Decimal(product["price"]) * Decimal("0.6")), "price": int(Decimal(product["price"])),
        "sellerItemCode": product["sku"], "article": product["sku"],
    }


@seller_api("GET")
def products_view(request: HttpRequest, account: SandboxAccount, shop_id: int) -> HttpResponse:
    page = _int_param(request, "page", required=True)
    size = _int_param(request, "size", required=True)
    if page < 0 or size < 1:
        raise ApiError(400, "bad-request-001", "page must be >= 0 and size >= 1")
    products = sorted((row.data for row in dataset.objects(account, "product")), key=lambda p: int(p["id"]))
    if request.GET.get("order") == "DESC":
        products.reverse()
    chunk = products[page * size:(page + 1) * size]
    return json_response({
        "productList": [{"productId": _product_id(account, p), "category": p["category"],
                         "title": p["title"], "skuList": [render_sku(account, p)], "quantityActive": p["quantity"],
                         "quantityFbs": p["quantity"],
                         "status": {"value": "IN_STOCK" if p["quantity"] else "RUN_OUT"}} for p in chunk],
        "totalProductsAmount": len(products),
    })


def _catalog_by_sku_id(account: SandboxAccount) -> dict[int, SandboxObject]:
    return {render_sku(account, row.data)["skuId"]: row for row in dataset.objects(account, "product")}


@seller_api("POST")
def stocks_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    entries = body.get("skuAmountList") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ApiError(400, "storage-service-05", "skuAmountList must be a non-empty list")
    catalog, changed = _catalog_by_sku_id(account), {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("skuId"), int) or entry["skuId"] not in catalog:
            raise ApiError(400, "storage-service-05", f"Unknown skuId {str((entry or {}).get('skuId'))[:30]}")
        amount = entry.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise ApiError(400, "storage-service-05", f"amount of SKU {entry['skuId']} must be a whole number >= 0")
        if str(entry.get("barcode") or "") != str(render_sku(account, catalog[entry["skuId"]].data)["barcode"]):
            raise ApiError(400, "storage-service-05", f"barcode does not match SKU {entry['skuId']}")
        changed[entry["skuId"]] = amount
    now = dj_timezone.now()
    rows = []
    for sku_id, amount in changed.items():
        row = catalog[sku_id]
        row.data["quantity"], row.updated_at = amount, now
        rows.append(row)
    SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    return json_response(_envelope(payload={"totalRecords": len(entries), "updatedRecords": len(rows)}, errors=[]))


@seller_api("POST")
def send_price_view(request: HttpRequest, account: SandboxAccount, shop_id: int) -> HttpResponse:
    body = read_json(request)
    entries = body.get("skuList") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ApiError(400, "bad-request-001", "skuList must be a non-empty list")
    catalog, changed = _catalog_by_sku_id(account), {}
    product_ids = {_product_id(account, row.data): row.data["sku"]
                   for row in dataset.objects(account, "product")}
    if body.get("productId") is not None and body["productId"] not in product_ids:
        raise ApiError(400, "bad-request-001", f"Unknown productId {str(body['productId'])[:30]}")
    for entry in entries:
        sku_id = entry.get("skuId") if isinstance(entry, dict) else None
        if not isinstance(sku_id, int) or sku_id not in catalog:
            raise ApiError(400, "bad-request-001", f"Unknown skuId {str(sku_id)[:30]}")
        if body.get("productId") is not None and product_ids[body["productId"]] != catalog[sku_id].data["sku"]:
            raise ApiError(400, "bad-request-001", f"SKU {sku_id} is not a SKU of product {body['productId']}")
        full, sell = entry.get("fullPrice"), entry.get("sellPrice")
        for label, value in (("fullPrice", full), ("sellPrice", sell)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 999_999_000:
                raise ApiError(400, "bad-request-001", f"{label} of SKU {sku_id} must be 1 to 999999000")
        if sell > full:
            raise ApiError(400, "bad-request-001", f"sellPrice of SKU {sku_id} is above its fullPrice")
        changed[sku_id] = (full, sell)
    now = dj_timezone.now()
    rows = []
    for sku_id, (full, sell) in changed.items():
        row = catalog[sku_id]
        row.data["price"], row.data["mrp"], row.updated_at = dataset.money(sell), dataset.money(full), now
        rows.append(row)
    SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    return json_response(_envelope(payload={}, errors=[]))


@endpoint
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """Haat's demo button: {"account_id": ..., "skus": [{"sku", "quantity"}]} -> a new order (no auth: sandbox only)."""
    if request.method != "POST":
        return api_error(405, "method-not-allowed", f"Method {request.method} is not allowed")
    try:
        account, skus = read_demo_order(request, platform=PLATFORM, not_found="No sandbox Uzum account with that account_id")
        order = create_order(account, skus=skus)
    except DemoOrderRefused as exc:
        return api_error(exc.status, "not-found" if exc.status == 404 else "bad-request-001", exc.message)
    except ValueError as exc:
        return api_error(400, "bad-request-001", str(exc))
    catalog = {row.key: row.data for row in dataset.objects(account, "product")}
    return json_response(_envelope(payload=render_order(account, order, catalog), errors=[]), status=201)


urlpatterns = [
    path("v1/shops", shops_view, name="shops"),
    path("v2/fbs/orders", orders_view, name="orders"),
    path("v1/product/shop/<int:shop_id>", products_view, name="products"),
    path("v2/fbs/sku/stocks", stocks_view, name="stocks"),
    path("v1/product/<int:shop_id>/sendPriceData", send_price_view, name="send-price-data"),
    path("_sandbox/orders", demo_order_view, name="demo-order"),
]

__all__ = ["connection_config", "connection_credentials", "create_demo_account", "create_order", "revoke_token",
           "urlpatterns"]
