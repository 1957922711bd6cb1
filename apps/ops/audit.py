"""Audit: who changed a price, a stock level, a connection's credentials or a bid, and when.

django-auditlog records changes of registered models in one LogEntry table (actor from the request by its
middleware, the changed fields as JSON), registered from here, so no other app needs a migration or a
history table (django-simple-history would add one per model, in apps Ops does not own).

Credentials are registered as a masked field whose mask is a constant: the entry says "credentials
changed", never any part of a value (auditlog's default mask keeps half the string). Stock is changed in
bulk (`bulk_update`, no signals), so its audit is the inventory ledger: every StockMovement names its
user; `audit_entries` merges both for a variant.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.contrib.contenttypes.models import ContentType

logger = logging.getLogger(__name__)

HIDDEN = "(hidden)"


def mask_secret(value: str) -> str:
    """auditlog's mask callable for credentials: says whether there was a value, never what."""
    return HIDDEN if value not in ("", "{}", "None", "null") else "(none)"


def register_models() -> None:
    from auditlog.registry import auditlog

    if not auditlog.contains(apps.get_model("integrations", "Connection")):
        auditlog.register(apps.get_model("integrations", "Connection"),
                          include_fields=["status", "display_name", "credentials", "external_account_id",
                                          "poll_interval"],
                          mask_fields=["credentials"], mask_callable="apps.ops.audit.mask_secret")
    for label, fields in (("catalog.Variant", ["sku", "price", "mrp", "currency"]),
                          ("catalog.Listing", ["price_override", "mrp_override", "state"]),
                          ("inventory.StockItem", ["on_hand"])):
        model = apps.get_model(label)
        if not auditlog.contains(model):
            auditlog.register(model, include_fields=fields)
    try:  # tenders arrive with issue 10; register the bid as soon as the model exists
        bid = apps.get_model("tenders", "Bid")
    except LookupError:
        return
    if not auditlog.contains(bid):
        auditlog.register(bid, exclude_fields=["updated_at", "created_at"])


def audit_entries(obj, *, limit: int = 50) -> list[dict]:
    """The change history of one object, newest first: auditlog entries, plus the stock ledger for a variant."""
    from auditlog.models import LogEntry

    entries = [
        {"when": entry.timestamp, "who": entry.actor, "action": entry.get_action_display(),
         "changes": [(field, values[0], values[1]) for field, values in (entry.changes_dict or {}).items()]}
        for entry in LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(type(obj)),
                                             object_pk=str(obj.pk)).select_related("actor").order_by("-timestamp")[:limit]
    ]
    if obj._meta.label == "catalog.Variant":
        from apps.inventory.models import StockMovement

        for movement in (StockMovement.objects.filter(item__variant=obj).exclude(on_hand_delta=0)
                         .select_related("created_by").order_by("-created_at")[:limit]):
            entries.append({"when": movement.created_at, "who": movement.created_by,
                            "action": movement.get_kind_display(),
                            "changes": [("on_hand", str(movement.on_hand_after - movement.on_hand_delta),
                                         str(movement.on_hand_after))],
                            "reason": movement.reason})
        entries.sort(key=lambda e: e["when"], reverse=True)
    return entries[:limit]
