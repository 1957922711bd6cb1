"""Request ids: taken from a trusted-looking X-Request-ID (a proxy's) or made up, put on every log line of
the request, and sent back in the response's X-Request-ID."""

from __future__ import annotations

import re
import uuid

from apps.core.logging import request_id_var

_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response
