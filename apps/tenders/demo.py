"""Demo procurement data for `seed_demo`: what a coordinator sees on the Tenders and Inquiries pages.

The first demo SHG gets a seller profile with valid identifiers, its GeM connection's open bids (read from
the sandbox listing, matched to its catalog), a draft bid on the best-matched bid closing in more than
two days (with its 48 h and 24 h reminders scheduled), and its IndiaMART leads. Idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.integrations.connectors.errors import ConnectorError
from apps.integrations.models import Connection
from apps.tenders import selectors, services
from apps.tenders.models import Bid, Tender
from apps.tenders.validators import gstin_check_char

DEMO_PAN = "AAKAS4321M"  # fourth letter A: an association of persons, as SHGs usually are
# Products the demo SHG makes when its catalog is still empty at seed time (the sandbox stores' first items).
DEMO_PRODUCTS = [("Handloom cotton saree", "Sarees", "1450.00"), ("Jute shopping bag", "Bags", "260.00"),
                 ("Bamboo serving tray", "Home", "420.00"), ("Terracotta diya set of 6", "Decor", "240.00")]


def seed_demo_procurement(*, shgs, user) -> list[str]:
    if not settings.SANDBOX or not shgs:
        return []
    from apps.integrations.demo import _in_process, _in_process_session
    from apps.integrations.services import sandbox_root

    shg, lines = shgs[0], []
    gstin = f"27{DEMO_PAN}1Z"
    with transaction.atomic():
        services.seller_profile_upsert(shg=shg, data={
            "organization_type": "shg", "legal_name": f"{shg.name}", "pan": DEMO_PAN,
            "gstin": gstin + gstin_check_char(gstin), "udyam_number": "UDYAM-MH-26-0041234",
            "address": f"Gram Panchayat Office, {shg.district}", "state": shg.state, "pincode": "411001",
            "bank_account_name": shg.name, "bank_account_number": "30211045678", "bank_ifsc": "SBIN0001234",
            "email": "sakhi.crafts@example.in"})
        _ensure_catalog(shg)
    session = _in_process_session(sandbox_root())
    with _in_process(session):
        lines += _pull(shg, session)
    best = None
    if not Bid.objects.filter(shg=shg).exists():
        best = (selectors.tender_matches(shg=shg, queryset=Tender.objects.all())
                .filter(deadline__gt=_in_two_days()).order_by("-rank", "deadline").first())
    if best is not None:
        bid = services.bid_start(tender=best, user=user)
        services.bid_update(bid=bid, unit_price=Decimal("1350.00"), quantity=best.quantity)
        lines.append(f"{shg.name}: draft bid on {best.bid_number} ({best.category}), reminders 48 h and 24 h before "
                     "its deadline")
    return lines


def _in_two_days():
    return timezone.now() + timedelta(hours=50)


def _ensure_catalog(shg) -> None:
    from apps.catalog.models import Product
    from apps.catalog.services import product_create

    if Product.objects.filter(shg=shg).exists():
        return
    for index, (title, category, price) in enumerate(DEMO_PRODUCTS, start=1):
        product_create(shg=shg, title=title, category=category,
                       variants=[{"sku": f"HAAT-{index:04d}", "price": Decimal(price), "mrp": Decimal(price) * 12 / 10}])


def _pull(shg, session) -> list[str]:
    from apps.integrations import http
    from apps.sandbox.platforms import indiamart as sandbox_indiamart

    lines = []
    original = http.new_session
    http.new_session = lambda: session  # the web server is not up yet: reach the sandbox in-process
    try:
        for connection in Connection.objects.filter(shg=shg, platform__in=["gem", "indiamart"]):
            try:
                if connection.platform == "gem":
                    result = services.tenders_pull(connection=connection)
                    lines.append(f"{shg.name}: {result.created + result.updated} open GeM bids read, "
                                 f"{Tender.objects.filter(shg=shg, match_score__gt=0).count()} match its catalog")
                else:
                    # Connecting just called IndiaMART's sandbox; its 5-minute rule would refuse the first pull.
                    for account in sandbox_indiamart.SandboxAccount._default_manager.filter(platform="indiamart"):
                        sandbox_indiamart.reset_throttle(account)
                    six_minutes_ago = (timezone.now() - timedelta(minutes=6)).isoformat()
                    Connection.objects.filter(pk=connection.pk).update(cursors={"inquiries_pulled_at": six_minutes_ago})
                    from django.core.cache import cache

                    cache.delete_many([f"haat:ratelimit:{connection.pk}:crm_listing"])
                    created = services.inquiries_pull(connection=connection)
                    lines.append(f"{shg.name}: {created} IndiaMART inquiries to quote")
            except ConnectorError as exc:
                lines.append(f"{shg.name}: could not read {connection.display_name}: {exc.message}")
    finally:
        http.new_session = original
    return lines
