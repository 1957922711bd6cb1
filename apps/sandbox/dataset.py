"""The sandbox's deterministic data: products and orders generated from SANDBOX_SEED per account.

Orders are kept in a platform-neutral shape (below); each platform module renders them in its own
field names and status vocabulary. The same seed, platform and account always give the same data.

Neutral order: {id, number, created_at, updated_at (ISO, UTC), status (pending | unshipped | shipped |
delivered | cancelled | returned), currency, buyer {name, email, phone}, address {name, line1, city,
state, postcode, country}, lines [{id, sku, title, quantity, unit_price}], total, fulfilment_channel
(merchant | marketplace), tracking {...} once shipped}.
Neutral product: {id, sku, title, description, price, mrp, quantity, barcode, currency, variant_id}.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.sandbox.models import SandboxAccount, SandboxObject

PRODUCT_NAMES = [
    ("Handloom cotton saree", "Sarees", 1450), ("Madhubani painting, A4", "Art", 850),
    ("Organic turmeric powder 250 g", "Spices", 180), ("Bamboo serving tray", "Home", 420),
    ("Jute shopping bag", "Bags", 260), ("Terracotta diya set of 6", "Decor", 240),
    ("Cold-pressed mustard oil 1 L", "Food", 310), ("Hand-embroidered cushion cover", "Home", 520),
    ("Millet cookies 200 g", "Food", 150), ("Kantha stitch stole", "Apparel", 980),
    ("Wooden Channapatna toy", "Toys", 650), ("Papad, urad dal, 400 g", "Food", 120),
    ("Dokra brass figurine", "Art", 1750), ("Khadi cotton kurta", "Apparel", 1100),
    ("Honey from the Sundarbans 500 g", "Food", 390), ("Banana fibre table mat set", "Home", 360),
    ("Mango pickle 500 g", "Food", 220), ("Warli art coaster set", "Decor", 280),
    ("Phulkari dupatta", "Apparel", 1350), ("Ragi flour 1 kg", "Food", 95),
    ("Coir door mat", "Home", 330), ("Lac bangles set", "Jewellery", 450),
    ("Herbal neem soap 3-pack", "Personal care", 175), ("Block-printed bedsheet, double", "Home", 1250),
]
FIRST_NAMES = ["Anita", "Ravi", "Priya", "Suresh", "Lakshmi", "Imran", "Kavita", "Arjun", "Meena", "Farah",
               "Gopal", "Sunita", "Deepak", "Nandini", "Vikram", "Pooja"]
LAST_NAMES = ["Sharma", "Patel", "Iyer", "Khan", "Das", "Reddy", "Singh", "Naidu", "Gupta", "Kulkarni"]
CITIES = [("Pune", "Maharashtra", "411001"), ("Jaipur", "Rajasthan", "302001"), ("Lucknow", "Uttar Pradesh", "226001"),
          ("Bhubaneswar", "Odisha", "751001"), ("Kochi", "Kerala", "682001"), ("Indore", "Madhya Pradesh", "452001"),
          ("Guwahati", "Assam", "781001"), ("Patna", "Bihar", "800001")]
STREETS = ["MG Road", "Station Road", "Gandhi Nagar", "Civil Lines"]
STATUS_WEIGHTS = [("unshipped", 30), ("shipped", 25), ("delivered", 30), ("pending", 5), ("cancelled", 7),
                  ("returned", 3)]


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in (settings.SANDBOX_SEED, *parts)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def money(value: Decimal | float | str) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def sku_prefix(account: SandboxAccount) -> str:
    return account.settings.get("sku_prefix", "HAAT")


# Rough rupee-to-currency factors so a saree costs what a buyer there would expect (about 17 dollars or 220,000
# sums; roubles are close enough to rupees to keep), not 1,450 of every currency. Demo prices only: Haat itself
# never converts money.
PRICE_SCALE = {"INR": Decimal("1"), "RUB": Decimal("1"), "UZS": Decimal("150"), "USD": Decimal("0.012"),
               "EUR": Decimal("0.011"), "GBP": Decimal("0.0095"), "CAD": Decimal("0.016"), "SGD": Decimal("0.016")}
WHOLE_UNIT_CURRENCIES = {"UZS"}  # priced in whole sums


def demo_price(rupees: Decimal, currency: str) -> Decimal:
    """A rupee catalogue price in `currency`, rounded as shops there price (cents, or whole sums)."""
    scaled = rupees * PRICE_SCALE.get(currency, Decimal("1"))
    step = Decimal("1") if currency in WHOLE_UNIT_CURRENCIES else Decimal("0.01")
    return scaled.quantize(step)


def convert_demo_price(amount: Decimal | str, from_currency: str, to_currency: str) -> Decimal:
    """A demo price moved to another currency of the same seller (an offer on another marketplace)."""
    if from_currency == to_currency:
        return Decimal(str(amount))
    return demo_price(Decimal(str(amount)) / PRICE_SCALE.get(from_currency, Decimal("1")), to_currency)


def generate_products(account: SandboxAccount) -> list[dict]:
    rng = _rng(account.platform, account.account_id, "products")
    currency = account.settings.get("currency", "INR")
    products = []
    for index in range(settings.SANDBOX_PRODUCTS):
        title, category, base_price = PRODUCT_NAMES[index % len(PRODUCT_NAMES)]
        rupees = Decimal(base_price) * Decimal(rng.choice([1, 1, 1, Decimal("0.9"), Decimal("1.1")]))
        price = demo_price(rupees, currency)
        products.append({
            "id": str(1000 + index), "variant_id": str(5000 + index),
            "sku": f"{sku_prefix(account)}-{index + 1:04d}", "title": title, "category": category,
            "description": f"{title}, made by women's self-help groups.",
            "price": money(price), "mrp": money(demo_price(rupees * Decimal("1.2"), currency)),
            "quantity": rng.randint(0, 60),
            "barcode": f"890{rng.randint(10**9, 10**10 - 1)}", "currency": currency,
        })
    return products


def generate_order(account: SandboxAccount, index: int, products: list[dict], now: datetime) -> dict:
    rng = _rng(account.platform, account.account_id, "order", index)
    created = now - timedelta(days=29, hours=12) + timedelta(seconds=int(index * (29 * 86400) / max(1, settings.SANDBOX_ORDERS)))
    created += timedelta(seconds=rng.randint(0, 3600))
    status = rng.choices([s for s, _ in STATUS_WEIGHTS], weights=[w for _, w in STATUS_WEIGHTS])[0]
    updated = min(now - timedelta(minutes=1), created + timedelta(hours=rng.randint(0, 72)))
    lines = []
    for line_index, product in enumerate(rng.sample(products, k=rng.randint(1, 3))):
        lines.append({"id": f"{index + 1}{line_index + 1:02d}", "sku": product["sku"], "title": product["title"],
                      "quantity": rng.randint(1, 3), "unit_price": product["price"],
                      "product_id": product["id"], "variant_id": product["variant_id"]})
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, postcode = rng.choice(CITIES)
    channel = "marketplace" if account.settings.get("marketplace_fulfilment") and rng.random() < 0.2 else "merchant"
    return {
        "id": str(account.settings.get("order_id_base", 100000) + index + 1), "number": str(1001 + index),
        "created_at": iso(created), "updated_at": iso(updated), "status": status,
        "currency": account.settings.get("currency", "INR"),
        "buyer": {"name": f"{first} {last}", "email": f"{first.lower()}.{last.lower()}@example.in",
                  "phone": f"+9198{rng.randint(10**7, 10**8 - 1)}"},
        "address": {"name": f"{first} {last}", "line1": f"{rng.randint(1, 400)} {rng.choice(STREETS)}",
                    "city": city, "state": state, "postcode": postcode, "country": "IN"},
        "lines": lines,
        "total": money(sum(Decimal(line["unit_price"]) * line["quantity"] for line in lines)),
        "fulfilment_channel": channel,
    }


@transaction.atomic
def ensure_seeded(account: SandboxAccount) -> None:
    """Generate the account's products and SANDBOX_ORDERS orders once."""
    locked = SandboxAccount._default_manager.select_for_update().get(pk=account.pk)
    if locked.seeded:
        return
    now = timezone.now().replace(microsecond=0)
    products = generate_products(locked)
    rows = [SandboxObject(account=locked, kind="product", key=p["sku"], data=p, updated_at=now) for p in products]
    for index in range(settings.SANDBOX_ORDERS):
        order = generate_order(locked, index, products, now)
        rows.append(SandboxObject(account=locked, kind="order", key=order["id"], data=order,
                                  updated_at=parse_iso(order["updated_at"])))
    SandboxObject.objects.bulk_create(rows, batch_size=500)
    locked.seeded = True
    locked.save(update_fields=["seeded"])
    account.seeded = True


def get_account(platform: str, account_id: str) -> SandboxAccount | None:
    account = SandboxAccount._default_manager.filter(platform=platform, account_id=account_id).first()
    if account is not None and not account.seeded:
        ensure_seeded(account)
    return account


def account_create(*, platform: str, account_id: str, name: str, secrets: dict | None = None,
                   settings_: dict | None = None) -> SandboxAccount:
    account, _ = SandboxAccount._default_manager.update_or_create(
        platform=platform, account_id=account_id,
        defaults={"name": name, "secrets": secrets or {}, "settings": settings_ or {}},
    )
    return account


def objects(account: SandboxAccount, kind: str):
    return SandboxObject.objects.filter(account=account, kind=kind)


def next_order_index(account: SandboxAccount) -> int:
    return objects(account, "order").count()


@transaction.atomic
def order_create(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A new order placed now (the sandbox's "a buyer just bought"); returns the neutral order."""
    ensure_seeded(account)
    products = [o.data for o in objects(account, "product").order_by("key")]
    now = timezone.now().replace(microsecond=0)
    index = next_order_index(account)
    order = generate_order(account, index, products, now)
    order["created_at"] = order["updated_at"] = iso(now)
    order["status"] = "unshipped"
    if skus:
        by_sku = {p["sku"]: p for p in products}
        order["lines"] = [
            {"id": f"{index + 1}{n + 1:02d}", "sku": sku, "title": by_sku[sku]["title"], "quantity": qty,
             "unit_price": by_sku[sku]["price"], "product_id": by_sku[sku]["id"], "variant_id": by_sku[sku]["variant_id"]}
            for n, (sku, qty) in enumerate(skus)
        ]
        order["total"] = money(sum(Decimal(line["unit_price"]) * line["quantity"] for line in order["lines"]))
    SandboxObject.objects.create(account=account, kind="order", key=order["id"], data=order, updated_at=now)
    return order


def order_update(account: SandboxAccount, order_id: str, **changes) -> dict:
    """Change an order (status, tracking...) and stamp it as updated now."""
    row = objects(account, "order").get(key=order_id)
    row.data.update(changes)
    now = timezone.now().replace(microsecond=0)
    # Keep updated_at strictly increasing for one order even when two changes land in one second.
    previous = parse_iso(row.data["updated_at"])
    stamp = max(now, previous + timedelta(seconds=1))
    row.data["updated_at"] = iso(stamp)
    row.updated_at = stamp
    row.save(update_fields=["data", "updated_at"])
    return row.data
