"""Orders from every channel in one shape: Order, its lines, and the fulfilments a coordinator adds.

An order is identified by (connection, external id): the sync engine and webhooks upsert it through
`services.upsert_orders`, which compares `content_hash` to write only what changed. Statuses come
from one enum shared with the connectors; the platform's own word is kept in `raw_status`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TimestampedModel
from apps.integrations.connectors.base import FulfilmentChannel, OrderStatus


class Order(TimestampedModel):
    class Status(models.TextChoices):
        # The same values as connectors' OrderStatus, so OrderData.status is stored as is.
        PENDING = OrderStatus.PENDING.value, "Pending"
        UNSHIPPED = OrderStatus.UNSHIPPED.value, "Unshipped"
        SHIPPED = OrderStatus.SHIPPED.value, "Shipped"
        DELIVERED = OrderStatus.DELIVERED.value, "Delivered"
        CANCELLED = OrderStatus.CANCELLED.value, "Cancelled"
        RETURNED = OrderStatus.RETURNED.value, "Returned"

    class Channel(models.TextChoices):
        MERCHANT = FulfilmentChannel.MERCHANT.value, "Merchant (the SHG ships)"
        MARKETPLACE = FulfilmentChannel.MARKETPLACE.value, "Marketplace (e.g. Amazon FBA)"

    # PROTECT: an order is a business record; a channel is disconnected (disabled), not deleted with its orders.
    # No index of its own: (connection, external_id) and (connection, placed_at) below both lead with it.
    connection = models.ForeignKey("integrations.Connection", on_delete=models.PROTECT, related_name="orders",
                                   db_index=False)
    # The connection's SHG, repeated so tenancy scoping and the SHG filter need no join.
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="orders")
    external_id = models.CharField(max_length=255, help_text="The platform's order id.")
    number = models.CharField(max_length=100, blank=True, help_text="The number the buyer sees, when it differs.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    raw_status = models.CharField(max_length=100, blank=True, help_text="The platform's own status word.")
    placed_at = models.DateTimeField(db_index=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True, help_text="Last change on the platform.")
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    buyer_name = models.CharField(max_length=255, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    fulfilment_channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.MERCHANT)
    # The platform's order document as last fetched: fulfilment pushes need ids only it carries.
    raw = models.JSONField(default=dict, blank=True)
    # Digest of the normalized fields above and the lines, the platform's updated_at included: same => no write.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="uniq_order_per_connection"),
        ]
        indexes = [
            models.Index(fields=["shg", "-placed_at", "-id"], name="order_shg_placed_idx"),
            models.Index(fields=["shg", "status", "-placed_at"], name="order_shg_status_idx"),
            # The overview's oldest orders to ship: walked oldest first, stops after ten, for any set of SHGs.
            models.Index(fields=["status", "placed_at"], name="order_status_placed_idx"),
            # One channel's orders by time: its daily totals' refresh (a day's orders) and the list's channel filter.
            models.Index(fields=["connection", "placed_at"], name="order_connection_placed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number or self.external_id} ({self.connection.platform})"

    @property
    def is_marketplace_fulfilled(self) -> bool:
        return self.fulfilment_channel == self.Channel.MARKETPLACE

    @property
    def display_number(self) -> str:
        return self.number or self.external_id


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=255, help_text="The platform's line id.")
    sku = models.CharField("SKU", max_length=255, blank=True, db_index=True)
    title = models.CharField(max_length=500, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    # Set when the line's SKU matches a variant of the SHG's catalog.
    variant = models.ForeignKey("catalog.Variant", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="order_lines")

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "external_id"], name="uniq_order_line"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.title}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class Fulfilment(TimestampedModel):
    """Carrier and tracking a coordinator adds to a merchant-fulfilled order, and its push to the channel."""

    class PushState(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        PUSHING = "pushing", "Sending"
        PUSHED = "pushed", "Sent to the channel"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfilments")
    carrier = models.CharField(max_length=100)
    tracking_number = models.CharField(max_length=100)
    tracking_url = models.URLField(blank=True)
    shipping_method = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField()
    push_state = models.CharField(max_length=20, choices=PushState.choices, default=PushState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=255, blank=True, help_text="The channel's id for this shipment.")
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-shipped_at", "-id"]
        constraints = [
            # The same parcel is never recorded (and pushed) twice for one order.
            models.UniqueConstraint(fields=["order", "carrier", "tracking_number"], name="uniq_fulfilment_tracking"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="fulfilment_retry_idx",
                         condition=Q(push_state="retrying")),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class DailyOrderTotal(models.Model):
    """Orders and revenue of one connection in one currency on one local day (the project's time zone).

    A rollup the overview reads instead of aggregating every order of the last 30 days on each request. It is
    derived data: `upsert_orders` adds each page's changes (`services.daily_totals_apply`), a nightly task
    recomputes the last days from the orders themselves, and `manage.py rebuild_daily_totals` rebuilds it all.
    Counting rules as the overview's: an order counts unless cancelled; revenue leaves out
    cancelled and returned orders; `to_ship` counts merchant-fulfilled orders not yet shipped, whatever their age.
    """

    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="+")
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    currency = models.CharField(max_length=3)
    # Plain integers, not positive ones: pages add signed changes (an order cancelled is -1), and a change must
    # never fail an order upsert over a check constraint.
    orders = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    # Of those orders, the ones the SHG still has to ship (merchant-fulfilled, unshipped).
    to_ship = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "day", "currency"], name="uniq_daily_total"),
        ]
        indexes = [
            models.Index(fields=["shg", "day"], name="daily_total_shg_day_idx"),
            # "Orders to ship" sums to_ship over every day: a range of this index per SHG skips the shipped days.
            models.Index(fields=["shg", "to_ship"], name="daily_total_to_ship_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.connection_id} {self.currency}: {self.orders} / {self.revenue}"
