"""Run one sync of a connection inline and print what it did: for operators and for debugging a channel."""

import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.integrations.models import Connection, SyncRun
from apps.integrations.sync import sync_connection


def parse_since(value: str) -> datetime:
    try:
        since = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO-8601 date or datetime, e.g. 2026-11-01T00:00:00Z") from None
    if timezone.is_naive(since):
        since = timezone.make_aware(since)  # the project's TIME_ZONE, as people type local times
    if since > timezone.now():
        raise CommandError("--since is in the future")
    return since


class Command(BaseCommand):
    help = "Sync one connection now, inline: sync_connection <id> [--stream orders|products|ratings] [--since ISO-8601]"

    def add_arguments(self, parser):
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--stream", choices=SyncRun.Stream.values, default=SyncRun.Stream.ORDERS)
        parser.add_argument("--since", help="Read from this time instead of the stored cursor minus the overlap.")

    def handle(self, *args, connection_id: int, stream: str, since: str | None = None, **options):
        if not Connection.objects.filter(pk=connection_id).exists():
            raise CommandError(f"No connection with id {connection_id}")
        started = time.monotonic()
        run = sync_connection(connection_id=connection_id, stream=stream, since=parse_since(since) if since else None,
                              trigger=SyncRun.Trigger.COMMAND)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"fetched={run.fetched} created={run.created} updated={run.updated} requests={run.requests} "
            f"retries={run.retries} seconds={seconds:.2f}"
        )
        if run.status == SyncRun.Status.SUCCESS:
            self.stdout.write(self.style.SUCCESS(f"run {run.pk}: {run.status}, cursor {run.cursor_after or '-'}"))
            return
        raise CommandError(f"run {run.pk}: {run.status}: {run.error}")
