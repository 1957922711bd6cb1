"""The procurement resources of the partner API: scoped reads, the bid workflow, quotes, seller profiles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.accounts.services import partner_token_create
from apps.integrations.connectors.gem import TenderData
from apps.tenders import services
from apps.tenders.models import Inquiry, SellerProfile, Tender
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant):
    _token, key = partner_token_create(organization=tenant["federation"], name="Partner")
    return client_for(key)


def test_tenders_are_scoped_and_filtered(api, tenant, other_tenant):
    services.tenders_import(shg=tenant["shg"], source="file", items=[
        TenderData(bid_number="GEM/1", category="Handloom saree", deadline=timezone.now() + timedelta(days=3)),
        TenderData(bid_number="GEM/2", category="Laptop", deadline=timezone.now() + timedelta(days=2))])
    services.tenders_import(shg=other_tenant["shg"], source="file", items=[
        TenderData(bid_number="GEM/OTHER", category="Saree", deadline=timezone.now() + timedelta(days=3))])
    body = api.get("/api/v1/tenders/").json()
    assert [t["bid_number"] for t in body["results"]] == ["GEM/2", "GEM/1"]
    matched = api.get("/api/v1/tenders/?matched=true").json()["results"]
    assert [t["bid_number"] for t in matched] == ["GEM/1"] and matched[0]["matched_terms"] == ["handloom", "saree"]


def test_bid_workflow_over_the_api(api, tenant):
    services.tenders_import(shg=tenant["shg"], source="file", items=[
        TenderData(bid_number="GEM/1", category="Saree", deadline=timezone.now() + timedelta(days=3), quantity=5)])
    tender = Tender.objects.get()
    created = api.post("/api/v1/bids/", {"tender": tender.pk}, format="json")
    assert created.status_code == 201 and created.json()["status"] == "draft"
    bid_id = created.json()["id"]
    refused = api.post(f"/api/v1/bids/{bid_id}/transition/", {"to_status": "submitted"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    changed = api.patch(f"/api/v1/bids/{bid_id}/", {"unit_price": "120.00", "quantity": 5,
                                                    "checklist": {k: True for k in services.CHECKLIST}}, format="json")
    assert changed.json()["total"] == "600.00"
    for step in ("documents", "priced", "submitted"):
        answer = api.post(f"/api/v1/bids/{bid_id}/transition/", {"to_status": step}, format="json")
        assert answer.status_code == 200, answer.json()
    assert [h["to_status"] for h in answer.json()["history"]] == ["draft", "documents", "priced", "submitted"]


def test_quote_create_and_send(api, tenant, other_tenant):
    inquiry = Inquiry.objects.create(shg=tenant["shg"], unique_query_id="9", received_at=timezone.now(),
                                     email="buyer@example.in", product_name="Jute bag")
    foreign = Inquiry.objects.create(shg=other_tenant["shg"], unique_query_id="9", received_at=timezone.now())
    refused = api.post("/api/v1/quotes/", {"inquiry": foreign.pk, "quantity": 1, "unit_price": "1",
                                           "delivery_days": 1, "payment_terms": "x"}, format="json")
    assert refused.status_code == 400
    quote = api.post("/api/v1/quotes/", {"inquiry": inquiry.pk, "quantity": 20, "unit_price": "12.50",
                                         "delivery_days": 4, "payment_terms": "Advance"}, format="json")
    assert quote.status_code == 201 and quote.json()["total"] == "250.00"
    sent = api.post(f"/api/v1/quotes/{quote.json()['id']}/send/", {}, format="json")
    assert sent.status_code == 200 and sent.json()["sent_to"] == "buyer@example.in"
    assert len(mail.outbox) == 1
    assert api.get(f"/api/v1/inquiries/{inquiry.pk}/").json()["status"] == "quoted"


def test_seller_profile_validation(api, tenant, other_tenant):
    data = {"shg": tenant["shg"].pk, "legal_name": "Sakhi", "pan": "AAPFU0939F", "gstin": "27AAPFU0939F1ZW",
            "address": "Pune", "state": "MH", "pincode": "411001"}
    bad = api.post("/api/v1/seller-profiles/", data, format="json")
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"gstin"}
    good = api.post("/api/v1/seller-profiles/", {**data, "gstin": "27AAPFU0939F1ZV"}, format="json")
    assert good.status_code == 201 and SellerProfile.objects.count() == 1
    assert "bank_account_number" not in good.json()
    foreign = api.post("/api/v1/seller-profiles/", {**data, "shg": other_tenant["shg"].pk}, format="json")
    assert foreign.status_code == 400
