"""Procurement services: seller profile, tender import and matching, the bid workflow, reminders, inquiries, quotes."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_q.models import Schedule
from openpyxl import Workbook, load_workbook

from apps.events.models import Event
from apps.integrations.connectors.errors import RateLimited
from apps.integrations.connectors.gem import TenderData
from apps.sandbox.platforms import indiamart as sandbox_im
from apps.tenders import selectors, services
from apps.tenders.models import Bid, Inquiry, SellerProfile, Tender

pytestmark = pytest.mark.django_db


def tender(number: str, category: str, days: int = 5, **extra) -> TenderData:
    return TenderData(bid_number=number, category=category, deadline=timezone.now() + timedelta(days=days), **extra)


# --- seller profile ---------------------------------------------------------------------------------------------

PROFILE = {"organization_type": "shg", "legal_name": "Sakhi Weavers SHG", "pan": "AAPFU0939F",
           "gstin": "27AAPFU0939F1ZV", "udyam_number": "UDYAM-MH-26-0012345", "address": "Pune", "state": "Maharashtra",
           "pincode": "411001", "bank_account_number": "1234567890", "bank_ifsc": "SBIN0001234"}


def test_profile_validates_every_identifier(tenant):
    profile = services.seller_profile_upsert(shg=tenant["shg"], data=PROFILE)
    assert profile.pk and SellerProfile.objects.count() == 1
    with pytest.raises(ValidationError) as info:
        services.seller_profile_upsert(shg=tenant["shg"], data={**PROFILE, "gstin": "27AAPFU0939F1ZW", "pan": "ABCXE1234F",
                                                                "bank_ifsc": "SBIN1001234", "pincode": "011001"})
    assert {"gstin", "pan", "bank_ifsc", "pincode"} <= set(info.value.message_dict)
    assert SellerProfile.objects.get().gstin == "27AAPFU0939F1ZV"  # nothing of the bad input was saved


def test_gstin_must_carry_the_profiles_pan(tenant):
    with pytest.raises(ValidationError) as info:
        services.seller_profile_upsert(shg=tenant["shg"], data={**PROFILE, "pan": "ABCPE1234F"})
    assert "gstin" in info.value.message_dict


# --- tenders ----------------------------------------------------------------------------------------------------


def test_import_matches_the_catalog_and_publishes_once(tenant):
    shg = tenant["shg"]
    items = [tender("GEM/2026/B/1", "Handloom cotton saree for staff"), tender("GEM/2026/B/2", "Laptop - Notebook"),
             tender("GEM/2026/B/3", "Jute bags, printed", days=2)]
    result = services.tenders_import(shg=shg, items=items, source=Tender.Source.FILE)
    assert (result.created, result.matched) == (3, 2)
    ranked = list(selectors.tender_list(principal=tenant["user"], shg=shg))
    assert [t.bid_number for t in ranked] == ["GEM/2026/B/3", "GEM/2026/B/1"]  # matched only, deadline first
    assert Tender.objects.get(bid_number="GEM/2026/B/1").matched_terms == ["handloom", "cotton", "saree"]
    again = services.tenders_import(shg=shg, items=items, source=Tender.Source.FILE)
    assert (again.created, again.updated, again.matched) == (0, 3, 0)
    assert Event.objects.filter(type="tender.matched").count() == 2


def test_pull_imports_every_page_of_gem(tenant, gem_connection, sandbox_http):
    result = services.tenders_pull(connection=gem_connection)
    assert result.created == 25
    matched = selectors.tender_list(principal=tenant["user"], shg=tenant["shg"])
    assert {"Handloom cotton saree", "Jute shopping bag"} <= {t.category for t in matched}
    assert all(t.connection_id == gem_connection.pk for t in Tender.objects.all())


def _xlsx(rows) -> io.BytesIO:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def test_file_import_reads_xlsx_with_emd(tenant):
    upload = _xlsx([["Bid Number", "Category", "Ministry", "Quantity", "Bid End Date", "EMD Amount"],
                    ["GEM/2026/B/77", "Jute shopping bag", "Ministry of Textiles", 500,
                     (timezone.now() + timedelta(days=4)).strftime("%d-%m-%Y %H:%M:%S"), "12,000"]])
    result = services.tenders_import_file(shg=tenant["shg"], upload=upload, filename="bids.xlsx")
    assert result.created == 1 and result.matched == 1
    assert Tender.objects.get().emd_amount == Decimal("12000")


def test_bad_rows_import_nothing_and_are_all_named(tenant):
    future = (timezone.now() + timedelta(days=4)).strftime("%d-%m-%Y")
    csv_text = ("Bid Number,Category,Bid End Date,Quantity,EMD Amount\n"
                f"GEM/1,Saree,{future},10,100\n"
                f",Saree,{future},10,\n"
                f"GEM/3,,tomorrow,ten,-5\n"
                f"GEM/1,Saree,{future},,\n")
    with pytest.raises(services.TenderFileInvalid) as info:
        services.tenders_import_file(shg=tenant["shg"], upload=io.BytesIO(csv_text.encode()), filename="bids.csv")
    assert {(row, field) for row, field, _m in info.value.errors} == {
        (3, "bid_number"), (4, "category"), (4, "deadline"), (4, "quantity"), (4, "emd_amount"), (5, "bid_number")}
    assert Tender.objects.count() == 0


def test_missing_columns_are_named(tenant):
    with pytest.raises(services.TenderFileInvalid) as info:
        services.tenders_import_file(shg=tenant["shg"], upload=io.BytesIO(b"Bid Number,Title\nX,Y\n"), filename="a.csv")
    assert {field for _r, field, _m in info.value.errors} == {"category", "deadline"}


# --- bids -------------------------------------------------------------------------------------------------------


@pytest.fixture
def bid(tenant):
    services.tenders_import(shg=tenant["shg"], items=[tender("GEM/2026/B/9", "Cotton saree", days=5, quantity=100)],
                            source="file")
    return services.bid_start(tender=Tender.objects.get(), user=tenant["user"])


def test_workflow_follows_allowed_transitions_and_keeps_history(bid, tenant):
    with pytest.raises(services.BidNotAllowed):
        services.bid_transition(bid=bid, to_status=Bid.Status.SUBMITTED)
    services.bid_transition(bid=bid, to_status=Bid.Status.DOCUMENTS)
    with pytest.raises(services.BidNotAllowed, match="price"):
        services.bid_transition(bid=bid, to_status=Bid.Status.PRICED)
    with pytest.raises(services.BidNotAllowed):
        services.bid_update(bid=bid, quantity=101)  # more than the tender asks
    services.bid_update(bid=bid, unit_price=Decimal("950.00"), quantity=100)
    services.bid_transition(bid=bid, to_status=Bid.Status.PRICED)
    with pytest.raises(services.BidNotAllowed, match="checklist"):
        services.bid_transition(bid=bid, to_status=Bid.Status.SUBMITTED)
    services.bid_update(bid=bid, checklist={key: True for key in services.CHECKLIST})
    for step in (Bid.Status.SUBMITTED, Bid.Status.TECHNICAL, Bid.Status.FINANCIAL, Bid.Status.AWARDED):
        services.bid_transition(bid=bid, to_status=step, user=tenant["user"])
    bid.refresh_from_db()
    assert bid.total == Decimal("95000.00") and bid.submitted_at
    assert [h.to_status for h in bid.history.all()] == ["draft", "documents", "priced", "submitted",
                                                         "technical_evaluation", "financial_evaluation", "awarded"]
    assert Event.objects.filter(type="bid.status_changed").count() == 7
    with pytest.raises(services.BidNotAllowed):
        services.bid_update(bid=bid, notes="too late")
    assert not Schedule.objects.filter(name__startswith=f"tenders: bid {bid.pk} ").exists()


def test_reminders_are_scheduled_once_and_sent_once(bid, tenant, django_capture_on_commit_callbacks):
    names = set(Schedule.objects.filter(name__startswith=f"tenders: bid {bid.pk} ").values_list("name", flat=True))
    assert names == {f"tenders: bid {bid.pk} reminder 48h", f"tenders: bid {bid.pk} reminder 24h"}
    services.bid_schedule_reminders(bid=bid)
    assert Schedule.objects.filter(name__startswith=f"tenders: bid {bid.pk} ").count() == 2
    at = Schedule.objects.get(name=f"tenders: bid {bid.pk} reminder 24h").next_run
    assert at == bid.tender.deadline - timedelta(hours=24)
    from apps.tenders.tasks import bid_reminder

    with django_capture_on_commit_callbacks(execute=True):
        assert bid_reminder(bid.pk, 24) is True
        assert bid_reminder(bid.pk, 24) is False
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["coord@example.in"]
    assert "GEM/2026/B/9" in mail.outbox[0].subject


def test_bid_sheet_and_bundle(bid, tenant):
    services.seller_profile_upsert(shg=tenant["shg"], data=PROFILE)
    services.seller_document_add(shg=tenant["shg"], kind="pan", title="PAN card",
                                 file=SimpleUploadedFile("pan.pdf", b"%PDF-1.4 pan"))
    bid = services.bid_update(bid=bid, unit_price=Decimal("10.50"), quantity=10)
    sheet = load_workbook(io.BytesIO(services.bid_sheet_xlsx(bid))).active
    values = {row[0]: row[1] for row in sheet.iter_rows(values_only=True)}
    assert values["Bid number"] == "GEM/2026/B/9" and values["Total (INR)"] == "105.00"
    assert "NOT submitted" in sheet["A1"].value
    bundle = zipfile.ZipFile(io.BytesIO(services.bid_bundle_zip(bid)))
    names = bundle.namelist()
    assert any(n.endswith("bid-sheet.xlsx") for n in names) and "README.txt" in names
    assert any(n.startswith("documents/pan-") and bundle.read(n) == b"%PDF-1.4 pan" for n in names)


# --- inquiries and quotes -----------------------------------------------------------------------------------------


def test_pull_stores_dedupes_and_matches(tenant, indiamart, sandbox_http):
    account, connection = indiamart
    created = services.inquiries_pull(connection=connection)
    assert created == 6 and Inquiry.objects.count() == 6
    assert Event.objects.filter(type="inquiry.received").count() == 6
    connection.refresh_from_db()
    assert connection.cursors["inquiries"] and connection.cursors["inquiries_pulled_at"]
    with pytest.raises(RateLimited):  # the stored last pull holds the 5-minute rule
        services.inquiries_pull(connection=connection)
    sandbox_im.reset_throttle(account)
    connection.cursors["inquiries_pulled_at"] = (timezone.now() - timedelta(minutes=6)).isoformat()
    connection.save()
    from django.core.cache import cache

    cache.clear()
    assert services.inquiries_pull(connection=connection, since=timezone.now() - timedelta(days=3)) == 0
    assert Inquiry.objects.count() == 6
    saree = [i for i in Inquiry.objects.all() if "saree" in i.product_name.lower()]
    assert all(i.matched_product and i.matched_product.title == "Handloom cotton saree" for i in saree)


def test_first_pull_waits_five_minutes_after_the_connect_check(tenant, indiamart, sandbox_http):
    _account, connection = indiamart
    connection.cursors = {}
    connection.save()  # just (re)connected: the key was checked with one call a moment ago
    with pytest.raises(RateLimited):
        services.inquiries_pull(connection=connection)
    assert Inquiry.objects.count() == 0


def test_quote_is_emailed_with_pdf_and_expiring_link(tenant, indiamart, sandbox_http, client):
    services.inquiries_pull(connection=indiamart[1])
    inquiry = Inquiry.objects.first()
    with pytest.raises(ValidationError) as info:
        services.quote_create(inquiry=inquiry, quantity=0, unit_price=Decimal("0"), delivery_days=5, payment_terms="")
    assert {"quantity", "unit_price", "payment_terms"} <= set(info.value.message_dict)
    quote = services.quote_create(inquiry=inquiry, quantity=50, unit_price=Decimal("249.50"), delivery_days=7,
                                  payment_terms="100% advance", validity_days=10, message="Thank you")
    assert quote.total == Decimal("12475.00")
    services.quote_send(quote=quote)
    message = mail.outbox[-1]
    assert message.to == [inquiry.email]
    _name, content, mimetype = message.attachments[0]
    assert mimetype == "application/pdf" and content.startswith(b"%PDF")
    link = services.quote_share_url(quote)
    assert f"/tenders/quotes/shared/{quote.uuid}:" in message.body
    inquiry.refresh_from_db()
    assert inquiry.status == Inquiry.Status.QUOTED
    assert Event.objects.filter(type="quote.sent").count() == 1
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert services.quote_from_token(token) == quote
    assert services.quote_from_token(token[:-2] + "xx") is None


def test_shared_link_expires_with_the_quote(tenant, monkeypatch):
    import time

    inquiry = Inquiry.objects.create(shg=tenant["shg"], unique_query_id="1", received_at=timezone.now(),
                                     email="b@example.in")
    quote = services.quote_create(inquiry=inquiry, quantity=1, unit_price=Decimal("5"), delivery_days=1,
                                  payment_terms="advance", validity_days=2)
    real = time.time
    monkeypatch.setattr("django.core.signing.time.time", lambda: real() - 3 * 86400)
    token = services.quote_share_url(quote).rstrip("/").rsplit("/", 1)[-1]
    monkeypatch.setattr("django.core.signing.time.time", real)
    assert services.quote_from_token(token) is None
