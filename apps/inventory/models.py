"""One stock count per variant and location, and the ledger that explains it.

`StockItem.on_hand` and `reserved` are running totals kept in the same transaction as the StockMovement
rows that change them (under a row lock), so the sum of the ledger always equals them: `stock_audit`
checks it. Available = on hand - reserved, never below zero. Stock a marketplace holds in its own
warehouse (Amazon FBA) is a separate table: shown, never counted here, never pushed.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import TimestampedModel


class StockLocation(TimestampedModel):
    """Where an SHG keeps goods (its store room, a member's house). Orders reserve at the default one."""

    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="stock_locations")
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["shg", "-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["shg", "name"], name="uniq_location_name"),
            models.UniqueConstraint(fields=["shg"], condition=Q(is_default=True), name="one_default_location"),
        ]

    def __str__(self) -> str:
        return self.name


class StockItem(models.Model):
    variant = models.ForeignKey("catalog.Variant", on_delete=models.CASCADE, related_name="stock_items")
    location = models.ForeignKey(StockLocation, on_delete=models.CASCADE, related_name="items")
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["variant", "location"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="uniq_stock_item"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                                   name="stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id}: {self.on_hand}/{self.reserved}"

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)


class StockMovement(models.Model):
    """One line of the ledger: what changed on hand and reserved, why, and the balance after it."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        RESERVATION = "reservation", "Order reservation"
        RELEASE = "release", "Release (cancelled or changed order)"
        SHIPMENT = "shipment", "Shipment"

    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="movements")
    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    on_hand_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)
    on_hand_after = models.IntegerField()
    reserved_after = models.IntegerField()
    reason = models.CharField(max_length=255, blank=True)
    # No database constraint and no cascade: the ledger outlives an order line the channel removed, and
    # the orders' bulk line replacement stays one DELETE (no per-relation collector queries).
    order_line = models.ForeignKey("orders.OrderLine", null=True, blank=True, on_delete=models.DO_NOTHING,
                                   db_constraint=False, related_name="stock_movements")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(kind="adjustment") | ~Q(reason=""), name="adjustment_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.on_hand_delta:+}/{self.reserved_delta:+}"


class StockReservation(TimestampedModel):
    """What one order line holds of a stock item. `oversold` is the part that could not be reserved because
    the stock was gone (two channels sold the last unit): the coordinator sees it, nothing goes negative."""

    class State(models.TextChoices):
        ACTIVE = "active", "Reserved"
        RELEASED = "released", "Released"
        SHIPPED = "shipped", "Shipped"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="reservations")
    # No cascade: a line the channel removed leaves its reservation behind, pointing at nothing, and the next
    # sync of the order releases it (apps/inventory/services.py: stock_sync_orders).
    order_line = models.OneToOneField("orders.OrderLine", null=True, blank=True, on_delete=models.DO_NOTHING,
                                      db_constraint=False, related_name="reservation")
    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="reservations")
    quantity = models.PositiveIntegerField(default=0)
    oversold = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["item"], name="reservation_oversold_idx", condition=Q(oversold__gt=0))]

    def __str__(self) -> str:
        return f"{self.quantity} for line {self.order_line_id}"


class MarketplaceStock(models.Model):
    """Stock a marketplace holds in its own warehouses (Amazon FBA), as last read: display only."""

    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="marketplace_stock")
    variant = models.ForeignKey("catalog.Variant", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="marketplace_stock")
    sku = models.CharField(max_length=255)
    external_id = models.CharField(max_length=255, blank=True)
    quantity = models.IntegerField(null=True, blank=True, help_text="Fulfillable quantity reported by the marketplace.")
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["sku"]
        constraints = [models.UniqueConstraint(fields=["connection", "sku"], name="uniq_marketplace_stock")]

    def __str__(self) -> str:
        return f"{self.sku}: {self.quantity}"


class PushQueue(models.Model):
    """Whether a stock or price push task of one channel is queued: the coalescing flag, in the database so it
    holds across worker processes and machines (a local-memory cache would not). A flag older than the lease
    is taken as a lost task and may be queued again."""

    connection = models.OneToOneField("integrations.Connection", on_delete=models.CASCADE, related_name="push_queue")
    stock_queued_at = models.DateTimeField(null=True, blank=True)
    price_queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"push queue of {self.connection_id}"
