import pytest
from django.core import mail
from django.urls import reverse

from apps.accounts.models import Membership, PartnerToken
from tests.factories import make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in to Haat" in response.content


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_coordinator_lands_on_their_shgs(client):
    fed = make_org()
    mine = make_shg(fed, name="Sakhi Bachat Gat")
    other = make_shg(make_org(), name="Someone Else's SHG")
    user = make_user(organization=fed)
    response = client.post(reverse("login"), {"username": user.username, "password": "pw-12345-long"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert mine.name in page.content.decode()
    assert other.name not in page.content.decode()


def test_logout_is_post_only(client):
    client.force_login(make_user())
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302


def test_password_reset_sends_a_link(client):
    make_user(email="asha@example.in")
    response = client.post(reverse("password_reset"), {"email": "asha@example.in"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "/reset/" in mail.outbox[0].body


def test_shg_page_of_another_tenant_is_404(client):
    user = make_user(organization=make_org())
    client.force_login(user)
    assert client.get(reverse("shg_detail", args=[make_shg().pk])).status_code == 404


def test_org_admin_creates_a_token_and_sees_the_key_once(client):
    partner = make_org(kind="partner")
    user = make_user(organization=partner, role=Membership.Role.ORG_ADMIN)
    client.force_login(user)
    response = client.post(reverse("token_list"), {"organization": partner.pk, "name": "Tracking sync"})
    assert response.status_code == 200
    token = PartnerToken.objects.get()
    key = response.context["key"]
    assert key.encode() in response.content
    listing = client.get(reverse("token_list")).content.decode()
    assert key not in listing and token.key_prefix in listing
    client.post(reverse("token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_coordinator_without_admin_role_cannot_manage_tokens(client):
    client.force_login(make_user(organization=make_org()))
    assert client.get(reverse("token_list")).status_code == 404


def test_language_switch_to_hindi(client):
    response = client.post(reverse("set_language"), {"language": "hi", "next": "/login/"})
    assert response.status_code == 302
    assert client.cookies["django_language"].value == "hi"
