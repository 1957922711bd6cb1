import pytest
from django.db import IntegrityError

from apps.accounts.models import Membership, PartnerToken, hash_token_key
from apps.accounts.services import partner_token_authenticate, partner_token_create, partner_token_revoke
from tests.factories import make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


def test_token_is_stored_hashed_and_shown_once():
    token, key = partner_token_create(organization=make_org(), name="logistics")
    stored = PartnerToken.objects.get(pk=token.pk)
    assert key.startswith("haat_") and len(key) > 40
    assert stored.key_hash == hash_token_key(key)
    assert key not in str(stored.__dict__)
    assert stored.key_prefix == key[:11]


def test_authenticate_records_last_use_and_refuses_revoked():
    token, key = partner_token_create(organization=make_org(), name="x")
    assert partner_token_authenticate(key=key) == token
    assert PartnerToken.objects.get(pk=token.pk).last_used_at is not None
    assert partner_token_authenticate(key=key + "x") is None
    assert partner_token_authenticate(key="") is None
    partner_token_revoke(token=token)
    assert partner_token_authenticate(key=key) is None


def test_membership_is_to_an_org_or_an_shg_not_both():
    fed = make_org()
    user = make_user()
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=user, organization=fed, shg=make_shg(fed))


def test_shg_registration_is_unique_per_federation():
    fed = make_org()
    make_shg(fed, registration_number="MH-1")
    make_shg(make_org(), registration_number="MH-1")
    with pytest.raises(IntegrityError):
        make_shg(fed, registration_number="MH-1")
