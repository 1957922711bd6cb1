"""What every endpoint of the partner API shares: one error shape, cursor pagination, a throttle per token.

Error shape (every 4xx and 5xx answered by DRF):

    {"status": 400, "code": "invalid", "detail": "Some fields are not valid.",
     "errors": [{"field": "carrier", "code": "required", "message": "This field is required."}]}

`errors` names each bad field (nested fields as dotted paths, list items by index: `lines.0.sku`); an
error about the request as a whole has `field: null`. Partners can rely on this one shape.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

NON_FIELD_KEYS = {"non_field_errors", "__all__"}


def _flatten(detail: Any, path: str | None = None) -> list[dict[str, Any]]:
    """DRF's nested error detail -> a flat list of {field, code, message}."""
    if isinstance(detail, dict):
        items: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = None if key in NON_FIELD_KEYS else str(key)
            items.extend(_flatten(value, f"{path}.{name}" if path and name else (name or path)))
        return items
    if isinstance(detail, list):
        items = []
        nested = any(isinstance(value, (dict, list)) for value in detail)
        for index, value in enumerate(detail):
            sub = f"{path}.{index}" if nested and path else (str(index) if nested else path)
            items.extend(_flatten(value, sub))
        return items
    code = getattr(detail, "code", None) or "invalid"
    return [{"field": path, "code": str(code), "message": str(detail)}]


def error_body(*, status_code: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> dict:
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or []}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, then the one error shape; Django's own ValidationError becomes a 400 naming its fields."""
    from rest_framework.views import exception_handler as drf_exception_handler  # views import these settings

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handling (and logging) takes over
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        detail = errors[0]["message"] if len(errors) == 1 and errors[0]["field"] is None else \
            "Some fields are not valid."
        response.data = error_body(status_code=response.status_code, code="invalid", detail=detail, errors=errors)
        return response
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    message = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(status_code=response.status_code, code=str(code if isinstance(code, str) else "error"),
                               detail=str(message))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response.data["retry_after"] = int(exc.wait + 0.999)
    return response


class ConflictError(exceptions.APIException):
    """The request is valid but the resource's state refuses it (a disconnected channel, a duplicate)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource's current state does not allow this."
    default_code = "conflict"


# --- the error shape in the OpenAPI schema --------------------------------------------------------------------

_ErrorItem = inline_serializer("ErrorItem", fields={
    "field": serializers.CharField(allow_null=True, help_text="The bad field (dotted path), or null."),
    "code": serializers.CharField(),
    "message": serializers.CharField(),
})
Error = inline_serializer("Error", fields={
    "status": serializers.IntegerField(),
    "code": serializers.CharField(),
    "detail": serializers.CharField(),
    "errors": serializers.ListField(child=_ErrorItem),
    "retry_after": serializers.IntegerField(required=False, help_text="Seconds to wait (429 only)."),
})


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation, all in the one error shape."""
    return {code: OpenApiResponse(response=Error) for code in codes}


# --- pagination -----------------------------------------------------------------------------------------------


class PartnerCursorPagination(CursorPagination):
    """Opaque `next`/`previous` links: stable while rows are added, and each page reads an index range.

    Views set `ordering` to a field that changes rarely and is indexed (creation or placing time, id).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "cursor_ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)


# --- throttling -----------------------------------------------------------------------------------------------


class PartnerTokenThrottle(SimpleRateThrottle):
    """Requests per partner token (the `partner_token` rate), counted in the shared cache.

    Keyed on the token's id, so every client of one partner shares the budget and a new token does not
    inherit another's. Requests without a token (the public schema and docs) are not counted here.
    """

    scope = "partner_token"

    def get_cache_key(self, request, view) -> str | None:
        token = getattr(request.user, "token", None)
        if token is None or getattr(token, "pk", None) is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


def request_token(request):
    """The PartnerToken behind a request: the principal every API queryset is scoped by."""
    token = getattr(request.user, "token", None)
    if token is None:
        raise exceptions.NotAuthenticated()
    return token


class UpdatedSinceFilterSet(django_filters.FilterSet):
    """`updated_since`: rows changed at or after this instant (ISO 8601 with a time zone), for incremental polls.

    Poll with the time you started the previous poll (not the newest `updated_at` you saw), so a change
    committed while you were paging is read on the next poll.
    """

    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte",
                                                     help_text="ISO 8601 date-time, e.g. 2026-11-20T10:00:00Z.")


# --- schema ---------------------------------------------------------------------------------------------------

COMMON_ERRORS = {
    "400": "Invalid input: a filter, the cursor or the body; `errors` names each bad field.",
    "401": "No token, an unknown one, or a revoked one.",
    "404": "Not found, or not visible to this token (another tenant's object is a 404, never a 403).",
    "429": "Too many requests for this token: wait `Retry-After` seconds.",
}


def add_common_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: every partner operation documents the one error shape for the
    answers any request may get, so clients (and the schemathesis run) find every status in the schema."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorItem", {"type": "object", "required": ["field", "code", "message"], "properties": {
        "field": {"type": "string", "nullable": True}, "code": {"type": "string"}, "message": {"type": "string"}}})
    schemas.setdefault("Error", {"type": "object", "required": ["status", "code", "detail", "errors"], "properties": {
        "status": {"type": "integer"}, "code": {"type": "string"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorItem"}},
        "retry_after": {"type": "integer"}}})
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code, description in COMMON_ERRORS.items():
                responses.setdefault(code, {"description": description, **error})
    return result
