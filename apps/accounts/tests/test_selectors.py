import pytest

from apps.accounts.models import Membership, Organization
from apps.accounts.selectors import editable_shg_ids, scope_by_shg, visible_shgs
from apps.accounts.services import partner_token_create, partner_token_revoke
from apps.integrations.models import Connection
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


def test_org_member_sees_the_federations_shgs_only():
    fed_a, fed_b = make_org(), make_org()
    shg_a1, shg_a2, shg_b = make_shg(fed_a), make_shg(fed_a), make_shg(fed_b)
    user = make_user(organization=fed_a)
    assert set(visible_shgs(user)) == {shg_a1, shg_a2}
    assert shg_b not in visible_shgs(user)


def test_direct_shg_member_sees_that_shg_only():
    fed = make_org()
    shg, other = make_shg(fed), make_shg(fed)
    user = make_user(shg=shg, role=Membership.Role.VIEWER)
    assert list(visible_shgs(user)) == [shg]
    assert other not in visible_shgs(user)


def test_partner_organization_sees_served_shgs():
    fed = make_org()
    served, not_served = make_shg(fed), make_shg(fed)
    partner = make_org(kind=Organization.Kind.PARTNER)
    partner.served_shgs.add(served)
    user = make_user(organization=partner)
    assert list(visible_shgs(user)) == [served]
    token, _ = partner_token_create(organization=partner, name="t")
    assert list(visible_shgs(token)) == [served]
    partner_token_revoke(token=token)
    assert not visible_shgs(token).exists()
    assert not_served not in visible_shgs(user)


def test_anonymous_sees_nothing(rf):
    from django.contrib.auth.models import AnonymousUser

    make_shg()
    assert not visible_shgs(AnonymousUser()).exists()


def test_scope_by_shg_filters_other_models():
    fed_a, fed_b = make_org(), make_org()
    conn_a, conn_b = make_connection(make_shg(fed_a)), make_connection(make_shg(fed_b))
    user = make_user(organization=fed_a)
    assert list(scope_by_shg(Connection.objects.all(), user)) == [conn_a]
    assert conn_b not in scope_by_shg(Connection.objects.all(), user)


def test_viewers_cannot_edit():
    fed = make_org()
    shg = make_shg(fed)
    viewer = make_user(organization=fed, role=Membership.Role.VIEWER)
    coordinator = make_user(organization=fed)
    assert editable_shg_ids(viewer) == set()
    assert editable_shg_ids(coordinator) == {shg.pk}


def test_visible_shgs_query_count_is_constant(django_assert_num_queries):
    fed = make_org()
    for _ in range(5):
        make_shg(fed)
    user = make_user(organization=fed)
    with django_assert_num_queries(1):
        assert len(list(visible_shgs(user))) == 5
