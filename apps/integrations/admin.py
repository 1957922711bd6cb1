"""Staff views of connections. Credentials are never shown: only the names of what is stored, and a
write-only field to replace them. Actions call the same services as the dashboard."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

import apps.integrations.admin_webhooks  # noqa: F401  (registers the WebhookEvent admin)
from apps.integrations import services
from apps.integrations.admin_sync import sync_now  # also registers the SyncRun admin
from apps.integrations.forms import ReplaceCredentialsField
from apps.integrations.models import Connection


class ConnectionAdminForm(forms.ModelForm):
    replace_credentials = ReplaceCredentialsField()

    class Meta:
        model = Connection
        # Never "credentials": it is replaced only through replace_credentials, never rendered.
        fields = ["shg", "platform", "display_name", "status", "external_account_id", "config", "poll_interval",
                  "next_sync_at", "last_error", "cursors"]

    def save(self, commit: bool = True) -> Connection:
        connection = super().save(commit=False)
        replacement = self.cleaned_data.get("replace_credentials")
        if replacement is not None:
            connection.credentials = replacement
        if commit:
            connection.save()
        return connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionAdminForm
    list_display = ["display_name", "shg", "platform", "status", "external_account_id", "last_sync_at", "next_sync_at",
                    "consecutive_failures"]
    list_filter = ["status", "platform", "shg__federation"]
    search_fields = ["display_name", "external_account_id", "shg__name", "shg__registration_number"]
    list_select_related = ["shg"]
    autocomplete_fields = ["shg"]
    raw_id_fields = ["created_by"]
    readonly_fields = ["uuid", "stored_credentials", "created_by", "created_at", "updated_at", "last_sync_at",
                       "last_success_at", "consecutive_failures"]
    fieldsets = [
        (None, {"fields": ["shg", "platform", "display_name", "status", "external_account_id", "uuid"]}),
        (_("Credentials"), {"fields": ["stored_credentials", "replace_credentials"]}),
        (_("Settings"), {"fields": ["config", "poll_interval"]}),
        (_("Sync"), {"fields": ["last_sync_at", "last_success_at", "next_sync_at", "consecutive_failures", "last_error",
                                "cursors"]}),
        (_("Record"), {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    actions = ["test_connection", sync_now]

    @admin.display(description=_("Stored credentials"))
    def stored_credentials(self, obj: Connection) -> str:
        """The names of the stored values, never the values."""
        names = sorted((obj.credentials or {}).keys()) if isinstance(obj.credentials, dict) else []
        if not names:
            return str(_("None stored"))
        return ngettext("%(count)d value: %(names)s", "%(count)d values: %(names)s", len(names)) % {
            "count": len(names), "names": ", ".join(names)}

    @admin.action(description=_("Test connection"))
    def test_connection(self, request, queryset):
        for connection in queryset.select_related("shg"):
            outcome = services.connection_test(connection=connection)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(request, f"{connection}: {outcome.message}", level=level)
