"""Recompute the overview's daily totals from the orders (after a bulk import or a TIME_ZONE change)."""

from django.core.management.base import BaseCommand

from apps.orders.services import daily_totals_rebuild


class Command(BaseCommand):
    help = "Recompute the daily order and revenue totals the overview reads, for all or some connections."

    def add_arguments(self, parser):
        parser.add_argument("--connection", type=int, action="append", dest="connections", metavar="ID",
                            help="Only this connection (repeatable); default: every connection.")

    def handle(self, *args, connections=None, **options):
        written = daily_totals_rebuild(connection_ids=connections)
        self.stdout.write(f"{written} daily totals written.")
