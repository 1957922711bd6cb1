import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.accounts.models import SHG, Organization, PartnerToken

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_prints_logins(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert SHG.objects.count() == 3
    assert Organization.objects.count() == 2
    assert get_user_model().objects.filter(username="coordinator").count() == 1
    assert PartnerToken.objects.filter(revoked_at__isnull=True).count() == 1
    assert "coordinator / haat-demo-2026" in first and "coordinator / haat-demo-2026" in second
    key = next(line for line in second.splitlines() if "Partner API token" in line).rsplit(" ", 1)[1]
    from apps.accounts.services import partner_token_authenticate

    assert partner_token_authenticate(key=key) is not None
    districts = set(SHG.objects.values_list("district", flat=True))
    assert districts == {"Pune", "Muzaffarpur", "Thrissur"}


def test_seed_demo_connects_every_platform_to_the_sandbox(capsys):
    from apps.integrations.connectors.registry import CONNECTOR_PATHS
    from apps.integrations.demo import DEMO_CHANNELS
    from apps.integrations.models import Connection

    call_command("seed_demo", "--quiet")
    call_command("seed_demo", "--quiet")
    connections = Connection.objects.all()
    assert connections.count() == len(DEMO_CHANNELS), "running it twice never duplicates a connection"
    assert {c.platform for c in connections} == set(CONNECTOR_PATHS), "every channel Haat offers is in the demo"
    assert all(c.status == Connection.Status.ACTIVE for c in connections), [
        (c.platform, c.status, c.last_error) for c in connections if c.status != Connection.Status.ACTIVE]
    # Every channel that needs a secret holds one (GeM's public bid listing needs none).
    assert all(c.credentials for c in connections if c.platform != "gem")
    # The channels' catalogues are read and counted once, so the first orders reserve real stock.
    from apps.catalog.models import Listing, Variant
    from apps.integrations.demo import DEMO_OPENING_STOCK
    from apps.inventory.models import StockItem

    variants = set(Variant.objects.values_list("id", flat=True))
    counted = dict(StockItem.objects.values_list("variant_id", "on_hand"))
    assert variants and set(counted) == variants and set(counted.values()) == {DEMO_OPENING_STOCK}
    assert Listing.objects.count() >= len(variants)
    addresses = [c.config["base_url"] for c in connections if "base_url" in c.config]
    assert len(addresses) >= len(connections) // 2
    assert all(address.startswith("http://testserver/sandbox/") for address in addresses), addresses
