"""The coordinator's overview (numbers from selectors.overview_for), and the inline edits of the products and
stock pages (writes through the catalog, inventory and dashboard services). Thin."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.selectors import editable_shg_ids, visible_shgs
from apps.catalog import services as catalog_services
from apps.catalog.models import Listing, Variant
from apps.catalog.selectors import variant_list
from apps.dashboard import charts, selectors
from apps.dashboard import services as dashboard_services
from apps.dashboard.forms import BufferForm, OverviewFilterForm, PriceForm, StockCountForm
from apps.inventory import selectors as inventory_selectors
from apps.inventory.services import available_by_variant, push_quantity

# Loaded only on request (210 KB, more than a phone's whole page budget); see apps/dashboard/charts.py.
CHART_JS = "vendor/chartjs/chart-4.6.1.umd.min.js"


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    shgs = visible_shgs(request.user).order_by("name")
    form = OverviewFilterForm(request.GET or None, shgs=shgs)
    shg = form.cleaned_data["shg"] if form.is_bound and form.is_valid() else None
    data = selectors.overview_for(request.user, shg_id=shg.pk if shg else None)
    chart = data.charts[0] if data.charts else None
    context = {
        "form": form,
        "shg": shg,
        "overview": data,
        "chart": chart,
        "chart_svg": charts.stacked_bars(chart) if chart else None,
        "chart_data": charts.chart_js_data(chart) if chart else None,
        "chart_rows": charts.table_rows(chart) if chart else [],
        "chartjs_url": static(CHART_JS),
        "other_currencies": [c.currency for c in data.charts[1:]],
        # Where the health cards may offer "Sync now" (coordinators and org admins, not viewers).
        "editable_shg_ids": editable_shg_ids(request.user),
    }
    # The SHG filter swaps only the overview's body; a history restore (back button) needs the whole page.
    partial = request.htmx and request.htmx.target == "overview" and not request.htmx.history_restore_request
    template = "dashboard/_overview_body.html" if partial else "dashboard/overview.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


# --- inline edits on the products page and the per-channel buffers of the stock page ---------------------------


def _editable_variant(request: HttpRequest, variant_pk: int) -> Variant:
    variant = get_object_or_404(variant_list(principal=request.user), pk=variant_pk)
    if variant.shg_id not in editable_shg_ids(request.user):
        raise PermissionDenied
    return variant


def _service_errors(form, exc: ValidationError) -> None:
    """Put a service's ValidationError next to the form's fields where it names one, else on the form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _inline_answer(request: HttpRequest, template: str, context: dict, saved: str) -> HttpResponse:
    """htmx swaps the cell in place; without JavaScript the form posts normally and the page comes back."""
    if request.htmx:
        return render(request, template, {**context, "editable": True, "saved": saved})
    if saved:
        messages.success(request, saved)
    else:
        messages.error(request, " ".join(str(e) for errors in context["form"].errors.values() for e in errors))
    return redirect("catalog:products")


@login_required
@require_POST
def variant_price(request: HttpRequest, variant_pk: int) -> HttpResponse:
    """Set a variant's price (and MRP); every live listing that uses it is queued for a price push."""
    variant = _editable_variant(request, variant_pk)
    form = PriceForm(request.POST, prefix=f"v{variant.pk}")
    saved = ""
    if form.is_valid():
        try:
            changed = catalog_services.variant_price_set(variant=variant, price=form.cleaned_data["price"],
                                                         mrp=form.cleaned_data["mrp"])
        except ValidationError as exc:
            _service_errors(form, exc)
            variant.refresh_from_db()
        else:
            saved = _("Saved; the channels are being updated.") if changed else _("No change.")
    context = {"variant": variant, "form": form if not saved else None}
    return _inline_answer(request, "catalog/_price_cell.html", context, saved)


@login_required
@require_POST
def variant_stock(request: HttpRequest, variant_pk: int) -> HttpResponse:
    """Set a variant's counted quantity (an adjustment with a reason); the new available stock is pushed to
    every channel that lists it."""
    variant = _editable_variant(request, variant_pk)
    form = StockCountForm(request.POST, prefix=f"s{variant.pk}")
    saved = ""
    if form.is_valid():
        try:
            dashboard_services.variant_stock_count(variant=variant, count=form.cleaned_data["count"],
                                                   reason=form.cleaned_data["reason"], user=request.user)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            saved = _("Saved; the channels are being updated.")
    stock = available_by_variant(variant_ids=[variant.pk]).get(variant.pk, {"on_hand": 0, "reserved": 0, "available": 0})
    context = {"variant": variant, "stock": stock, "form": form if not saved else None}
    return _inline_answer(request, "catalog/_stock_cell.html", context, saved)


@login_required
@require_http_methods(["GET", "POST"])
def stock_buffers(request: HttpRequest, pk: int) -> HttpResponse:
    """The channels a stock item's variant is listed on, with each one's buffer (units held back) and cap, and
    the quantity each is shown."""
    item = get_object_or_404(inventory_selectors.stock_items(principal=request.user), pk=pk)
    editable = item.variant.shg_id in editable_shg_ids(request.user)
    listings = list(Listing.objects.filter(variant=item.variant).select_related("connection")
                    .order_by("connection__display_name"))
    available = available_by_variant(variant_ids=[item.variant_id]).get(item.variant_id, {}).get("available", 0)
    forms_by_listing = {}
    for listing in listings:
        bound = request.method == "POST" and request.POST.get("listing") == str(listing.pk)
        forms_by_listing[listing.pk] = BufferForm(request.POST if bound else None, prefix=f"l{listing.pk}",
                                                  initial={"buffer": listing.stock_buffer, "maximum": listing.stock_max})
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        listing = next((x for x in listings if str(x.pk) == request.POST.get("listing")), None)
        if listing is None:
            raise Http404
        form = forms_by_listing[listing.pk]
        if form.is_valid():
            try:
                catalog_services.listing_update(listing=listing, data={"stock_buffer": form.cleaned_data["buffer"],
                                                                       "stock_max": form.cleaned_data["maximum"]})
            except ValidationError as exc:
                _service_errors(form, exc)
            else:
                messages.success(request, _("Saved; %(channel)s gets the new quantity.")
                                 % {"channel": listing.connection.display_name})
                return redirect("stock_buffers", pk=item.pk)
    rows = [{"listing": x, "form": forms_by_listing[x.pk],
             "shown": None if x.fulfilled_by_marketplace else push_quantity(available=available, buffer=x.stock_buffer,
                                                                            maximum=x.stock_max)} for x in listings]
    return render(request, "inventory/buffers.html", {"item": item, "rows": rows, "available": available,
                                                      "editable": editable})
