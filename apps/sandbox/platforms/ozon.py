"""The Ozon Seller API, played locally at /sandbox/ozon/ (the root of api-seller.ozon.ru).

Same paths, headers, field names, paging and error shapes as the current Seller API reference
(docs.ozon.ru/api/seller), for the methods Haat uses:

- every call is a JSON `POST` with the headers `Client-Id` and `Api-Key`; errors are
  `{"code", "message", "details"}` (gRPC-style codes: 3 invalid argument, 5 not found, 7 permission
  denied, 8 rate limit, 13 internal, 16 unauthenticated).
- `/v2/warehouse/list` {limit <= 200, cursor} -> {warehouses, has_next, cursor} (FBS/rFBS warehouses).
- `/v4/posting/fbs/list` {filter {since, to (<= 1 year apart), statuses, last_changed_status_date {from,
  to}}, limit <= 100, cursor, sort_dir} -> {postings, has_next, cursor}. (`/v3/posting/fbs/list` with
  offset paging was withdrawn in 2026.) Prices are `{"amount": "<rubles>", "currency": "RUB"}`.
- `/v3/posting/fbs/get` {posting_number} -> {result: posting}.
- `/v4/posting/fbs/ship` {posting_number, packages [{products [{product_id (Ozon SKU), quantity}]}]}
  -> {result: [posting numbers]}: packs an `awaiting_packaging` posting, which becomes `awaiting_deliver`.
- `/v2/fbs/posting/tracking-number/set` {tracking_numbers [{posting_number, tracking_number}]} ->
  {result: [{posting_number, result, error}]}.
- `/v3/product/list` {filter {visibility}, last_id, limit <= 1000} -> {result {items, total, last_id}};
  `/v3/product/info/list` {offer_id | product_id | sku: [...] <= 1000} -> {items}.
- `/v2/products/stocks` {stocks [{offer_id, product_id, stock, warehouse_id}] <= 100} and
  `/v1/product/import/prices` {prices [{offer_id, price, old_price, currency_code}] <= 1000} ->
  {result [{offer_id, product_id, updated, errors [{code, message}]}]} (per-item answers).
- `POST /_sandbox/orders` (Haat's demo button) places a new order.
- Push notifications: `POST /_sandbox/push` {account_id, url} is the cabinet's push settings (Settings -> API
  keys -> Push notifications). Like Ozon it sends `TYPE_PING` and keeps the URL only when the answer is
  {version, name, time}; then a new posting (`TYPE_NEW_POSTING`), a status change (`TYPE_STATE_CHANGED`, in the
  push model's status names) and a cancellation (`TYPE_POSTING_CANCELLED`) are POSTed there, from 127.0.0.1,
  each with the seller's `seller_id`.

A neutral order is one Ozon order with one posting ("<order_number>-1"). Neutral statuses map to
posting statuses: pending = awaiting_registration, unshipped = awaiting_packaging, shipped =
delivering (awaiting_deliver once packed through the API), delivered = delivered, cancelled =
cancelled; FBS postings have no returned status (returns live in Ozon's returns API), so a returned
neutral order stays delivered here. Ozon sends no Retry-After with its 429.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone as dj_timezone

from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http
from apps.sandbox.http import DemoOrderRefused, json_response, platform_api, read_demo_order, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import check_order_lines

logger = logging.getLogger(__name__)

PLATFORM = "ozon"
PING_TIMEOUT = 2.0  # Ozon counts an answer slower than a couple of seconds as the service being down
ORDER_NUMBER_BASE = 30_000_000
PRODUCT_ID_BASE = 700_000_000
OZON_SKU_BASE = 1_400_000_000
MAX_POSTINGS = 100
MAX_PRODUCTS = 1000
MAX_STOCKS = 100
MAX_PRICES = 1000
MAX_PERIOD = timedelta(days=365)
STATUS = {"pending": "awaiting_registration", "unshipped": "awaiting_packaging", "shipped": "delivering",
          "delivered": "delivered", "cancelled": "cancelled", "returned": "delivered"}
SUBSTATUS = {"awaiting_registration": "posting_awaiting_registration", "awaiting_packaging": "posting_created",
             "awaiting_deliver": "posting_transferring_to_delivery", "delivering": "posting_in_courier_service",
             "delivered": "posting_delivered", "cancelled": "posting_canceled"}


class BadRequest(Exception):
    """A request Ozon refuses as a whole: 400 with code 3."""


# --- ids ------------------------------------------------------------------------------------------------------


def order_number(neutral_id: str) -> str:
    return f"{ORDER_NUMBER_BASE + int(neutral_id)}-0001"


def posting_number(neutral_id: str) -> str:
    return f"{order_number(neutral_id)}-1"


def neutral_id_of(number: str) -> str | None:
    head = number.split("-", 1)[0] if isinstance(number, str) else ""
    if not head.isdigit() or number != posting_number(str(int(head) - ORDER_NUMBER_BASE)):
        return None
    return str(int(head) - ORDER_NUMBER_BASE)


def product_id(product: dict) -> int:
    return PRODUCT_ID_BASE + int(product["id"])


def ozon_sku(product: dict) -> int:
    return OZON_SKU_BASE + int(product["id"])


# --- accounts -------------------------------------------------------------------------------------------------


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A sandbox seller: `account_id` is its Client-Id (digits), the Api-Key is in `secrets`; idempotent."""
    if not account_id.isdigit():
        raise ValueError("An Ozon Client-Id is a number")
    digits = int(account_id) % 1_000_000
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": {"api_key": secrets.token_hex(18)},
                  "settings": {"currency": "RUB", "warehouse_id": 1020000000000000 + digits,
                               "order_id_base": 100000}},
    )
    dataset.ensure_seeded(account)
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"client_id": account.account_id, "api_key": account.secrets["api_key"]}


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: a new posting awaiting packaging, and `TYPE_NEW_POSTING` to the push URL when the
    cabinet has one."""
    dataset.ensure_seeded(account)
    check_order_lines(account, skus, unknown="offer_id(s)")
    order = dataset.order_create(account, skus=skus)
    products = _products(account)
    push(account, {
        "message_type": "TYPE_NEW_POSTING", "posting_number": posting_number(order["id"]),
        "products": [{"sku": ozon_sku(products[line["sku"]]) if line["sku"] in products else OZON_SKU_BASE,
                      "offer_id": line["sku"], "quantity": line["quantity"]} for line in order["lines"]],
        "in_process_at": order["created_at"], "warehouse_id": account.settings.get("warehouse_id"),
        "shipment_date": dataset.iso(dataset.parse_iso(order["created_at"]) + timedelta(days=2)),
        "tpl_integration_type": "non_integrated", "is_express": False, "seller_id": int(account.account_id)})
    return order


def update_order(account: SandboxAccount, order_id: str, **changes: Any) -> dict:
    """Ozon moved a posting on (handed to delivery, delivered, cancelled by the buyer): stored, then pushed."""
    products = _products(account)
    before = render_posting(account, dataset.objects(account, "order").get(key=order_id).data, products)["status"]
    order = dataset.order_update(account, order_id, **changes)
    push_status_change(account, order, before)
    return order


# --- push notifications (the cabinet's push settings) -------------------------------------------------------------


class PushUrlRefused(sandbox_http.CallbackUrlRefused):
    """The cabinet would not save the URL: Ozon's TYPE_PING got no documented answer."""


def ping_answer_problem(status: int | None, answer: Any) -> str:
    """What is wrong with an answer to TYPE_PING: Ozon wants 200 with version, name and the time (UTC, ISO 8601)
    of the answer; "" when it is right."""
    return sandbox_http.ping_answer_problem(status, answer)


def configure_push(account: SandboxAccount, url: str, *, post=None) -> None:
    """Save the push URL as the cabinet does: only after a TYPE_PING it answers as documented."""
    ping = {"message_type": "TYPE_PING", "time": dj_timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    sandbox_http.save_callback_url(account, url, setting="push_url", ping=ping, timeout=PING_TIMEOUT,
                                   problem=ping_answer_problem, refused=PushUrlRefused, sender="Ozon", post=post)


def push(account: SandboxAccount, payload: dict) -> int | None:
    """POST a notification to the cabinet's push URL, if any; returns the service's HTTP status."""
    return sandbox_http.send_to_callback_url(account, "push_url", payload,
                                             kind=f"Ozon {payload.get('message_type')}")


def push_status_change(account: SandboxAccount, order: dict, before: str) -> None:
    products = _products(account)
    posting = render_posting(account, order, products)
    if posting["status"] == before:
        return
    common = {"posting_number": posting["posting_number"], "changed_state_date": order["updated_at"],
              "warehouse_id": account.settings.get("warehouse_id"), "seller_id": int(account.account_id)}
    if posting["status"] == "cancelled":
        push(account, {"message_type": "TYPE_POSTING_CANCELLED", **common,
                       "products": [{"sku": p["sku"], "quantity": p["quantity"]} for p in posting["products"]],
                       "old_state": SUBSTATUS.get(before, ""), "new_state": "posting_canceled",
                       "reason": {"id": 352, "message": "Покупатель отменил заказ"}})
    else:
        push(account, {"message_type": "TYPE_STATE_CHANGED", **common, "new_state": SUBSTATUS[posting["status"]]})


# --- answers in Ozon's shapes ---------------------------------------------------------------------------------


def error(status: int, code: int, message: str) -> HttpResponse:
    return json_response({"code": code, "message": message, "details": []}, status=status)


def server_error(status: int, message: str) -> HttpResponse:
    return error(status, 13, message)


def rate_limited() -> HttpResponse:
    return error(429, 8, "You have reached request rate limit per second")


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _account(request: HttpRequest, _kwargs: dict) -> SandboxAccount | HttpResponse:
    client_id = request.headers.get("Client-Id", "").strip()
    api_key = request.headers.get("Api-Key", "").strip()
    if not client_id or not api_key:
        return error(401, 16, "Client-Id and Api-Key headers are required")
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, account_id=client_id).first()
    if account is None or not secrets.compare_digest(account.secrets.get("api_key", ""), api_key):
        return error(403, 7, "Invalid Api-Key, please contact support")
    dataset.ensure_seeded(account)
    return account


_post_api = platform_api(endpoint=endpoint, authenticate=_account, handled=BadRequest,
                         wrong_method=lambda request: error(405, 12, f"Method {request.method} is not allowed"),
                         render_error=lambda _request, exc: error(400, 3, str(exc)))("POST")


def seller_api(view: Callable[..., HttpResponse]):
    """An Ozon method: fault injection, POST only, Client-Id/Api-Key auth, a JSON object body, 400s as code 3."""

    @_post_api
    @wraps(view)
    def with_body(request: HttpRequest, account: SandboxAccount, *args, **kwargs):
        body = read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("invalid request: the body must be a JSON object")
        return view(request, account, body, *args, **kwargs)

    return with_body


def _when(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"invalid request: {field} is required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"invalid request: {field} is not a date-time: {value[:40]}") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"invalid request: {field} needs a time zone")
    return parsed


def _limit(body: dict, maximum: int) -> int:
    limit = body.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise BadRequest(f"invalid request: limit must be between 1 and {maximum}")
    return limit


def _amount(value: Decimal | str) -> str:
    return dataset.money(value)


# --- postings -------------------------------------------------------------------------------------------------


def render_posting(account: SandboxAccount, order: dict, products: dict[str, dict]) -> dict:
    status = STATUS[order["status"]]
    if order["status"] == "shipped" and order.get("ozon_packed"):
        status = "awaiting_deliver"
    created = dataset.parse_iso(order["created_at"])
    warehouse = account.settings.get("warehouse_id")
    address = order["address"]
    tracking = order.get("tracking") or {}
    delivering = order["updated_at"] if status in ("delivering", "delivered") else None
    cancelled = status == "cancelled"
    return {
        "posting_number": posting_number(order["id"]), "order_id": ORDER_NUMBER_BASE * 10 + int(order["id"]),
        "order_number": order_number(order["id"]), "status": status, "substatus": SUBSTATUS[status],
        "delivery_method": {"id": 21000000000 + (warehouse or 0) % 1000, "name": "Доставка продавцом",
                            "warehouse_id": warehouse, "warehouse": f"{account.name} warehouse",
                            "tpl_provider_id": 0, "tpl_provider": "Самостоятельная доставка"},
        "tracking_number": tracking.get("number", ""), "tpl_integration_type": "non_integrated",
        "in_process_at": order["created_at"], "shipment_date": dataset.iso(created + timedelta(days=2)),
        "delivering_date": delivering, "is_express": False, "multi_box_qty": 1,
        "cancellation": {"cancel_reason_id": 352 if cancelled else 0,
                         "cancel_reason": "Покупатель отменил заказ" if cancelled else "",
                         "cancellation_type": "client" if cancelled else "",
                         "cancelled_after_ship": False, "affect_cancellation_rating": False,
                         "cancellation_initiator": "Покупатель" if cancelled else ""},
        "customer": {"name": order["buyer"]["name"], "phone": order["buyer"].get("phone", ""),
                     "address": {"address_tail": address.get("line1", ""), "city": address.get("city", ""),
                                 "region": address.get("state", ""), "zip_code": address.get("postcode", ""),
                                 "country": address.get("country", "")}},
        "addressee": {"name": address.get("name", "")},
        "products": [{
            "price": {"amount": _amount(line["unit_price"]), "currency": order["currency"]},
            "offer_id": line["sku"], "name": line["title"],
            "sku": ozon_sku(products[line["sku"]]) if line["sku"] in products else OZON_SKU_BASE,
            "quantity": line["quantity"],
        } for line in order["lines"]],
        "available_actions": ["ship", "set_track_number"] if status == "awaiting_packaging" else [],
    }


def _products(account: SandboxAccount) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "product")}


def _encode_cursor(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(state, dict) and isinstance(state.get("after"), list):
            return state
    except ValueError:
        pass
    raise BadRequest("invalid request: cursor is invalid")


@seller_api
def posting_list_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    flt = body.get("filter")
    if not isinstance(flt, dict):
        raise BadRequest("invalid request: filter is required")
    since, until = _when(flt.get("since"), "filter.since"), _when(flt.get("to"), "filter.to")
    if until < since or until - since > MAX_PERIOD:
        raise BadRequest("invalid request: the period from filter.since to filter.to must be at most one year")
    limit = _limit(body, MAX_POSTINGS)
    statuses = flt.get("statuses")
    if statuses is not None and (not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses)):
        raise BadRequest("invalid request: filter.statuses must be a list of strings")
    changed = flt.get("last_changed_status_date")
    changed_from = changed_to = None
    if changed is not None:
        if not isinstance(changed, dict):
            raise BadRequest("invalid request: filter.last_changed_status_date must be an object")
        if changed.get("from") is not None:
            changed_from = _when(changed["from"], "filter.last_changed_status_date.from")
        if changed.get("to") is not None:
            changed_to = _when(changed["to"], "filter.last_changed_status_date.to")
    direction = body.get("sort_dir", "ASC")
    if direction not in ("ASC", "DESC"):
        raise BadRequest("invalid request: sort_dir must be ASC or DESC")
    products = _products(account)
    rows = []
    for row in dataset.objects(account, "order"):
        order = row.data
        created, updated = dataset.parse_iso(order["created_at"]), dataset.parse_iso(order["updated_at"])
        if not since <= created <= until:
            continue
        if (changed_from and updated < changed_from) or (changed_to and updated > changed_to):
            continue
        posting = render_posting(account, order, products)
        if statuses and posting["status"] not in statuses:
            continue
        rows.append(((order["created_at"], posting["posting_number"]), posting))
    rows.sort(key=lambda r: r[0], reverse=direction == "DESC")
    if body.get("cursor"):
        mark = tuple(_decode_cursor(str(body["cursor"]))["after"])
        rows = [r for r in rows if (r[0] > mark if direction == "ASC" else r[0] < mark)]
    page, rest = rows[:limit], rows[limit:]
    answer: dict[str, Any] = {"postings": [p for _k, p in page], "has_next": bool(rest), "cursor": ""}
    if rest:
        answer["cursor"] = _encode_cursor({"after": list(page[-1][0])})
    return json_response(answer)


def _posting_row(account: SandboxAccount, number: Any) -> SandboxObject:
    neutral = neutral_id_of(number) if isinstance(number, str) else None
    row = dataset.objects(account, "order").filter(key=neutral).first() if neutral else None
    if row is None:
        raise _NotFound(f"posting {str(number)[:40]} not found")
    return row


class _NotFound(Exception):
    pass


def _not_found_as_404(view):
    @wraps(view)
    def wrapper(request, account, body, *args, **kwargs):
        try:
            return view(request, account, body, *args, **kwargs)
        except _NotFound as exc:
            return error(404, 5, str(exc))

    return wrapper


@seller_api
@_not_found_as_404
def posting_get_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    row = _posting_row(account, body.get("posting_number"))
    return json_response({"result": render_posting(account, row.data, _products(account))})


@seller_api
@_not_found_as_404
def posting_ship_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    """Pack a posting: every product with its whole quantity, in one or more packages."""
    with transaction.atomic():
        row = _posting_row(account, body.get("posting_number"))
        products = _products(account)
        posting = render_posting(account, row.data, products)
        if posting["status"] != "awaiting_packaging":
            raise BadRequest(f"POSTING_ALREADY_SHIPPED: posting is {posting['status']}, not awaiting_packaging")
        packages = body.get("packages")
        if not isinstance(packages, list) or not packages:
            raise BadRequest("invalid request: packages must be a non-empty list")
        packed: dict[int, int] = {}
        for package in packages:
            items = package.get("products") if isinstance(package, dict) else None
            if not isinstance(items, list) or not items:
                raise BadRequest("invalid request: each package needs products")
            for item in items:
                sku, qty = (item.get("product_id"), item.get("quantity")) if isinstance(item, dict) else (None, None)
                if not isinstance(sku, int) or not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
                    raise BadRequest("invalid request: products need product_id (SKU) and a positive quantity")
                packed[sku] = packed.get(sku, 0) + qty
        wanted: dict[int, int] = {}
        for product in posting["products"]:
            wanted[product["sku"]] = wanted.get(product["sku"], 0) + product["quantity"]
        if packed != wanted:
            raise BadRequest("PRODUCTS_MISMATCH: the packages must hold every product of the posting with its quantity")
        updated = dataset.order_update(account, row.key, status="shipped", ozon_packed=True)
    push_status_change(account, updated, posting["status"])
    return json_response({"result": [posting["posting_number"]], "additional_data": []})


@seller_api
def tracking_number_set_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    entries = body.get("tracking_numbers")
    if not isinstance(entries, list) or not entries or len(entries) > 20:
        raise BadRequest("invalid request: tracking_numbers must hold 1 to 20 entries")
    answers = []
    with transaction.atomic():
        for entry in entries:
            number = entry.get("posting_number") if isinstance(entry, dict) else None
            tracking = entry.get("tracking_number") if isinstance(entry, dict) else None
            try:
                row = _posting_row(account, number)
            except _NotFound:
                answers.append({"posting_number": str(number), "result": False, "error": "POSTING_NOT_FOUND"})
                continue
            if not isinstance(tracking, str) or not tracking.strip():
                answers.append({"posting_number": number, "result": False, "error": "TRACKING_NUMBER_IS_EMPTY"})
                continue
            if row.data["status"] in ("cancelled", "delivered", "returned", "pending"):
                answers.append({"posting_number": number, "result": False, "error": "INVALID_POSTING_STATUS"})
                continue
            dataset.order_update(account, row.key, tracking={"carrier": "", "number": tracking.strip(), "url": ""})
            answers.append({"posting_number": number, "result": True, "error": ""})
    return json_response({"result": answers})


# --- products, stocks, prices ------------------------------------------------------------------------------------


def render_product_info(account: SandboxAccount, product: dict) -> dict:
    mrp = Decimal(product.get("mrp") or 0)
    return {
        "id": product_id(product), "name": product["title"], "offer_id": product["sku"],
        "barcodes": [product["barcode"]], "currency_code": product.get("currency", "RUB"),
        "price": _amount(product["price"]), "old_price": _amount(mrp) if mrp else "",
        "min_price": "", "is_archived": False, "is_discounted": False,
        "sources": [{"sku": ozon_sku(product), "source": "sds", "shipment_type": "SHIPMENT_TYPE_GENERAL"}],
        "stocks": {"has_stock": product["quantity"] > 0, "stocks": [
            {"present": product["quantity"], "reserved": 0, "sku": ozon_sku(product), "source": "fbs"}]},
        "statuses": {"status": "price_sent", "status_name": "Продаётся"},
        "created_at": "2026-01-15T08:00:00Z", "updated_at": "2026-01-15T08:00:00Z",
    }


@seller_api
def product_list_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    limit = _limit(body, MAX_PRODUCTS)
    flt = body.get("filter") or {}
    visibility = flt.get("visibility", "ALL") if isinstance(flt, dict) else None
    if visibility not in ("ALL", "VISIBLE", "INVISIBLE", "ARCHIVED", "IN_SALE"):
        raise BadRequest("invalid request: filter.visibility is not a known value")
    products = sorted(_products(account).values(), key=product_id)
    if visibility in ("INVISIBLE", "ARCHIVED"):
        products = []
    after = body.get("last_id") or ""
    if after:
        try:
            mark = int(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode())
        except ValueError:
            raise BadRequest("invalid request: last_id is invalid") from None
        products = [p for p in products if product_id(p) > mark]
    page = products[:limit]
    last_id = base64.urlsafe_b64encode(str(product_id(page[-1])).encode()).decode().rstrip("=") if page else ""
    items = [{"product_id": product_id(p), "offer_id": p["sku"], "archived": False, "has_fbo_stocks": False,
              "has_fbs_stocks": p["quantity"] > 0, "is_discounted": False, "quants": []} for p in page]
    return json_response({"result": {"items": items, "total": len(_products(account)), "last_id": last_id}})


@seller_api
def product_info_list_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    given = [k for k in ("offer_id", "product_id", "sku") if body.get(k)]
    if len(given) != 1:
        raise BadRequest("invalid request: pass exactly one of offer_id, product_id, sku")
    values = body[given[0]]
    if not isinstance(values, list) or len(values) > MAX_PRODUCTS:
        raise BadRequest(f"invalid request: {given[0]} must be a list of at most {MAX_PRODUCTS} values")
    wanted = {str(v) for v in values}
    key = {"offer_id": lambda p: p["sku"], "product_id": lambda p: str(product_id(p)),
           "sku": lambda p: str(ozon_sku(p))}[given[0]]
    items = [render_product_info(account, p) for p in _products(account).values() if key(p) in wanted]
    return json_response({"items": sorted(items, key=lambda i: i["id"])})


@seller_api
def warehouse_list_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    _limit(body, 200)
    warehouse = account.settings.get("warehouse_id")
    return json_response({"warehouses": [{
        "warehouse_id": warehouse, "name": f"{account.name} warehouse", "status": "created", "is_rfbs": False,
        "is_economy": False, "is_kgt": False, "has_entrusted_acceptance": False, "working_days": [1, 2, 3, 4, 5],
    }], "has_next": False, "cursor": ""})


def _item_result(offer_id: str, product: dict | None, errors: list[dict]) -> dict:
    return {"offer_id": offer_id, "product_id": product_id(product) if product else 0,
            "updated": not errors, "errors": errors}


@seller_api
def stocks_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    entries = body.get("stocks")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_STOCKS:
        raise BadRequest(f"invalid request: stocks must hold 1 to {MAX_STOCKS} entries")
    warehouse = account.settings.get("warehouse_id")
    rows = {row.key: row for row in dataset.objects(account, "product")}
    by_product_id = {str(product_id(row.data)): key for key, row in rows.items()}
    results, changed = [], []
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadRequest("invalid request: each stock entry must be an object")
        offer = str(entry.get("offer_id") or by_product_id.get(str(entry.get("product_id")), ""))
        row = rows.get(offer)
        stock = entry.get("stock")
        answer_warehouse = entry.get("warehouse_id")
        if row is None:
            results.append({**_item_result(offer, None, [{"code": "NOT_FOUND", "message": "Product not found"}]),
                            "warehouse_id": answer_warehouse})
            continue
        errors = []
        if str(answer_warehouse) != str(warehouse):
            errors.append({"code": "WAREHOUSE_NOT_FOUND", "message": "Warehouse not found"})
        elif not isinstance(stock, int) or isinstance(stock, bool) or stock < 0:
            errors.append({"code": "INVALID_STOCK", "message": "stock must be a whole number of at least 0"})
        if not errors:
            row.data["quantity"] = stock
            changed.append(row)
        results.append({**_item_result(offer, row.data, errors), "warehouse_id": answer_warehouse})
    if changed:
        SandboxObject.objects.bulk_update(changed, ["data"])
    return json_response({"result": results})


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@seller_api
def import_prices_view(request: HttpRequest, account: SandboxAccount, body: dict) -> HttpResponse:
    entries = body.get("prices")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_PRICES:
        raise BadRequest(f"invalid request: prices must hold 1 to {MAX_PRICES} entries")
    rows = {row.key: row for row in dataset.objects(account, "product")}
    results, changed = [], []
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadRequest("invalid request: each price entry must be an object")
        offer = str(entry.get("offer_id") or "")
        row = rows.get(offer)
        if row is None:
            results.append(_item_result(offer, None, [{"code": "NOT_FOUND", "message": "Product not found"}]))
            continue
        price, old = _decimal(entry.get("price")), _decimal(entry.get("old_price", "0"))
        errors = []
        if entry.get("currency_code", "RUB") != row.data.get("currency", "RUB"):
            errors.append({"code": "CURRENCY_MISMATCH", "message": "currency_code differs from the account's"})
        elif price is None or price <= 0 or price != price.quantize(Decimal("0.01")):
            errors.append({"code": "INVALID_PRICE", "message": "price must be a positive amount in kopecks precision"})
        elif old is None or (old and old <= price):
            errors.append({"code": "INVALID_OLD_PRICE", "message": "old_price must be 0 or greater than price"})
        if not errors:
            row.data["price"] = dataset.money(price)
            if old:
                row.data["mrp"] = dataset.money(old)
            changed.append(row)
        results.append(_item_result(offer, row.data, errors))
    if changed:
        SandboxObject.objects.bulk_update(changed, ["data"])
    return json_response({"result": results})


@endpoint
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """Haat's demo button: {"account_id", "skus": [{"sku", "quantity"}]} -> a new posting (no auth: sandbox only)."""
    if request.method != "POST":
        return error(405, 12, f"Method {request.method} is not allowed")
    try:
        account, skus = read_demo_order(request, platform=PLATFORM, not_found="No sandbox Ozon account with that account_id")
        order = create_order(account, skus=skus)
    except DemoOrderRefused as exc:
        return error(exc.status, 5 if exc.status == 404 else 3, exc.message)
    except ValueError as exc:
        return error(400, 3, str(exc))
    return json_response({"posting_number": posting_number(order["id"]), "order_number": order_number(order["id"])},
                         status=201)


@endpoint
def push_settings_view(request: HttpRequest) -> HttpResponse:
    """The cabinet's push settings: {"account_id", "url"} -> TYPE_PING, then saved (no auth: sandbox only)."""
    if request.method != "POST":
        return error(405, 12, f"Method {request.method} is not allowed")
    body = read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("account_id"), str):
        return error(400, 3, "account_id and url are required")
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, account_id=body["account_id"]).first()
    if account is None:
        return error(404, 5, "No sandbox Ozon account with that account_id")
    try:
        configure_push(account, body.get("url"))
    except PushUrlRefused as exc:
        return error(400, 3, str(exc))
    return json_response({"result": True, "url": account.settings["push_url"]})


urlpatterns = [
    path("v2/warehouse/list", warehouse_list_view, name="warehouse-list"),
    path("v4/posting/fbs/list", posting_list_view, name="posting-fbs-list"),
    path("v3/posting/fbs/get", posting_get_view, name="posting-fbs-get"),
    path("v4/posting/fbs/ship", posting_ship_view, name="posting-fbs-ship"),
    path("v2/fbs/posting/tracking-number/set", tracking_number_set_view, name="tracking-number-set"),
    path("v3/product/list", product_list_view, name="product-list"),
    path("v3/product/info/list", product_info_list_view, name="product-info-list"),
    path("v2/products/stocks", stocks_view, name="stocks"),
    path("v1/product/import/prices", import_prices_view, name="import-prices"),
    path("_sandbox/orders", demo_order_view, name="demo-order"),
    path("_sandbox/push", push_settings_view, name="push-settings"),
]
