"""Run the ops tick once (heartbeat, breaker probes, alerts), e.g. from cron when no qcluster runs."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the every-minute operations tick once: heartbeat, circuit-breaker probes, alert evaluation."

    def handle(self, *args, **options):
        from apps.ops.tasks import ops_tick

        self.stdout.write(str(ops_tick()))
