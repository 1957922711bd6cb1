"""Schedule the every-minute retry of failed fulfilment pushes in django-q2 (idempotent)."""

from django.db import migrations

from apps.core.schedules import schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [schedule_operation(name="haat: retry fulfilment pushes",
                                     func="apps.orders.tasks.dispatch_due_fulfilments", minutes=1)]
