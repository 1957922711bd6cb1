from datetime import timedelta

import pytest
from django.utils import timezone, translation

from apps.dashboard.templatetags.relative_time import ago, relative

NOW = timezone.now()


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=-20), "just now"),
    (timedelta(minutes=-1), "1 minute ago"),
    (timedelta(minutes=-59, seconds=-59), "59 minutes ago"),
    (timedelta(hours=-5, minutes=-30), "5 hours ago"),
    (timedelta(days=-1), "1 day ago"),
    (timedelta(days=-13), "13 days ago"),
    (timedelta(days=-15), "2 weeks ago"),
    (timedelta(seconds=30), "in a moment"),
    (timedelta(minutes=9, seconds=5), "in 9 minutes"),
    (timedelta(hours=1), "in 1 hour"),
])
def test_relative_english(delta, text):
    with translation.override("en"):
        assert relative(NOW + delta, now=NOW) == text


def test_relative_hindi():
    with translation.override("hi"):
        assert relative(NOW - timedelta(minutes=5), now=NOW) == "5 मिनट पहले"
        assert relative(NOW + timedelta(days=3), now=NOW) == "3 दिन में"


def test_filter_ignores_non_dates():
    assert ago(None) == "" and ago("yesterday") == ""
