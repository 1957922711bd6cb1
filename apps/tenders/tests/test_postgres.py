"""PostgreSQL full-text ranking behind `tender_matches` (runs with DATABASE_URL=postgres://...)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.integrations.connectors.gem import TenderData
from apps.tenders import selectors, services

pytestmark = pytest.mark.django_db


def test_full_text_ranks_closer_categories_higher(tenant):
    if connection.vendor != "postgresql":
        pytest.skip("full-text ranking is a PostgreSQL test (SQLite uses the word index, tested elsewhere)")
    services.tenders_import(shg=tenant["shg"], source="file", items=[
        TenderData(bid_number="A", category="Handloom cotton sarees for nurses", deadline=timezone.now() + timedelta(days=3)),
        TenderData(bid_number="B", category="Cotton waste", deadline=timezone.now() + timedelta(days=3)),
        TenderData(bid_number="C", category="Laptop", deadline=timezone.now() + timedelta(days=3))])
    ranked = list(selectors.tender_matches(shg=tenant["shg"]).order_by("-rank"))
    assert [t.bid_number for t in ranked] == ["A", "B"]  # "sarees" is stemmed to the catalog's "saree"
    assert ranked[0].rank > ranked[1].rank > 0
