"""The Wildberries seller API, played locally at /sandbox/wildberries/<host>/..., one sub-path per API host.

Wildberries serves each API domain from its own host; the sandbox mounts each under a sub-path:
`marketplace-api/` (FBS assembly tasks, warehouses, stocks, supplies), `content-api/` (cards),
`discounts-prices-api/` (prices), `common-api/` (seller info). Same paths, header, paging and errors as
dev.wildberries.ru:

- `Authorization: <token>` (a "Bearer " prefix is accepted too); a bad token is a 401 in WB's gateway shape
  {title, detail, code, requestId, origin, status, statusText, timestamp}; a 429 has the same shape and
  the headers X-Ratelimit-Retry, -Limit, -Reset, -Remaining. Method errors are {code, message}.
- `GET /api/v3/orders/new` -> {orders}; `GET /api/v3/orders?limit<=1000&next&dateFrom&dateTo` (unix seconds,
  at most 30 days apart) -> {next, orders}; `POST /api/v3/orders/status {orders: [ids <= 1000]}` ->
  {orders: [{id, supplierStatus, wbStatus}]}. An assembly task (order) is ONE unit of one size; prices are
  kopecks (`price`, `convertedPrice`), currencies ISO 4217 numeric (643 = RUB).
- `GET /api/v3/warehouses`; `PUT /api/v3/stocks/{warehouseId} {stocks: [{sku: barcode, amount}] <= 1000}`
  -> 204, or 409 with the refused items; `POST` there with {skus} reads them -> {stocks}.
- `POST /api/v3/supplies {name}` -> {id: "WB-GI-..."}; `PATCH /api/v3/supplies/{id}/orders/{orderId}` -> 204;
  `PATCH /api/v3/supplies/{id}/deliver` -> 204 (the supply goes to WB; its orders become `complete`).
- `POST /content/v2/get/cards/list` {settings: {cursor: {limit <= 100, updatedAt, nmID}, filter}} ->
  {cards, cursor: {updatedAt, nmID, total}}.
- `GET /api/v2/list/goods/filter?limit&offset` -> {data: {listGoods}}; `POST /api/v2/upload/task
  {data: [{nmID, price, discount}]}` -> {data: {id, alreadyExists}, error, errorText}. Prices are whole rubles.
- `GET /api/v1/seller-info` (common-api) -> {name, sid, tradeMark}.

A neutral order is one buyer checkout (`orderUid`) of one assembly task per unit. Neutral statuses map
to (supplierStatus, wbStatus): pending and unshipped = (new, waiting), shipped = (complete, sorted),
delivered = (complete, sold), cancelled = (cancel, canceled_by_client), returned = (complete,
declined_by_client). WB has no tracking numbers for FBS: the supply is what travels.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone

from apps.sandbox import dataset
from apps.sandbox.http import DemoOrderRefused, json_response, platform_api, read_demo_order, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import check_order_lines, round_prices_once

PLATFORM = "wildberries"
HOSTS = ("marketplace-api", "content-api", "discounts-prices-api", "common-api")
NM_BASE = 210_000_000
CHRT_BASE = 340_000_000
MAX_ORDERS = 1000
MAX_PERIOD = timedelta(days=30)
RUB = 643
STATUS = {"pending": ("new", "waiting"), "unshipped": ("new", "waiting"), "shipped": ("complete", "sorted"),
          "delivered": ("complete", "sold"), "cancelled": ("cancel", "canceled_by_client"),
          "returned": ("complete", "declined_by_client")}


class BadRequest(Exception):
    pass


# --- ids ------------------------------------------------------------------------------------------------------


def order_uid(neutral_id: str) -> str:
    return f"{int(neutral_id)}_{hashlib.sha256(f'wb-uid-{neutral_id}'.encode()).hexdigest()[:32]}"


def task_ids(order: dict) -> list[tuple[int, dict]]:
    """(assembly task id, line) for every unit of every line: WB sells one unit per assembly task."""
    tasks, n = [], 0
    for line in order["lines"]:
        for _unit in range(int(line["quantity"])):
            tasks.append((int(order["id"]) * 100 + n, line))
            n += 1
    return tasks


def nm_id(product: dict) -> int:
    return NM_BASE + int(product["id"])


def chrt_id(product: dict) -> int:
    return CHRT_BASE + int(product["id"])


# --- accounts -------------------------------------------------------------------------------------------------


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A sandbox seller with an API token (all categories) in `secrets`; prices in whole rubles; idempotent."""
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": {"token": secrets.token_urlsafe(32)},
                  "settings": {"currency": "RUB", "sid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"wb:{account_id}")),
                               "warehouse_id": 1_000_000 + int(hashlib.sha256(account_id.encode()).hexdigest()[:5], 16)}},
    )
    _prepare(account)
    return account


def _prepare(account: SandboxAccount) -> None:
    """Seed once; WB prices are whole rubles, so the neutral prices are rounded the first time."""
    round_prices_once(account, flag="whole_ruble_prices")


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    root = f"{sandbox_root.rstrip('/')}/{PLATFORM}"
    return {"base_url": root, "marketplace_url": f"{root}/marketplace-api", "content_url": f"{root}/content-api",
            "prices_url": f"{root}/discounts-prices-api", "common_url": f"{root}/common-api"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"token": account.secrets["token"]}


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: new assembly tasks. WB has no webhooks; Haat sees them on its next poll."""
    _prepare(account)
    check_order_lines(account, skus, unknown="vendor code(s)", most=9)
    return dataset.order_create(account, skus=skus)


# --- answers --------------------------------------------------------------------------------------------------


def gateway_error(status: int, title: str, detail: str, headers: dict | None = None) -> HttpResponse:
    reasons = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
    return json_response({"title": title, "detail": detail, "code": uuid.uuid4().hex[:16],
                          "requestId": uuid.uuid4().hex, "origin": "s2s-api-auth-sandbox", "status": status,
                          "statusText": reasons.get(status, "Error"), "timestamp": dataset.iso(timezone.now())},
                         status=status, headers=headers)


def method_error(status: int, code: str, message: str) -> HttpResponse:
    return json_response({"code": code, "message": message}, status=status)


def server_error(status: int, message: str) -> HttpResponse:
    return method_error(status, "InternalServerError", message)


def rate_limited() -> HttpResponse:
    return gateway_error(429, "too many requests", "limited by rate limiter", headers={
        "X-Ratelimit-Retry": "1", "X-Ratelimit-Limit": "20", "X-Ratelimit-Reset": "1", "X-Ratelimit-Remaining": "0"})


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _token_account(request: HttpRequest, _kwargs: dict) -> SandboxAccount | HttpResponse:
    """The token in Authorization, with or without "Bearer "; refusals come from WB's gateway, in its shape."""
    token = request.headers.get("Authorization", "").strip()
    token = token[7:].strip() if token.lower().startswith("bearer ") else token
    if not token:
        return gateway_error(401, "unauthorized", "empty Authorization header")
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, secrets__token=token).first()
    if account is None:
        return gateway_error(401, "unauthorized", "token problem; token is malformed or revoked")
    _prepare(account)
    return account


wb_api = platform_api(
    endpoint=endpoint, authenticate=_token_account, handled=BadRequest,
    wrong_method=lambda request: method_error(405, "MethodNotAllowed", f"Method {request.method} is not allowed"),
    render_error=lambda _request, exc: method_error(400, "IncorrectParameter", str(exc)))


def _products(account: SandboxAccount) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "product")}


def render_tasks(account: SandboxAccount, order: dict, products: dict[str, dict]) -> list[dict]:
    tasks = []
    for task_id, line in task_ids(order):
        product = products.get(line["sku"]) or {"id": "0", "barcode": ""}
        kopecks = int(Decimal(line["unit_price"]) * 100)
        tasks.append({
            "id": task_id, "rid": f"{task_id}.{hashlib.sha256(str(task_id).encode()).hexdigest()[:16]}.0.0",
            "orderUid": order_uid(order["id"]), "article": line["sku"], "nmId": nm_id(product),
            "chrtId": chrt_id(product), "skus": [product["barcode"]], "createdAt": order["created_at"],
            "warehouseId": account.settings["warehouse_id"], "offices": [order["address"]["city"]],
            "price": kopecks, "convertedPrice": kopecks, "currencyCode": RUB, "convertedCurrencyCode": RUB,
            "cargoType": 1, "isZeroOrder": False, "deliveryType": "fbs", "address": None, "comment": "",
            "supplyId": (order.get("wb_supply") or None),
        })
    return tasks


def _unix(value: str, name: str, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a unix timestamp") from None


@wb_api("GET")
def orders_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    limit = _unix(request.GET.get("limit"), "limit")
    if limit is None or not 1 <= limit <= MAX_ORDERS:
        raise BadRequest(f"limit must be from 1 to {MAX_ORDERS}")
    after = _unix(request.GET.get("next"), "next")
    if after is None:
        raise BadRequest("next is required")
    now = int(timezone.now().timestamp())
    date_to = _unix(request.GET.get("dateTo"), "dateTo", now)
    date_from = _unix(request.GET.get("dateFrom"), "dateFrom", date_to - int(MAX_PERIOD.total_seconds()))
    if date_to < date_from or date_to - date_from > MAX_PERIOD.total_seconds():
        raise BadRequest("the period from dateFrom to dateTo must be at most 30 days")
    products = _products(account)
    tasks = []
    for row in dataset.objects(account, "order"):
        created = int(dataset.parse_iso(row.data["created_at"]).timestamp())
        if date_from <= created <= date_to:
            tasks.extend(t for t in render_tasks(account, row.data, products) if t["id"] > after)
    tasks.sort(key=lambda t: t["id"])
    page = tasks[:limit]
    return json_response({"next": page[-1]["id"] if page else after, "orders": page})


@wb_api("GET")
def new_orders_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    products = _products(account)
    tasks = [t for row in dataset.objects(account, "order") if row.data["status"] in ("pending", "unshipped")
             and not row.data.get("wb_supply") for t in render_tasks(account, row.data, products)]
    return json_response({"orders": sorted(tasks, key=lambda t: t["id"])})


def _status_of(order: dict) -> tuple[str, str]:
    supplier, wb = STATUS[order["status"]]
    if order.get("wb_supply") and order["status"] in ("pending", "unshipped"):
        supplier = "confirm"
    return supplier, wb


@wb_api("POST")
def orders_status_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    ids = body.get("orders") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or len(ids) > MAX_ORDERS or not all(isinstance(i, int) for i in ids):
        raise BadRequest(f"orders must be a list of 1 to {MAX_ORDERS} order ids")
    neutral_ids = {str(i // 100) for i in ids}
    rows = {row.key: row.data for row in dataset.objects(account, "order").filter(key__in=neutral_ids)}
    answers = []
    for task in ids:
        order = rows.get(str(task // 100))
        if order is None or task not in {t for t, _line in task_ids(order)}:
            continue
        supplier, wb = _status_of(order)
        answers.append({"id": task, "supplierStatus": supplier, "wbStatus": wb})
    return json_response({"orders": answers})


@wb_api("GET")
def warehouses_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    return json_response([{"name": f"{account.name} FBS", "officeId": 15, "id": account.settings["warehouse_id"],
                           "cargoType": 1, "deliveryType": 1}])


@wb_api("PUT", "POST")
def stocks_view(request: HttpRequest, account: SandboxAccount, warehouse_id: int) -> HttpResponse:
    """PUT sets stocks by barcode; POST {skus: [barcodes] <= 1000} reads them back -> {stocks: [{sku, amount}]}."""
    if warehouse_id != account.settings["warehouse_id"]:
        return method_error(404, "NotFound", "warehouse not found")
    body = read_json(request)
    if request.method == "POST":
        skus = body.get("skus") if isinstance(body, dict) else None
        if not isinstance(skus, list) or not skus or len(skus) > 1000 or not all(isinstance(s, str) for s in skus):
            raise BadRequest("skus must hold 1 to 1000 barcodes")
        by_barcode = {row.data["barcode"]: row.data for row in dataset.objects(account, "product")}
        return json_response({"stocks": [{"sku": s, "amount": by_barcode[s]["quantity"]} for s in skus
                                         if s in by_barcode]})
    stocks = body.get("stocks") if isinstance(body, dict) else None
    if not isinstance(stocks, list) or not stocks or len(stocks) > 1000:
        raise BadRequest("stocks must hold 1 to 1000 items")
    rows = {row.data["barcode"]: row for row in dataset.objects(account, "product")}
    refused, changed = [], []
    for item in stocks:
        sku, amount = (item.get("sku"), item.get("amount")) if isinstance(item, dict) else (None, None)
        row = rows.get(sku)
        if row is None or not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= 100000:
            refused.append({"sku": sku, "amount": amount})
            continue
        row.data["quantity"] = amount
        changed.append(row)
    if refused:  # WB refuses the whole request and names the items
        return json_response([{"code": "NotFound", "data": refused, "message": "Items not found or amount invalid"}],
                             status=409)
    SandboxObject.objects.bulk_update(changed, ["data"])
    return HttpResponse(status=204)


@wb_api("POST")
def supplies_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not 1 <= len(name) <= 128:
        raise BadRequest("name is required (1 to 128 characters)")
    supply = f"WB-GI-{10_000_000 + dataset.objects(account, 'supply').count() + 1}"
    SandboxObject.objects.create(account=account, kind="supply", key=supply, updated_at=timezone.now(),
                                 data={"id": supply, "name": name, "done": False, "orders": []})
    return json_response({"id": supply}, status=201)


@wb_api("PATCH")
def supply_add_order_view(request: HttpRequest, account: SandboxAccount, supply_id: str, order_id: int) -> HttpResponse:
    with transaction.atomic():
        supply = dataset.objects(account, "supply").select_for_update().filter(key=supply_id).first()
        if supply is None:
            return method_error(404, "NotFound", "supply not found")
        if supply.data["done"]:
            return method_error(409, "FailedToAddSupplyOrder", "the supply is already delivered")
        order_row = dataset.objects(account, "order").filter(key=str(order_id // 100)).first()
        if order_row is None or order_id not in {t for t, _line in task_ids(order_row.data)}:
            return method_error(404, "NotFound", "order not found")
        supplier, _wb = _status_of(order_row.data)
        if supplier != "new" and order_row.data.get("wb_supply") != supply_id:
            return method_error(409, "FailedToAddSupplyOrder", f"the order is {supplier}, not new")
        supply.data["orders"] = sorted(set(supply.data["orders"]) | {order_id})
        supply.save(update_fields=["data"])
        if order_row.data.get("wb_supply") != supply_id:
            dataset.order_update(account, order_row.key, wb_supply=supply_id)
    return HttpResponse(status=204)


@wb_api("PATCH")
def supply_deliver_view(request: HttpRequest, account: SandboxAccount, supply_id: str) -> HttpResponse:
    with transaction.atomic():
        supply = dataset.objects(account, "supply").select_for_update().filter(key=supply_id).first()
        if supply is None:
            return method_error(404, "NotFound", "supply not found")
        if not supply.data["orders"]:
            return method_error(409, "FailedToDeliverSupply", "the supply has no orders")
        supply.data["done"] = True
        supply.save(update_fields=["data"])
        for key in sorted({str(i // 100) for i in supply.data["orders"]}):
            dataset.order_update(account, key, status="shipped",
                                 tracking={"carrier": "Wildberries", "number": supply_id, "url": ""})
    return HttpResponse(status=204)


def render_card(product: dict) -> dict:
    return {"nmID": nm_id(product), "imtID": nm_id(product) + 5_000_000, "vendorCode": product["sku"],
            "brand": "Haat SHG", "title": product["title"], "description": product["description"],
            "subjectName": product.get("category", ""),
            "sizes": [{"chrtID": chrt_id(product), "techSize": "0", "wbSize": "", "skus": [product["barcode"]]}],
            "createdAt": "2026-01-15T08:00:00Z", "updatedAt": f"2026-01-15T08:{int(product['id']) % 60:02d}:00Z"}


@wb_api("POST")
def cards_list_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    settings_ = body.get("settings") if isinstance(body, dict) else None
    cursor = settings_.get("cursor") if isinstance(settings_, dict) else None
    limit = cursor.get("limit") if isinstance(cursor, dict) else None
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise BadRequest("settings.cursor.limit must be from 1 to 100")
    cards = sorted((render_card(p) for p in _products(account).values()), key=lambda c: (c["updatedAt"], c["nmID"]))
    if cursor.get("updatedAt") and cursor.get("nmID"):
        mark = (str(cursor["updatedAt"]), int(cursor["nmID"]))
        cards = [c for c in cards if (c["updatedAt"], c["nmID"]) > mark]
    page = cards[:limit]
    last = page[-1] if page else {}
    return json_response({"cards": page, "cursor": {"updatedAt": last.get("updatedAt"), "nmID": last.get("nmID"),
                                                    "total": len(page)}})


@wb_api("GET")
def goods_filter_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    try:
        limit, offset = int(request.GET.get("limit", "")), int(request.GET.get("offset", "0"))
    except ValueError:
        raise BadRequest("limit and offset must be numbers") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadRequest("limit must be from 1 to 1000")
    goods = []
    for product in sorted(_products(account).values(), key=nm_id)[offset:offset + limit]:
        price, sale = Decimal(product["mrp"]), Decimal(product["price"])
        discount = int(((price - sale) * 100 / price).to_integral_value(rounding=ROUND_HALF_UP)) if price else 0
        goods.append({"nmID": nm_id(product), "vendorCode": product["sku"], "currencyIsoCode4217": "RUB",
                      "discount": discount, "editableSizePrice": False,
                      "sizes": [{"sizeID": chrt_id(product), "price": int(price), "discountedPrice": float(sale),
                                 "techSizeName": "0"}]})
    return json_response({"data": {"listGoods": goods}})


@wb_api("POST")
def upload_task_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or len(items) > 1000:
        return json_response({"data": None, "error": True, "errorText": "data must hold 1 to 1000 goods"}, status=400)
    by_nm = {nm_id(row.data): row for row in dataset.objects(account, "product")}
    changed = []
    for item in items:
        nm, price, discount = (item.get(k) for k in ("nmID", "price", "discount")) if isinstance(item, dict) else (None,) * 3
        row = by_nm.get(nm)
        bad_price = not isinstance(price, int) or isinstance(price, bool) or price <= 0
        bad_discount = not isinstance(discount, int) or isinstance(discount, bool) or not 0 <= discount < 100
        if row is None or bad_price or bad_discount:
            return json_response({"data": None, "error": True,
                                  "errorText": f"Invalid good: nmID {str(nm)[:20]} price {price} discount {discount}"},
                                 status=400)
        row.data["mrp"] = dataset.money(price)
        row.data["price"] = dataset.money(Decimal(price) * (100 - discount) / 100)
        changed.append(row)
    SandboxObject.objects.bulk_update(changed, ["data"])
    upload = dataset.objects(account, "price_task").count() + 1
    SandboxObject.objects.create(account=account, kind="price_task", key=str(upload), updated_at=timezone.now(),
                                 data={"items": items, "at": dataset.iso(datetime.now(UTC))})
    return json_response({"data": {"id": upload, "alreadyExists": False}, "error": False, "errorText": ""})


@wb_api("GET")
def seller_info_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    return json_response({"name": account.name, "sid": account.settings["sid"], "tradeMark": account.name})


@endpoint
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """Haat's demo button: {"account_id", "skus": [{"sku", "quantity"}]} -> new assembly tasks (sandbox only)."""
    if request.method != "POST":
        return method_error(405, "MethodNotAllowed", f"Method {request.method} is not allowed")
    try:
        account, skus = read_demo_order(request, platform=PLATFORM,
                                        not_found="No sandbox Wildberries account with that account_id")
        order = create_order(account, skus=skus)
    except DemoOrderRefused as exc:
        return method_error(exc.status, "NotFound" if exc.status == 404 else "IncorrectParameter", exc.message)
    except ValueError as exc:
        return method_error(400, "IncorrectParameter", str(exc))
    return json_response({"orderUid": order_uid(order["id"]), "orders": [t for t, _l in task_ids(order)]}, status=201)


urlpatterns = [
    path("marketplace-api/api/v3/orders", orders_view, name="orders"),
    path("marketplace-api/api/v3/orders/new", new_orders_view, name="orders-new"),
    path("marketplace-api/api/v3/orders/status", orders_status_view, name="orders-status"),
    path("marketplace-api/api/v3/warehouses", warehouses_view, name="warehouses"),
    path("marketplace-api/api/v3/stocks/<int:warehouse_id>", stocks_view, name="stocks"),
    path("marketplace-api/api/v3/supplies", supplies_view, name="supplies"),
    path("marketplace-api/api/v3/supplies/<str:supply_id>/orders/<int:order_id>", supply_add_order_view,
         name="supply-add-order"),
    path("marketplace-api/api/v3/supplies/<str:supply_id>/deliver", supply_deliver_view, name="supply-deliver"),
    path("content-api/content/v2/get/cards/list", cards_list_view, name="cards-list"),
    path("discounts-prices-api/api/v2/list/goods/filter", goods_filter_view, name="goods-filter"),
    path("discounts-prices-api/api/v2/upload/task", upload_task_view, name="upload-task"),
    path("common-api/api/v1/seller-info", seller_info_view, name="seller-info"),
    path("_sandbox/orders", demo_order_view, name="demo-order"),
]
