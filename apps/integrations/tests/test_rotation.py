"""rotate_credentials_key: after SECRET_KEY or the salt changes, every credential is rewritten under the new key."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db

from apps.integrations.management.commands.rotate_credentials_key import derive_keys, encrypted_fields
from apps.integrations.models import Connection
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db

OLD_KEY = "old-secret-key-0123456789-0123456789-0123456789"
NEW_KEY = "new-secret-key-9876543210-9876543210-9876543210"
CREDENTIALS = {"consumer_key": "ck_rotation_test_key", "consumer_secret": "cs_rotation_test_secret",
               "nested": {"tokens": ["a", "b"]}}


@pytest.fixture
def keys(settings):
    """Switch the keys the encrypted fields use (they cache them per process) and restore them afterwards."""

    def use(secret: str, fallbacks: list[str] | None = None, salts: list[str] | None = None) -> None:
        settings.SECRET_KEY = secret
        settings.SECRET_KEY_FALLBACKS = fallbacks or []
        if salts is not None:
            settings.SALT_KEY = salts
        for _model, field in encrypted_fields():
            derive_keys(field)

    yield use
    for _model, field in encrypted_fields():
        field.__dict__.pop("keys", None)
        field.__dict__.pop("f", None)


def raw_credentials(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def run(*args: str) -> str:
    out = StringIO()
    call_command("rotate_credentials_key", *args, stdout=out)
    return out.getvalue()


def test_rotating_the_secret_key(keys):
    keys(OLD_KEY)
    connection = make_connection(make_shg(), credentials=CREDENTIALS)
    empty = make_connection(make_shg(), credentials={})
    before = raw_credentials(connection.pk)

    keys(NEW_KEY, fallbacks=[OLD_KEY])
    assert Connection.objects.get(pk=connection.pk).credentials == {**CREDENTIALS, "nested": {"tokens": ["a", "b"]}}
    output = run()
    assert "integrations.Connection.credentials: 2 rows, 1 already under the current key, re-encrypted 1" in output
    assert raw_credentials(connection.pk) != before
    assert "cs_rotation_test_secret" not in raw_credentials(connection.pk)

    keys(NEW_KEY)  # the old key is gone from the fallbacks
    assert Connection.objects.get(pk=connection.pk).credentials == CREDENTIALS
    assert Connection.objects.get(pk=empty.pk).credentials == {}


def test_without_rotation_the_old_rows_no_longer_decrypt(keys):
    keys(OLD_KEY)
    connection = make_connection(make_shg(), credentials=CREDENTIALS)
    keys(NEW_KEY)
    assert Connection.objects.get(pk=connection.pk).credentials != CREDENTIALS


def test_rotating_the_salt(keys):
    keys(NEW_KEY, salts=["salt-v1"])
    connection = make_connection(make_shg(), credentials=CREDENTIALS)
    keys(NEW_KEY, salts=["salt-v2", "salt-v1"])
    assert "re-encrypted 1" in run()
    keys(NEW_KEY, salts=["salt-v2"])
    assert Connection.objects.get(pk=connection.pk).credentials == CREDENTIALS


def test_a_second_run_changes_nothing(keys):
    keys(OLD_KEY)
    connection = make_connection(make_shg(), credentials=CREDENTIALS)
    keys(NEW_KEY, fallbacks=[OLD_KEY])
    run()
    after_first = raw_credentials(connection.pk)
    assert "1 already under the current key, re-encrypted 0" in run()
    assert raw_credentials(connection.pk) == after_first


def test_dry_run_writes_nothing(keys):
    keys(OLD_KEY)
    connection = make_connection(make_shg(), credentials=CREDENTIALS)
    before = raw_credentials(connection.pk)
    keys(NEW_KEY, fallbacks=[OLD_KEY])
    assert "would re-encrypt 1" in run("--dry-run")
    assert raw_credentials(connection.pk) == before


def test_an_undecryptable_row_stops_everything_and_is_named(keys):
    keys("a-key-nobody-lists-anymore-000000000000000000")
    lost = make_connection(make_shg(), credentials={"token": "lost"})
    keys(OLD_KEY)
    fine = make_connection(make_shg(), credentials=CREDENTIALS)
    before = raw_credentials(fine.pk)
    keys(NEW_KEY, fallbacks=[OLD_KEY])
    with pytest.raises(CommandError) as info:
        run()
    message = str(info.value)
    assert f"integrations.Connection.credentials pk {lost.pk}" in message and "Nothing was changed" in message
    assert "lost" not in message.replace(f"pk {lost.pk}", "")
    assert raw_credentials(fine.pk) == before, "the rows that could be rotated were rolled back"
