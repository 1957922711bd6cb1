"""One statement per table per page: INSERT and UPDATE through the DB cursor's executemany.

Django's bulk_create splits a batch by the backend's parameter limit (999 on SQLite), so the number of
queries grows with the page; bulk_update builds CASE expressions that grow with it too. executemany
sends one prepared statement with many parameter rows: the query count of a page stays fixed and the
cost per row stays near the driver's floor. Only the columns named are written; values are adapted
per column type here, and JSON columns take text the caller already serialized (it hashed that text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connections, models


class BulkWriter:
    def __init__(self, model: type[models.Model], columns: Sequence[str], *, using: str = "default"):
        self.connection = connections[using]
        ops = self.connection.ops
        qn = ops.quote_name
        fields = [model._meta.get_field(name) for name in columns]
        self.table = qn(model._meta.db_table)
        self.columns = [qn(field.column) for field in fields]
        self.pk_column = qn(model._meta.pk.column)
        is_pg = self.connection.vendor == "postgresql"
        self.placeholders = ["%s::jsonb" if is_pg and isinstance(f, models.JSONField) else "%s" for f in fields]
        # Per column: None when the driver takes the Python value as is, else the backend's adapter.
        self.adapters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, field in enumerate(fields):
            if isinstance(field, models.DateTimeField):
                self.adapters.append((index, ops.adapt_datetimefield_value))
            elif isinstance(field, models.DecimalField):
                self.adapters.append((index, _decimal_adapter(ops, field)))
            elif isinstance(field, models.UUIDField):
                self.adapters.append((index, _bind(field, self.connection)))

    def _adapt(self, rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
        adapted = []
        adapters = self.adapters
        for row in rows:
            values = list(row)
            for index, adapt in adapters:
                values[index] = adapt(values[index])
            adapted.append(values)
        return adapted

    def insert(self, rows: Sequence[Sequence[Any]]) -> int:
        """INSERT every row (values in the column order given) in one executemany."""
        if not rows:
            return 0
        sql = f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({', '.join(self.placeholders)})"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, self._adapt(rows))
        return len(rows)

    def update(self, rows: Sequence[Sequence[Any]]) -> int:
        """UPDATE by primary key: each row is the column values followed by the pk."""
        if not rows:
            return 0
        assignments = ", ".join(f"{column} = {placeholder}" for column, placeholder in zip(self.columns, self.placeholders,
                                                                                            strict=True))
        sql = f"UPDATE {self.table} SET {assignments} WHERE {self.pk_column} = %s"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, self._adapt(rows))
        return len(rows)


def _decimal_adapter(ops, field: models.DecimalField) -> Callable[[Any], Any]:
    def adapt(value):
        return ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)

    return adapt


def _bind(field: models.Field, connection) -> Callable[[Any], Any]:
    def adapt(value):
        return field.get_db_prep_save(value, connection)

    return adapt
