"""Bulk INSERT and UPDATE in one statement per table, whatever the number of rows.

Django's bulk_create splits a batch by the backend's parameter limit (999 on SQLite), so the number of
queries grows with the batch, and bulk_update builds CASE expressions that grow with it too. Hot paths
that must keep a fixed query count per page (orders.services.upsert_orders, the outbox) use this:
- PostgreSQL: one statement over `unnest()` of one array per column, the arrays sent in binary on a
  server-side-binding cursor (client-side quoting of large text arrays costs more than the insert), with
  `RETURNING` when the caller needs the new rows' ids;
- SQLite: one prepared statement run with many parameter rows (the cursor's executemany, in-process).
Both go through Django's cursor wrapper: statements are logged, counted by query assertions and seen by
`execute_wrapper` hooks.

Only the named columns are written; values are adapted per column type here, and JSON columns take text
the caller already serialized (callers hash that text, so it is encoded once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
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
        self.placeholders = ["%s"] * len(self.fields)
        self.adapters = [] if self.postgres else self._adapters()

    def _adapters(self) -> list[tuple[int, Callable[[Any], Any]]]:
        """Per column that needs it, the function turning a Python value into what the driver takes."""
        ops = self.connection.ops
        base = BaseDatabaseOperations
        adapters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, field in enumerate(self.fields):
            if isinstance(field, models.DateTimeField):
                if type(ops).adapt_datetimefield_value is not base.adapt_datetimefield_value and \
                        self.connection.vendor == "sqlite":
                    adapters.append((index, _sqlite_datetime_adapter(self.connection)))
                else:
                    adapters.append((index, ops.adapt_datetimefield_value))
            elif isinstance(field, models.DecimalField):
                if type(ops).adapt_decimalfield_value is not base.adapt_decimalfield_value:
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

    # --- PostgreSQL --------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _binary_cursor(self) -> Iterator[Any]:
        """A Django-wrapped cursor with server-side binding that sends lists as binary arrays."""
        from django.db.backends.postgresql.base import ServerBindingCursor
        from psycopg.types.array import ListBinaryDumper

        connection = self.connection
        connection.validate_thread_sharing()
        connection.ensure_connection()
        raw = ServerBindingCursor(connection.connection)
        raw.adapters.register_dumper(list, ListBinaryDumper)
        cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
        try:
            yield cursor
        finally:
            cursor.close()

    def _arrays(self, rows: Sequence[Sequence[Any]], fields: Sequence[models.Field]) -> tuple[str, list[list[Any]]]:
        """`unnest(%s::type[], ...)` over the columns of `rows`, and the column arrays."""
        casts = ", ".join(f"%s::{field.db_type(self.connection)}[]" for field in fields)
        return f"unnest({casts})", [list(column) for column in zip(*rows, strict=True)]

    # --- statements ---------------------------------------------------------------------------------------------

    def insert(self, rows: Sequence[Sequence[Any]], *, returning: Sequence[str] = ()) -> list[tuple] | None:
        """INSERT every row (values in the column order given) in one statement.

        With `returning` (column names), PostgreSQL gives those columns of the new rows back from the same
        statement; SQLite returns None and the caller reads them back if it needs them.
        """
        if not rows:
            return [] if returning and self.postgres else None
        columns = ", ".join(self.columns)
        if self.postgres:
            source, arrays = self._arrays(rows, self.fields)
            sql = f"INSERT INTO {self.table} ({columns}) SELECT * FROM {source}"  # noqa: S608  (names from the model)
            if returning:
                sql += " RETURNING " + ", ".join(self.connection.ops.quote_name(name) for name in returning)
            with self._binary_cursor() as cursor:
                cursor.execute(sql, arrays)
                return [tuple(row) for row in cursor.fetchall()] if returning else None
        sql = f"INSERT INTO {self.table} ({columns}) VALUES ({', '.join(self.placeholders)})"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, self._adapted(rows))
        return None

    def update(self, rows: Sequence[Sequence[Any]]) -> int:
        """UPDATE by primary key in one statement: each row is the column values followed by the pk."""
        if not rows:
            return 0
        if self.postgres:
            source, arrays = self._arrays(rows, [*self.fields, self.pk])
            names = [f"c{i}" for i in range(len(self.fields))]
            assignments = ", ".join(f"{column} = v.{name}" for column, name in zip(self.columns, names, strict=True))
            sql = (f"UPDATE {self.table} AS t SET {assignments} FROM {source} AS v({', '.join(names)}, pk) "  # noqa: S608
                   f"WHERE t.{self.pk_column} = v.pk")
            with self._binary_cursor() as cursor:
                cursor.execute(sql, arrays)
            return len(rows)
        assignments = ", ".join(f"{column} = %s" for column in self.columns)
        sql = f"UPDATE {self.table} SET {assignments} WHERE {self.pk_column} = %s"  # noqa: S608  (names from the model)
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, self._adapted(rows))
        return len(rows)


def _sqlite_datetime_adapter(connection) -> Callable[[Any], Any]:
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
