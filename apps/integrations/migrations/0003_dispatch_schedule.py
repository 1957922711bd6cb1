"""Schedule the every-minute sync dispatcher in django-q2 (idempotent: re-running repairs it)."""

from django.db import migrations

from apps.core.schedules import schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_syncrun"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [schedule_operation(name="haat: dispatch due syncs", func="apps.integrations.tasks.dispatch_due_syncs",
                                     minutes=1)]
