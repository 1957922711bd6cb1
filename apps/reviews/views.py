"""The coordinators' reviews list. Thin: the selectors read, the filters narrow, the templates show."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _

from apps.reviews import selectors
from apps.reviews.filters import ReviewListFilter

RESULTS_TARGET = "review-results"


@login_required
def review_list(request):
    """Every review of the user's SHGs, newest first. An htmx request answers a fragment: the results when the
    filters change, the next rows when "Older reviews" is pressed."""
    base = selectors.reviews_for(request.user)
    review_filter = ReviewListFilter(request.GET or None, queryset=base, request=request)
    # An invalid filter is ignored (its error is shown), so nothing outside the user's SHGs can ever show.
    queryset = review_filter.qs if review_filter.is_bound and review_filter.is_valid() else base
    listed = selectors.review_list(principal=request.user, queryset=queryset)
    try:
        page = selectors.review_page(listed, cursor=request.GET.get("after"))
    except selectors.BadCursor:
        messages.warning(request, _("This page link is not valid; here are the newest reviews."))
        page = selectors.review_page(listed, cursor=None)
    params = request.GET.copy()
    params.pop("after", None)
    if request.htmx and request.htmx.target == RESULTS_TARGET:
        template = "reviews/_results.html"
    elif request.htmx:
        template = "reviews/_review_rows.html"
    else:
        template = "reviews/review_list.html"
    return render(request, template, {
        "filter": review_filter, "page": page, "reviews": page.reviews, "query": params.urlencode(),
        "is_first_page": not request.GET.get("after"), "low_rating_max": selectors.LOW_RATING_MAX,
        "results_target": RESULTS_TARGET,
    })
