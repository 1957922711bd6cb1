"""The unified order list and the order page (with its add-tracking form). Thin: selectors read, services write."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.dashboard.exports import csv_lines, order_rows
from apps.dashboard.selectors import order_timeline, totals_by_currency
from apps.integrations.connectors.base import Capability
from apps.integrations.connectors.registry import UnknownPlatform
from apps.orders import selectors, services
from apps.orders.filters import OrderFilter, platform_name
from apps.orders.forms import COMMON_CARRIERS, TrackingForm
from apps.orders.models import Fulfilment, Order


def _filtered(request):
    """The user's orders narrowed by the list's filters (ignored when invalid, so nothing foreign ever shows)."""
    base = selectors.orders_for(request.user)
    order_filter = OrderFilter(request.GET or None, queryset=base, request=request)
    return order_filter, (order_filter.qs if order_filter.is_bound and order_filter.is_valid() else base)


@login_required
def order_list(request):
    order_filter, queryset = _filtered(request)
    try:
        page = selectors.order_page(selectors.order_list(principal=request.user, queryset=queryset),
                                    cursor=request.GET.get("after"))
    except selectors.BadCursor as exc:
        messages.warning(request, str(exc))
        page = selectors.order_page(selectors.order_list(principal=request.user, queryset=queryset), cursor=None)
    params = request.GET.copy()
    params.pop("after", None)
    more_rows = bool(request.htmx)
    template = "orders/_order_rows.html" if more_rows else "orders/order_list.html"
    return render(request, template, {
        "filter": order_filter, "page": page, "orders": page.orders, "query": params.urlencode(),
        "is_first_page": not request.GET.get("after"),
    })


@login_required
def order_totals(request):
    """Count and sum per currency of the orders the list's filters match: a fragment the list loads after it
    has drawn (htmx, on load), so the rows never wait for an aggregate over every matching order."""
    _order_filter, queryset = _filtered(request)
    return render(request, "orders/_totals.html", {"totals": totals_by_currency(queryset)})


@login_required
def order_export(request):
    """Every order the list's filters match, as CSV, streamed (constant memory, any size)."""
    _order_filter, queryset = _filtered(request)
    rows = order_rows(selectors.order_list(principal=request.user, queryset=queryset))
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="haat-orders-{stamp}.csv"'
    return response


def _tracking_allowed(order: Order) -> tuple[bool, str]:
    """Whether a tracking form makes sense for this order, and why not when it does not."""
    if order.is_marketplace_fulfilled:
        return False, _("The marketplace ships this order: its tracking comes from the marketplace.")
    if order.status in (Order.Status.CANCELLED, Order.Status.RETURNED):
        return False, _("This order was cancelled or returned.")
    try:
        connector_class = order.connection.connector_class
    except (UnknownPlatform, ImportError):
        return False, _("This channel is not available in this installation.")
    if not connector_class.supports(Capability.FULFILMENT_PUSH):
        return False, _("%(name)s does not accept tracking from Haat.") % {"name": connector_class.name}
    return True, ""


@login_required
def order_detail(request, pk: int):
    try:
        order = selectors.order_detail(principal=request.user, pk=pk)
    except Order.DoesNotExist:
        raise Http404 from None
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    can_edit = selectors.can_edit_order(request.user, order)
    allowed, why_not = _tracking_allowed(order)
    form = None
    if allowed and can_edit:
        form = TrackingForm(request.POST if request.method == "POST" else None, order=order)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form is None:
            messages.error(request, why_not)
            return redirect("orders:detail", pk=order.pk)
        if form.is_valid():
            try:
                services.fulfilment_create(order=order, created_by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Tracking saved; it is being sent to %(channel)s.")
                                 % {"channel": order.connection.display_name})
                return redirect("orders:detail", pk=order.pk)
    return render(request, "orders/order_detail.html", {
        "order": order, "form": form, "can_edit": can_edit, "tracking_note": why_not,
        "carriers": COMMON_CARRIERS, "platform_name": platform_name(order.connection.platform),
        "PushState": Fulfilment.PushState, "timeline": order_timeline(order),
    })


@login_required
@require_POST
def fulfilment_retry(request, pk: int):
    try:
        fulfilment = selectors.fulfilment_for(principal=request.user, pk=pk)
    except Fulfilment.DoesNotExist:
        raise Http404 from None
    if not selectors.can_edit_order(request.user, fulfilment.order):
        raise PermissionDenied
    try:
        services.fulfilment_retry(fulfilment=fulfilment)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Sending the tracking again."))
    return redirect("orders:detail", pk=fulfilment.order_id)
