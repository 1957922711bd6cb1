"""The channel page's "paste this URL in your cabinet" box, for platforms with no API to subscribe through.

Yandex Market and Ozon take the notification URL only in the seller cabinet, so Haat cannot register it:
the coordinator must paste it, and this shows the per-connection URL and where it goes.
"""

from django import template

from apps.integrations import webhooks

register = template.Library()


@register.inclusion_tag("integrations/_notification_setup.html")
def notification_setup(connection):
    if webhooks.notification_dialect(connection.platform) is None or connection.status == connection.Status.DISABLED:
        return {"show": False}
    return {"show": True, "platform": connection.platform,
            "url": webhooks.webhook_callback_url(connection)}
