"""The main menu on every page, including pages no URL matched (a 404 has no resolver match)."""

import pytest

from tests.factories import make_org, make_user

pytestmark = pytest.mark.django_db


def test_an_unknown_address_is_a_404_page_with_the_menu_for_a_logged_in_user(client):
    client.force_login(make_user(organization=make_org()))
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert '<nav aria-label="Main">' in html and 'aria-current="page"' not in html


def test_the_current_section_is_marked(client):
    client.force_login(make_user(organization=make_org()))
    html = client.get("/orders/").content.decode()
    assert 'href="/orders/" aria-current="page"' in html
    html = client.get("/tenders/inquiries/").content.decode()
    assert 'aria-current="page">Inquiries' in html and 'aria-current="page">Tenders' not in html
