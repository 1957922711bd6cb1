"""Schedule the periodic procurement pulls in django-q2: IndiaMART every 15 minutes, GeM hourly."""

from django.db import migrations

from apps.core.schedules import schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("tenders", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name="tenders: pull IndiaMART inquiries", func="apps.tenders.tasks.pull_inquiries", minutes=15),
        schedule_operation(name="tenders: pull GeM bids", func="apps.tenders.tasks.pull_tenders", minutes=60),
    ]
