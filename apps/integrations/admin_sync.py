"""Staff views of sync runs, and the "Sync now" action of the Connection admin (added in admin.py)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.integrations.models import SyncRun
from apps.integrations.tasks import enqueue_sync


@admin.action(description=_("Sync orders now"))
def sync_now(modeladmin, request, queryset):
    """Queue an orders sync of each selected connection that can sync (the same path as the dashboard's button)."""
    queued = 0
    for connection in queryset:
        if not connection.is_syncable:
            modeladmin.message_user(request, _("%(connection)s is %(status)s: not synced.") % {
                "connection": connection, "status": connection.get_status_display().lower()}, level=messages.WARNING)
            continue
        enqueue_sync(connection=connection, stream=SyncRun.Stream.ORDERS, trigger=SyncRun.Trigger.ADMIN,
                     requested_by=request.user)
        queued += 1
    if queued:
        modeladmin.message_user(request, ngettext("%(count)d sync queued.", "%(count)d syncs queued.", queued)
                                % {"count": queued}, level=messages.SUCCESS)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Runs are records of what happened: read-only."""

    list_display = ["started_at", "connection", "stream", "status", "trigger", "fetched", "created", "updated",
                    "requests", "retries", "error_type"]
    list_filter = ["status", "stream", "trigger", "connection__platform"]
    search_fields = ["connection__display_name", "connection__shg__name", "error"]
    date_hierarchy = "started_at"
    list_select_related = ["connection"]
    readonly_fields = [field.name for field in SyncRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
