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
