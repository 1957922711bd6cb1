"""Catalog pages: the variants x channels matrix, CSV/XLSX import (with row errors) and export, and the channel
products that matched no SKU, to map by hand. Thin: selectors read, services write."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts.models import SHG
from apps.accounts.selectors import editable_shg_ids, visible_shgs
from apps.catalog import selectors, services
from apps.catalog.forms import ImportForm, MapForm
from apps.catalog.models import Variant
from apps.catalog.resources import FORMATS, catalog_export
from apps.integrations.models import Connection
from apps.inventory.services import available_by_variant

PAGE_SIZE = 50


@login_required
def product_list(request):
    shg_id = request.GET.get("shg")
    variants = selectors.variant_matrix(principal=request.user, shg_id=int(shg_id) if (shg_id or "").isdigit() else None)
    page = Paginator(variants, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    stock = available_by_variant(variant_ids=[v.pk for v in rows])
    channels = {listing.connection_id: listing.connection for v in rows for listing in v.listings.all()}
    columns = sorted(channels.values(), key=lambda c: (c.platform, c.display_name))
    matrix = [{"variant": v, "stock": stock.get(v.pk, {"on_hand": 0, "reserved": 0, "available": 0}),
               "cells": [{listing.connection_id: listing for listing in v.listings.all()}.get(c.pk) for c in columns]}
              for v in rows]
    return render(request, "catalog/product_list.html", {"page": page, "matrix": matrix, "columns": columns,
                                                         "shgs": visible_shgs(request.user)})


@login_required
def catalog_import(request):
    shgs = SHG.objects.filter(id__in=editable_shg_ids(request.user)).order_by("name")
    form = ImportForm(request.POST or None, request.FILES or None, shgs=shgs)
    row_errors = []
    if request.method == "POST" and form.is_valid():
        shg = shgs.get(pk=form.cleaned_data["shg"])
        upload = form.cleaned_data["file"]
        try:
            result = services.catalog_import_file(shg=shg, content=upload.read(), user=request.user,
                                                  file_format="xlsx" if upload.name.lower().endswith(".xlsx") else "csv")
        except services.ImportRejected as exc:
            row_errors = exc.row_errors
            messages.error(request, _("Nothing was imported: %(n)s problem(s) below. Fix the file and upload it again.")
                           % {"n": len(row_errors)})
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("%(c)s new and %(u)s updated variants; %(s)s stock counts changed.")
                             % {"c": result.created, "u": result.updated, "s": result.stock_changed})
            return redirect("catalog:products")
    return render(request, "catalog/import.html", {"form": form, "row_errors": row_errors})


@login_required
def catalog_export_view(request, file_format: str):
    if file_format not in FORMATS:
        raise Http404
    data = catalog_export(queryset=selectors.variant_list(principal=request.user), file_format=file_format)
    response = HttpResponse(data, content_type=FORMATS[file_format]().get_content_type())
    response["Content-Disposition"] = f'attachment; filename="haat-catalog.{file_format}"'
    return response


@login_required
def unmatched_list(request):
    page = Paginator(selectors.unmatched_products(principal=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "catalog/unmatched.html", {"page": page, "form": MapForm()})


@login_required
@require_POST
def unmatched_map(request, pk: int):
    item = get_object_or_404(selectors.unmatched_products(principal=request.user), pk=pk)
    if item.shg_id not in editable_shg_ids(request.user):
        raise PermissionDenied
    form = MapForm(request.POST)
    if form.is_valid():
        variant = Variant.objects.filter(shg_id=item.shg_id, sku=form.cleaned_data["sku"].strip()).first()
        if variant is None:
            messages.error(request, _("No variant of this SHG has that SKU."))
        else:
            services.channel_product_map(channel_product=item, variant=variant)
            messages.success(request, _("Mapped to %(sku)s.") % {"sku": variant.sku})
    return redirect("catalog:unmatched")


@login_required
@require_POST
def channel_import(request, connection_pk: int):
    connection = get_object_or_404(Connection.objects.filter(shg_id__in=editable_shg_ids(request.user)), pk=connection_pk)
    from apps.integrations.connectors.errors import ConnectorError

    try:
        result = services.listings_import_from_channel(connection=connection)
    except ConnectorError as exc:
        messages.error(request, _("The channel did not answer: %(e)s") % {"e": type(exc).__name__})
    else:
        messages.success(request, _("%(m)s matched, %(c)s new, %(u)s without a SKU to map by hand.")
                         % {"m": result.matched, "c": result.created, "u": result.unmatched})
    return redirect("catalog:products")
