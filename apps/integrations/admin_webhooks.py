"""Staff view of inbound webhook deliveries: what arrived, what became of it, and "Replay".

Deliveries are records of what a platform sent: read-only. The raw body is shown (it is what staff need
to understand a failure); signature headers are masked. Bodies erased by a privacy request say so.
"""

import contextlib
import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.integrations import webhooks
from apps.integrations.models import WebhookEvent

MAX_SHOWN_BODY = 200_000


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "platform", "topic", "connection", "status", "attempts", "resource_id",
                    "next_attempt_at", "short_error"]
    list_filter = ["status", "platform", "topic", ("redacted_at", admin.EmptyFieldListFilter)]
    search_fields = ["delivery_id", "resource_id", "topic", "connection__display_name",
                     "connection__external_account_id", "connection__shg__name", "last_error"]
    date_hierarchy = "received_at"
    list_select_related = ["connection"]
    readonly_fields = ["connection", "platform", "topic", "delivery_id", "resource_id", "status", "attempts",
                       "next_attempt_at", "received_at", "processed_at", "redacted_at", "last_error", "body_sha256",
                       "shown_headers", "shown_body"]
    fields = readonly_fields
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("integrations.change_webhookevent")

    @admin.display(description=_("error or note"))
    def short_error(self, obj: WebhookEvent) -> str:
        return (obj.last_error or "")[:80]

    @admin.display(description=_("headers"))
    def shown_headers(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(webhooks.masked_headers(obj.headers), indent=2, sort_keys=True))

    @admin.display(description=_("body"))
    def shown_body(self, obj: WebhookEvent) -> str:
        if obj.redacted_at:
            return _("Erased on %(when)s by a privacy request.") % {"when": obj.redacted_at}
        raw = bytes(obj.body or b"")
        text = raw[:MAX_SHOWN_BODY].decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError, UnicodeDecodeError):  # else shown as received; the error is in last_error
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)[:MAX_SHOWN_BODY]
        suffix = "\n…" if len(raw) > MAX_SHOWN_BODY else ""
        return format_html("<pre style='white-space:pre-wrap'>{}{}</pre>", text, suffix)

    @admin.action(description=_("Replay: process again"), permissions=["replay"])
    def replay(self, request, queryset):
        count = webhooks.webhook_events_replay(event_ids=list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - count
        self.message_user(request, ngettext("%(count)d delivery queued to be processed again.",
                                            "%(count)d deliveries queued to be processed again.", count)
                          % {"count": count}, messages.SUCCESS)
        if skipped:
            self.message_user(request, _("%(count)d skipped: being processed right now, or erased by a privacy "
                                         "request.") % {"count": skipped}, messages.WARNING)
