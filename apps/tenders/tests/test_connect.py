"""Connecting GeM and IndiaMART the way the dashboard's connect form does (a live check before saving)."""

import pytest
from django.core.cache import cache

from apps.integrations.models import Connection
from apps.integrations.services import ConnectFailed, connection_connect_api_key
from apps.sandbox.platforms import gem, indiamart

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


def test_connect_gem_needs_no_credentials(tenant, settings):
    settings.SANDBOX_ROOT_URL = "http://testserver/sandbox"
    gem.create_demo_account(gem.LISTING_ACCOUNT, "GeM")
    connection = connection_connect_api_key(shg=tenant["shg"], platform="gem", values={"keywords": ""})
    assert connection.status == Connection.Status.ACTIVE and connection.external_account_id == "bidplus"


def test_connect_indiamart_checks_the_key(tenant, settings):
    settings.SANDBOX_ROOT_URL = "http://testserver/sandbox"
    cache.clear()
    account = indiamart.create_demo_account("im-connect", "Seller")
    with pytest.raises(ConnectFailed, match="CRM key"):
        connection_connect_api_key(shg=tenant["shg"], platform="indiamart", values={"glusr_crm_key": "wrong"})
    indiamart.reset_throttle(account)
    connection = connection_connect_api_key(shg=tenant["shg"], platform="indiamart",
                                            values=indiamart.connection_credentials(account))
    assert connection.credentials["glusr_crm_key"] == account.secrets["glusr_crm_key"]
    assert Connection.objects.count() == 1
