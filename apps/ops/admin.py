"""Staff views of operations: connection health (with the board grouped by platform and failure), alerts
and notifications. The audit log itself is django-auditlog's own admin (Auditlog > Log entries)."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from apps.ops.models import Alert, ConnectionHealth, Heartbeat, Notification
from apps.ops.selectors import health_board


@admin.register(ConnectionHealth)
class ConnectionHealthAdmin(admin.ModelAdmin):
    list_display = ["connection", "platform", "breaker", "consecutive_failures", "last_success_at", "last_latency",
                    "probe_at", "last_error_type"]
    list_filter = ["breaker", "connection__platform", "last_error_type"]
    search_fields = ["connection__display_name", "connection__shg__name", "last_error"]
    list_select_related = ["connection"]
    readonly_fields = [f.name for f in ConnectionHealth._meta.fields]
    change_list_template = "admin/ops/connectionhealth/change_list.html"

    @admin.display(ordering="connection__platform")
    def platform(self, obj: ConnectionHealth) -> str:
        return obj.connection.platform

    def has_add_permission(self, request) -> bool:
        return False

    def get_urls(self):
        return [path("board/", self.admin_site.admin_view(self.board_view), name="ops_health_board"),
                *super().get_urls()]

    def board_view(self, request):
        """Every connection's state, grouped by platform and by failure, failing platforms first."""
        context = {**self.admin_site.each_context(request), "title": "Channel health", "boards": health_board(),
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/ops/health_board.html", context)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "shg", "opened_at", "resolved_at", "notify_count", "link"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "key", "message"]
    list_select_related = ["shg"]
    readonly_fields = ["kind", "key", "shg", "connection", "opened_at", "resolved_at", "last_notified_at",
                       "notify_count"]

    @admin.display(description="Where")
    def link(self, obj: Alert) -> str:
        return format_html('<a href="{}">open</a>', obj.url) if obj.url else "—"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "alert", "created_at", "read_at"]
    list_filter = ["read_at"]
    list_select_related = ["user", "alert"]
    raw_id_fields = ["user", "alert"]


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "beat_at", "host"]
