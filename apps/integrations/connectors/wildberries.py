"""Wildberries seller API: FBS assembly tasks, cards, stocks per warehouse, prices, supplies.

Auth is one header, `Authorization: <token>` (a token made in the seller cabinet under Settings → API
access, scoped to API categories). Each API domain has its own host (marketplace-api, content-api,
discounts-prices-api, common-api .wildberries.ru); the hosts come from the connection's config when set
(the sandbox), else the production ones. 429 answers carry X-Ratelimit-Retry, which the HTTP layer honours.

What an Order is. A Wildberries FBS "order" is an assembly task for ONE unit of one size; the tasks a
buyer checked out together share an `orderUid`. Haat's Order is that checkout: its lines are the SKUs
with the number of tasks as quantity, and the task ids are kept in `raw`. Tasks are read with
`GET /api/v3/orders` (created in a window of at most 30 days, `next` cursor) and their statuses with
`POST /api/v3/orders/status`. WB stamps no update time, so each sync re-reads the tasks created in a
look-back window (`status_lookback_days`, default 7) before `since`, to catch status changes.

Fulfilment on WB is a supply: the seller's tasks go into a supply that is handed to WB. There is no
carrier or tracking number. Haat creates a supply for the order, adds its tasks and hands it over.
Wildberries has no webhooks: Haat polls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    Connector,
    CredentialField,
    FulfilmentData,
    FulfilmentResult,
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    PriceUpdate,
    ProductData,
    PushResult,
    StockUpdate,
    chunked,
)
from apps.integrations.connectors.errors import AuthError, ConnectorError, PermanentError
from apps.integrations.connectors.parsing import payload_text
from apps.integrations.http import HttpClient, RateLimit, default_classify

logger = logging.getLogger(__name__)

HOSTS = {"marketplace": "marketplace-api", "content": "content-api", "prices": "discounts-prices-api",
         "common": "common-api"}
MAX_TASKS = 1000
MAX_WINDOW = timedelta(days=30) - timedelta(seconds=1)
CARDS_PER_PAGE = 100
GOODS_PER_PAGE = 1000
STOCKS_PER_CALL = 1000
PRICES_PER_CALL = 1000
DEFAULT_LOOKBACK_DAYS = 7
CURRENCIES = {643: "RUB", 933: "BYN", 398: "KZT", 417: "KGS", 51: "AMD", 860: "UZS"}
PROGRESS = [OrderStatus.PENDING, OrderStatus.UNSHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.RETURNED]
WB_STATUS = {"sold": OrderStatus.DELIVERED, "sorted": OrderStatus.SHIPPED, "ready_for_pickup": OrderStatus.SHIPPED,
             "postponed_delivery": OrderStatus.SHIPPED, "declined_by_client": OrderStatus.RETURNED,
             "defect": OrderStatus.RETURNED, "canceled": OrderStatus.CANCELLED,
             "canceled_by_client": OrderStatus.CANCELLED, "canceled_by_missed_call": OrderStatus.CANCELLED}


def _task_status(supplier: str, wb: str) -> OrderStatus | None:
    if supplier == "cancel":
        return OrderStatus.CANCELLED
    if wb in WB_STATUS:
        return WB_STATUS[wb]
    if wb == "waiting":
        # new = to assemble; confirm = in an open supply (still with the seller); complete = handed to WB.
        return {"new": OrderStatus.UNSHIPPED, "confirm": OrderStatus.UNSHIPPED,
                "complete": OrderStatus.SHIPPED}.get(supplier)
    return None


_dump = partial(payload_text, limit=5000)


class WildberriesConnector(Connector):
    slug = "wildberries"
    name = "Wildberries"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                              Capability.FULFILMENT_PUSH})
    credential_fields = (
        CredentialField("token", "API token", secret=True,
                        help_text="Seller cabinet → Settings → API access: a token with the Marketplace, Content, "
                                  "Prices and discounts categories."),
        CredentialField("warehouse_id", "Seller warehouse id", required=False, stored_in="config",
                        help_text="Only when you have more than one seller warehouse: stock is set at this one."),
    )
    # Wildberries' published limits: marketplace 300 requests a minute (burst 20), content 100 a minute,
    # prices 10 requests in 6 seconds, common-api 1 a second.
    rate_limits = {
        "marketplace": RateLimit(rate=5.0, burst=20),
        "content": RateLimit(rate=100 / 60, burst=5),
        "prices": RateLimit(rate=10 / 6, burst=5),
        "common": RateLimit(rate=1.0, burst=1),
    }
    default_poll_interval = timedelta(minutes=10)
    orders_sorted_by_update = False
    default_currency = "RUB"
    docs_url = "https://dev.wildberries.ru/openapi/api-information"

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://marketplace-api.wildberries.ru"

    def _host(self, domain: str) -> str:
        config = self.context.config
        if config.get(f"{domain}_url"):
            return str(config[f"{domain}_url"]).rstrip("/")
        if config.get("base_url"):  # a sandbox root: each host is mounted under its own sub-path
            return f"{str(config['base_url']).rstrip('/')}/{HOSTS[domain]}"
        return f"https://{HOSTS[domain]}.wildberries.ru"

    # --- one call ------------------------------------------------------------------------------------------------

    def _token(self) -> str:
        token = str(self.context.credentials.get("token") or "").strip()
        if not token:
            raise AuthError("The Wildberries API token is missing: reconnect this channel.")
        return token

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        error = default_classify(response)
        if error is None:
            return None
        text = (response.content or b"").decode("utf-8", errors="replace").replace(self._token(), "***")
        try:
            payload = json.loads(text)
            words = (str(payload.get("detail") or payload.get("message") or payload.get("errorText") or "")
                     if isinstance(payload, dict) else "")
        except ValueError:
            words = ""
        message = f"Wildberries answered {response.status_code} to {urlsplit(response.url).path}"
        error.message = f"{message}: {words[:300]}" if words else message
        error.args = (error.message,)
        error.raw = text
        return error

    def _call(self, method: str, domain: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self._host(domain)}{path}", operation=domain, classify=self._classify,
                                     headers={"Authorization": self._token(), "Accept": "application/json"}, **kwargs)
        return HttpClient.json(response) if expect_json else None

    # --- test -------------------------------------------------------------------------------------------------------

    def _warehouses(self) -> list[dict]:
        data = self._call("GET", "marketplace", "/api/v3/warehouses")
        if not isinstance(data, list):
            raise PermanentError("Wildberries' warehouse list is not a list", raw=_dump(data))
        return [w for w in data if isinstance(w, dict) and w.get("id")]

    def test_connection(self) -> dict[str, Any]:
        """Seller info (who this is) and the seller's warehouses (the Marketplace category works)."""
        info = self._call("GET", "common", "/api/v1/seller-info")
        if not isinstance(info, dict) or not info.get("sid"):
            raise PermanentError("Wildberries' seller info has no sid", raw=_dump(info))
        warehouses = self._warehouses()
        return {"external_account_id": str(info["sid"]), "name": str(info.get("name") or ""),
                "warehouses": [{"id": str(w["id"]), "name": str(w.get("name") or "")} for w in warehouses]}

    # --- orders --------------------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """Checkouts with tasks created in [since - look-back, run start], every page, in task id order.

        The last checkout of a full page may continue on the next one: its tasks ride in the cursor
        until the checkout is complete, so every Order comes back whole and once.
        """
        if cursor:
            try:
                state = json.loads(cursor)
            except ValueError:
                state = None
            if not isinstance(state, dict) or not {"wfrom", "to", "next", "carry"} <= set(state):
                raise ValueError("Unreadable Wildberries orders cursor: start the sync again from its checkpoint")
        else:
            lookback = timedelta(days=int(self.context.config.get("status_lookback_days") or DEFAULT_LOOKBACK_DAYS))
            state = {"wfrom": int((since - lookback).timestamp()), "to": int(datetime.now(UTC).timestamp()),
                     "next": 0, "carry": []}
        limit = self.configured_page_size(MAX_TASKS)
        wto = min(state["wfrom"] + int(MAX_WINDOW.total_seconds()), state["to"])
        data = self._call("GET", "marketplace", "/api/v3/orders", params={
            "limit": limit, "next": state["next"], "dateFrom": state["wfrom"], "dateTo": wto})
        tasks = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(tasks, list) or not all(isinstance(t, dict) and t.get("id") and t.get("orderUid")
                                                  for t in tasks):
            raise PermanentError("Wildberries' order list has no orders, or tasks without id and orderUid",
                                 raw=_dump(data))
        tasks = state["carry"] + tasks
        following: dict[str, Any] | None
        if len(tasks) - len(state["carry"]) >= limit:
            if not isinstance(data.get("next"), int):
                raise PermanentError("Wildberries sent a full page without next", raw=_dump(data))
            last_uid = tasks[-1]["orderUid"]
            carry = [t for t in tasks if t["orderUid"] == last_uid]
            tasks = [t for t in tasks if t["orderUid"] != last_uid]
            following = {**state, "next": data["next"], "carry": carry}
        elif wto < state["to"]:
            following = {**state, "wfrom": wto + 1, "next": 0, "carry": []}
        else:
            following = None
        return Page(items=self._orders(tasks),
                    next_cursor=json.dumps(following, separators=(",", ":")) if following else None)

    def _statuses(self, ids: list[int]) -> dict[int, dict]:
        found: dict[int, dict] = {}
        for chunk in chunked(ids, MAX_TASKS):
            data = self._call("POST", "marketplace", "/api/v3/orders/status", json={"orders": list(chunk)})
            answers = data.get("orders") if isinstance(data, dict) else None
            if not isinstance(answers, list):
                raise PermanentError("Wildberries' status answer has no orders", raw=_dump(data))
            found.update({a["id"]: a for a in answers if isinstance(a, dict) and isinstance(a.get("id"), int)})
        return found

    def _orders(self, tasks: list[dict]) -> list[OrderData]:
        if not tasks:
            return []
        statuses = self._statuses([t["id"] for t in tasks])
        groups: dict[str, list[dict]] = {}
        for task in tasks:
            groups.setdefault(str(task["orderUid"]), []).append(task)
        return [self._order(uid, group, statuses) for uid, group in groups.items()]

    def _order(self, uid: str, tasks: list[dict], statuses: dict[int, dict]) -> OrderData:
        raw = {"orderUid": uid, "tasks": tasks, "statuses": [statuses.get(t["id"]) for t in tasks]}
        try:
            placed = min(datetime.fromisoformat(str(t["createdAt"]).replace("Z", "+00:00")) for t in tasks)
            lines: dict[tuple[str, Decimal], OrderLineData] = {}
            states, raw_states, currencies, total = [], [], set(), Decimal("0")
            for task in tasks:
                kopecks = task.get("convertedPrice", task.get("price"))
                if not isinstance(kopecks, int) or isinstance(kopecks, bool) or kopecks < 0:
                    raise ValueError(f"task {task['id']} has no price in kopecks")
                unit = Decimal(kopecks) / 100  # exact: kopecks are whole
                code = task.get("convertedCurrencyCode", task.get("currencyCode"))
                if code not in CURRENCIES:
                    raise ValueError(f"task {task['id']} has an unknown currency code {code!r}")
                currencies.add(CURRENCIES[code])
                sku = str(task.get("article") or "")
                if not sku:
                    raise ValueError(f"task {task['id']} has no article (vendor code)")
                status = statuses.get(task["id"]) or {}
                state = _task_status(str(status.get("supplierStatus") or ""), str(status.get("wbStatus") or ""))
                if state is None:
                    logger.warning("Wildberries task %s has unknown status %s", task["id"], _dump(status)[:80])
                    state = OrderStatus.PENDING
                states.append(state)
                raw_states.append(f"{status.get('supplierStatus')}/{status.get('wbStatus')}")
                if state != OrderStatus.CANCELLED:
                    total += unit
                line = lines.get((sku, unit))
                if line is None:
                    lines[(sku, unit)] = OrderLineData(external_id=str(task["id"]), sku=sku,
                                                       title=sku, quantity=1, unit_price=unit,
                                                       raw={"order_ids": [task["id"]], "nmId": task.get("nmId"),
                                                            "skus": task.get("skus")})
                else:
                    line.quantity += 1
                    line.raw["order_ids"].append(task["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError(f"Wildberries order {uid} is unreadable: {exc}", raw=_dump(raw)) from exc
        if len(currencies) != 1:
            raise PermanentError(f"Wildberries order {uid} mixes currencies", raw=_dump(raw))
        live = [s for s in states if s != OrderStatus.CANCELLED]
        if not live:
            total = sum((line.unit_price * line.quantity for line in lines.values()), Decimal("0"))
        return OrderData(
            external_id=uid, number=str(tasks[0].get("rid") or "").split(".")[0], raw=raw,
            status=min(live, key=PROGRESS.index) if live else OrderStatus.CANCELLED,
            raw_status=",".join(dict.fromkeys(raw_states))[:100], placed_at=placed.astimezone(UTC),
            updated_at=placed.astimezone(UTC), currency=currencies.pop(), total=total, lines=list(lines.values()),
        )

    # --- products --------------------------------------------------------------------------------------------------------

    def _prices(self) -> dict[int, dict]:
        goods: dict[int, dict] = {}
        offset = 0
        while True:
            data = self._call("GET", "prices", "/api/v2/list/goods/filter",
                              params={"limit": GOODS_PER_PAGE, "offset": offset})
            items = (data.get("data") or {}).get("listGoods") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise PermanentError("Wildberries' goods list has no data.listGoods", raw=_dump(data))
            goods.update({g["nmID"]: g for g in items if isinstance(g, dict) and g.get("nmID")})
            if len(items) < GOODS_PER_PAGE:
                return goods
            offset += GOODS_PER_PAGE

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        position: dict[str, Any] = {"limit": CARDS_PER_PAGE}
        if cursor:
            try:
                updated_at, nm = json.loads(cursor)
            except (ValueError, TypeError):
                raise ValueError("Unreadable Wildberries cards cursor") from None
            position.update(updatedAt=updated_at, nmID=nm)
        data = self._call("POST", "content", "/content/v2/get/cards/list",
                          json={"settings": {"cursor": position, "filter": {"withPhoto": -1}}})
        cards = data.get("cards") if isinstance(data, dict) else None
        page_cursor = data.get("cursor") if isinstance(data, dict) else None
        if not isinstance(cards, list) or not isinstance(page_cursor, dict):
            raise PermanentError("Wildberries' cards answer has no cards and cursor", raw=_dump(data))
        prices = self._prices() if cards else {}
        products = [self._product(card, prices.get(card.get("nmID"))) for card in cards if isinstance(card, dict)]
        self._read_stocks(products)
        more = page_cursor.get("total", 0) >= CARDS_PER_PAGE and page_cursor.get("nmID")
        return Page(items=products, next_cursor=json.dumps([page_cursor["updatedAt"], page_cursor["nmID"]]) if more
                    else None)

    def _read_stocks(self, products: list[ProductData]) -> None:
        """Fill each product's quantity at the channel's warehouse; left unknown when there is no single one."""
        barcodes = [p.barcode for p in products if p.barcode]
        if not barcodes:
            return
        warehouse, _why = self._warehouse_id()
        if warehouse is None:
            return
        amounts: dict[str, int] = {}
        for chunk in chunked(barcodes, STOCKS_PER_CALL):
            data = self._call("POST", "marketplace", f"/api/v3/stocks/{warehouse}", json={"skus": list(chunk)})
            stocks = data.get("stocks") if isinstance(data, dict) else None
            if not isinstance(stocks, list):
                raise PermanentError("Wildberries' stock answer has no stocks", raw=_dump(data))
            amounts.update({str(s.get("sku")): s.get("amount") for s in stocks if isinstance(s, dict)})
        for product in products:
            amount = amounts.get(product.barcode)
            product.quantity = amount if isinstance(amount, int) and not isinstance(amount, bool) else 0

    def _product(self, card: dict, goods: dict | None) -> ProductData:
        sizes = [s for s in card.get("sizes") or [] if isinstance(s, dict)]
        barcode = next((str(b) for s in sizes for b in s.get("skus") or []), "")
        price = mrp = None
        if goods and goods.get("sizes"):
            size = goods["sizes"][0]
            try:
                mrp = Decimal(str(size["price"]))
                price = Decimal(str(size.get("discountedPrice", size["price"]))).quantize(Decimal("0.01"))
            except (KeyError, ArithmeticError, ValueError) as exc:
                raise PermanentError(f"Wildberries goods {card.get('nmID')} has an unreadable price",
                                     raw=_dump(goods)) from exc
        refs = {"nm_id": str(card.get("nmID") or ""), "barcode": barcode}
        if sizes and sizes[0].get("chrtID"):
            refs["chrt_id"] = str(sizes[0]["chrtID"])
        return ProductData(external_id=str(card.get("nmID")), sku=str(card.get("vendorCode") or ""),
                           title=str(card.get("title") or card.get("vendorCode") or ""), price=price, mrp=mrp,
                           currency=str((goods or {}).get("currencyIsoCode4217") or self.default_currency),
                           barcode=barcode, external_refs=refs, raw={"card": card, "goods": goods})

    def _refs(self, updates: Sequence[StockUpdate | PriceUpdate], key: str) -> dict[str, dict[str, str]]:
        """Each SKU's WB ids: from external_refs, or read from the cards when one is missing."""
        refs = {u.sku: dict(u.external_refs) for u in updates if u.external_refs.get(key)}
        if len(refs) < len({u.sku for u in updates}):
            cursor = None
            while True:
                page = self.fetch_products(cursor=cursor)
                for product in page.items:
                    refs.setdefault(product.sku, product.external_refs)
                cursor = page.next_cursor
                if not cursor:
                    break
        return refs

    # --- pushes ------------------------------------------------------------------------------------------------------------

    def _warehouse_id(self) -> tuple[str | None, str]:
        wanted = str(self.context.config.get("warehouse_id") or "").strip()
        ids = [str(w["id"]) for w in self._warehouses()]
        if wanted:
            return (wanted, "") if wanted in ids else (None, f"Wildberries has no seller warehouse {wanted}")
        if len(ids) == 1:
            return ids[0], ""
        return None, ("This seller has no warehouse on Wildberries" if not ids else
                      f"This seller has several warehouses ({', '.join(ids)}): set the channel's warehouse id")

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        valid: list[tuple[int, StockUpdate]] = []
        seen: set[str] = set()
        for index, update in enumerate(updates):
            if not isinstance(update.quantity, int) or isinstance(update.quantity, bool) or not 0 <= update.quantity <= 100000:
                results[index] = PushResult(sku=update.sku, ok=False, error="Stock must be a whole number from 0 to 100000")
            elif update.sku in seen:
                results[index] = PushResult(sku=update.sku, ok=False, error="This SKU appears twice in one push")
            else:
                seen.add(update.sku)
                valid.append((index, update))
        if valid:
            warehouse, why = self._warehouse_id()
            refs = self._refs([u for _i, u in valid], "barcode") if warehouse else {}
            for chunk in chunked(valid, STOCKS_PER_CALL):
                body, sent = [], []
                for index, update in chunk:
                    barcode = (refs.get(update.sku) or {}).get("barcode")
                    if warehouse is None or not barcode:
                        results[index] = PushResult(sku=update.sku, ok=False,
                                                    error=why or "Wildberries has no card with a barcode for this SKU")
                        continue
                    body.append({"sku": barcode, "amount": update.quantity})
                    sent.append((index, update, barcode))
                if not body:
                    continue
                refused: dict[str, str] = {}
                try:
                    self._call("PUT", "marketplace", f"/api/v3/stocks/{warehouse}", expect_json=False,
                               json={"stocks": body})
                except PermanentError as exc:
                    if exc.status_code != 409:
                        raise
                    # 409: WB refused the request and names the items; nothing in it was applied.
                    try:
                        errors = json.loads(exc.raw or "[]")
                        for err in errors if isinstance(errors, list) else []:
                            for item in err.get("data") or []:
                                refused[str(item.get("sku"))] = f"{err.get('code')}: {err.get('message')}"
                    except (ValueError, AttributeError):
                        pass
                    for _index, _update, barcode in sent:
                        refused.setdefault(barcode, "Refused together with other items of the same request")
                for index, update, barcode in sent:
                    error = refused.get(barcode, "")
                    results[index] = PushResult(sku=update.sku, ok=not error, error=error, raw={"barcode": barcode})
        return [results[i] for i in sorted(results)]

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        """One upload task per 1000 goods: WB price = the MRP (or the price), discount = whole percent off it."""
        results: dict[int, PushResult] = {}
        valid: list[tuple[int, PriceUpdate, int, int]] = []
        seen: set[str] = set()
        for index, update in enumerate(updates):
            base = update.mrp if update.mrp is not None else update.price
            problem = ""
            if (update.currency or "").upper() != "RUB":
                problem = f"This Wildberries account sells in RUB, not {update.currency}"
            elif not isinstance(update.price, Decimal) or update.price <= 0 or base != base.to_integral_value():
                problem = "Wildberries prices are whole rubles"
            elif update.price > base:
                problem = "The selling price cannot be above the MRP"
            elif update.sku in seen:
                problem = "This SKU appears twice in one push"
            discount = (base - update.price) * 100 / base if not problem else Decimal(0)
            if not problem and discount != discount.to_integral_value():
                problem = f"Wildberries discounts are whole percents: {update.price} is {discount:.2f}% off {base}"
            if problem:
                results[index] = PushResult(sku=update.sku, ok=False, error=problem)
                continue
            seen.add(update.sku)
            valid.append((index, update, int(base), int(discount)))
        refs = self._refs([u for _i, u, _b, _d in valid], "nm_id") if valid else {}
        for chunk in chunked(valid, PRICES_PER_CALL):
            body, sent = [], []
            for index, update, base, discount in chunk:
                nm = (refs.get(update.sku) or {}).get("nm_id")
                if not nm:
                    results[index] = PushResult(sku=update.sku, ok=False, error="Wildberries has no card for this SKU")
                    continue
                body.append({"nmID": int(nm), "price": base, "discount": discount})
                sent.append(index)
            if not body:
                continue
            try:
                data = self._call("POST", "prices", "/api/v2/upload/task", json={"data": body})
            except PermanentError as exc:
                for index in sent:
                    results[index] = PushResult(sku=updates[index].sku, ok=False, error=exc.message)
                continue
            task = (data.get("data") or {}).get("id") if isinstance(data, dict) else None
            if not task or data.get("error"):
                raise PermanentError("Wildberries' upload task answer has no task id", raw=_dump(data))
            for index in sent:
                results[index] = PushResult(sku=updates[index].sku, ok=True, raw={"upload_id": task})
        return [results[i] for i in sorted(results)]

    # --- fulfilment ----------------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Create a supply, add every assembly task of the order, hand the supply to Wildberries.

        WB carries FBS supplies itself: there is no carrier or tracking number to give it; the supply id
        is what Haat records.
        """
        raw = fulfilment.order_raw or {}
        tasks = [t for t in raw.get("tasks") or [] if isinstance(t, dict) and isinstance(t.get("id"), int)]
        if not tasks:
            return FulfilmentResult(ok=False, error="The order carries no Wildberries assembly tasks: sync it again")
        wanted = {int(t["id"]) for t in tasks}
        statuses = self._statuses(sorted(wanted))
        open_tasks = [i for i in sorted(wanted) if (statuses.get(i) or {}).get("supplierStatus") == "new"]
        if not open_tasks:
            return FulfilmentResult(ok=False, error="No assembly task of this order is waiting to be assembled")
        created = self._call("POST", "marketplace", "/api/v3/supplies",
                             json={"name": f"Haat {fulfilment.order_external_id}"[:128]})
        supply = created.get("id") if isinstance(created, dict) else None
        if not isinstance(supply, str) or not supply:
            raise PermanentError("Wildberries' new supply has no id", raw=_dump(created))
        for task in open_tasks:
            self._call("PATCH", "marketplace", f"/api/v3/supplies/{supply}/orders/{task}", expect_json=False)
        self._call("PATCH", "marketplace", f"/api/v3/supplies/{supply}/deliver", expect_json=False)
        return FulfilmentResult(ok=True, external_id=supply, raw={"supply": supply, "orders": open_tasks})
