"""The coordinator's overview: thin, the numbers come from selectors.overview_for."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.cache import patch_vary_headers

from apps.accounts.selectors import editable_shg_ids, visible_shgs
from apps.dashboard import charts, selectors
from apps.dashboard.forms import OverviewFilterForm

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
