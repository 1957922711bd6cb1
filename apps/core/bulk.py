"""Bulk INSERT and UPDATE in one statement per table, whatever the number of rows.

Django's bulk_create splits a batch by the backend's parameter limit (999 on SQLite), so the number of
queries grows with the batch, and bulk_update builds CASE expressions that grow with it too. Hot paths
that must keep a fixed query count per page (orders.services.upsert_orders, the outbox) use this:
- PostgreSQL: one statement over `unnest()` of one array per column (one round trip, no row limit);
- other databases (SQLite): the cursor's executemany, one prepared statement and many parameter rows.
Only the named columns are written; values are adapted per column type here, and JSON columns take
text the caller already serialized (callers hash or reuse that text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models
from django.db.backends.base.operations import BaseDatabaseOperations


class BulkWriter:
    def __init__(self, model: type[models.Model], columns: Sequence[str], *, using: str = "default"):
        self.connection = connections[using]
        self.fields = [model._meta.get_field(name) for name in columns]
        qn = self.connection.ops.quote_name
        self.table = qn(model._meta.db_table)
        self.columns = [qn(field.column) for field in self.fields]
        self.pk = model._meta.pk
        self.pk_column = qn(self.pk.column)
        self.postgres = self.connection.vendor == "postgresql"
        self.adapters = [] if self.postgres else self._adapters()

    # --- values -------------------------------------------------------------------------------------------------

    def _adapters(self) -> list[tuple[int, Callable[[Any], Any]]]:
        """Per column that needs it, the function turning a Python value into what the driver takes."""
        ops = self.connection.ops
        adapters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, field in enumerate(self.fields):
            if isinstance(field, models.DateTimeField):
                adapters.append((index, _datetime_adapter(self.connection)))
            elif isinstance(field, models.DecimalField):
                if type(ops).adapt_decimalfield_value is not BaseDatabaseOperations.adapt_decimalfield_value:
                    adapters.append((index, _decimal_adapter(ops, field)))
            elif isinstance(field, models.UUIDField):
                adapters.append((index, _prep_adapter(field, self.connection)))
        return adapters

    def _adapted(self, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        """The rows with their values adapted; rows given as lists are adapted in place (no copy)."""
        adapters = self.adapters
        if not adapters:
            return rows
        adapted = []
        for row in rows:
            values = row if isinstance(row, list) else list(row)
            for index, adapt in adapters:
                values[index] = adapt(values[index])
            adapted.append(values)
        return adapted

    def _array_casts(self, fields: Sequence[models.Field]) -> list[str]:
        # The column's own type (a foreign key's is its target's), as an array: "%s::numeric(14, 2)[]".
        return [f"%s::{field.db_type(self.connection)}[]" for field in fields]

    def _json_placeholder(self, field: models.Field) -> str:
        return "%s::jsonb" if self.postgres and isinstance(field, models.JSONField) else "%s"

    # --- statements ---------------------------------------------------------------------------------------------

    def insert(self, rows: Sequence[Sequence[Any]], *, returning: Sequence[str] = ()) -> list[tuple] | None:
        """INSERT every row (values in the column order given) in one statement.

        With `returning` (column names), PostgreSQL gives those columns of the new rows back in the same
        statement; other databases return None and the caller reads them back if it needs them.
        """
        if not rows:
            return [] if returning and self.postgres else None
        columns = ", ".join(self.columns)
        with self.connection.cursor() as cursor:
            if self.postgres:
                arrays = [list(values) for values in zip(*rows, strict=True)]
                sql = f"INSERT INTO {self.table} ({columns}) SELECT * FROM unnest({', '.join(self._array_casts(self.fields))})"  # noqa: S608
                if returning:
                    qn = self.connection.ops.quote_name
                    sql += " RETURNING " + ", ".join(qn(name) for name in returning)
                cursor.execute(sql, arrays)
                return [tuple(row) for row in cursor.fetchall()] if returning else None
            placeholders = ", ".join(self._json_placeholder(field) for field in self.fields)
            cursor.executemany(f"INSERT INTO {self.table} ({columns}) VALUES ({placeholders})",  # noqa: S608
                               self._adapted(rows))
        return None

    def update(self, rows: Sequence[Sequence[Any]]) -> int:
        """UPDATE by primary key in one statement: each row is the column values followed by the pk."""
        if not rows:
            return 0
        with self.connection.cursor() as cursor:
            if self.postgres:
                names = [f"c{i}" for i in range(len(self.fields))]
                arrays = [list(values) for values in zip(*rows, strict=True)]
                assignments = ", ".join(f"{column} = v.{name}" for column, name in zip(self.columns, names, strict=True))
                casts = ", ".join(self._array_casts([*self.fields, self.pk]))
                sql = (f"UPDATE {self.table} AS t SET {assignments} FROM unnest({casts}) AS v({', '.join(names)}, pk) "  # noqa: S608
                       f"WHERE t.{self.pk_column} = v.pk")
                cursor.execute(sql, arrays)
            else:
                assignments = ", ".join(f"{column} = {self._json_placeholder(field)}"
                                        for column, field in zip(self.columns, self.fields, strict=True))
                cursor.executemany(f"UPDATE {self.table} SET {assignments} WHERE {self.pk_column} = %s",  # noqa: S608
                                   self._adapted(rows))
        return len(rows)


def _datetime_adapter(connection) -> Callable[[Any], Any]:
    """SQLite stores naive datetimes in the connection's time zone (UTC), as Django does, without its overhead."""
    tz = connection.timezone
    last: list = [None, None]  # the previous value and its text: a page's rows share their "now"

    def adapt(value):
        if value is None or isinstance(value, str):
            return value
        if value is last[0]:
            return last[1]
        text = value
        if text.tzinfo is not None:
            if text.tzinfo is not tz:
                text = text.astimezone(tz)
            text = text.replace(tzinfo=None)
        last[0], last[1] = value, str(text)
        return last[1]

    return adapt


def _decimal_adapter(ops, field: models.DecimalField) -> Callable[[Any], Any]:
    def adapt(value):
        return ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)

    return adapt


def _prep_adapter(field: models.Field, connection) -> Callable[[Any], Any]:
    def adapt(value):
        return field.get_db_prep_save(value, connection)

    return adapt
