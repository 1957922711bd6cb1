"""django-q2 schedules created by data migrations, written once.

A data migration is where a schedule belongs (it exists as soon as the database does, in every
environment); this gives each migration a two-line body and an exact reverse.
"""

from __future__ import annotations

from django.db import migrations


def schedule_operation(*, name: str, func: str, minutes: int) -> migrations.RunPython:
    """A RunPython creating (or repairing) a repeating schedule every `minutes`, and deleting it on reverse."""

    def create(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1})

    def delete(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name=name).delete()

    return migrations.RunPython(create, delete)
