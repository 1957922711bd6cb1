"""A logging filter that masks secret values that slip into a log line.

Code never logs credentials on purpose; this is the second line of defence for third-party
libraries (HTTP debug logs print headers and query strings).
"""

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization|x-shopify-access-token|x-amz-access-token|api-key|x-auth-token)"
               r"(['\"]?\s*[:=]\s*['\"]?)(bearer |basic |token )?([^\s'\",}]+)"),
    re.compile(r"(?i)((?:access|refresh)_token|client_secret|consumer_secret|consumer_key|password|"
               r"api_key|glusr_crm_key|spapi_oauth_code|code)(['\"]?\s*[:=]\s*['\"]?)([^\s&'\",}]+)"),
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
