"""Sync pages of a connection (its runs, one run) and the "Sync now" button. Tenancy-scoped: another
tenant's connection or run is not found (404); viewers may look but not start a sync (403)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts.selectors import editable_shg_ids, scope_by_shg
from apps.integrations.models import Connection, SyncRun
from apps.integrations.sync import available_streams
from apps.integrations.tasks import enqueue_sync
from apps.integrations.views import back_or

RUNS_SHOWN = 50


def _connection_for(user, pk: int) -> Connection:
    try:
        return scope_by_shg(Connection.objects.select_related("shg"), user).get(pk=pk)
    except Connection.DoesNotExist:
        raise Http404 from None


@login_required
def run_list(request, pk: int):
    connection = _connection_for(request.user, pk)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    runs, older = _runs_page(connection.sync_runs.all(), request.GET.get("before", ""))
    template = "sync/_runs_table.html" if request.htmx else "sync/run_list.html"
    return render(request, template, {
        "connection": connection, "runs": runs, "older": older,
        "any_running": any(r.status == SyncRun.Status.RUNNING for r in runs),
        "can_edit": connection.shg_id in editable_shg_ids(request.user),
        "streams": [(value, label) for value, label in SyncRun.Stream.choices if value in available_streams(connection)],
    })


def _runs_page(runs, before: str) -> tuple[list[SyncRun], int | None]:
    """Newest first, RUNS_SHOWN at a time, older ones by id ("before" is the last id shown)."""
    if before.isdigit():
        runs = runs.filter(id__lt=int(before))
    rows = list(runs.order_by("-id")[: RUNS_SHOWN + 1])
    return rows[:RUNS_SHOWN], (rows[RUNS_SHOWN - 1].pk if len(rows) > RUNS_SHOWN else None)


@login_required
def activity(request):
    """Every sync of every channel the user may see, newest first; while any shown run is running the table
    refreshes itself (htmx polling that stops once none is)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    runs = scope_by_shg(SyncRun.objects.select_related("connection", "connection__shg").defer("connection__credentials"),
                        request.user, shg_field="connection__shg")
    rows, older = _runs_page(runs, request.GET.get("before", ""))
    context = {"runs": rows, "older": older, "show_channel": True,
               "any_running": any(r.status == SyncRun.Status.RUNNING for r in rows)}
    template = "sync/_runs_table.html" if request.htmx else "sync/activity.html"
    return render(request, template, context)


@login_required
def run_detail(request, pk: int):
    try:
        run = scope_by_shg(SyncRun.objects.select_related("connection", "connection__shg", "requested_by"),
                           request.user, shg_field="connection__shg").get(pk=pk)
    except SyncRun.DoesNotExist:
        raise Http404 from None
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    template = "sync/_run_status.html" if request.htmx else "sync/run_detail.html"
    return render(request, template, {"run": run, "connection": run.connection,
                                      "running": run.status == SyncRun.Status.RUNNING})


@login_required
@require_POST
def sync_now(request, pk: int):
    """Queue a sync of the connection now (the dashboard's button; answers htmx with a short fragment)."""
    connection = _connection_for(request.user, pk)
    if connection.shg_id not in editable_shg_ids(request.user):
        raise PermissionDenied
    stream = request.POST.get("stream") or SyncRun.Stream.ORDERS
    if stream not in SyncRun.Stream.values:
        return HttpResponse(_("Unknown stream."), status=400)
    if stream not in available_streams(connection):
        return HttpResponse(_("This channel does not offer that."), status=400)
    if not connection.is_syncable:
        text = _("%(name)s is %(status)s: reconnect it before syncing.") % {
            "name": connection.display_name, "status": connection.get_status_display().lower()}
        if request.htmx:
            return HttpResponse(text, status=409)
        messages.error(request, text)
        return redirect("sync:runs", pk=connection.pk)
    enqueue_sync(connection=connection, stream=stream, trigger=SyncRun.Trigger.MANUAL, requested_by=request.user)
    text = _("Sync of %(name)s started.") % {"name": connection.display_name}
    if request.htmx:
        return HttpResponse(text, status=202)
    messages.success(request, text)
    return back_or(request, "sync:runs", pk=connection.pk)
