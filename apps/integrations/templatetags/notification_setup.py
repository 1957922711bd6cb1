"""The channel page's "paste this URL in your cabinet" box, for platforms with no API to subscribe through.

Yandex Market and Ozon take the notification URL only in the seller cabinet, so Haat cannot register it:
the coordinator must paste it, and this shows the per-connection URL and where it goes.
"""

from django import template

from apps.integrations import webhooks

register = template.Library()


@register.inclusion_tag("integrations/_notification_setup.html")
def notification_setup(connection):
    url = webhooks.pasted_notification_url(connection)
    return {"show": url is not None, "platform": connection.platform, "url": url}
