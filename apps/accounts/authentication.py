"""DRF authentication by partner token: `Authorization: Token <key>`."""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from apps.accounts.services import partner_token_authenticate


class PartnerPrincipal(AnonymousUser):
    """The request.user of a token-authenticated request: authenticated, tied to the token, no Django user."""

    def __init__(self, token):
        super().__init__()
        self.token = token

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def __str__(self) -> str:
        return f"partner token {self.token.key_prefix}…"


class PartnerTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token = partner_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return PartnerPrincipal(token), token
