"""State of the sandbox marketplaces: one generic document table, so each platform module stays small.

The sandbox is test infrastructure that plays the platforms over HTTP. Its rows are the platforms'
"ground truth": tests compare what Haat stored against them.
"""

from django.db import models


class SandboxAccount(models.Model):
    """A seller account on a sandbox platform (a Shopify shop, a WooCommerce store, an Amazon seller...).

    The sandbox's own copy of its credentials is plain text on purpose: it plays the platform, and
    these values are demo keys, never real ones.
    """

    platform = models.CharField(max_length=40)
    account_id = models.CharField(max_length=200, help_text="Shop domain, store slug, seller id...")
    name = models.CharField(max_length=200)
    secrets = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    seeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "account_id"], name="uniq_sandbox_account")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.account_id}"


class SandboxObject(models.Model):
    """A document held by a sandbox platform: an order, a product, a token, a webhook subscription..."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    data = models.JSONField(default=dict)
    # Monotonic change stamp used for ordering and for "updated since" queries.
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "kind", "key"], name="uniq_sandbox_object")]
        indexes = [models.Index(fields=["account", "kind", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"
