"""The SHG's one catalog: products and their sellable variants (one SKU each), the source of truth every
channel is kept in step with. Orders map their lines to variants by SKU.

Listings (a variant on one channel) arrive with the catalog issue and build on these two models.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from apps.core.models import TimestampedModel

sku_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._\-/ ]{0,99}$",
    "A SKU is 1 to 100 letters, digits, spaces or . _ - / and starts with a letter or digit.",
)
hsn_validator = RegexValidator(r"^(\d{4}|\d{6}|\d{8})$", "An HSN code has 4, 6 or 8 digits.")
gtin_validator = RegexValidator(r"^(\d{8}|\d{12,14})$", "A barcode (GTIN) has 8, 12, 13 or 14 digits.")
currency_validator = RegexValidator(r"^[A-Z]{3}$", "A currency is a three-letter ISO 4217 code such as INR.")
non_negative = MinValueValidator(Decimal("0"))


class Product(TimestampedModel):
    """What an SHG makes, described once; its variants carry the SKUs, prices and sizes."""

    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="products")
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    hsn_code = models.CharField("HSN code", max_length=8, blank=True, validators=[hsn_validator],
                                help_text="Harmonized System of Nomenclature code for GST invoices.")
    # Image URLs in display order.
    images = models.JSONField(default=list, blank=True)
    # Free attributes a channel may ask for (material, colour, size...): {"material": "cotton"}.
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["shg", "title"])]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if not isinstance(self.images, list) or not all(isinstance(url, str) for url in self.images):
            raise ValidationError({"images": "Images are a list of URLs."})
        if not isinstance(self.attributes, dict):
            raise ValidationError({"attributes": "Attributes are a mapping of names to values."})


class Variant(TimestampedModel):
    """One sellable item: a SKU unique within its SHG. `shg` repeats the product's so the uniqueness of
    SKUs per SHG is a database constraint and SKU lookups need no join."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField("SKU", max_length=100, validators=[sku_validator])
    barcode = models.CharField("barcode (GTIN)", max_length=14, blank=True, validators=[gtin_validator])
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    length_cm = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True, validators=[non_negative])
    width_cm = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True, validators=[non_negative])
    height_cm = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True, validators=[non_negative])
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True, validators=[non_negative],
                                help_text="Selling price in the variant's currency.")
    mrp = models.DecimalField("MRP", max_digits=12, decimal_places=2, null=True, blank=True, validators=[non_negative],
                              help_text="Maximum retail price printed on the pack; at least the price.")
    currency = models.CharField(max_length=3, default="INR", validators=[currency_validator])

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["shg", "sku"], name="uniq_variant_sku_per_shg"),
            models.CheckConstraint(condition=Q(mrp__isnull=True) | Q(price__isnull=True) | Q(mrp__gte=F("price")),
                                   name="variant_mrp_at_least_price"),
        ]

    def __str__(self) -> str:
        return self.sku

    def clean(self) -> None:
        if self.product_id and self.shg_id and self.product.shg_id != self.shg_id:
            raise ValidationError({"shg": "A variant belongs to its product's SHG."})
        if self.price is not None and self.mrp is not None and self.mrp < self.price:
            raise ValidationError({"mrp": "The MRP cannot be below the price."})


class Listing(TimestampedModel):
    """A variant offered on one channel (connection): the platform's ids, the state of the offer, the price
    it should have there, and what Haat last pushed. Stock and price pushes go to listings, never to SKUs."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING = "pending", "Pending review on the channel"
        LIVE = "live", "Live"
        ERROR = "error", "Refused by the channel"
        DELISTED = "delisted", "Delisted"

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="listings")
    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="listings")
    # The connection's SHG, repeated for tenancy scoping without a join.
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="listings")
    external_id = models.CharField(max_length=255, blank=True, help_text="ASIN, FSN, product id... as the channel names it.")
    channel_sku = models.CharField("channel SKU", max_length=255, blank=True,
                                   help_text="The SKU on the channel, when it differs from the variant's.")
    # The platform ids a push needs (variant id, inventory item id, product type, listing id...).
    external_refs = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT, db_index=True)
    product_type = models.CharField(max_length=100, blank=True, help_text="Amazon's product type, when listing there.")
    price_override = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                         validators=[non_negative], help_text="Empty: the variant's price.")
    mrp_override = models.DecimalField("MRP override", max_digits=12, decimal_places=2, null=True, blank=True,
                                       validators=[non_negative])
    # Marketplace-fulfilled offers (Amazon FBA): the marketplace holds the stock, Haat never pushes quantity.
    fulfilled_by_marketplace = models.BooleanField(default=False)
    # Units held back from this channel, and the most it is shown (empty: the connection's config, else none).
    stock_buffer = models.PositiveIntegerField(null=True, blank=True)
    stock_max = models.PositiveIntegerField(null=True, blank=True)
    # Set when the pushed quantity or price may be stale; the push task clears it when it claims the listing.
    stock_dirty = models.BooleanField(default=False)
    price_dirty = models.BooleanField(default=False)
    last_pushed_quantity = models.IntegerField(null=True, blank=True)
    last_pushed_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["variant", "connection"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "connection"], name="uniq_listing_per_channel"),
            models.CheckConstraint(condition=Q(mrp_override__isnull=True) | Q(price_override__isnull=True)
                                   | Q(mrp_override__gte=F("price_override")), name="listing_mrp_at_least_price"),
        ]
        indexes = [
            models.Index(fields=["connection"], name="listing_stock_dirty_idx", condition=Q(stock_dirty=True)),
            models.Index(fields=["connection"], name="listing_price_dirty_idx", condition=Q(price_dirty=True)),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} on {self.connection_id}"

    @property
    def effective_price(self) -> Decimal | None:
        return self.price_override if self.price_override is not None else self.variant.price

    @property
    def effective_mrp(self) -> Decimal | None:
        return self.mrp_override if self.mrp_override is not None else self.variant.mrp

    def clean(self) -> None:
        if self.price_override is not None and self.mrp_override is not None and self.mrp_override < self.price_override:
            raise ValidationError({"mrp_override": "The MRP cannot be below the price."})


class ChannelProduct(TimestampedModel):
    """A product a channel returned that matched no variant by SKU: kept for a coordinator to map by hand."""

    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="unmatched_products")
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="unmatched_products")
    external_id = models.CharField(max_length=255)
    sku = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    external_refs = models.JSONField(default=dict, blank=True)
    mapped_to = models.ForeignKey(Variant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["connection", "external_id"], name="uniq_channel_product")]

    def __str__(self) -> str:
        return self.title or self.external_id
