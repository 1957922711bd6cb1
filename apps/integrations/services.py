"""Writes of connections: connect (API keys or OAuth tokens), test, disconnect, replace credentials.

Every connect path ends in `connection_upsert`, idempotent on (SHG, platform, external account id):
connecting the same account again updates its row (new credentials, same cursors and orders), never
duplicates it. API keys are checked by a live `test_connection()` before anything is saved; OAuth tokens
are saved as soon as the platform grants them, then tested, so a platform hiccup after consent does not
throw the grant away. Error messages shown to people come from `safe_error_message`: the platform's own
words with anything that looks like a secret masked.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import SHG
from apps.core.logging import redact
from apps.integrations import webhooks
from apps.integrations.connectors.base import (
    AuthKind,
    ConnectionContext,
    Connector,
    CredentialField,
    OAuthTokens,
)
from apps.integrations.connectors.errors import AuthError, ConnectorError, RateLimited, TransientError
from apps.integrations.connectors.registry import UnknownPlatform, build_connector, get_connector_class
from apps.integrations.http import HttpClient
from apps.integrations.models import Connection

logger = logging.getLogger(__name__)

# A person waits on the page while these calls run: fewer retries than a background sync.
INTERACTIVE_MAX_RETRIES = 2
MAX_ERROR_LENGTH = 1000


class ConnectFailed(Exception):
    """A connect attempt that did not complete. `message` is safe to show: no secret is in it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class CheckOutcome:
    ok: bool
    message: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class DisconnectOutcome:
    connection: Connection
    webhook_error: str = ""


# --- small shared pieces ------------------------------------------------------------------------------------


def sandbox_root() -> str:
    """Where the sandbox platforms answer (".../sandbox"); the one place that reads SANDBOX_ROOT_URL."""
    return settings.SANDBOX_ROOT_URL.rstrip("/")


def sandbox_config(connector_class: type[Connector], params: dict[str, str]) -> dict[str, Any]:
    """With SANDBOX on, the config that points a new connection (and its consent page) at the sandbox."""
    if not settings.SANDBOX:
        return {}
    return {"base_url": connector_class.sandbox_base_url(sandbox_root=sandbox_root(), params=params)}


def safe_error_message(exc: BaseException) -> str:
    """The error as people may read it: the connector's message, secrets masked, bounded in length."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact(message)[:MAX_ERROR_LENGTH]


def interactive_http(connector_class: type[Connector], key: str) -> HttpClient:
    """An HTTP client for calls made while a person waits (connect forms, OAuth exchange, test button)."""
    return HttpClient(connection_key=key, rate_limits=connector_class.rate_limits, max_retries=INTERACTIVE_MAX_RETRIES)


def split_credential_values(fields: tuple[CredentialField, ...], values: dict[str, str]) -> tuple[dict, dict]:
    """Form values -> (credentials, config) as each field's `stored_in` says; blank optional values dropped."""
    credentials: dict[str, str] = {}
    config: dict[str, str] = {}
    for spec in fields:
        value = values.get(spec.name)
        if value in (None, ""):
            continue
        (config if spec.stored_in == "config" else credentials)[spec.name] = value
    return credentials, config


def external_account_id_for(connector_class: type[Connector], info: dict[str, Any], config: dict[str, Any],
                            credentials: dict[str, Any]) -> str:
    """Which account these credentials open, so reconnecting it updates the same row.

    The platform's own id from `test_connection()` comes first; then the identifying non-secret value
    the coordinator typed (a store URL, an application id); as a last resort a fingerprint of the
    credentials (a one-way hash, never the secret itself).
    """
    for key in ("external_account_id", "account_id", "seller_id", "shop", "id"):
        value = info.get(key)
        if value not in (None, ""):
            return str(value)[:255]
    for spec in connector_class.credential_fields:
        if spec.stored_in == "config" and config.get(spec.name):
            return str(config[spec.name])[:255]
    for spec in connector_class.credential_fields:
        if not spec.secret and credentials.get(spec.name):
            return str(credentials[spec.name])[:255]
    digest = hashlib.sha256(json.dumps(credentials, sort_keys=True).encode()).hexdigest()[:24]
    return f"key-{digest}"


def display_name_for(connector_class: type[Connector], info: dict[str, Any], external_account_id: str) -> str:
    for key in ("display_name", "name", "store_name", "shop_name"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return f"{connector_class.name} · {external_account_id}"[:200]


def _merge_config(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Keep what the connection learned (webhook ids, location ids); take the new values; drop a stale base URL."""
    merged = {**(old or {}), **new}
    if "base_url" not in new:
        merged.pop("base_url", None)
    return merged


def _ensure_same_account(reconnecting: Connection | None, *, shg: SHG, platform: str, external_account_id: str) -> None:
    if reconnecting is None:
        return
    if reconnecting.shg_id != shg.pk or reconnecting.platform != platform:
        raise ConnectFailed(_("This connection belongs to another SHG or platform."))
    if reconnecting.external_account_id and reconnecting.external_account_id != external_account_id:
        raise ConnectFailed(
            _("These credentials open the account %(got)s, but this connection is for %(expected)s. "
              "Sign in with the same account, or connect the other one as a new channel.")
            % {"got": external_account_id, "expected": reconnecting.external_account_id}
        )


# --- the one write every connect path ends in ----------------------------------------------------------------


@transaction.atomic
def connection_upsert(*, shg: SHG, platform: str, external_account_id: str, credentials: dict[str, Any],
                      config: dict[str, Any], display_name: str = "", created_by: AbstractBaseUser | None = None,
                      status: str = Connection.Status.ACTIVE) -> tuple[Connection, bool]:
    """Create or update the connection of (shg, platform, external account); returns (connection, created).

    Reconnecting replaces the credentials, merges the config and keeps cursors and history. Two
    concurrent connects of one account meet at the unique constraint, and the loser updates.
    """
    if not external_account_id:
        raise ValueError("external_account_id is required: it is what makes connecting idempotent")
    get_connector_class(platform)  # an unknown platform is a programming error, raised before any write
    now = timezone.now()
    lookup = {"shg": shg, "platform": platform, "external_account_id": external_account_id}
    existing = Connection.objects.select_for_update().filter(**lookup).first()
    if existing is None:
        try:
            with transaction.atomic():
                connection = Connection.objects.create(
                    **lookup, credentials=credentials, config=config, status=status,
                    display_name=display_name or f"{platform} · {external_account_id}"[:200], created_by=created_by,
                    next_sync_at=now if status == Connection.Status.ACTIVE else None,
                )
            return connection, True
        except IntegrityError:
            existing = Connection.objects.select_for_update().get(**lookup)
    existing.credentials = credentials
    existing.config = _merge_config(existing.config, config)
    existing.status = status
    existing.last_error = ""
    existing.consecutive_failures = 0
    existing.next_sync_at = now if status == Connection.Status.ACTIVE else existing.next_sync_at
    if not existing.display_name:
        existing.display_name = display_name[:200]
    existing.save(update_fields=["credentials", "config", "status", "last_error", "consecutive_failures",
                                 "next_sync_at", "display_name", "updated_at"])
    if status == Connection.Status.ACTIVE:
        from apps.ops.services import breaker_reset

        breaker_reset(connection_id=existing.pk)
    return existing, False


# --- API-key platforms --------------------------------------------------------------------------------------


def connection_connect_api_key(*, shg: SHG, platform: str, values: dict[str, str],
                               created_by: AbstractBaseUser | None = None,
                               reconnecting: Connection | None = None) -> Connection:
    """Check the keys with a live `test_connection()`; save only if the platform accepts them.

    Raises ConnectFailed with the platform's own message when it does not; nothing is written then.
    """
    cls = get_connector_class(platform)
    if cls.auth_kind != AuthKind.API_KEY:
        raise ConnectFailed(_("%(name)s connects by signing in on its own site, not with keys.") % {"name": cls.name})
    credentials, config = split_credential_values(cls.credential_fields, values)
    params = {k: str(v) for k, v in config.items()}
    config = {**config, **sandbox_config(cls, params)}
    captured = dict(credentials)

    def capture(new_credentials: dict[str, Any]) -> None:
        # A connector may cache a token it fetched during the test (Flipkart): keep it for the save.
        captured.clear()
        captured.update(new_credentials)

    context = ConnectionContext(connection_id=f"connect-{platform}-{shg.pk}", credentials=dict(credentials),
                                config=dict(config), save_credentials=capture)
    try:
        connector = cls(context, http=interactive_http(cls, f"connect:{platform}:{shg.pk}"))
        info = connector.test_connection() or {}
    except (ConnectorError, ValueError) as exc:
        logger.info("connect test failed for %s (SHG %s): %s", platform, shg.pk, type(exc).__name__)
        raise ConnectFailed(safe_error_message(exc)) from exc
    external_account_id = external_account_id_for(cls, info, config, credentials)
    _ensure_same_account(reconnecting, shg=shg, platform=platform, external_account_id=external_account_id)
    connection, _created = connection_upsert(
        shg=shg, platform=platform, external_account_id=external_account_id, credentials=captured, config=config,
        display_name=display_name_for(cls, info, external_account_id), created_by=created_by,
        status=Connection.Status.ACTIVE,
    )
    webhooks.webhooks_register_later(connection)  # once this commits, in a task
    return connection


# --- OAuth platforms (the flow itself is apps/integrations/flows.py) ----------------------------------------------


def connection_connect_oauth(*, shg: SHG, platform: str, tokens: OAuthTokens, config: dict[str, Any],
                             created_by: AbstractBaseUser | None = None,
                             reconnecting: Connection | None = None) -> tuple[Connection, CheckOutcome]:
    """Store what the code exchange granted, then test it live; the outcome says whether it works."""
    cls = get_connector_class(platform)
    external_account_id = tokens.external_account_id
    if not external_account_id:
        raise ConnectFailed(_("%(name)s did not say which account was authorised.") % {"name": cls.name})
    _ensure_same_account(reconnecting, shg=shg, platform=platform, external_account_id=external_account_id)
    connection, _created = connection_upsert(
        shg=shg, platform=platform, external_account_id=external_account_id, credentials=dict(tokens.credentials),
        config={**config, **tokens.config},
        display_name=tokens.display_name or display_name_for(cls, {}, external_account_id),
        created_by=created_by, status=Connection.Status.PENDING,
    )
    outcome = connection_test(connection=connection)
    if outcome.ok:
        webhooks.webhooks_register_later(connection)  # once this commits, in a task
    return connection, outcome


# --- after connecting -----------------------------------------------------------------------------------------


def _record(connection: Connection, **fields: Any) -> None:
    """Write only these fields, so a sync running at the same time keeps its cursors."""
    fields["updated_at"] = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)


def connection_test(*, connection: Connection) -> CheckOutcome:
    """Run the connector's live check and set the status from its answer.

    Refused credentials -> needs_reauth; a platform that is down or busy leaves the status alone (a
    fresh connection becomes `error`, which the sync engine retries); success -> active and scheduled.
    """
    if connection.status == Connection.Status.DISABLED or not connection.credentials:
        return CheckOutcome(ok=False, message=_("This channel is disconnected. Reconnect it first."))
    try:
        cls = get_connector_class(connection.platform)
    except (UnknownPlatform, ImportError):
        return CheckOutcome(ok=False, message=_("This platform is not available in this installation."))
    try:
        connector = build_connector(connection, http=interactive_http(cls, str(connection.pk)))
        info = connector.test_connection() or {}
    except AuthError as exc:
        message = safe_error_message(exc)
        _record(connection, status=Connection.Status.NEEDS_REAUTH, last_error=message)
        return CheckOutcome(ok=False, message=message)
    except (RateLimited, TransientError) as exc:
        message = safe_error_message(exc)
        status = Connection.Status.ERROR if connection.status == Connection.Status.PENDING else connection.status
        _record(connection, status=status, last_error=message)
        return CheckOutcome(ok=False, message=message)
    except (ConnectorError, ValueError) as exc:
        message = safe_error_message(exc)
        _record(connection, status=Connection.Status.ERROR, last_error=message)
        return CheckOutcome(ok=False, message=message)
    updates: dict[str, Any] = {"status": Connection.Status.ACTIVE, "last_error": "", "consecutive_failures": 0}
    if not connection.is_syncable or connection.next_sync_at is None:
        updates["next_sync_at"] = timezone.now()
    _record(connection, **updates)
    return CheckOutcome(ok=True, message=_("%(name)s answered: the connection works.") % {"name": cls.name}, info=info)


def _unregister_webhooks(connection: Connection) -> str:
    """Remove the platform's webhook subscriptions before the keys are wiped; return the error, if any."""
    try:
        cls = get_connector_class(connection.platform)
    except (UnknownPlatform, ImportError):
        return ""
    # Never raises (disconnecting must not depend on the platform answering); forgets the webhook secret too.
    return webhooks.webhooks_unregister(connection, http=interactive_http(cls, str(connection.pk))).error


def connection_disconnect(*, connection: Connection) -> DisconnectOutcome:
    """Stop syncing and forget the keys: credentials wiped, status disabled; the orders stay.

    Webhook subscriptions are removed first while the keys still work; if the platform refuses, the
    disconnect goes ahead and the failure is kept in `last_error` for staff.
    """
    webhook_error = _unregister_webhooks(connection)
    config = dict(connection.config or {})
    if not webhook_error:
        config.pop("webhook_ids", None)
    last_error = _("Webhooks could not be removed from the platform: %(error)s") % {"error": webhook_error} \
        if webhook_error else ""
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.credentials = {}
        locked.config = config
        locked.status = Connection.Status.DISABLED
        locked.next_sync_at = None
        locked.last_error = last_error
        locked.save(update_fields=["credentials", "config", "status", "next_sync_at", "last_error", "updated_at"])
    return DisconnectOutcome(connection=locked, webhook_error=webhook_error)


def connection_replace_credentials(*, connection: Connection, credentials: dict[str, Any]) -> Connection:
    """Staff replacing the stored credentials (admin): the old values are never read back or shown."""
    if not isinstance(credentials, dict):
        raise ValueError("credentials must be a JSON object")
    _record(connection, credentials=credentials)
    return connection
