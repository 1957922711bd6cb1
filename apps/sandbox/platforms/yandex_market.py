"""The Yandex Market Partner API, played locally at /sandbox/yandex_market/ (the host's root).

Paths, field names, enums, paging and error shapes follow Yandex's official OpenAPI description
(../shared/specs/yandex-market/openapi, BSD-3); the tests validate this module's answers against it.

- Auth: `Api-Key: <token>`; a token opens one business (cabinet) and its campaigns (shops). Missing or
  unknown key: 401; a campaign or business of another cabinet: 403. Errors are
  `{"status": "ERROR", "errors": [{"code", "message"}]}`; the rate limit answer is 420 Enhance Your Calm.
- `GET /v2/campaigns`, `GET /v2/campaigns/{campaignId}`.
- `POST /v1/businesses/{businessId}/orders` (filters campaignIds, statuses, dates.*; `page_token`,
  `limit` <= 50 truncated; without creation dates, orders created in the last 30 days).
- `POST /v2/businesses/{businessId}/offer-mappings` (`page_token`, `limit` <= 100 truncated).
- `PUT /v2/campaigns/{campaignId}/offers/stocks` (<= 2000 SKUs, one warehouse entry each).
- `POST /v2/businesses/{businessId}/offer-prices/updates` (<= 500 offers; discountBase whole, 5-99% off).
- `PUT /v2/campaigns/{campaignId}/orders/{orderId}/status`: STARTED -> READY_TO_SHIP, -> CANCELLED/SHOP_FAILED,
  and for DBS shops (the seller delivers) READY_TO_SHIP -> DELIVERY -> DELIVERED.
- `POST /v2/campaigns/{campaignId}/orders/{orderId}/delivery/track` (DBS; PROCESSING, DELIVERY or PICKUP).
- `POST /_sandbox/orders` (Haat's demo button) places a new order.
- API notifications: `POST /_sandbox/notifications` {account_id, url} is the cabinet's "API notifications" form.
  Like Market, it sends `PING` first and keeps the URL only when the answer is the documented
  {version, name, time}; then every new order (`ORDER_CREATED`), status change (`ORDER_STATUS_UPDATED`) and
  cancellation (`ORDER_CANCELLED`) is POSTed there as `sendNotification` describes, from 127.0.0.1.

Neutral orders (apps/sandbox/dataset.py) become Yandex orders with the same numeric id: pending = UNPAID,
unshipped = PROCESSING/STARTED, shipped = DELIVERY, delivered = DELIVERED, cancelled =
CANCELLED/USER_CHANGED_MIND, returned = RETURNED. Money is in roubles (`RUR`); about one order in five was
partly paid with Plus points (`cashback`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
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

PLATFORM = "yandex_market"
# Market waits one second for the answer to PING (and ten for any other notification: deliver_webhook's timeout).
PING_TIMEOUT = 1.0
MSK = timezone(timedelta(hours=3))
ORDERS_LIMIT = 50
MAPPINGS_LIMIT = 100
CAMPAIGNS_LIMIT = 100
MAX_STOCK_SKUS = 2000
MAX_PRICE_OFFERS = 500
OWN_DELIVERY_SERVICE = 99  # Yandex's id for "the shop's own delivery service" (DBS)
MARKET_DELIVERY_SERVICE = 1005111
STATUS = {"pending": ("UNPAID", "WAITING_USER_INPUT"), "unshipped": ("PROCESSING", "STARTED"),
          "shipped": ("DELIVERY", "DELIVERY_SERVICE_RECEIVED"), "delivered": ("DELIVERED", "DELIVERY_SERVICE_DELIVERED"),
          "cancelled": ("CANCELLED", "USER_CHANGED_MIND"), "returned": ("RETURNED", "UNKNOWN")}
CITIES = [(213, "Москва", "101000", "Тверская улица"), (2, "Санкт-Петербург", "190000", "Невский проспект"),
          (43, "Казань", "420111", "улица Баумана"), (54, "Екатеринбург", "620014", "улица Вайнера"),
          (65, "Новосибирск", "630099", "Красный проспект")]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(str(p) for p in (settings.SANDBOX_SEED, *parts)).encode()).digest()[:6],
                          "big")


# --- accounts and the helpers tests and the demo use ----------------------------------------------------------


def create_demo_account(account_id: str, name: str, *, placement: str = "DBS") -> SandboxAccount:
    """A cabinet with one shop (campaign). `account_id` is the campaign id; idempotent."""
    campaign_id = int(account_id) if account_id.isdigit() else 20_000_000 + _digest(account_id) % 9_000_000
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={
            "name": name,
            "secrets": {"api_key": f"ACMA:{secrets.token_urlsafe(30)}:{secrets.token_hex(4)}"},
            "settings": {"campaign_id": campaign_id, "business_id": 90_000_000 + _digest(account_id, "b") % 9_000_000,
                         "placement": placement, "currency": "RUB",
                         "order_id_base": 50_000_000 + (_digest(account_id, "o") % 900) * 10_000},
        },
    )
    prepare(account)
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}", "campaign_id": str(account.settings["campaign_id"]),
            "business_id": str(account.settings["business_id"])}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"api_key": account.secrets["api_key"]}


def prepare(account: SandboxAccount) -> None:
    """Seed once, with whole-rouble crossed-out prices (Yandex's discountBase is a whole number)."""
    if account.seeded and account.settings.get("whole_discount_base"):
        return
    with transaction.atomic():
        dataset.ensure_seeded(account)
        locked = SandboxAccount._default_manager.select_for_update().get(pk=account.pk)
        if not locked.settings.get("whole_discount_base"):
            rows = list(dataset.objects(locked, "product"))
            for row in rows:
                row.data["mrp"] = dataset.money(Decimal(row.data["mrp"]).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
            SandboxObject.objects.bulk_update(rows, ["data"])
            locked.settings["whole_discount_base"] = True
            locked.save(update_fields=["settings"])
        account.settings, account.seeded = locked.settings, True


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: a new PROCESSING/STARTED order (neutral shape), and `ORDER_CREATED` to the
    notification URL when the cabinet has one."""
    prepare(account)
    check_order_lines(account, skus, unknown="SKU(s)")
    order = dataset.order_create(account, skus=skus)
    notify(account, {"notificationType": "ORDER_CREATED", "campaignId": account.settings["campaign_id"],
                     "orderId": int(order["id"]), "createdAt": _utc(order["created_at"]), "items": _items(order)})
    return order


def update_order(account: SandboxAccount, order_id: str, **changes: Any) -> dict:
    """Market changed an order (delivery progress, a buyer's cancellation): stored, then notified."""
    before = _state(account, _order_row(account, int(order_id)).data)
    order = dataset.order_update(account, order_id, **changes)
    notify_status_change(account, order, before)
    return order


# --- API notifications (the cabinet's "API notifications" tab) ---------------------------------------------------


class NotificationUrlRefused(sandbox_http.CallbackUrlRefused):
    """The cabinet would not save the URL: Market's PING got no documented answer."""


def ping_answer_problem(status: int | None, answer: Any) -> str:
    """What is wrong with an answer to PING: Market wants 200 with version and name (1 to 100 characters) and the
    time of the answer (ISO 8601); "" when it is right."""
    return sandbox_http.ping_answer_problem(status, answer, max_name_length=100)


def configure_notifications(account: SandboxAccount, url: str, *, post=None) -> None:
    """Save the notification URL as the cabinet does: only after a PING it answers as documented."""
    ping = {"notificationType": "PING", "time": dj_timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    sandbox_http.save_callback_url(account, url, setting="notification_url", ping=ping, timeout=PING_TIMEOUT,
                                   problem=ping_answer_problem, refused=NotificationUrlRefused, sender="Market",
                                   post=post)


def _utc(value: str) -> str:
    return dataset.parse_iso(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _items(order: dict) -> list[dict]:
    return [{"offerId": line["sku"], "count": int(line["quantity"])} for line in order["lines"]]


def notify(account: SandboxAccount, payload: dict) -> int | None:
    """POST a notification to the cabinet's URL, if any; returns the store's HTTP status."""
    return sandbox_http.send_to_callback_url(account, "notification_url", payload,
                                             kind=f"Yandex Market {payload.get('notificationType')}")


def notify_status_change(account: SandboxAccount, order: dict, before: tuple[str, str]) -> None:
    status, substatus = _state(account, order)
    if (status, substatus) == tuple(before):
        return
    base = {"campaignId": account.settings["campaign_id"], "orderId": int(order["id"])}
    when = _utc(order["updated_at"])
    notify(account, {"notificationType": "ORDER_STATUS_UPDATED", **base, "status": status,
                     "substatus": substatus or "UNKNOWN", "updatedAt": when})
    if status == "CANCELLED":
        notify(account, {"notificationType": "ORDER_CANCELLED", **base, "cancelledAt": when, "items": _items(order)})


def revoke_key(account: SandboxAccount) -> None:
    """The seller deleted the token in the cabinet: every call with it answers 401."""
    account.secrets = {**account.secrets, "revoked": True}
    account.save(update_fields=["secrets"])


# --- answers in the platform's shapes -------------------------------------------------------------------------


def api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response({"status": "ERROR", "errors": [{"code": code, "message": message}]}, status=status,
                         headers=headers)


def server_error(status: int, message: str) -> HttpResponse:
    return api_error(status, "INTERNAL_ERROR", message)


def rate_limited() -> HttpResponse:
    return api_error(420, "LIMIT_EXCEEDED", "Hit rate limit of 4 parallel requests")


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _key_account(request: HttpRequest, kwargs: dict) -> SandboxAccount | HttpResponse:
    """The Api-Key header's account; a campaign or business in the path must be the key's."""
    key = request.headers.get("Api-Key", "").strip()
    if not key:
        return api_error(401, "UNAUTHORIZED", "Api-Key header is required")
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, secrets__api_key=key).first()
    if account is None or account.secrets.get("revoked"):
        return api_error(401, "UNAUTHORIZED", "Invalid or revoked Api-Key token")
    prepare(account)
    for name, setting in (("campaign_id", "campaign_id"), ("business_id", "business_id")):
        if name in kwargs and kwargs[name] != account.settings[setting]:
            return api_error(403, "FORBIDDEN", f"Access denied to {name.split('_')[0]} {kwargs[name]}")
    return account


# A Yandex API view: fault injection, method check, Api-Key auth, errors in the platform's shape.
partner_api = platform_api(
    endpoint=endpoint, authenticate=_key_account, handled=ApiError,
    wrong_method=lambda request: api_error(405, "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed"),
    render_error=lambda _request, exc: api_error(exc.status, exc.code, exc.message))


def _body(request: HttpRequest, *, required: bool = True) -> dict:
    body = read_json(request)
    if body is None and not required and not request.body:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "BAD_REQUEST", "Request body must be a JSON object")
    return body


def _limit(request: HttpRequest, maximum: int) -> int:
    raw = request.GET.get("limit")
    if raw is None:
        return maximum
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(400, "BAD_REQUEST", "limit must be a positive integer")
    return min(int(raw), maximum)  # "Truncate": larger values are cut to the maximum


def _token_of(request: HttpRequest) -> str:
    return request.GET.get("page_token") or request.GET.get("pageToken") or ""


def _query_digest(query: Any) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:12]


def encode_token(offset: int, query: Any) -> str:
    raw = json.dumps({"o": offset, "q": _query_digest(query)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query: Any) -> int:
    """A page token is the offset, bound to the request it was issued for."""
    if not token:
        return 0
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(state["o"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "BAD_REQUEST", "Invalid page_token") from None
    if state.get("q") != _query_digest(query) or offset < 0:
        raise ApiError(400, "BAD_REQUEST", "page_token was issued for another request")
    return offset


def _page(items: list, request: HttpRequest, maximum: int, query: Any) -> tuple[list, dict]:
    offset = decode_token(_token_of(request), query)
    size = _limit(request, maximum)
    page = items[offset:offset + size]
    paging = {"nextPageToken": encode_token(offset + size, query)} if offset + size < len(items) else {}
    return page, paging


# --- rendering ------------------------------------------------------------------------------------------------


def _msk(value: str) -> str:
    return dataset.parse_iso(value).astimezone(MSK).isoformat(timespec="seconds")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _campaign(account: SandboxAccount) -> dict:
    return {"domain": account.name, "id": account.settings["campaign_id"], "clientId": account.settings["business_id"] + 1,
            "business": {"id": account.settings["business_id"], "name": account.name},
            "placementType": account.settings.get("placement", "DBS"), "apiAvailability": "AVAILABLE"}


def _state(account: SandboxAccount, order: dict) -> tuple[str, str]:
    own = order.get("ym") or {}
    if own.get("status"):
        return own["status"], own.get("substatus", "")
    return STATUS[order["status"]]


def _program(account: SandboxAccount, order: dict) -> str:
    return "FBY" if order.get("fulfilment_channel") == "marketplace" else account.settings.get("placement", "DBS")


def _cashback(order: dict) -> Decimal:
    """Part of the first line paid with Plus points, for about one order in five."""
    if _digest(order["id"], "plus") % 5:
        return Decimal("0")
    first = order["lines"][0]
    return (Decimal(first["unit_price"]) * first["quantity"] / 10).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def render_order(account: SandboxAccount, order: dict) -> dict:
    status, substatus = _state(account, order)
    program = _program(account, order)
    region_id, city, postcode, street = CITIES[_digest(order["id"], "city") % len(CITIES)]
    cashback = _cashback(order)
    items = []
    for n, line in enumerate(order["lines"]):
        amount = Decimal(line["unit_price"]) * line["quantity"]
        prices: dict[str, Any] = {"payment": {"value": _number(amount - (cashback if n == 0 else 0)), "currencyId": "RUR"},
                                  "vat": "NO_VAT"}
        if n == 0 and cashback:
            prices["cashback"] = {"value": _number(cashback), "currencyId": "RUR"}
        items.append({"id": int(line["id"]), "offerId": line["sku"], "offerName": line["title"],
                      "count": int(line["quantity"]), "prices": prices})
    total = Decimal(order["total"])
    own = program == "DBS"
    created = dataset.parse_iso(order["created_at"])
    delivery: dict[str, Any] = {
        "type": "DELIVERY", "serviceName": "Собственная служба" if own else "Доставка Маркета",
        "deliveryServiceId": OWN_DELIVERY_SERVICE if own else MARKET_DELIVERY_SERVICE,
        "deliveryPartnerType": "SHOP" if own else "YANDEX_MARKET", "dispatchType": "BUYER",
        "dates": {"fromDate": (created + timedelta(days=3)).astimezone(MSK).date().isoformat(),
                  "toDate": (created + timedelta(days=5)).astimezone(MSK).date().isoformat()},
        "shipment": {"shipmentDate": (created + timedelta(days=1)).astimezone(MSK).date().isoformat()},
        "courier": {"address": {"country": "Россия", "postcode": postcode, "city": city, "street": street,
                                "house": str(1 + _digest(order["id"], "house") % 120)},
                    "region": {"id": region_id, "name": city, "type": "CITY"}},
    }
    tracks = (order.get("ym") or {}).get("tracks") or []
    if tracks:
        delivery["tracks"] = tracks
    answer = {
        "orderId": int(order["id"]), "campaignId": account.settings["campaign_id"], "programType": program,
        "status": status, "substatus": substatus or "UNKNOWN", "creationDate": _msk(order["created_at"]),
        "updateDate": _msk(order["updated_at"]), "paymentType": "PREPAID", "paymentMethod": "YANDEX", "fake": False,
        "items": items,
        "prices": {"payment": {"value": _number(total - cashback), "currencyId": "RUR"},
                   **({"cashback": {"value": _number(cashback), "currencyId": "RUR"}} if cashback else {})},
        "delivery": delivery, "buyerType": "PERSON",
    }
    return answer


def _ddmmyyyy(value: str, *, time: bool) -> str:
    moment = dataset.parse_iso(value).astimezone(MSK)
    return moment.strftime("%d-%m-%Y %H:%M:%S" if time else "%d-%m-%Y")


def render_order_v2(account: SandboxAccount, order: dict) -> dict:
    """The older OrderDTO, which the status change answers with."""
    status, substatus = _state(account, order)
    own = _program(account, order) == "DBS"
    total = _number(Decimal(order["total"]))
    return {
        "id": int(order["id"]), "status": status, "substatus": substatus or "UNKNOWN",
        "creationDate": _ddmmyyyy(order["created_at"], time=True), "updatedAt": _ddmmyyyy(order["updated_at"], time=True),
        "currency": "RUR", "itemsTotal": total, "deliveryTotal": 0, "buyerItemsTotal": total, "buyerTotal": total,
        "buyerItemsTotalBeforeDiscount": total, "paymentType": "PREPAID", "paymentMethod": "YANDEX", "fake": False,
        "items": [{"id": int(line["id"]), "offerId": line["sku"], "offerName": line["title"],
                   "price": _number(Decimal(line["unit_price"])), "buyerPrice": _number(Decimal(line["unit_price"])),
                   "buyerPriceBeforeDiscount": _number(Decimal(line["unit_price"])), "count": int(line["quantity"])}
                  for line in order["lines"]],
        "delivery": {"type": "DELIVERY", "serviceName": "Собственная служба" if own else "Доставка Маркета",
                     "deliveryPartnerType": "SHOP" if own else "YANDEX_MARKET",
                     "deliveryServiceId": OWN_DELIVERY_SERVICE if own else MARKET_DELIVERY_SERVICE,
                     "dates": {"fromDate": _ddmmyyyy(order["created_at"], time=False)}},
        "buyer": {"type": "PERSON"}, "taxSystem": "USN",
    }


def _discount_base(product: dict) -> Decimal | None:
    price, mrp = Decimal(product["price"]), Decimal(product.get("mrp") or 0)
    if mrp != mrp.to_integral_value() or mrp <= price:
        return None
    return mrp if Decimal("0.05") <= (mrp - price) / mrp <= Decimal("0.99") else None


def render_mapping(account: SandboxAccount, product: dict, updated: datetime) -> dict:
    price: dict[str, Any] = {"value": _number(Decimal(product["price"])), "currencyId": "RUR",
                             "updatedAt": updated.astimezone(MSK).isoformat(timespec="seconds")}
    base = _discount_base(product)
    if base is not None:
        price["discountBase"] = _number(base)
    market_sku = 100_000_000_000 + _digest(account.account_id, product["sku"]) % 900_000_000
    return {
        "offer": {"offerId": product["sku"], "name": product["title"], "description": product["description"],
                  "vendor": account.name, "barcodes": [product["barcode"]], "basicPrice": price, "archived": False,
                  "campaigns": [{"campaignId": account.settings["campaign_id"],
                                 "status": "PUBLISHED" if product["quantity"] else "NO_STOCKS"}]},
        "mapping": {"marketSku": market_sku, "marketSkuName": product["title"],
                    "marketCategoryId": 90_000 + _digest(product.get("category", "")) % 9_000,
                    "marketCategoryName": product.get("category", "")},
    }


# --- views ----------------------------------------------------------------------------------------------------


@partner_api("GET")
def campaigns_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    campaigns, paging = _page([_campaign(account)], request, CAMPAIGNS_LIMIT, "campaigns")
    return json_response({"campaigns": campaigns, "pager": {"total": 1, "from": 1, "to": 1, "currentPage": 1,
                                                             "pagesCount": 1, "pageSize": CAMPAIGNS_LIMIT},
                          "paging": paging})


@partner_api("GET")
def campaign_view(request: HttpRequest, account: SandboxAccount, campaign_id: int) -> HttpResponse:
    return json_response({"campaign": _campaign(account)})


def _when(value: Any, name: str, *, date_only: bool = False) -> datetime:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "BAD_REQUEST", f"{name} must be a {'date' if date_only else 'date-time'}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", f"{name} is not ISO 8601: {value[:40]}") from None
    if date_only and len(value) != 10:
        raise ApiError(400, "BAD_REQUEST", f"{name} must be a date (YYYY-MM-DD)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MSK)


def _id_list(body: dict, name: str, limit: int | None = 50) -> list | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not value or (limit and len(value) > limit):
        raise ApiError(400, "BAD_REQUEST", f"{name} must be a list of 1 to {limit} values")
    return value


@partner_api("POST")
def business_orders_view(request: HttpRequest, account: SandboxAccount, business_id: int) -> HttpResponse:
    body = _body(request)
    campaigns = _id_list(body, "campaignIds")
    statuses = _id_list(body, "statuses", None)
    order_ids = _id_list(body, "orderIds")
    dates = body.get("dates") or {}
    if not isinstance(dates, dict):
        raise ApiError(400, "BAD_REQUEST", "dates must be an object")
    now = dj_timezone.now()
    created_from = _when(dates["creationDateFrom"], "creationDateFrom", date_only=True) if dates.get(
        "creationDateFrom") else now - timedelta(days=30)
    created_to = _when(dates["creationDateTo"], "creationDateTo", date_only=True) if dates.get("creationDateTo") else now
    if created_to - created_from > timedelta(days=30, hours=1):
        raise ApiError(400, "BAD_REQUEST", "The creation date range must not exceed 30 days")
    updated_from = _when(dates["updateDateFrom"], "updateDateFrom") if dates.get("updateDateFrom") else None
    updated_to = _when(dates["updateDateTo"], "updateDateTo") if dates.get("updateDateTo") else None
    rows = dataset.objects(account, "order").order_by("updated_at", "key")
    if updated_from:
        rows = rows.filter(updated_at__gte=updated_from)
    if updated_to:
        rows = rows.filter(updated_at__lte=updated_to)
    if campaigns is not None and account.settings["campaign_id"] not in campaigns:
        rows = rows.none()
    orders = []
    for row in rows:
        created = dataset.parse_iso(row.data["created_at"])
        if not created_from <= created <= created_to:
            continue
        if order_ids is not None and int(row.key) not in order_ids:
            continue
        rendered = render_order(account, row.data)
        if statuses is not None and rendered["status"] not in statuses:
            continue
        orders.append(rendered)
    page, paging = _page(orders, request, ORDERS_LIMIT, body)
    return json_response({"orders": page, "paging": paging})


@partner_api("POST")
def offer_mappings_view(request: HttpRequest, account: SandboxAccount, business_id: int) -> HttpResponse:
    body = _body(request, required=False)
    offer_ids = _id_list(body, "offerIds", 100)
    if body.get("archived"):
        return json_response({"status": "OK", "result": {"paging": {}, "offerMappings": []}})
    rows = dataset.objects(account, "product").order_by("key")
    if offer_ids is not None:
        rows = rows.filter(key__in=[str(o) for o in offer_ids])
    mappings = [render_mapping(account, row.data, row.updated_at) for row in rows]
    page, paging = _page(mappings, request, MAPPINGS_LIMIT, body)
    return json_response({"status": "OK", "result": {"paging": paging, "offerMappings": page}})


def _catalog(account: SandboxAccount) -> dict[str, SandboxObject]:
    return {row.key: row for row in dataset.objects(account, "product")}


@partner_api("PUT")
def stocks_view(request: HttpRequest, account: SandboxAccount, campaign_id: int) -> HttpResponse:
    skus = _body(request).get("skus")
    if not isinstance(skus, list) or not skus or len(skus) > MAX_STOCK_SKUS:
        raise ApiError(400, "BAD_REQUEST", f"skus must list 1 to {MAX_STOCK_SKUS} offers")
    catalog, changed = _catalog(account), {}
    for entry in skus:
        sku = entry.get("sku") if isinstance(entry, dict) else None
        items = entry.get("items") if isinstance(entry, dict) else None
        if not isinstance(sku, str) or sku not in catalog:
            raise ApiError(400, "BAD_REQUEST", f"Offer {str(sku)[:60]} is not in the catalogue")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise ApiError(400, "BAD_REQUEST", f"items of {sku[:60]} must hold exactly one entry")
        count = items[0].get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 2_000_000_000:
            raise ApiError(400, "BAD_REQUEST", f"count of {sku[:60]} must be an integer from 0 to 2000000000")
        if sku in changed:
            raise ApiError(400, "BAD_REQUEST", f"Offer {sku[:60]} appears twice")
        changed[sku] = count
    now = dj_timezone.now()
    rows = []
    for sku, count in changed.items():
        row = catalog[sku]
        row.data["quantity"], row.updated_at = count, now
        rows.append(row)
    SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    return json_response({"status": "OK"})


@partner_api("POST")
def price_updates_view(request: HttpRequest, account: SandboxAccount, business_id: int) -> HttpResponse:
    offers = _body(request).get("offers")
    if not isinstance(offers, list) or not offers or len(offers) > MAX_PRICE_OFFERS:
        raise ApiError(400, "BAD_REQUEST", f"offers must list 1 to {MAX_PRICE_OFFERS} offers")
    catalog, changed = _catalog(account), {}
    for entry in offers:
        sku = entry.get("offerId") if isinstance(entry, dict) else None
        price = entry.get("price") if isinstance(entry, dict) else None
        if not isinstance(sku, str) or sku not in catalog:
            raise ApiError(400, "BAD_REQUEST", f"Offer {str(sku)[:60]} is not in the catalogue")
        if not isinstance(price, dict) or price.get("currencyId") != "RUR":
            raise ApiError(400, "BAD_REQUEST", f"price of {sku[:60]} needs a value in RUR")
        value, base = price.get("value"), price.get("discountBase")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ApiError(400, "BAD_REQUEST", f"price.value of {sku[:60]} must be positive")
        value = Decimal(str(value))
        if base is not None:
            if isinstance(base, bool) or not isinstance(base, int | float) or base != int(base):
                raise ApiError(400, "BAD_REQUEST", f"discountBase of {sku[:60]} must be a whole number")
            base = Decimal(int(base))
            if not Decimal("0.05") <= (base - value) / base <= Decimal("0.99"):
                raise ApiError(400, "BAD_REQUEST", f"The discount of {sku[:60]} must be 5% to 99%")
        changed[sku] = (value, base)
    now = dj_timezone.now()
    rows = []
    for sku, (value, base) in changed.items():
        row = catalog[sku]
        row.data["price"] = dataset.money(value)
        if base is not None:
            row.data["mrp"] = dataset.money(base)
        row.updated_at = now
        rows.append(row)
    SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    return json_response({"status": "OK"})


def _order_row(account: SandboxAccount, order_id: int) -> SandboxObject:
    row = dataset.objects(account, "order").filter(key=str(order_id)).first()
    if row is None:
        raise ApiError(404, "NOT_FOUND", f"Order {order_id} not found")
    return row


@partner_api("PUT")
def order_status_view(request: HttpRequest, account: SandboxAccount, campaign_id: int, order_id: int) -> HttpResponse:
    change = _body(request).get("order")
    if not isinstance(change, dict) or not isinstance(change.get("status"), str):
        raise ApiError(400, "BAD_REQUEST", "order.status is required")
    with transaction.atomic():
        row = _order_row(account, order_id)
        order = row.data
        status, substatus = _state(account, order)
        target = (change["status"], change.get("substatus") or "")
        dbs = _program(account, order) == "DBS"
        allowed = {
            ("PROCESSING", "STARTED"): {("PROCESSING", "READY_TO_SHIP"), ("CANCELLED", "SHOP_FAILED")},
            ("PROCESSING", "READY_TO_SHIP"): {("CANCELLED", "SHOP_FAILED"), *((("DELIVERY", ""),) if dbs else ())},
            ("DELIVERY", substatus): {("DELIVERED", "")} if dbs else set(),
        }.get((status, substatus), set())
        if target not in allowed:
            raise ApiError(400, "STATUS_NOT_ALLOWED",
                           f"Order {order_id} cannot go from {status}/{substatus} to {target[0]}/{target[1] or '-'}")
        neutral = {"PROCESSING": "unshipped", "CANCELLED": "cancelled", "DELIVERY": "shipped", "DELIVERED": "delivered"}
        own = {**(order.get("ym") or {}), "status": target[0],
               "substatus": target[1] or {"DELIVERY": "DELIVERY_SERVICE_RECEIVED",
                                          "DELIVERED": "DELIVERY_SERVICE_DELIVERED"}.get(target[0], "")}
        updated = dataset.order_update(account, row.key, status=neutral[target[0]], ym=own)
    notify_status_change(account, updated, (status, substatus))
    return json_response({"order": render_order_v2(account, updated)})


@partner_api("POST")
def delivery_track_view(request: HttpRequest, account: SandboxAccount, campaign_id: int, order_id: int) -> HttpResponse:
    body = _body(request)
    code, service = body.get("trackCode"), body.get("deliveryServiceId")
    if not isinstance(code, str) or not code.strip() or not isinstance(service, int) or isinstance(service, bool):
        raise ApiError(400, "BAD_REQUEST", "trackCode and deliveryServiceId are required")
    with transaction.atomic():
        row = _order_row(account, order_id)
        status, _sub = _state(account, row.data)
        if _program(account, row.data) != "DBS":
            raise ApiError(400, "BAD_REQUEST", "Track codes are sent for DBS orders only")
        if status not in ("PROCESSING", "DELIVERY", "PICKUP"):
            raise ApiError(400, "STATUS_NOT_ALLOWED", f"Order {order_id} is {status}: no track code can be set")
        if service != render_order(account, row.data)["delivery"]["deliveryServiceId"]:
            raise ApiError(400, "BAD_REQUEST", f"Delivery service {service} does not deliver order {order_id}")
        own = {**(row.data.get("ym") or {}), "tracks": [{"trackCode": code, "deliveryServiceId": service}]}
        dataset.order_update(account, row.key, ym=own, tracking={"number": code, "carrier": "", "url": ""})
    return json_response({"status": "OK"})


@endpoint
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """Haat's demo button: {"account_id": ..., "skus": [{"sku", "quantity"}]} -> a new order (no auth: sandbox only)."""
    if request.method != "POST":
        return api_error(405, "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed")
    try:
        account, skus = read_demo_order(request, platform=PLATFORM,
                                        not_found="No sandbox Yandex Market account with that account_id")
        order = create_order(account, skus=skus)
    except DemoOrderRefused as exc:
        return api_error(exc.status, "NOT_FOUND" if exc.status == 404 else "BAD_REQUEST", exc.message)
    except ValueError as exc:
        return api_error(400, "BAD_REQUEST", str(exc))
    return json_response(render_order(account, order), status=201)


@endpoint
def notifications_view(request: HttpRequest) -> HttpResponse:
    """The cabinet's API notifications form: {"account_id", "url"} -> PING, then saved (no auth: sandbox only)."""
    if request.method != "POST":
        return api_error(405, "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed")
    body = read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("account_id"), str):
        return api_error(400, "BAD_REQUEST", "account_id and url are required")
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, account_id=body["account_id"]).first()
    if account is None:
        return api_error(404, "NOT_FOUND", "No sandbox Yandex Market account with that account_id")
    try:
        configure_notifications(account, body.get("url"))
    except NotificationUrlRefused as exc:
        return api_error(400, "BAD_REQUEST", str(exc))
    return json_response({"status": "OK", "url": account.settings["notification_url"]})


urlpatterns = [
    path("v2/campaigns", campaigns_view, name="campaigns"),
    path("v2/campaigns/<int:campaign_id>", campaign_view, name="campaign"),
    path("v1/businesses/<int:business_id>/orders", business_orders_view, name="business-orders"),
    path("v2/businesses/<int:business_id>/offer-mappings", offer_mappings_view, name="offer-mappings"),
    path("v2/businesses/<int:business_id>/offer-prices/updates", price_updates_view, name="offer-prices-updates"),
    path("v2/campaigns/<int:campaign_id>/offers/stocks", stocks_view, name="stocks"),
    path("v2/campaigns/<int:campaign_id>/orders/<int:order_id>/status", order_status_view, name="order-status"),
    path("v2/campaigns/<int:campaign_id>/orders/<int:order_id>/delivery/track", delivery_track_view,
         name="delivery-track"),
    path("_sandbox/orders", demo_order_view, name="demo-order"),
    path("_sandbox/notifications", notifications_view, name="notifications"),
]

__all__ = ["configure_notifications", "connection_config", "connection_credentials", "create_demo_account",
           "create_order", "revoke_key", "update_order", "urlpatterns"]
