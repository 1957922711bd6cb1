from django import forms
from django.contrib import admin

from apps.catalog.models import ChannelProduct, Listing, Product, Variant


class VariantInlineForm(forms.ModelForm):
    """A variant's SHG is always its product's: set before validation so the per-SHG SKU check runs."""

    class Meta:
        model = Variant
        fields = ["product", "sku", "barcode", "weight_grams", "length_cm", "width_cm", "height_cm", "price", "mrp",
                  "currency"]

    def clean(self):
        cleaned = super().clean()
        product = cleaned.get("product")
        if product is None:
            try:
                product = self.instance.product
            except Product.DoesNotExist:
                product = None
        sku = cleaned.get("sku")
        if product is not None and product.shg_id:
            self.instance.shg_id = product.shg_id
            # `shg` is not a form field, so the form's own constraint check skips (shg, sku): check it here.
            if sku and Variant.objects.filter(shg_id=product.shg_id, sku=sku).exclude(pk=self.instance.pk).exists():
                self.add_error("sku", "This SHG already has a variant with this SKU.")
        return cleaned


class VariantInline(admin.TabularInline):
    model = Variant
    form = VariantInlineForm
    extra = 0
    fields = ["sku", "barcode", "price", "mrp", "currency", "weight_grams", "length_cm", "width_cm", "height_cm"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["title", "shg", "brand", "category", "hsn_code", "updated_at"]
    list_filter = ["category", "shg"]
    search_fields = ["title", "brand", "variants__sku", "variants__barcode"]
    list_select_related = ["shg"]
    autocomplete_fields = ["shg"]
    inlines = [VariantInline]


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    form = VariantInlineForm
    list_display = ["sku", "product", "shg", "price", "mrp", "currency", "barcode"]
    list_filter = ["currency", "shg"]
    search_fields = ["sku", "barcode", "product__title"]
    list_select_related = ["product", "shg"]
    autocomplete_fields = ["product"]


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["variant", "connection", "state", "external_id", "price_override", "last_pushed_quantity",
                    "last_pushed_price", "last_pushed_at", "stock_dirty"]
    list_filter = ["state", "fulfilled_by_marketplace", "connection__platform"]
    search_fields = ["variant__sku", "external_id", "channel_sku"]
    list_select_related = ["variant", "connection"]
    raw_id_fields = ["variant", "connection", "shg"]
    readonly_fields = ["last_pushed_quantity", "last_pushed_price", "last_pushed_at", "last_error"]


@admin.register(ChannelProduct)
class ChannelProductAdmin(admin.ModelAdmin):
    list_display = ["title", "external_id", "connection", "mapped_to", "updated_at"]
    list_filter = ["connection__platform"]
    search_fields = ["title", "external_id"]
    list_select_related = ["connection", "mapped_to"]
    raw_id_fields = ["connection", "shg", "mapped_to"]
