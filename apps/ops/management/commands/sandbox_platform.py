"""Stop or start one sandbox platform (an outage drill): `manage.py sandbox_platform stop woocommerce`."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Stop or start one sandbox platform: every endpoint of a stopped one answers 503."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["stop", "start", "status"])
        parser.add_argument("platform", nargs="?", default="")

    def handle(self, *args, action: str, platform: str, **options):
        from apps.sandbox.http import platform_start, platform_stop, stopped_platforms
        from apps.sandbox.urls import PLATFORM_MODULES

        if not settings.SANDBOX:
            raise CommandError("The sandbox is off (SANDBOX=on turns it on).")
        if action == "status":
            stopped = stopped_platforms()
            for slug in PLATFORM_MODULES:
                self.stdout.write(f"{slug}: {'stopped' if slug in stopped else 'running'}")
            return
        if platform not in PLATFORM_MODULES:
            raise CommandError(f"Unknown sandbox platform {platform!r}; one of: {', '.join(PLATFORM_MODULES)}")
        (platform_stop if action == "stop" else platform_start)(platform)
        self.stdout.write(f"{platform}: {'stopped' if action == 'stop' else 'running'}")
