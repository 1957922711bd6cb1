import pytest

from apps.core.services import model_update
from tests.factories import make_shg

pytestmark = pytest.mark.django_db


def test_model_update_saves_only_changes(django_assert_num_queries):
    shg = make_shg(name="Old name")
    with django_assert_num_queries(0):
        _, changed = model_update(instance=shg, fields=["name"], data={"name": "Old name"})
    assert changed is False
    _, changed = model_update(instance=shg, fields=["name", "district"], data={"name": "New name"})
    assert changed is True
    shg.refresh_from_db()
    assert shg.name == "New name" and shg.district == "Pune"
