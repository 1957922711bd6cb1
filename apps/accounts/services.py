"""Writes for organizations, SHGs, memberships and partner tokens."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization, PartnerToken, hash_token_key


@transaction.atomic
def partner_token_create(*, organization: Organization, name: str, created_by: AbstractBaseUser | None = None
                         ) -> tuple[PartnerToken, str]:
    """Create a token and return it with its key. The key is never stored and cannot be shown again."""
    key = PartnerToken.generate_key()
    token = PartnerToken.objects.create(
        organization=organization, name=name, created_by=created_by,
        key_prefix=key[: len(PartnerToken.PREFIX) + 6], key_hash=hash_token_key(key),
    )
    return token, key


def partner_token_revoke(*, token: PartnerToken) -> PartnerToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token


def partner_token_authenticate(*, key: str) -> PartnerToken | None:
    """Find the active token for a presented key and record its use (at most once a minute per token)."""
    if not key or not key.startswith(PartnerToken.PREFIX):
        return None
    token = (PartnerToken.objects.select_related("organization")
             .filter(key_hash=hash_token_key(key), revoked_at__isnull=True).first())
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        PartnerToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
