"""Dashboard pages for procurement: matched tenders and the bid workflow, inquiries and quotes, the seller
profile and its private documents. Thin: selectors read, services write; every object is found through a
tenancy-scoped queryset, so another tenant's is a 404."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.integrations.connectors.errors import ConnectorError
from apps.integrations.connectors.indiamart import IndiaMartConnector
from apps.integrations.models import Connection
from apps.tenders import selectors, services
from apps.tenders.forms import (
    BidForm,
    BidTransitionForm,
    InquiryStatusForm,
    QuoteForm,
    SellerDocumentForm,
    SellerProfileForm,
    TenderFileForm,
)
from apps.tenders.models import Bid, Inquiry, SellerDocument, SellerProfile, Tender

LIST_LIMIT = 200


def _get(queryset, pk):
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def _require_edit(user, shg_id: int) -> None:
    if not selectors.can_edit(user, shg_id):
        raise PermissionDenied


@login_required
@require_GET
def tender_list(request):
    shgs = list(selectors.shgs_for(request.user))
    chosen = next((s for s in shgs if str(s.pk) == request.GET.get("shg")), None)
    if chosen is None and shgs:  # by default the first SHG that has tenders at all
        with_tenders = selectors.tenders_for(request.user).values_list("shg_id", flat=True).order_by("shg__name").first()
        chosen = next((s for s in shgs if s.pk == with_tenders), shgs[0])
    show_all = request.GET.get("all") == "1"
    tenders = []
    if chosen is not None:
        tenders = list(selectors.tender_list(principal=request.user, shg=chosen, matched_only=not show_all)[:LIST_LIMIT])
    return render(request, "tenders/tender_list.html", {
        "shgs": shgs, "shg": chosen, "tenders": tenders, "show_all": show_all,
        "full_text": selectors.uses_full_text()})


def _bid_context(request, tender: Tender) -> dict:
    bid = getattr(tender, "bid", None)
    context = {"tender": tender, "bid": bid, "can_edit": selectors.can_edit(request.user, tender.shg_id),
               "checklist": services.CHECKLIST}
    if bid is not None:
        initial = {"unit_price": bid.unit_price, "quantity": bid.quantity, "notes": bid.notes}
        initial.update({f"check_{k}": bool(bid.checklist.get(k)) for k in services.CHECKLIST})
        context["form"] = BidForm(initial=initial)
        context["next_steps"] = [(s, Bid.Status(s).label) for s in Bid.Status.values
                                 if s in services.ALLOWED_TRANSITIONS[bid.status]]
        context["editable"] = bid.status in services.EDITABLE
        context["history"] = list(bid.history.all())
    return context


@login_required
@require_GET
def tender_detail(request, pk: int):
    try:
        tender = selectors.tender_detail(principal=request.user, pk=pk)
    except Tender.DoesNotExist:
        raise Http404 from None
    return render(request, "tenders/tender_detail.html", _bid_context(request, tender))


@login_required
@require_POST
def bid_start(request, pk: int):
    tender = _get(selectors.tenders_for(request.user), pk)
    _require_edit(request.user, tender.shg_id)
    try:
        services.bid_start(tender=tender, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Bid started. Reminders are set for 48 and 24 hours before the deadline."))
    return redirect("tenders:detail", pk=tender.pk)


@login_required
@require_POST
def bid_update(request, pk: int):
    tender = _get(selectors.tenders_for(request.user).select_related("bid"), pk)
    _require_edit(request.user, tender.shg_id)
    bid = getattr(tender, "bid", None)
    if bid is None:
        raise Http404
    form = BidForm(request.POST)
    if form.is_valid():
        try:
            services.bid_update(bid=bid, unit_price=form.cleaned_data["unit_price"], quantity=form.cleaned_data["quantity"],
                                checklist=form.checklist(), notes=form.cleaned_data["notes"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Bid saved."))
    else:
        messages.error(request, " ".join(f"{form.fields[k].label}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("tenders:detail", pk=tender.pk)


@login_required
@require_POST
def bid_transition(request, pk: int):
    tender = _get(selectors.tenders_for(request.user).select_related("bid"), pk)
    _require_edit(request.user, tender.shg_id)
    bid = getattr(tender, "bid", None)
    form = BidTransitionForm(request.POST)
    if bid is None or not form.is_valid():
        return HttpResponseBadRequest(_("Unknown step."))
    try:
        services.bid_transition(bid=bid, to_status=form.cleaned_data["to_status"], user=request.user,
                                note=form.cleaned_data["note"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Bid status recorded."))
    if request.htmx:
        tender = selectors.tender_detail(principal=request.user, pk=pk)
        return render(request, "tenders/_bid.html", {**_bid_context(request, tender), "partial": True})
    return redirect("tenders:detail", pk=tender.pk)


def _bid_or_404(request, pk: int) -> Bid:
    tender = _get(selectors.tenders_for(request.user).select_related("bid", "shg"), pk)
    bid = getattr(tender, "bid", None)
    if bid is None:
        raise Http404
    return bid


@login_required
@require_GET
def bid_sheet(request, pk: int):
    bid = _bid_or_404(request, pk)
    response = HttpResponse(services.bid_sheet_xlsx(bid),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{bid.tender.bid_number.replace("/", "-")}-bid-sheet.xlsx"'
    return response


@login_required
@require_GET
def bid_bundle(request, pk: int):
    bid = _bid_or_404(request, pk)
    response = HttpResponse(services.bid_bundle_zip(bid), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{bid.tender.bid_number.replace("/", "-")}-bundle.zip"'
    return response


@login_required
def tender_import(request):
    shgs = selectors.shgs_for(request.user)
    form = TenderFileForm(request.POST or None, request.FILES or None, shgs=shgs)
    errors = []
    if request.method == "POST" and form.is_valid():
        shg = form.cleaned_data["shg"]
        _require_edit(request.user, shg.pk)
        upload = form.cleaned_data["file"]
        try:
            result = services.tenders_import_file(shg=shg, upload=upload, filename=upload.name)
        except services.TenderFileInvalid as exc:
            errors = exc.errors
        else:
            messages.success(request, _("%(created)s new and %(updated)s updated tenders; %(matched)s match the catalog.")
                             % {"created": result.created, "updated": result.updated, "matched": result.matched})
            return redirect(f"{request.path.rsplit('import/', 1)[0]}?shg={shg.pk}")
    return render(request, "tenders/import.html", {"form": form, "errors": errors})


# --- seller profile and documents ------------------------------------------------------------------------------


@login_required
def seller_profile(request, shg_pk: int):
    shg = _get(selectors.shgs_for(request.user), shg_pk)
    can_edit = selectors.can_edit(request.user, shg.pk)
    profile = SellerProfile.objects.filter(shg=shg).first()
    form = SellerProfileForm(instance=profile or SellerProfile(shg=shg))
    document_form = SellerDocumentForm()
    if request.method == "POST":
        _require_edit(request.user, shg.pk)
        if "upload" in request.POST:
            document_form = SellerDocumentForm(request.POST, request.FILES)
            if document_form.is_valid():
                services.seller_document_add(shg=shg, user=request.user, **document_form.cleaned_data)
                messages.success(request, _("Document kept privately for this SHG."))
                return redirect("tenders:profile", shg_pk=shg.pk)
        else:
            form = SellerProfileForm(request.POST, instance=profile or SellerProfile(shg=shg))
            if form.is_valid():
                try:
                    services.seller_profile_upsert(shg=shg, data={f: form.cleaned_data[f] for f in form.Meta.fields})
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    messages.success(request, _("Seller profile saved."))
                    return redirect("tenders:profile", shg_pk=shg.pk)
    documents = SellerDocument.objects.filter(shg=shg)
    return render(request, "tenders/profile.html", {"shg": shg, "form": form, "document_form": document_form,
                                                    "documents": documents, "can_edit": can_edit})


@login_required
@require_GET
def seller_document(request, pk: int):
    """The only way to read a document: through the tenant check, never a public media URL."""
    document = _get(selectors.documents_for(request.user), pk)
    name = document.file.name.rsplit("/", 1)[-1].split("-", 1)[-1]
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=name)


# --- inquiries and quotes --------------------------------------------------------------------------------------


@login_required
@require_GET
def inquiry_list(request):
    status = request.GET.get("status", "")
    status = status if status in Inquiry.Status.values else ""
    shgs = list(selectors.shgs_for(request.user))
    shg_id = next((s.pk for s in shgs if str(s.pk) == request.GET.get("shg")), None)
    inquiries = list(selectors.inquiry_list(principal=request.user, status=status, shg_id=shg_id)[:LIST_LIMIT])
    push_urls = []
    for connection in Connection.objects.filter(platform="indiamart", shg__in=shgs).select_related("shg"):
        if selectors.can_edit(request.user, connection.shg_id):
            push_urls.append((connection, request.build_absolute_uri(push_path(connection))))
    return render(request, "tenders/inquiry_list.html", {
        "inquiries": inquiries, "status": status, "statuses": Inquiry.Status.choices, "shgs": shgs, "shg_id": shg_id,
        "push_urls": push_urls})


@login_required
def inquiry_detail(request, pk: int):
    try:
        inquiry = selectors.inquiry_detail(principal=request.user, pk=pk)
    except Inquiry.DoesNotExist:
        raise Http404 from None
    can_edit = selectors.can_edit(request.user, inquiry.shg_id)
    initial = {"to_email": inquiry.email}
    if inquiry.matched_product_id:
        variant = inquiry.matched_product.variants.order_by("id").first()
        if variant is not None and variant.price:
            initial["unit_price"] = variant.price
    digits = "".join(ch for ch in inquiry.quantity.split(" ")[0] if ch.isdigit())
    if digits:
        initial["quantity"] = int(digits)
    form = QuoteForm(request.POST or None, initial=initial)
    if request.method == "POST":
        _require_edit(request.user, inquiry.shg_id)
        if form.is_valid():
            data = dict(form.cleaned_data)
            to_email = data.pop("to_email")
            try:
                quote = services.quote_create(inquiry=inquiry, user=request.user, **data)
                services.quote_send(quote=quote, to_email=to_email)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Quote sent to %(email)s with its PDF.") % {"email": quote.sent_to})
                return redirect("tenders:inquiry_detail", pk=inquiry.pk)
    return render(request, "tenders/inquiry_detail.html", {
        "inquiry": inquiry, "form": form, "can_edit": can_edit, "statuses": Inquiry.Status.choices,
        "quotes": [(q, services.quote_share_url(q) if q.sent_at else "") for q in inquiry.quotes.all()]})


@login_required
@require_POST
def inquiry_status(request, pk: int):
    inquiry = _get(selectors.inquiries_for(request.user), pk)
    _require_edit(request.user, inquiry.shg_id)
    form = InquiryStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Unknown status."))
    services.inquiry_set_status(inquiry=inquiry, status=form.cleaned_data["status"])
    messages.success(request, _("Inquiry marked %(status)s.") % {"status": inquiry.get_status_display()})
    return redirect("tenders:inquiry_detail", pk=inquiry.pk)


@login_required
@require_GET
def quote_pdf(request, pk: int):
    quote = _get(selectors.quotes_for(request.user).select_related("inquiry", "shg"), pk)
    return HttpResponse(services.quote_pdf(quote), content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="quotation-Q{quote.pk}.pdf"'})


@require_GET
def quote_shared(request, signed_quote: str):
    """The buyer's link: a signed, expiring token stands for the login."""
    quote = services.quote_from_token(signed_quote)
    if quote is None:
        raise Http404
    return HttpResponse(services.quote_pdf(quote), content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="quotation-Q{quote.pk}.pdf"'})


# --- IndiaMART push ---------------------------------------------------------------------------------------------


def push_token(connection: Connection) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"indiamart-push:{connection.uuid}".encode(),
                    hashlib.sha256).hexdigest()[:40]


def push_path(connection: Connection) -> str:
    from django.urls import reverse

    return reverse("indiamart_push", args=[connection.uuid, push_token(connection)])


@csrf_exempt
@require_POST
def indiamart_push(request, connection_uuid, token: str):
    """IndiaMART's push delivery of one lead. It is unsigned, so the URL's per-connection token is the proof."""
    connection = Connection.objects.filter(uuid=connection_uuid, platform="indiamart").select_related("shg").first()
    if connection is None or not hmac.compare_digest(push_token(connection), token):
        return HttpResponse(status=401)
    try:
        lead = IndiaMartConnector.parse_push(request.body)
    except ConnectorError as exc:
        return HttpResponseBadRequest(exc.message)
    created = services.inquiries_import(shg=connection.shg, items=[lead], connection=connection)
    return HttpResponse(status=201 if created else 200)
