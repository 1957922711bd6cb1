"""`{{ when|ago }}`: "5 minutes ago" / "in 5 minutes", one unit, translated by this project.

Django's own Hindi catalogue leaves humanize's naturaltime and timesince in English, and coordinators
reading Hindi need these on every card; one largest unit is also easier to read on a phone.
"""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext, ngettext

register = template.Library()

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 7 * 86400


def relative(when: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or timezone.now()) - when).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < MINUTE:
        return gettext("in a moment") if future else gettext("just now")
    if seconds < HOUR:
        n = seconds // MINUTE
        past, ahead = ngettext("%(n)d minute ago", "%(n)d minutes ago", n), ngettext("in %(n)d minute", "in %(n)d minutes", n)
    elif seconds < DAY:
        n = seconds // HOUR
        past, ahead = ngettext("%(n)d hour ago", "%(n)d hours ago", n), ngettext("in %(n)d hour", "in %(n)d hours", n)
    elif seconds < 2 * WEEK:
        n = seconds // DAY
        past, ahead = ngettext("%(n)d day ago", "%(n)d days ago", n), ngettext("in %(n)d day", "in %(n)d days", n)
    else:
        n = seconds // WEEK
        past, ahead = ngettext("%(n)d week ago", "%(n)d weeks ago", n), ngettext("in %(n)d week", "in %(n)d weeks", n)
    return (ahead if future else past) % {"n": n}


@register.filter(name="ago")
def ago(when) -> str:
    return relative(when) if isinstance(when, datetime) else ""
