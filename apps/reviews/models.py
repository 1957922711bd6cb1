"""A rating or review a buyer left on a channel, kept once per (connection, channel's review id)."""

from django.db import models


class Review(models.Model):
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="reviews")
    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="reviews")
    external_id = models.CharField(max_length=100, help_text="The channel's id of the review.")
    variant = models.ForeignKey("catalog.Variant", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="reviews", help_text="The catalog variant, matched by SKU when known.")
    product_external_id = models.CharField(max_length=100, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    product_title = models.CharField(max_length=255, blank=True)
    rating = models.PositiveSmallIntegerField(help_text="Stars, 1 to 5.")
    title = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    reviewer = models.CharField(max_length=200, blank=True, help_text="The name the channel shows publicly.")
    verified_buyer = models.BooleanField(default=False)
    published_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="uniq_review_per_connection"),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
        ]
        indexes = [
            models.Index(fields=["shg", "-published_at"]),
            # Partners poll with received_since (apps/reviews/api/filters.py): an index range per SHG, not a scan.
            models.Index(fields=["shg", "received_at"], name="review_shg_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.product_title or self.sku} ({self.external_id})"
