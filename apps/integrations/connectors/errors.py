"""Typed connector errors. The sync engine and the flows decide what to do from the type alone."""


class ConnectorError(Exception):
    """Base of every error a connector raises. `raw` keeps the platform's answer for the record."""

    def __init__(self, message: str, *, raw: str | bytes | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        self.raw = raw


class AuthError(ConnectorError):
    """Credentials were refused or revoked: the connection needs re-authorisation."""


class RateLimited(ConnectorError):
    """The platform said slow down; `retry_after` is in seconds when it told us."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """A timeout, a connection reset or a 5xx: worth retrying later."""


class PermanentError(ConnectorError):
    """The platform's answer cannot be used (4xx, malformed body): retrying will not help."""


class NotSupported(ConnectorError):
    """The connector does not declare the capability that was asked of it."""
