"""The stock page: counts per variant and location, oversold order lines, marketplace-held stock shown apart,
and the adjust form. Thin: selectors read, services write."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apps.accounts.selectors import editable_shg_ids
from apps.inventory import selectors, services
from apps.inventory.models import StockMovement

PAGE_SIZE = 50


class AdjustForm(forms.Form):
    kind = forms.ChoiceField(choices=[(StockMovement.Kind.RECEIPT, gettext_lazy("Receipt (units in)")),
                                      (StockMovement.Kind.ADJUSTMENT, gettext_lazy("Counted quantity"))])
    quantity = forms.IntegerField(min_value=0, label=gettext_lazy("Units received, or the counted quantity"))
    reason = forms.CharField(max_length=255, required=False, label=gettext_lazy("Reason"))


@login_required
def stock_list(request):
    page = Paginator(selectors.stock_items(principal=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "inventory/stock_list.html", {
        "page": page, "form": AdjustForm(),
        "oversold": selectors.oversold_reservations(principal=request.user)[:100],
        "marketplace": selectors.marketplace_stock(principal=request.user)[:200],
    })


@login_required
def stock_ledger(request, pk: int):
    item = get_object_or_404(selectors.stock_items(principal=request.user), pk=pk)
    return render(request, "inventory/ledger.html", {
        "item": item, "movements": selectors.movements(principal=request.user, item_id=pk)[:500],
        "audit": services.stock_audit(item=item),
    })


@login_required
@require_POST
def stock_adjust(request, pk: int):
    item = get_object_or_404(selectors.stock_items(principal=request.user), pk=pk)
    if item.variant.shg_id not in editable_shg_ids(request.user):
        raise PermissionDenied
    form = AdjustForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a kind and a quantity."))
        return redirect("inventory:stock")
    data = form.cleaned_data
    try:
        if data["kind"] == StockMovement.Kind.RECEIPT:
            services.stock_adjust(variant=item.variant, kind=data["kind"], delta=data["quantity"], reason=data["reason"],
                                  location=item.location, user=request.user)
        else:
            services.stock_adjust(variant=item.variant, kind=data["kind"], count=data["quantity"], reason=data["reason"],
                                  location=item.location, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, _("Stock of %(sku)s saved; the channels are being updated.") % {"sku": item.variant.sku})
    return redirect("inventory:stock")
