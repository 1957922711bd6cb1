"""Procurement: the SHG's seller profile and documents, GeM tenders and bids, IndiaMART inquiries and quotes.

Tenders and inquiries belong to one SHG (imported through that SHG's connection or its uploaded file), so
every read is scoped by the SHG like the rest of Haat. A bid's status moves only through
`services.bid_transition`, which keeps the history and publishes `bid.status_changed`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimestampedModel
from apps.tenders import validators


class PrivateStorage(FileSystemStorage):
    """Seller documents live outside MEDIA_ROOT's public URL space; only a tenancy-checked view serves them.

    The root is read from settings on every use (PRIVATE_MEDIA_ROOT, default `private_media` next to
    MEDIA_ROOT), so tests and deployments can move it.
    """

    @property
    def base_location(self):
        root = getattr(settings, "PRIVATE_MEDIA_ROOT", None) or Path(settings.MEDIA_ROOT).parent / "private_media"
        return str(root)

    @property
    def location(self):
        return str(Path(self.base_location).resolve())

    @property
    def base_url(self):
        return None

    def url(self, name):
        raise ValueError("Private documents have no public URL: use the tenders:document view.")


def private_storage() -> FileSystemStorage:
    return PrivateStorage()


def _document_path(instance: SellerDocument, filename: str) -> str:
    return f"seller-documents/shg-{instance.shg_id}/{uuid.uuid4().hex}-{Path(filename).name[-80:]}"


class SellerProfile(TimestampedModel):
    class OrganizationType(models.TextChoices):
        SHG = "shg", _("Self-help group")
        MSME = "msme", _("MSME")

    shg = models.OneToOneField("accounts.SHG", on_delete=models.CASCADE, related_name="seller_profile")
    organization_type = models.CharField(_("organization type"), max_length=10, choices=OrganizationType.choices,
                                         default=OrganizationType.SHG)
    legal_name = models.CharField(_("legal name"), max_length=200)
    pan = models.CharField(_("PAN"), max_length=10, validators=[validators.validate_pan])
    gstin = models.CharField(_("GSTIN"), max_length=15, blank=True, validators=[validators.validate_gstin])
    udyam_number = models.CharField(_("Udyam number"), max_length=19, blank=True,
                                    validators=[validators.validate_udyam])
    address = models.TextField(_("address"))
    state = models.CharField(_("state"), max_length=100)
    pincode = models.CharField(_("PIN code"), max_length=6)
    bank_account_name = models.CharField(_("bank account name"), max_length=200, blank=True)
    bank_account_number = models.CharField(_("bank account number"), max_length=20, blank=True)
    bank_ifsc = models.CharField(_("IFSC"), max_length=11, blank=True, validators=[validators.validate_ifsc])
    email = models.EmailField(_("email for buyers"), blank=True)

    def clean(self) -> None:
        for name in ("pan", "gstin", "udyam_number", "bank_ifsc"):
            setattr(self, name, (getattr(self, name) or "").strip().upper())
        errors = {}
        if self.gstin and self.pan and self.gstin[2:12] != self.pan:
            errors["gstin"] = _("The GSTIN carries a different PAN (%(pan)s) than the profile's.") % {"pan": self.gstin[2:12]}
        if self.pincode and not (self.pincode.isdigit() and len(self.pincode) == 6 and self.pincode[0] != "0"):
            errors["pincode"] = _("A PIN code has six digits and does not start with 0.")
        if bool(self.bank_account_number) != bool(self.bank_ifsc):
            errors["bank_ifsc"] = _("Give the bank account number and its IFSC together.")
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return self.legal_name


class SellerDocument(TimestampedModel):
    class Kind(models.TextChoices):
        PAN = "pan", _("PAN card")
        GST = "gst", _("GST certificate")
        UDYAM = "udyam", _("Udyam certificate")
        BANK = "bank", _("Cancelled cheque / bank letter")
        CERTIFICATE = "certificate", _("Certificate (quality, registration)")
        EXPERIENCE = "experience", _("Past orders / experience")
        OTHER = "other", _("Other")

    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="seller_documents")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    file = models.FileField(_("file"), upload_to=_document_path, storage=private_storage, max_length=300)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["kind", "title"]

    def __str__(self) -> str:
        return self.title


class Tender(TimestampedModel):
    class Source(models.TextChoices):
        GEM = "gem", _("GeM bid listing")
        FILE = "file", _("Uploaded file")

    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="tenders")
    connection = models.ForeignKey("integrations.Connection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="tenders")
    source = models.CharField(max_length=10, choices=Source.choices)
    bid_number = models.CharField(_("bid number"), max_length=60)
    external_id = models.CharField(max_length=40, blank=True)
    category = models.CharField(_("category"), max_length=500)
    ministry = models.CharField(_("ministry"), max_length=200, blank=True)
    department = models.CharField(_("department"), max_length=200, blank=True)
    state = models.CharField(_("state"), max_length=100, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(_("deadline"), db_index=True)
    emd_amount = models.DecimalField(_("EMD"), max_digits=14, decimal_places=2, null=True, blank=True)
    documents = models.JSONField(default=list, blank=True, help_text="[{name, url}] as the listing gives them.")
    detail_url = models.URLField(max_length=500, blank=True)
    # Words of category, ministry and department: the SQLite word index and the PostgreSQL search document.
    search_text = models.TextField(blank=True)
    match_score = models.FloatField(default=0, db_index=True)
    matched_terms = models.JSONField(default=list, blank=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["deadline", "id"]
        constraints = [models.UniqueConstraint(fields=["shg", "bid_number"], name="uniq_tender_bid_number")]
        indexes = [models.Index(fields=["shg", "deadline"])]

    def __str__(self) -> str:
        return f"{self.bid_number} · {self.category[:60]}"


class TenderWord(models.Model):
    """The simple word index used where full-text search is absent (SQLite)."""

    tender = models.ForeignKey(Tender, on_delete=models.CASCADE, related_name="words")
    word = models.CharField(max_length=40, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tender", "word"], name="uniq_tender_word")]

    def __str__(self) -> str:
        return self.word


class Bid(TimestampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        DOCUMENTS = "documents", _("Documents checklist")
        PRICED = "priced", _("Price and quantity set")
        SUBMITTED = "submitted", _("Submitted on GeM")
        TECHNICAL = "technical_evaluation", _("Technical evaluation")
        FINANCIAL = "financial_evaluation", _("Financial evaluation")
        AWARDED = "awarded", _("Awarded")
        LOST = "lost", _("Lost")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    tender = models.OneToOneField(Tender, on_delete=models.CASCADE, related_name="bid")
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="bids")
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.DRAFT, db_index=True)
    unit_price = models.DecimalField(_("unit price (INR)"), max_digits=14, decimal_places=2, null=True, blank=True)
    quantity = models.PositiveIntegerField(_("quantity offered"), null=True, blank=True)
    checklist = models.JSONField(default=dict, blank=True, help_text="{item key: done}")
    notes = models.TextField(_("notes"), blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    @property
    def total(self) -> Decimal | None:
        if self.unit_price is None or self.quantity is None:
            return None
        return (self.unit_price * self.quantity).quantize(Decimal("0.01"))

    def __str__(self) -> str:
        return f"Bid on {self.tender.bid_number}"


class BidStatusChange(models.Model):
    bid = models.ForeignKey(Bid, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=30, blank=True, choices=Bid.Status.choices)
    to_status = models.CharField(max_length=30, choices=Bid.Status.choices)
    note = models.TextField(blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"


class Inquiry(TimestampedModel):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        QUOTED = "quoted", _("Quoted")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="inquiries")
    connection = models.ForeignKey("integrations.Connection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="inquiries")
    unique_query_id = models.CharField(max_length=40)
    query_type = models.CharField(max_length=10, blank=True)
    buyer_name = models.CharField(_("buyer"), max_length=200, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    mobile = models.CharField(_("mobile"), max_length=40, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    product_name = models.CharField(_("product"), max_length=300, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    quantity = models.CharField(_("quantity"), max_length=100, blank=True)
    message = models.TextField(_("message"), blank=True)
    received_at = models.DateTimeField(_("received"), db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW, db_index=True)
    matched_product = models.ForeignKey("catalog.Product", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="inquiries")
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["shg", "unique_query_id"], name="uniq_inquiry_query_id")]
        verbose_name_plural = "inquiries"

    def __str__(self) -> str:
        return f"{self.unique_query_id} · {self.product_name}"


class Quote(TimestampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="quotes")
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="quotes")
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price (INR)"), max_digits=12, decimal_places=2)
    total = models.DecimalField(_("total (INR)"), max_digits=14, decimal_places=2)
    delivery_days = models.PositiveIntegerField(_("delivery in days"))
    payment_terms = models.CharField(_("payment terms"), max_length=200)
    validity_days = models.PositiveIntegerField(_("valid for days"), default=15)
    message = models.TextField(_("message"), blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_to = models.EmailField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(unit_price__gt=0) & models.Q(quantity__gt=0),
                                              name="quote_positive")]

    def __str__(self) -> str:
        return f"Quote {self.pk} for {self.inquiry_id}"
