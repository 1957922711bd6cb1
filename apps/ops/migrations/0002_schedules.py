"""Schedule the every-minute ops tick and the hourly connection checks in django-q2."""

from django.db import migrations

from apps.core.schedules import schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name="haat: ops tick", func="apps.ops.tasks.ops_tick", minutes=1),
        schedule_operation(name="haat: test connections", func="apps.ops.tasks.check_connections", minutes=60),
    ]
