"""Every URL of the project, visited by a user of another tenant, answers 404 (or leaks nothing).

The sweep walks the resolver, so a URL added anywhere in the project is swept automatically. A URL
whose arguments the sweep cannot fill from tenant A's objects fails the test until it is taught how
(add its kwargs to KWARG_SOURCES or its URL name to URL_OBJECTS), so no URL escapes it.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import Membership
from tests import tenant_objects
from tests.factories import make_org, make_user

# Not tenant data, or guarded by something other than a session (each has its own tests):
EXCLUDED_PREFIXES = (
    "admin/",  # staff only: a non-staff user is sent to the admin login (test below)
    "sandbox/",  # the platforms' stand-ins, guarded by the platforms' own auth
    "static/", "media/", "i18n/",
    "api/",  # partner tokens: tests/api/test_tenancy.py sweeps every /api/v1/ route with another tenant's token
    "webhooks/",  # platform signatures, not sessions
    "login/", "logout/", "password-reset/", "reset/",
    "healthz", "readyz", "metrics",
)

_CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def iter_patterns(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from iter_patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def fill(route: str, values: dict[str, str]) -> str:
    def replace(match):
        return str(values[match.group("name")])

    path = _CONVERTER.sub(replace, route)
    return "/" + path.lstrip("^").rstrip("$")


@pytest.fixture
def tenants(db):
    objects = tenant_objects.build_tenant_a()
    outsider = make_user("outsider", organization=make_org("Other Federation"), role=Membership.Role.ORG_ADMIN)
    return objects, outsider


def test_every_url_with_arguments_is_404_for_another_tenant(client, tenants):
    objects, outsider = tenants
    client.force_login(outsider)
    checked, unknown, leaks = [], [], []
    for route, pattern in iter_patterns(get_resolver().url_patterns):
        if route.startswith(EXCLUDED_PREFIXES):
            continue
        names = [m.group("name") for m in _CONVERTER.finditer(route)]
        if not names:
            continue
        values = tenant_objects.kwargs_for(route, pattern, names, objects)
        if values is None:
            unknown.append(route)
            continue
        path = fill(route, values)
        if set(names) <= set(tenant_objects.VALUE_KWARGS):
            continue  # a list in another format: swept by test_lists_show_nothing_of_another_tenant
        for method in ("get", "post"):
            status = getattr(client, method)(path).status_code
            # 405 is decided by the view's allowed methods before any object is looked up: it tells nothing.
            allowed = {404, 405}
            if status not in allowed:
                leaks.append(f"{method.upper()} {path} -> {status}")
        checked.append(route)
    assert not unknown, f"teach tests/tenant_objects.py how to fill these URLs: {unknown}"
    assert not leaks, leaks
    assert checked, "the sweep found no URL with arguments"


def test_lists_show_nothing_of_another_tenant(client, tenants):
    objects, outsider = tenants
    client.force_login(outsider)
    markers = tenant_objects.markers(objects)
    for route, _pattern in iter_patterns(get_resolver().url_patterns):
        names = {m.group("name") for m in _CONVERTER.finditer(route)}
        if route.startswith(EXCLUDED_PREFIXES) or not names <= set(tenant_objects.VALUE_KWARGS):
            continue
        response = client.get(fill(route, tenant_objects.VALUE_KWARGS))
        assert response.status_code < 500, route
        # Exports stream (StreamingHttpResponse): read them whole, they must not leak either.
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        body = raw.decode(errors="replace")
        for marker in markers:
            assert marker not in body, f"{route} shows {marker!r} of another tenant"


def test_admin_is_closed_to_non_staff(client, tenants):
    _objects, outsider = tenants
    client.force_login(outsider)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_unknown_uuid_is_404(client, tenants):
    _objects, outsider = tenants
    client.force_login(outsider)
    for route, _pattern in iter_patterns(get_resolver().url_patterns):
        if route.startswith(EXCLUDED_PREFIXES) or "<uuid:" not in route:
            continue
        path = fill(route, {m.group("name"): uuid.uuid4() for m in _CONVERTER.finditer(route)})
        assert client.post(path).status_code == 404, path
