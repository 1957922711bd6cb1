"""Small builders of tenant data for tests across apps (plain functions, no factory library needed)."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from apps.accounts.models import SHG, Membership, Organization

_seq = itertools.count(1)


def make_org(name: str | None = None, kind: str = Organization.Kind.FEDERATION) -> Organization:
    return Organization.objects.create(name=name or f"Federation {next(_seq)}", kind=kind)


def make_shg(federation: Organization | None = None, **fields) -> SHG:
    n = next(_seq)
    defaults = {
        "name": f"Test SHG {n}", "registration_number": f"REG-{n:05d}", "state": "Maharashtra",
        "district": "Pune", "contact_person": "Asha Patil", "phone": "+91 98765 43210", "languages": "Marathi",
    }
    defaults.update(fields)
    return SHG.objects.create(federation=federation or make_org(), **defaults)


def make_user(username: str | None = None, *, organization: Organization | None = None, shg: SHG | None = None,
              role: str = Membership.Role.COORDINATOR, **fields):
    user = get_user_model().objects.create_user(username=username or f"user{next(_seq)}", password="pw-12345-long",
                                                **fields)
    if organization is not None:
        Membership.objects.create(user=user, organization=organization, role=role)
    if shg is not None:
        Membership.objects.create(user=user, shg=shg, role=role)
    return user


def make_connection(shg: SHG, platform: str = "woocommerce", **fields):
    from apps.integrations.models import Connection

    defaults = {"display_name": f"{platform} store {next(_seq)}", "status": Connection.Status.ACTIVE,
                "credentials": {"consumer_key": "ck_secret_value", "consumer_secret": "cs_secret_value"},
                "external_account_id": f"acct-{next(_seq)}", "config": {}}
    defaults.update(fields)
    return Connection.objects.create(shg=shg, platform=platform, **defaults)
