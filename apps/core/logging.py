"""A logging filter that masks secret values that slip into a log line.

Code never logs credentials on purpose; this is the second line of defence for third-party
libraries (HTTP debug logs print headers and query strings).
"""

import contextlib
import contextvars
import json
import logging
import re
from datetime import UTC, datetime

_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization|x-shopify-access-token|x-amz-access-token|api-key|x-auth-token)"
               r"(['\"]?\s*[:=]\s*['\"]?)(bearer |basic |token )?([^\s'\",}]+)"),
    re.compile(r"(?i)((?:access|refresh)_token|client_secret|consumer_secret|consumer_key|password|"
               r"api_key|glusr_crm_key|spapi_oauth_code|code|\w*secret)(['\"]?\s*[:=]\s*['\"]?)([^\s&'\",}]+)"),
    re.compile(r"\b(ck|cs|shpat|shpca|Atza|Atzr)[_|][A-Za-z0-9|\-_]{8,}"),
]


def redact(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _SECRET_PATTERNS[2].sub("***", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# --- request and connection ids on every log line ------------------------------------------------------------
# Set by apps.ops.middleware.RequestIdMiddleware (per request) and `connection_context` (around a sync, a probe
# or a webhook's processing); ContextFilter copies them onto each record for the formatters.

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("haat_request_id", default="")
connection_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("haat_connection_id", default="")


@contextlib.contextmanager
def connection_context(connection_id):
    """Tag every log line written inside the block with this connection's id."""
    token = connection_id_var.set(str(connection_id or ""))
    try:
        yield
    finally:
        connection_id_var.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.connection_id = connection_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json): time, level, logger, message, request and connection ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or request_id_var.get(),
            "connection_id": getattr(record, "connection_id", "") or connection_id_var.get(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
