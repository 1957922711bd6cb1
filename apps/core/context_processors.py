"""Template context every page needs."""

from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, str]:
    """Which main-menu entry is the current page: `nav_section` (the URL namespace, else the URL name) and
    `nav_url_name`. Empty for a request no URL matched (a 404 page), which has no resolver match at all."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {"nav_section": "", "nav_url_name": ""}
    return {"nav_section": match.namespace or match.url_name or "", "nav_url_name": match.url_name or ""}
