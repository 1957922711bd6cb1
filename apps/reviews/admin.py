from django.contrib import admin

from apps.reviews.models import Review


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["published_at", "rating", "product_title", "sku", "connection", "shg", "verified_buyer"]
    list_filter = ["rating", "verified_buyer", "connection__platform"]
    search_fields = ["external_id", "sku", "product_title", "title", "body"]
    list_select_related = ["connection", "shg"]
    raw_id_fields = ["variant"]
    readonly_fields = [f.name for f in Review._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
