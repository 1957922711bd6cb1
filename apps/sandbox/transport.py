"""Reach the sandbox in-process, without a live server: a requests adapter over Django's WSGI handler.

Used by tests (and by nothing in production): `sandbox_session()` returns a requests.Session whose
calls to http://testserver/ are served by this process's Django app, with real status codes,
headers and bodies, so connectors run unchanged against the sandbox. httpx clients (the Amazon SP-API
library) use `httpx.WSGITransport(app=sandbox_wsgi_app())` the same way.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

SANDBOX_TEST_ORIGIN = "http://testserver"


class InProcessWSGIApp:
    """Django's WSGI handler without `close_old_connections` around the request, as Django's test client does.

    A real server closes stale connections at the start and end of each request; in process, that
    would close the test's own connection mid-transaction (PostgreSQL then fails every later query).
    """

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            chunks = self.handler(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                # A request made inside this one (a sandbox delivering a webhook to Django's test client)
                # reconnects the handlers when it ends: disconnect them again before this one finishes.
                request_finished.disconnect(close_old_connections)
                if hasattr(chunks, "close"):
                    chunks.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


def sandbox_wsgi_app() -> InProcessWSGIApp:
    """The app for in-process transports (this module's requests adapter, httpx.WSGITransport)."""
    return InProcessWSGIApp()


class WSGIAdapter(BaseAdapter):
    def __init__(self, app=None):
        super().__init__()
        self.app = app or sandbox_wsgi_app()

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        environ = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": parts.hostname or "testserver",
            "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers

        # Like Django's test client: the caller's database connection (often inside a transaction) must
        # survive the inner request, so the per-request connection cleanup is switched off around it.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            chunks = self.app(environ, start_response)
            try:
                content = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        response = requests.Response()
        response.status_code = int(captured["status"].split(" ", 1)[0])
        response.reason = captured["status"].split(" ", 1)[1] if " " in captured["status"] else ""
        response.headers = CaseInsensitiveDict(captured["headers"])
        response._content = content
        response.url = request.url
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def close(self) -> None:
        pass


def sandbox_session() -> requests.Session:
    session = requests.Session()
    adapter = WSGIAdapter()
    session.mount(SANDBOX_TEST_ORIGIN + "/", adapter)
    return session
