"""Dashboard pages: matched tenders, the bid workflow, file import, profile and private documents, inquiries
and quotes, IndiaMART push. Lists run a constant number of queries whatever their length."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.integrations.connectors.gem import TenderData
from apps.sandbox.platforms import indiamart as sandbox_im
from apps.tenders import services
from apps.tenders.models import Bid, Inquiry, SellerDocument, Tender
from apps.tenders.views import push_path

pytestmark = pytest.mark.django_db


def add_tenders(shg, n: int, start: int = 0):
    items = [TenderData(bid_number=f"GEM/2026/B/{start + i}", category=f"Handloom cotton saree lot {i}",
                        deadline=timezone.now() + timedelta(days=3 + i), ministry="Ministry of Textiles", quantity=10)
             for i in range(n)]
    services.tenders_import(shg=shg, items=items, source="file")


def add_inquiries(shg, n: int, start: int = 0):
    for i in range(n):
        Inquiry.objects.create(shg=shg, unique_query_id=str(start + i), buyer_name=f"Buyer {i}",
                               product_name="Jute bag", received_at=timezone.now(), email="b@example.in",
                               quantity="50 Piece")


def test_tender_list_is_matched_deadline_sorted_and_constant_in_queries(client, tenant, django_assert_max_num_queries):
    client.force_login(tenant["user"])
    add_tenders(tenant["shg"], 2)
    services.tenders_import(shg=tenant["shg"], source="file", items=[TenderData(
        bid_number="GEM/2026/B/OTHER", category="Diesel generator", deadline=timezone.now() + timedelta(days=1))])
    response = client.get(reverse("tenders:list"))
    body = response.content.decode()
    assert "GEM/2026/B/OTHER" not in body
    assert body.index("GEM/2026/B/0") < body.index("GEM/2026/B/1")
    assert "GEM/2026/B/OTHER" in client.get(reverse("tenders:list") + "?all=1").content.decode()
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("tenders:list"))
    add_tenders(tenant["shg"], 30, start=100)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("tenders:list")).status_code == 200


def test_inquiry_list_constant_queries(client, tenant, django_assert_max_num_queries):
    client.force_login(tenant["user"])
    add_inquiries(tenant["shg"], 2)
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("tenders:inquiries"))
    add_inquiries(tenant["shg"], 30, start=100)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("tenders:inquiries"))
    assert response.content.decode().count("Buyer ") == 32


def test_bid_workflow_through_the_pages(client, tenant):
    client.force_login(tenant["user"])
    add_tenders(tenant["shg"], 1)
    tender = Tender.objects.get()
    detail = reverse("tenders:detail", args=[tender.pk])
    client.post(reverse("tenders:bid_start", args=[tender.pk]))
    data = {"unit_price": "99.50", "quantity": "10", **{f"check_{k}": "on" for k in services.CHECKLIST}}
    client.post(reverse("tenders:bid_update", args=[tender.pk]), data)
    for step in ("documents", "priced", "submitted"):
        client.post(reverse("tenders:bid_transition", args=[tender.pk]), {"to_status": step})
    bid = Bid.objects.get()
    assert bid.status == "submitted" and bid.total == 995
    response = client.post(reverse("tenders:bid_transition", args=[tender.pk]), {"to_status": "awarded"}, follow=True)
    assert Bid.objects.get().status == "submitted"
    assert "cannot go from" in response.content.decode()
    page = client.get(detail).content.decode()
    assert "Technical evaluation" in page and "Haat prepares the filled bid sheet" in page
    sheet = client.get(reverse("tenders:bid_sheet", args=[tender.pk]))
    assert sheet["Content-Type"].startswith("application/vnd.openxmlformats")
    htmx = client.post(reverse("tenders:bid_transition", args=[tender.pk]), {"to_status": "technical_evaluation"},
                       HTTP_HX_REQUEST="true")
    assert "<html" not in htmx.content.decode() and "Financial evaluation" in htmx.content.decode()


def test_viewer_of_another_tenant_gets_404(client, tenant, other_tenant):
    add_tenders(tenant["shg"], 1)
    tender = Tender.objects.get()
    client.force_login(other_tenant["user"])
    assert client.get(reverse("tenders:detail", args=[tender.pk])).status_code == 404
    assert client.post(reverse("tenders:bid_start", args=[tender.pk])).status_code == 404
    assert "GEM/2026/B/0" not in client.get(reverse("tenders:list")).content.decode()


def test_file_import_page_lists_every_bad_row(client, tenant):
    client.force_login(tenant["user"])
    upload = SimpleUploadedFile("bids.csv", b"Bid Number,Category,Bid End Date\n,Saree,01-01-2030\nGEM/2,,x\n")
    response = client.post(reverse("tenders:import"), {"shg": tenant["shg"].pk, "file": upload})
    body = response.content.decode()
    assert "Nothing was imported" in body and "Row 2" in body and "Row 3" in body
    assert Tender.objects.count() == 0


def test_documents_are_private_to_the_tenant(client, tenant, other_tenant, private_media):
    client.force_login(tenant["user"])
    url = reverse("tenders:profile", args=[tenant["shg"].pk])
    client.post(url, {"upload": "1", "kind": "pan", "title": "PAN card",
                      "file": SimpleUploadedFile("pan.pdf", b"%PDF-1.4 secret")})
    document = SellerDocument.objects.get()
    assert str(private_media) in document.file.path
    with pytest.raises(ValueError):
        document.file.url  # noqa: B018 - no public URL exists
    response = client.get(reverse("tenders:document", args=[document.pk]))
    assert b"".join(response.streaming_content) == b"%PDF-1.4 secret"
    client.force_login(other_tenant["user"])
    assert client.get(reverse("tenders:document", args=[document.pk])).status_code == 404


def test_profile_form_shows_checksum_errors(client, tenant):
    client.force_login(tenant["user"])
    response = client.post(reverse("tenders:profile", args=[tenant["shg"].pk]), {
        "organization_type": "shg", "legal_name": "Sakhi", "pan": "AAPFU0939F", "gstin": "27AAPFU0939F1ZW",
        "address": "Pune", "state": "MH", "pincode": "411001"})
    assert "check character" in response.content.decode()


def test_quote_form_sends_the_quote(client, tenant):
    client.force_login(tenant["user"])
    add_inquiries(tenant["shg"], 1)
    inquiry = Inquiry.objects.get()
    page = client.get(reverse("tenders:inquiry_detail", args=[inquiry.pk])).content.decode()
    assert 'value="50"' in page  # the quantity the buyer asked for
    response = client.post(reverse("tenders:inquiry_detail", args=[inquiry.pk]), {
        "quantity": "50", "unit_price": "20.00", "delivery_days": "5", "payment_terms": "Advance",
        "validity_days": "7", "to_email": ""}, follow=True)
    assert "Quote sent to b@example.in" in response.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].attachments
    inquiry.refresh_from_db()
    assert inquiry.status == "quoted"
    quote = inquiry.quotes.get()
    token = services.quote_share_url(quote).rstrip("/").rsplit("/", 1)[-1]
    client.logout()
    shared = client.get(reverse("tenders:quote_shared", args=[token]))
    assert shared.status_code == 200 and shared.content.startswith(b"%PDF")
    assert client.get(reverse("tenders:quote_shared", args=["forged:token"])).status_code == 404


def test_indiamart_push_stores_once_and_checks_the_token(client, tenant, indiamart):
    account, connection = indiamart
    body = json.dumps({"CODE": 200, "STATUS": "SUCCESS",
                       "RESPONSE": sandbox_im.lead_row(account, 50, timezone.now())}).encode()
    url = push_path(connection)
    assert client.post(url, body, content_type="application/json").status_code == 201
    assert client.post(url, body, content_type="application/json").status_code == 200
    assert Inquiry.objects.count() == 1
    assert client.post(url[:-3] + "xx/", body, content_type="application/json").status_code == 401
    assert client.post(url, b"not json", content_type="application/json").status_code == 400


def test_sandbox_push_reaches_the_app(client, tenant, indiamart, webhook_inbox):
    account, connection = indiamart
    sandbox_im.create_lead(account, push_url="http://testserver" + push_path(connection))
    assert webhook_inbox[0]["status"] == 201 and Inquiry.objects.count() == 1


def test_pages_in_hindi(client, tenant):
    client.force_login(tenant["user"])
    client.cookies["django_language"] = "hi"
    body = client.get(reverse("tenders:list"), HTTP_ACCEPT_LANGUAGE="hi").content.decode()
    assert "टेंडर" in body and "GeM एक्सपोर्ट इम्पोर्ट करें" in body
