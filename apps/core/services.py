"""Small write helpers used by every app's services (the HackSoft `model_update`)."""

from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

ModelT = TypeVar("ModelT", bound=models.Model)


def model_update(*, instance: ModelT, fields: list[str], data: dict[str, Any]) -> tuple[ModelT, bool]:
    """Set the given fields from `data`, save only what changed, and say whether anything did."""
    changed: list[str] = []
    for field in fields:
        if field not in data:
            continue
        if getattr(instance, field) != data[field]:
            setattr(instance, field, data[field])
            changed.append(field)
    if not changed:
        return instance, False
    instance.full_clean(exclude=[f.name for f in instance._meta.fields if f.name not in changed])
    if any(f.name == "updated_at" and getattr(f, "auto_now", False) for f in instance._meta.fields):
        instance.updated_at = timezone.now()
        changed.append("updated_at")
    instance.save(update_fields=changed)
    return instance, True
