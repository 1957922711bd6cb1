"""Writes of the procurement app: seller profiles, tender imports and matching, the bid workflow with its
reminders, IndiaMART inquiries and quotes.

GeM accepts nothing from outside its portal, so "submitting" a bid here means Haat prepares the filled
bid sheet and the documents bundle for the coordinator, who uploads them on GeM and then records each
outcome (submitted, evaluations, awarded or lost). Nothing in this module pretends to have sent a bid.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import SHG, Membership
from apps.core.templatetags.money import format_money
from apps.events.services import publish
from apps.events.types import EventType
from apps.integrations.connectors.errors import ConnectorError, RateLimited
from apps.integrations.connectors.gem import TenderData
from apps.integrations.connectors.indiamart import InquiryData
from apps.integrations.connectors.registry import build_connector
from apps.integrations.models import Connection
from apps.tenders import selectors
from apps.tenders.models import (
    Bid,
    BidStatusChange,
    Inquiry,
    Quote,
    SellerDocument,
    SellerProfile,
    Tender,
    TenderWord,
)
from apps.tenders.text import words

logger = logging.getLogger(__name__)

REMINDER_HOURS = (48, 24)
INQUIRY_OVERLAP = timedelta(minutes=10)
MAX_UPLOAD_ROWS = 5000


# --- seller profile -------------------------------------------------------------------------------------------


@transaction.atomic
def seller_profile_upsert(*, shg: SHG, data: dict[str, Any]) -> SellerProfile:
    """Create or change the SHG's profile; every identifier is checked (ValidationError names the fields)."""
    profile = SellerProfile.objects.filter(shg=shg).first() or SellerProfile(shg=shg)
    for name, value in data.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    return profile


def seller_document_add(*, shg: SHG, kind: str, title: str, file, valid_until=None, user=None) -> SellerDocument:
    document = SellerDocument(shg=shg, kind=kind, title=title, file=file, valid_until=valid_until, uploaded_by=user)
    document.full_clean()
    document.save()
    return document


# --- tenders: import and matching ------------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    matched: int = 0


def _search_text(item: TenderData) -> str:
    """What is bought: the category's words. Ministries' names ("Handlooms") say nothing of the item."""
    return " ".join(words(item.category))


@transaction.atomic
def tenders_import(*, shg: SHG, items: list[TenderData], source: str, connection: Connection | None = None) -> ImportResult:
    """Upsert tenders by (SHG, bid number) in bulk, rebuild their word index, score them against the catalog
    and publish `tender.matched` for each tender that matches for the first time."""
    result = ImportResult()
    if not items:
        return result
    by_number = {item.bid_number: item for item in items}
    existing = {t.bid_number: t for t in Tender.objects.filter(shg=shg, bid_number__in=list(by_number))}
    fields = ["external_id", "category", "ministry", "department", "state", "quantity", "starts_at", "deadline",
              "emd_amount", "documents", "detail_url", "search_text", "raw"]
    new, changed = [], []
    for number, item in by_number.items():
        values = {"external_id": item.external_id, "category": item.category[:500], "ministry": item.ministry[:200],
                  "department": item.department[:200], "state": item.state[:100], "quantity": item.quantity,
                  "starts_at": item.starts_at, "deadline": item.deadline, "emd_amount": item.emd_amount,
                  "documents": item.documents, "detail_url": item.detail_url[:500], "search_text": _search_text(item),
                  "raw": item.raw}
        tender = existing.get(number)
        if tender is None:
            new.append(Tender(shg=shg, connection=connection, source=source, bid_number=number, **values))
        else:
            if item.emd_amount is None:
                values["emd_amount"] = tender.emd_amount  # the listing has no EMD: keep one a file gave
            for name, value in values.items():
                setattr(tender, name, value)
            changed.append(tender)
    Tender.objects.bulk_create(new, batch_size=500)
    Tender.objects.bulk_update(changed, fields, batch_size=500)
    result.created, result.updated = len(new), len(changed)
    tenders = list(Tender.objects.filter(shg=shg, bid_number__in=list(by_number)))
    TenderWord.objects.filter(tender__in=tenders).delete()
    TenderWord.objects.bulk_create([TenderWord(tender=t, word=w) for t in tenders for w in t.search_text.split()],
                                   batch_size=1000, ignore_conflicts=True)
    result.matched = tenders_rescore(shg=shg, tenders=tenders)
    return result


def tenders_rescore(*, shg: SHG, tenders: list[Tender] | None = None) -> int:
    """Store each tender's match score and words; publish `tender.matched` for tenders newly matched."""
    terms = selectors.catalog_terms(shg)
    tenders = list(Tender.objects.filter(shg=shg)) if tenders is None else tenders
    ranks = dict(selectors.tender_matches(shg=shg, queryset=Tender.objects.filter(pk__in=[t.pk for t in tenders]),
                                          terms=terms).values_list("pk", "rank")) if terms else {}
    term_set, newly = set(terms), []
    for tender in tenders:
        was_matched = tender.match_score > 0
        tender.match_score = float(ranks.get(tender.pk) or 0)
        tender.matched_terms = [w for w in tender.search_text.split() if w in term_set]
        if tender.match_score > 0 and not was_matched:
            newly.append(tender)
    Tender.objects.bulk_update(tenders, ["match_score", "matched_terms"], batch_size=500)
    for tender in newly:
        publish(type=EventType.TENDER_MATCHED, shg=shg, connection=tender.connection, payload={
            "tender_id": tender.pk, "bid_number": tender.bid_number, "category": tender.category,
            "deadline": tender.deadline.isoformat(), "score": tender.match_score, "matched_terms": tender.matched_terms})
    return len(newly)


def tenders_pull(*, connection: Connection) -> ImportResult:
    """Read every page of the GeM listing for this connection and import it in one transaction."""
    connector = build_connector(connection)
    items: list[TenderData] = []
    cursor = None
    for _page in range(1000):
        page = connector.fetch_tenders(cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    result = tenders_import(shg=connection.shg, items=items, source=Tender.Source.GEM, connection=connection)
    Connection.objects.filter(pk=connection.pk).update(last_sync_at=timezone.now(), last_success_at=timezone.now(),
                                                       last_error="")
    return result


class TenderFileInvalid(Exception):
    """The uploaded export has bad rows: `errors` names every (row, column, problem); nothing was imported."""

    def __init__(self, errors: list[tuple[int, str, str]]):
        super().__init__(f"{len(errors)} problem(s) in the file")
        self.errors = errors


COLUMN_ALIASES = {
    "bid_number": ("bid number", "bid no", "bid no.", "bid_number"),
    "category": ("category", "items", "item category", "item", "category name"),
    "ministry": ("ministry", "ministry name"),
    "department": ("department", "department name", "organisation", "organization"),
    "state": ("state", "consignee state"),
    "quantity": ("quantity", "total quantity", "qty"),
    "deadline": ("bid end date", "end date", "deadline", "bid end date/time", "closing date"),
    "starts_at": ("bid start date", "start date", "published"),
    "emd_amount": ("emd", "emd amount", "emd amount (inr)"),
    "document_url": ("document", "document url", "bid document"),
}
REQUIRED_COLUMNS = ("bid_number", "category", "deadline")
DATE_FORMATS = ("%d-%m-%Y %H:%M:%S", "%d-%m-%Y %I:%M %p", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%d/%m/%Y")


def _rows_from_file(upload, filename: str) -> list[list[Any]]:
    name = filename.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(upload, read_only=True, data_only=True).active
        except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
            raise TenderFileInvalid([(0, "", _("The file is not a readable XLSX workbook (%(error)s).")
                                      % {"error": type(exc).__name__})]) from None
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    if name.endswith(".csv"):
        raw = upload.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TenderFileInvalid([(0, "", _("The CSV file is not UTF-8 text."))]) from None
        return [row for row in csv.reader(io.StringIO(text))]
    raise TenderFileInvalid([(0, "", _("Upload a CSV or XLSX export of the GeM bid list."))])


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    text = str(value or "").strip()
    for fmt in DATE_FORMATS:
        try:
            return timezone.make_aware(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


def tender_file_parse(upload, filename: str) -> list[TenderData]:
    """Rows of a GeM export (CSV/XLSX) as TenderData; raises TenderFileInvalid naming every bad row and field."""
    rows = [r for r in _rows_from_file(upload, filename) if any(str(c or "").strip() for c in r)]
    if not rows:
        raise TenderFileInvalid([(0, "", _("The file is empty."))])
    header = [str(c or "").strip().lower() for c in rows[0]]
    columns: dict[str, int] = {}
    for key, aliases in COLUMN_ALIASES.items():
        for index, name in enumerate(header):
            if name in aliases:
                columns[key] = index
                break
    missing = [key for key in REQUIRED_COLUMNS if key not in columns]
    if missing:
        raise TenderFileInvalid([(1, key, _("Missing column (expected one of: %(names)s).")
                                  % {"names": ", ".join(COLUMN_ALIASES[key])}) for key in missing])
    if len(rows) - 1 > MAX_UPLOAD_ROWS:
        raise TenderFileInvalid([(0, "", _("At most %(n)s rows per file.") % {"n": MAX_UPLOAD_ROWS})])
    errors: list[tuple[int, str, str]] = []
    items: list[TenderData] = []
    seen: dict[str, int] = {}

    def cell(row: list, key: str) -> Any:
        index = columns.get(key)
        return row[index] if index is not None and index < len(row) else None

    for number, row in enumerate(rows[1:], start=2):
        bid_number = str(cell(row, "bid_number") or "").strip()
        category = str(cell(row, "category") or "").strip()
        row_errors = []
        if not bid_number:
            row_errors.append((number, "bid_number", _("The bid number is empty.")))
        elif bid_number in seen:
            row_errors.append((number, "bid_number", _("Bid %(bid)s is already on row %(row)s.")
                               % {"bid": bid_number, "row": seen[bid_number]}))
        if not category:
            row_errors.append((number, "category", _("The category is empty.")))
        deadline = _parse_date(cell(row, "deadline"))
        if deadline is None:
            row_errors.append((number, "deadline", _("Not a date: %(value)s") % {"value": cell(row, "deadline")}))
        starts_at = None
        if str(cell(row, "starts_at") or "").strip():
            starts_at = _parse_date(cell(row, "starts_at"))
            if starts_at is None:
                row_errors.append((number, "starts_at", _("Not a date: %(value)s") % {"value": cell(row, "starts_at")}))
        quantity = None
        if str(cell(row, "quantity") or "").strip():
            try:
                quantity = int(Decimal(str(cell(row, "quantity")).replace(",", "")))
                if quantity < 0:
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                row_errors.append((number, "quantity", _("Not a whole number: %(value)s") % {"value": cell(row, "quantity")}))
        emd = None
        if str(cell(row, "emd_amount") or "").strip():
            try:
                emd = Decimal(str(cell(row, "emd_amount")).replace(",", "").replace("₹", "").strip())
                if emd < 0:
                    raise InvalidOperation
            except InvalidOperation:
                row_errors.append((number, "emd_amount", _("Not an amount: %(value)s") % {"value": cell(row, "emd_amount")}))
        if row_errors:
            errors.extend(row_errors)
            continue
        seen[bid_number] = number
        url = str(cell(row, "document_url") or "").strip()
        items.append(TenderData(
            bid_number=bid_number[:60], category=category, deadline=deadline, starts_at=starts_at,
            ministry=str(cell(row, "ministry") or "").strip(), department=str(cell(row, "department") or "").strip(),
            state=str(cell(row, "state") or "").strip(), quantity=quantity, emd_amount=emd,
            documents=[{"name": "Bid document", "url": url}] if url.startswith(("http://", "https://")) else [],
            detail_url=url if url.startswith(("http://", "https://")) else "",
            raw={"row": number, "values": [str(c) if c is not None else "" for c in row]},
        ))
    if errors:
        raise TenderFileInvalid(errors)
    return items


def tenders_import_file(*, shg: SHG, upload, filename: str) -> ImportResult:
    return tenders_import(shg=shg, items=tender_file_parse(upload, filename), source=Tender.Source.FILE)


# --- bids ----------------------------------------------------------------------------------------------------

S = Bid.Status
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.DOCUMENTS, S.WITHDRAWN}),
    S.DOCUMENTS: frozenset({S.DRAFT, S.PRICED, S.WITHDRAWN}),
    S.PRICED: frozenset({S.DOCUMENTS, S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.TECHNICAL, S.LOST, S.WITHDRAWN}),
    S.TECHNICAL: frozenset({S.FINANCIAL, S.LOST}),
    S.FINANCIAL: frozenset({S.AWARDED, S.LOST}),
    S.AWARDED: frozenset(),
    S.LOST: frozenset(),
    S.WITHDRAWN: frozenset(),
}
EDITABLE = frozenset({S.DRAFT, S.DOCUMENTS, S.PRICED})
CHECKLIST = {
    "pan": _("PAN card"), "gst": _("GST certificate"), "udyam": _("Udyam certificate (MSE preference)"),
    "bank": _("Cancelled cheque / bank letter"), "experience": _("Past supply orders"),
    "bid_document": _("Bid document read: specifications, consignees, terms"),
    "emd": _("EMD paid or exemption certificate"),
}
CHECKLIST_DOCUMENT_KINDS = {"pan": "pan", "gst": "gst", "udyam": "udyam", "bank": "bank", "experience": "experience"}


class BidNotAllowed(ValidationError):
    pass


def _publish_bid(bid: Bid, from_status: str) -> None:
    publish(type=EventType.BID_STATUS_CHANGED, shg=bid.shg, connection=bid.tender.connection, payload={
        "bid_id": bid.pk, "tender_id": bid.tender_id, "bid_number": bid.tender.bid_number,
        "from": from_status, "to": bid.status})


@transaction.atomic
def bid_start(*, tender: Tender, user=None) -> Bid:
    """Open a draft bid on a tender (once) and schedule its deadline reminders."""
    bid, created = Bid.objects.get_or_create(tender=tender, defaults={"shg": tender.shg, "created_by": user,
                                                                      "quantity": tender.quantity})
    if created:
        if tender.deadline <= timezone.now():
            raise BidNotAllowed(_("The tender's deadline has passed."))
        BidStatusChange.objects.create(bid=bid, from_status="", to_status=bid.status, changed_by=user)
        _publish_bid(bid, "")
        bid_schedule_reminders(bid=bid)
    return bid


@transaction.atomic
def bid_update(*, bid: Bid, unit_price: Decimal | None = None, quantity: int | None = None,
               checklist: dict[str, bool] | None = None, notes: str | None = None) -> Bid:
    bid = Bid.objects.select_for_update(of=("self",)).select_related("tender").get(pk=bid.pk)
    if bid.status not in EDITABLE:
        raise BidNotAllowed(_("A bid cannot be changed once it is submitted."))
    if unit_price is not None:
        if unit_price <= 0:
            raise BidNotAllowed({"unit_price": _("The price must be above zero.")})
        bid.unit_price = unit_price
    if quantity is not None:
        if quantity <= 0 or (bid.tender.quantity and quantity > bid.tender.quantity):
            raise BidNotAllowed({"quantity": _("Offer between 1 and the tender's quantity (%(q)s).")
                                 % {"q": bid.tender.quantity}})
        bid.quantity = quantity
    if checklist is not None:
        unknown = set(checklist) - set(CHECKLIST)
        if unknown:
            raise BidNotAllowed({"checklist": _("Unknown checklist items: %(items)s") % {"items": ", ".join(sorted(unknown))}})
        bid.checklist = {key: bool(checklist.get(key)) for key in CHECKLIST}
    if notes is not None:
        bid.notes = notes
    bid.save()
    return bid


def _transition_problem(bid: Bid, to_status: str) -> str:
    if to_status not in ALLOWED_TRANSITIONS.get(bid.status, ()):
        return _("A bid cannot go from %(from)s to %(to)s.") % {"from": bid.get_status_display(), "to": to_status}
    if to_status == S.PRICED and (bid.unit_price is None or not bid.quantity):
        return _("Set the unit price and the quantity first.")
    if to_status == S.SUBMITTED:
        if not all(bid.checklist.get(key) for key in CHECKLIST):
            return _("Tick every item of the documents checklist first.")
        if bid.tender.deadline <= timezone.now():
            return _("The deadline has passed: GeM no longer accepts this bid.")
    return ""


@transaction.atomic
def bid_transition(*, bid: Bid, to_status: str, user=None, note: str = "") -> Bid:
    """Move a bid one allowed step; keeps the history, publishes `bid.status_changed`. "submitted" records
    that the coordinator uploaded the bid on GeM herself: Haat has no way to submit it."""
    bid = Bid.objects.select_for_update(of=("self",)).select_related("tender", "shg", "tender__connection").get(pk=bid.pk)
    problem = _transition_problem(bid, to_status)
    if problem:
        raise BidNotAllowed(problem)
    from_status = bid.status
    bid.status = to_status
    if to_status == S.SUBMITTED:
        bid.submitted_at = timezone.now()
    bid.save(update_fields=["status", "submitted_at", "updated_at"])
    BidStatusChange.objects.create(bid=bid, from_status=from_status, to_status=to_status, note=note, changed_by=user)
    _publish_bid(bid, from_status)
    if to_status not in EDITABLE:
        bid_cancel_reminders(bid=bid)
    return bid


def _reminder_name(bid_id: int, hours: int) -> str:
    return f"tenders: bid {bid_id} reminder {hours}h"


def bid_schedule_reminders(*, bid: Bid) -> list[str]:
    """django-q2 one-off schedules 48 h and 24 h before the deadline; keyed by name, so running it again
    moves them instead of adding more."""
    from django_q.models import Schedule

    names = []
    now = timezone.now()
    for hours in REMINDER_HOURS:
        at = bid.tender.deadline - timedelta(hours=hours)
        name = _reminder_name(bid.pk, hours)
        if at <= now:
            Schedule.objects.filter(name=name).delete()
            continue
        Schedule.objects.update_or_create(name=name, defaults={
            "func": "apps.tenders.tasks.bid_reminder", "args": f"{bid.pk},{hours}",
            "schedule_type": Schedule.ONCE, "next_run": at, "repeats": -1})
        names.append(name)
    return names


def bid_cancel_reminders(*, bid: Bid) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=[_reminder_name(bid.pk, h) for h in REMINDER_HOURS]).delete()


def shg_coordinator_emails(shg: SHG) -> list[str]:
    roles = [Membership.Role.ORG_ADMIN, Membership.Role.COORDINATOR]
    memberships = Membership.objects.filter(role__in=roles).filter(
        models_q_shg(shg)).select_related("user")
    return sorted({m.user.email for m in memberships if m.user.email and m.user.is_active})


def models_q_shg(shg: SHG):
    from django.db.models import Q

    return Q(shg=shg) | Q(organization_id=shg.federation_id) | Q(organization__in=shg.partner_organizations.all())


def bid_send_reminder(*, bid_id: int, hours: int) -> bool:
    """Email the SHG's coordinators that a bid still being prepared closes soon; at most once per (bid, hours)."""
    with transaction.atomic():
        bid = Bid.objects.select_for_update(of=("self",)).select_related("tender", "shg").filter(pk=bid_id).first()
        if bid is None or bid.status not in EDITABLE or hours in bid.reminders_sent:
            return False
        if bid.tender.deadline <= timezone.now():
            return False
        bid.reminders_sent = [*bid.reminders_sent, hours]
        bid.save(update_fields=["reminders_sent", "updated_at"])
        recipients = shg_coordinator_emails(bid.shg)
        tender = bid.tender
        link = settings.SITE_URL.rstrip("/") + reverse("tenders:detail", args=[tender.pk])
        subject = _("GeM bid %(bid)s closes in %(hours)s hours") % {"bid": tender.bid_number, "hours": hours}
        body = _("%(shg)s's bid on %(bid)s (%(category)s) is still %(status)s. GeM closes it at %(deadline)s.\n"
                 "Prepare and upload it on the GeM portal, then record it in Haat: %(link)s") % {
            "shg": bid.shg.name, "bid": tender.bid_number, "category": tender.category,
            "status": bid.get_status_display(), "deadline": timezone.localtime(tender.deadline).strftime("%d %b %Y %H:%M"),
            "link": link}
        if recipients:
            transaction.on_commit(lambda: EmailMessage(subject, body, to=recipients).send(fail_silently=False))
    return True


def bid_sheet_xlsx(bid: Bid) -> bytes:
    """The filled bid sheet: what the coordinator types into GeM's bid form, one place to copy from."""
    from openpyxl import Workbook

    tender, profile = bid.tender, SellerProfile.objects.filter(shg=bid.shg).first()
    book = Workbook()
    sheet = book.active
    sheet.title = "Bid"
    rows = [
        ("Prepared by Haat for upload on the GeM portal. Haat has NOT submitted this bid.", ""),
        ("Bid number", tender.bid_number), ("Item / category", tender.category), ("Ministry", tender.ministry),
        ("Department", tender.department), ("Deadline", timezone.localtime(tender.deadline).strftime("%d-%m-%Y %H:%M")),
        ("Tender quantity", tender.quantity or ""), ("EMD (INR)", str(tender.emd_amount) if tender.emd_amount else ""),
        ("Offered quantity", bid.quantity or ""), ("Unit price (INR)", str(bid.unit_price or "")),
        ("Total (INR)", str(bid.total or "")),
        ("Seller", profile.legal_name if profile else bid.shg.name),
        ("Organization type", profile.get_organization_type_display() if profile else ""),
        ("PAN", profile.pan if profile else ""), ("GSTIN", profile.gstin if profile else ""),
        ("Udyam", profile.udyam_number if profile else ""), ("Bank IFSC", profile.bank_ifsc if profile else ""),
        ("Address", profile.address if profile else ""),
    ]
    rows += [(f"Checklist: {label}", "yes" if bid.checklist.get(key) else "NO") for key, label in CHECKLIST.items()]
    for row in rows:
        sheet.append([str(row[0]), row[1]])
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def bid_bundle_zip(bid: Bid) -> bytes:
    """The bid sheet plus every seller document of the SHG, named for upload."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{bid.tender.bid_number.replace('/', '-')}-bid-sheet.xlsx", bid_sheet_xlsx(bid))
        for document in SellerDocument.objects.filter(shg=bid.shg).order_by("kind", "id"):
            name = document.file.name.rsplit("/", 1)[-1].split("-", 1)[-1]
            with document.file.open("rb") as handle:
                bundle.writestr(f"documents/{document.kind}-{document.pk}-{name}", handle.read())
        bundle.writestr("README.txt", "Upload these on https://gem.gov.in (Seller login > Bids). "
                                      "Haat prepared them; it did not submit the bid. Record the outcome in Haat.\n")
    return out.getvalue()


# --- inquiries ------------------------------------------------------------------------------------------------


def _match_product(shg: SHG, item: InquiryData, products: list[tuple[int, set[str]]]):
    wanted = set(words(f"{item.product_name} {item.category} {item.subject}"))
    best, best_score = None, 0
    for product_id, product_words in products:
        score = len(wanted & product_words)
        if score > best_score:
            best, best_score = product_id, score
    return best


@transaction.atomic
def inquiries_import(*, shg: SHG, items: list[InquiryData], connection: Connection | None = None) -> int:
    """Store new inquiries (deduplicated by UNIQUE_QUERY_ID), matched to the catalog; `inquiry.received`
    for each new one. Returns how many were new."""
    from apps.catalog.models import Product

    if not items:
        return 0
    ids = {item.unique_query_id for item in items}
    known = set(Inquiry.objects.filter(shg=shg, unique_query_id__in=ids).values_list("unique_query_id", flat=True))
    products = [(pk, set(words(f"{title} {category}")))
                for pk, title, category in Product.objects.filter(shg=shg).values_list("pk", "title", "category")]
    fresh, seen = [], set()
    for item in items:
        if item.unique_query_id in known or item.unique_query_id in seen:
            continue
        seen.add(item.unique_query_id)
        fresh.append(Inquiry(
            shg=shg, connection=connection, unique_query_id=item.unique_query_id, query_type=item.query_type[:10],
            buyer_name=item.buyer_name[:200], company=item.company[:200], email=item.email[:254] if "@" in item.email else "",
            mobile=item.mobile[:40], city=item.city[:100], state=item.state[:100], product_name=item.product_name[:300],
            subject=item.subject[:300], quantity=item.quantity[:100], message=item.message, received_at=item.received_at,
            matched_product_id=_match_product(shg, item, products), raw=item.raw))
    created = Inquiry.objects.bulk_create(fresh, batch_size=500, ignore_conflicts=True)
    new_ids = [c.unique_query_id for c in created]
    stored = {i.unique_query_id: i for i in Inquiry.objects.filter(shg=shg, unique_query_id__in=new_ids)}
    for inquiry in stored.values():
        publish(type=EventType.INQUIRY_RECEIVED, shg=shg, connection=connection, payload={
            "inquiry_id": inquiry.pk, "unique_query_id": inquiry.unique_query_id, "product": inquiry.product_name,
            "matched_product_id": inquiry.matched_product_id, "received_at": inquiry.received_at.isoformat()})
    return len(stored)


def inquiries_pull(*, connection: Connection, since: datetime | None = None) -> int:
    """Pull this connection's new IndiaMART leads: from the stored cursor (minus a small overlap) to now,
    at most 7 days back. The time of each call to IndiaMART is stored, so the 5-minute rule holds
    across workers and restarts."""
    connection = Connection.objects.select_related("shg").get(pk=connection.pk)
    cursors = dict(connection.cursors or {})
    connector = build_connector(connection)
    # Connecting (or reconnecting) checked the key with one call to IndiaMART, so with no pull stored yet
    # the connection's last change stands in for the last call.
    connector.context.config["last_pull_at"] = cursors.get("inquiries_pulled_at") or connection.updated_at.isoformat()
    end = timezone.now()
    if since is None:
        previous = cursors.get("inquiries")
        since = (datetime.fromisoformat(previous) - INQUIRY_OVERLAP) if previous else end - timedelta(days=7)
    try:
        page = connector.fetch_inquiries(since=max(since, end - timedelta(days=7) + timedelta(seconds=1)), until=end)
    except ConnectorError as exc:
        _remember_pull(connection, connector, cursor=None, error=exc)
        raise
    with transaction.atomic():
        created = inquiries_import(shg=connection.shg, items=page.items, connection=connection)
        _remember_pull(connection, connector, cursor=end, error=None)
    return created


def _remember_pull(connection: Connection, connector, *, cursor: datetime | None, error: Exception | None) -> None:
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        cursors = dict(locked.cursors or {})
        pulled = connector.context.config.get("last_pull_at")
        if pulled:
            cursors["inquiries_pulled_at"] = pulled
        if cursor is not None:
            cursors["inquiries"] = cursor.isoformat()
        now = timezone.now()
        fields = {"cursors": cursors, "last_sync_at": now}
        if error is None:
            fields.update(last_success_at=now, last_error="")
        elif not isinstance(error, RateLimited):
            fields["last_error"] = str(getattr(error, "message", error))[:2000]
        Connection.objects.filter(pk=connection.pk).update(**fields)


@transaction.atomic
def inquiry_set_status(*, inquiry: Inquiry, status: str) -> Inquiry:
    if status not in Inquiry.Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    inquiry.status = status
    inquiry.save(update_fields=["status", "updated_at"])
    return inquiry


# --- quotes ---------------------------------------------------------------------------------------------------

QUOTE_SALT = "apps.tenders.quote-pdf"


@transaction.atomic
def quote_create(*, inquiry: Inquiry, quantity: int, unit_price: Decimal, delivery_days: int, payment_terms: str,
                 validity_days: int = 15, message: str = "", user=None) -> Quote:
    """A quote for an inquiry; the total is always quantity x unit price, computed here."""
    errors = {}
    if not quantity or quantity <= 0:
        errors["quantity"] = _("The quantity must be at least 1.")
    if unit_price is None or unit_price <= 0:
        errors["unit_price"] = _("The unit price must be above zero.")
    if not 1 <= (validity_days or 0) <= 90:
        errors["validity_days"] = _("A quote is valid for 1 to 90 days.")
    if not payment_terms.strip():
        errors["payment_terms"] = _("Say how the buyer pays.")
    if errors:
        raise ValidationError(errors)
    total = (Decimal(unit_price) * quantity).quantize(Decimal("0.01"))
    return Quote.objects.create(inquiry=inquiry, shg=inquiry.shg, quantity=quantity, unit_price=unit_price,
                                total=total, delivery_days=delivery_days, payment_terms=payment_terms.strip(),
                                validity_days=validity_days, message=message, created_by=user)


def quote_share_url(quote: Quote) -> str:
    token = TimestampSigner(salt=QUOTE_SALT).sign(str(quote.uuid))
    return settings.SITE_URL.rstrip("/") + reverse("tenders:quote_shared", args=[token])


def quote_from_token(token: str) -> Quote | None:
    """The quote a shared link names, while the link is signed and the quote still valid; else None."""
    signer = TimestampSigner(salt=QUOTE_SALT)
    try:
        value = signer.unsign(token)
    except BadSignature:
        return None
    quote = Quote.objects.select_related("inquiry", "shg").filter(uuid=value).first()
    if quote is None:
        return None
    try:
        signer.unsign(token, max_age=timedelta(days=quote.validity_days))
    except SignatureExpired:
        return None
    return quote


def quote_pdf(quote: Quote) -> bytes:
    """The quotation as a one-page A4 PDF, in the seller's and buyer's own script (Latin and Devanagari)."""
    from apps.tenders.pdf import FAMILY, quote_document

    inquiry, profile = quote.inquiry, SellerProfile.objects.filter(shg=quote.shg).first()
    pdf = quote_document()
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 16)
    pdf.cell(0, 10, f"Quotation - {profile.legal_name if profile else quote.shg.name}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=10)
    seller = [profile.address if profile else "", f"GSTIN {profile.gstin}" if profile and profile.gstin else "",
              f"PAN {profile.pan}" if profile else ""]
    for line in seller:
        if line:
            pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(0, 7, f"To: {inquiry.buyer_name}{', ' + inquiry.company if inquiry.company else ''}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=10)
    pdf.cell(0, 6, f"Your IndiaMART inquiry {inquiry.unique_query_id}: {inquiry.product_name}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, f"Date: {timezone.localtime(quote.created_at):%d %b %Y}   Quote no. Q-{quote.pk}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    rows = [("Product", inquiry.product_name), ("Quantity", str(quote.quantity)),
            ("Unit price", format_money(quote.unit_price, "INR")), ("Total", format_money(quote.total, "INR")),
            ("Delivery", f"within {quote.delivery_days} days"), ("Payment terms", quote.payment_terms),
            ("Valid for", f"{quote.validity_days} days")]
    for label, value in rows:
        pdf.set_font(FAMILY, "B", 10)
        pdf.cell(45, 7, label, border=1)
        pdf.set_font(FAMILY, size=10)
        pdf.cell(0, 7, value, border=1, new_x="LMARGIN", new_y="NEXT")
    if quote.message:
        pdf.ln(4)
        pdf.multi_cell(0, 5, quote.message, new_x="LMARGIN", new_y="NEXT")
    if pdf.uncovered:
        logger.warning("Quote %s: characters outside Latin and Devanagari, which the PDF fonts cover, are left out "
                       "of its PDF: %s", quote.pk, "".join(sorted(pdf.uncovered)))
    return bytes(pdf.output())


def quote_send(*, quote: Quote, to_email: str = "") -> Quote:
    """Email the quote to the buyer with its PDF and a signed, expiring link; the inquiry becomes "quoted"."""
    recipient = (to_email or quote.inquiry.email or "").strip()
    if not recipient:
        raise ValidationError({"to_email": _("The inquiry has no buyer email: type one.")})
    from django.core.validators import validate_email

    validate_email(recipient)
    pdf, link = quote_pdf(quote), quote_share_url(quote)
    profile = SellerProfile.objects.filter(shg=quote.shg).first()
    subject = f"Quotation for {quote.inquiry.product_name or 'your inquiry'} - {quote.shg.name}"
    body = (f"Dear {quote.inquiry.buyer_name or 'buyer'},\n\nThank you for your inquiry on IndiaMART "
            f"({quote.inquiry.unique_query_id}). Our quotation: {quote.quantity} x Rs. {quote.unit_price} = "
            f"Rs. {quote.total}, delivery within {quote.delivery_days} days, {quote.payment_terms}, valid for "
            f"{quote.validity_days} days.\n\n{quote.message}\n\nThe quotation as PDF (also attached): {link}\n\n"
            f"{profile.legal_name if profile else quote.shg.name}\n{quote.shg.phone}\n")
    reply_to = [profile.email] if profile and profile.email else None
    message = EmailMessage(subject, body, to=[recipient], reply_to=reply_to)
    message.attach(f"quotation-Q{quote.pk}.pdf", pdf, "application/pdf")
    message.send(fail_silently=False)
    with transaction.atomic():
        Quote.objects.filter(pk=quote.pk).update(sent_at=timezone.now(), sent_to=recipient)
        if quote.inquiry.status == Inquiry.Status.NEW:
            Inquiry.objects.filter(pk=quote.inquiry_id).update(status=Inquiry.Status.QUOTED, updated_at=timezone.now())
        publish(type=EventType.QUOTE_SENT, shg=quote.shg, connection=quote.inquiry.connection, payload={
            "quote_id": quote.pk, "inquiry_id": quote.inquiry_id, "total": str(quote.total), "currency": "INR",
            "to": recipient})
    quote.refresh_from_db()
    quote.inquiry.refresh_from_db()
    return quote
