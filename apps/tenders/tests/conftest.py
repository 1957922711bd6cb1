from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Membership
from tests.factories import make_connection, make_org, make_shg, make_user


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture
def tenant(db):
    from apps.catalog.models import Product

    federation = make_org("Procurement Federation")
    shg = make_shg(federation, name="Sakhi Weavers")
    user = make_user("coord", organization=federation, role=Membership.Role.COORDINATOR, email="coord@example.in")
    Product.objects.create(shg=shg, title="Handloom cotton saree", category="Sarees")
    Product.objects.create(shg=shg, title="Jute shopping bag", category="Bags")
    return {"federation": federation, "shg": shg, "user": user}


@pytest.fixture
def other_tenant(db):
    federation = make_org("Other Federation")
    shg = make_shg(federation, name="Other SHG")
    user = make_user("other", organization=federation, role=Membership.Role.ORG_ADMIN)
    return {"federation": federation, "shg": shg, "user": user}


@pytest.fixture
def gem_connection(tenant, sandbox_base):
    from apps.sandbox.platforms import gem

    gem.create_demo_account(gem.LISTING_ACCOUNT, "GeM")
    return make_connection(tenant["shg"], platform="gem", credentials={}, external_account_id="bidplus",
                           config={"base_url": f"{sandbox_base}/gem"})


@pytest.fixture
def indiamart(tenant, sandbox_base):
    from django.core.cache import cache

    from apps.sandbox.platforms import indiamart

    cache.clear()
    account = indiamart.create_demo_account("im-tenant", "Seller")
    connection = make_connection(tenant["shg"], platform="indiamart", external_account_id="crm-key-x",
                                 credentials=indiamart.connection_credentials(account),
                                 config={"base_url": f"{sandbox_base}/indiamart"},
                                 cursors={"inquiries_pulled_at": (timezone.now() - timedelta(minutes=10)).isoformat()})
    return account, connection
