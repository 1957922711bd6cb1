"""Re-encrypt stored secrets with the current key after SECRET_KEY or FIELD_ENCRYPTION_SALTS changed.

django-fernet-encrypted-fields derives one Fernet key per (secret, salt) pair from SECRET_KEY, then each
of SECRET_KEY_FALLBACKS, times each salt of SALT_KEY (FIELD_ENCRYPTION_SALTS). It encrypts with the first
pair and decrypts with any, so after a rotation old rows still read, but only while the old key stays
listed. This command rewrites every encrypted value (Connection.credentials and any other encrypted
field) under the first pair, so the old key can then be dropped. See docs/operations.md.

All rows are rewritten in one transaction: if any value cannot be decrypted with any listed key,
nothing is changed and the rows are named (never their values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Field, Model
from encrypted_fields.fields import EncryptedFieldMixin, EncryptedJSONField


class Undecryptable(Exception):
    pass


@dataclass
class FieldReport:
    label: str
    rows: int = 0
    current: int = 0
    rotated: int = 0
    failed: list[Any] = field(default_factory=list)


def encrypted_fields() -> list[tuple[type[Model], Field]]:
    """Every concrete encrypted field of every installed model."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedFieldMixin):
                found.append((model, model_field))
    return found


def derive_keys(model_field: EncryptedFieldMixin) -> list[bytes]:
    """The field's keys from the settings as they are now (the field caches them per process)."""
    for cached in ("keys", "f"):
        model_field.__dict__.pop(cached, None)
    return model_field.keys


class Rotator:
    """Re-encrypts one token: kept as is when already under the primary key, else rotated to it."""

    def __init__(self, keys: list[bytes]):
        self.primary = Fernet(keys[0])
        self.all = MultiFernet([Fernet(k) for k in keys])

    def token(self, token: Any) -> tuple[str, bool]:
        if not isinstance(token, str):
            raise Undecryptable
        raw = token.encode()
        try:
            self.primary.decrypt(raw)
            return token, False
        except InvalidToken:
            pass
        try:
            return self.all.rotate(raw).decode(), True
        except InvalidToken:
            raise Undecryptable from None

    def json_value(self, value: Any) -> tuple[Any, bool]:
        """EncryptedJSONField encrypts each leaf of the JSON document separately."""
        if isinstance(value, dict):
            pairs = [(k, *self.json_value(v)) for k, v in value.items()]
            return {k: v for k, v, _ in pairs}, any(c for _, _, c in pairs)
        if isinstance(value, list):
            items = [self.json_value(v) for v in value]
            return [v for v, _ in items], any(c for _, c in items)
        return self.token(value)


class Command(BaseCommand):
    help = "Re-encrypt every Connection's credentials (and every other encrypted field) with the current key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        reports: list[FieldReport] = []
        with transaction.atomic():
            for model, model_field in encrypted_fields():
                reports.append(self._rotate_field(model, model_field, write=not dry_run))
            failed = [r for r in reports if r.failed]
            if failed:
                details = "; ".join(f"{r.label} pk {', '.join(str(pk) for pk in r.failed[:20])}"
                                    + (" …" if len(r.failed) > 20 else "") for r in failed)
                # Raising inside the transaction rolls back every row already rewritten.
                raise CommandError(
                    f"Some values cannot be decrypted with SECRET_KEY, any of SECRET_KEY_FALLBACKS and any salt of "
                    f"FIELD_ENCRYPTION_SALTS: {details}. Nothing was changed. Put the key they were written with "
                    f"back into SECRET_KEY_FALLBACKS (or the salt into FIELD_ENCRYPTION_SALTS) and run again."
                )
        for report in reports:
            verb = "would re-encrypt" if dry_run else "re-encrypted"
            self.stdout.write(f"{report.label}: {report.rows} rows, {report.current} already under the current key, "
                              f"{verb} {report.rotated}")
        if not dry_run:
            self.stdout.write(self.style.SUCCESS(
                "Done. The old key may now be removed from SECRET_KEY_FALLBACKS (sessions signed with it end)."))

    def _rotate_field(self, model: type[Model], model_field: Field, *, write: bool) -> FieldReport:
        report = FieldReport(label=f"{model._meta.label}.{model_field.name}")
        rotator = Rotator(derive_keys(model_field))
        quote = db_connection.ops.quote_name
        table, column, pk_column = quote(model._meta.db_table), quote(model_field.column), quote(model._meta.pk.column)
        is_json = isinstance(model_field, EncryptedJSONField)
        updates: list[tuple[str, Any]] = []
        with db_connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk_column}, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
            rows = cursor.fetchall()
        for pk, stored in rows:
            report.rows += 1
            try:
                if is_json:
                    document = json.loads(stored) if isinstance(stored, str | bytes) else stored
                    new_document, changed = rotator.json_value(document)
                    new_stored = json.dumps(new_document, cls=model_field.encoder)
                else:
                    new_stored, changed = rotator.token(stored)
            except (Undecryptable, ValueError):
                report.failed.append(pk)
                continue
            if changed:
                report.rotated += 1
                updates.append((new_stored, pk))
            else:
                report.current += 1
        if write and updates and not report.failed:
            with db_connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s", updates)  # noqa: S608
        return report
