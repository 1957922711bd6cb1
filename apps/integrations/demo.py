"""Demo connections to the sandbox marketplaces, created by `seed_demo`."""

from django.conf import settings


def seed_demo_connections(*, shgs, user) -> list[str]:
    if not settings.SANDBOX:
        return ["SANDBOX is off: no demo channels connected."]
    return []
