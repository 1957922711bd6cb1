"""The OAuth connect flow, written once for every OAuth connector (Amazon, Shopify, and those to come).

Start: a random state (never derived from anything guessable) is kept server-side in the session with
the SHG, the platform, the start parameters (a shop domain, a marketplace) and the config the consent
page was built with. Several may be pending at once, so two tabs work; at most MAX_PENDING are kept
(the oldest goes first) and each is valid for STATE_TTL.

Callback: the state is taken out of the session before anything else, so it can never be used twice;
a missing, unknown, reused, expired or foreign state is refused. Then the connector checks the callback
(Shopify's hmac), exchanges the code, and `services.connection_connect_oauth` stores and tests the tokens.
A connector only supplies `authorization_url`, `verify_callback` and `exchange_code`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.accounts.models import SHG
from apps.integrations import services
from apps.integrations.connectors.base import AuthKind, Connector
from apps.integrations.connectors.errors import ConnectorError, RateLimited, TransientError
from apps.integrations.models import Connection

SESSION_KEY = "integrations_oauth_pending"
USED_SESSION_KEY = "integrations_oauth_used"
STATE_TTL_SECONDS = 10 * 60
MAX_PENDING = 5
MAX_REMEMBERED_USED = 20


class StateRejected(Exception):
    """The callback's state cannot be trusted; `message` says why in words a coordinator understands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PlatformUnavailable(services.ConnectFailed):
    """The platform did not answer in time (5xx, timeout, 429): worth trying again later."""


@dataclass(frozen=True)
class PendingAuthorization:
    """What a state was issued for. Stored as a plain dict in the session (JSON-serializable)."""

    state: str
    platform: str
    shg_id: int
    params: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    reconnect_id: int | None = None
    issued_at: float = 0.0

    @property
    def expired(self) -> bool:
        return _now() - self.issued_at > STATE_TTL_SECONDS


def _now() -> float:
    return time.time()


def _fingerprint(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def redirect_uri(platform: str) -> str:
    """The callback address registered with the platform: SITE_URL + /connections/oauth/<slug>/callback/."""
    return settings.SITE_URL + reverse("integrations:oauth_callback", args=[platform])


def _pending_entries(session: SessionBase) -> list[dict[str, Any]]:
    entries = session.get(SESSION_KEY) or []
    return [e for e in entries if isinstance(e, dict) and _now() - float(e.get("issued_at", 0)) <= STATE_TTL_SECONDS]


def oauth_begin(session: SessionBase, *, connector_class: type[Connector], shg: SHG, params: dict[str, str],
                reconnecting: Connection | None = None) -> str:
    """Issue a state for this SHG and platform and return the platform's consent URL to redirect to.

    Raises ConnectFailed (nothing stored) when the connector refuses the start parameters.
    """
    if connector_class.auth_kind != AuthKind.OAUTH:
        raise services.ConnectFailed(_("%(name)s does not sign in with OAuth.") % {"name": connector_class.name})
    params = {k: str(v) for k, v in params.items() if v not in (None, "")}
    config = {**params, **services.sandbox_config(connector_class, params)}
    state = secrets.token_urlsafe(32)
    try:
        url = connector_class.authorization_url(state=state, redirect_uri=redirect_uri(connector_class.slug),
                                                params=params, config=config)
    except (ConnectorError, ValueError) as exc:
        raise services.ConnectFailed(services.safe_error_message(exc)) from exc
    pending = PendingAuthorization(state=state, platform=connector_class.slug, shg_id=shg.pk, params=params,
                                   config=config, reconnect_id=reconnecting.pk if reconnecting else None,
                                   issued_at=_now())
    entries = _pending_entries(session)
    entries.append(asdict(pending))
    session[SESSION_KEY] = entries[-MAX_PENDING:]
    return url


def oauth_take(session: SessionBase, *, platform: str, state: str | None) -> PendingAuthorization:
    """Remove the state from the session and return what it was issued for, or raise StateRejected.

    The state leaves the session before it is checked, so a replayed callback finds nothing.
    """
    if not state:
        raise StateRejected(_("The answer from the platform has no state. Start connecting again."))
    entries = session.get(SESSION_KEY) or []
    match, remaining = None, []
    for entry in entries:
        if isinstance(entry, dict) and hmac.compare_digest(str(entry.get("state", "")), state):
            match = entry
        else:
            remaining.append(entry)
    used = session.get(USED_SESSION_KEY) or []
    if match is None:
        if _fingerprint(state) in used:
            raise StateRejected(_("This sign-in answer was already used. Start connecting again."))
        raise StateRejected(_("This sign-in answer was not started here, or it was changed on the way. "
                              "Start connecting again from Haat."))
    session[SESSION_KEY] = remaining
    session[USED_SESSION_KEY] = ([*used, _fingerprint(state)])[-MAX_REMEMBERED_USED:]
    known = PendingAuthorization.__dataclass_fields__
    pending = PendingAuthorization(**{k: v for k, v in match.items() if k in known})
    if pending.expired:
        raise StateRejected(_("The sign-in took longer than %(minutes)d minutes and has expired. Start connecting again.")
                            % {"minutes": STATE_TTL_SECONDS // 60})
    if pending.platform != platform:
        raise StateRejected(_("This sign-in answer was issued for another platform. Start connecting again."))
    return pending


def oauth_complete(*, pending: PendingAuthorization, connector_class: type[Connector], callback_params: dict[str, str],
                   shg: SHG, user: AbstractBaseUser | None, reconnecting: Connection | None = None,
                   ) -> tuple[Connection, services.CheckOutcome]:
    """Verify the callback, exchange the code, store and test the connection.

    Raises ConnectFailed (nothing stored) when the platform declined, the callback fails its checks
    or the code is refused (a replayed or expired code).
    """
    name = connector_class.name
    if callback_params.get("error"):
        detail = callback_params.get("error_description") or callback_params["error"]
        raise services.ConnectFailed(_("%(name)s did not authorise Haat: %(detail)s") % {"name": name, "detail": detail[:300]})
    try:
        connector_class.verify_callback(params=callback_params, config=pending.config)
        tokens = connector_class.exchange_code(
            callback_params=callback_params, redirect_uri=redirect_uri(connector_class.slug),
            http=services.interactive_http(connector_class, f"oauth:{connector_class.slug}:{shg.pk}"),
            config=pending.config,
        )
        if reconnecting is not None and tokens.external_account_id != reconnecting.external_account_id:
            _refuse_account_of_another_channel(connector_class, shg=shg, reconnecting=reconnecting,
                                               account_id=tokens.external_account_id)
        # A platform whose one connection holds several grants (Amazon: one per region) adds this grant to the
        # connection it belongs to, so reconnecting or adding one grant never drops the others.
        existing = reconnecting or Connection.objects.filter(
            shg=shg, platform=connector_class.slug, external_account_id=tokens.external_account_id).first()
        if existing is not None:
            tokens = connector_class.merge_grant(tokens=tokens, credentials=dict(existing.credentials or {}),
                                                 config=dict(existing.config or {}),
                                                 external_account_id=existing.external_account_id)
    except (RateLimited, TransientError) as exc:
        raise PlatformUnavailable(services.safe_error_message(exc)) from exc
    except (ConnectorError, ValueError) as exc:
        raise services.ConnectFailed(services.safe_error_message(exc)) from exc
    return services.connection_connect_oauth(shg=shg, platform=connector_class.slug, tokens=tokens,
                                             config=pending.config, created_by=user, reconnecting=reconnecting)


def _refuse_account_of_another_channel(connector_class: type[Connector], *, shg: SHG, reconnecting: Connection,
                                       account_id: str) -> None:
    """An authorisation added to one channel (Amazon: another region) of an account that is already its own
    channel of this SHG would have the same orders read twice: refused until that channel is disconnected."""
    clash = (Connection.objects.filter(shg=shg, platform=connector_class.slug, external_account_id=account_id)
             .exclude(pk=reconnecting.pk).exclude(status=Connection.Status.DISABLED).first())
    if clash is not None:
        raise services.ConnectFailed(
            _("This %(platform)s account is already connected to this SHG as “%(channel)s”. Disconnect that channel "
              "first, then try again, so its orders are not read twice.")
            % {"platform": connector_class.name, "channel": clash.display_name})


def reconnect_params(connector_class: type[Connector], connection: Connection) -> dict[str, str]:
    """The start parameters a connection was made with, to prefill its reconnect form."""
    config = connection.config or {}
    return {f.name: str(config[f.name]) for f in connector_class.oauth_start_fields if config.get(f.name)}
