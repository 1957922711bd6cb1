"""Schedule the nightly heal of the overview's daily totals in django-q2 (idempotent)."""

from django.db import migrations

from apps.core.schedules import schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0004_daily_order_total"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [schedule_operation(name="haat: heal daily order totals",
                                     func="apps.orders.tasks.daily_totals_heal", minutes=24 * 60)]
