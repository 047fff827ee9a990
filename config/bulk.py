"""Bulk SQL for hot paths: many rows in ONE statement, with values converted once per column.

Django's bulk_create and bulk_update convert every value through the full field machinery
and split batches by a parameter limit older SQLite builds had; on dispatch's path that
costs more than the database spends storing the rows. These helpers build one multi-row
INSERT (or one UPDATE … FROM VALUES) with a converter chosen once per column.
Used by layers that all sit above this one (providers, messaging).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models


def _converter(field: models.Field) -> Callable[[Any], Any]:
    """Python value → database parameter for `field`, as its get_db_prep_save would give."""
    vendor = connection.vendor
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.UUIDField):
        if vendor == "postgresql":
            return lambda v: v if v is None or isinstance(v, uuid.UUID) else uuid.UUID(str(v))
        return lambda v: (
            None if v is None else (v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))).hex
        )
    if isinstance(target, models.DateTimeField):
        adapt = connection.ops.adapt_datetimefield_value
        seen: dict[Any, Any] = {}  # a window's rows share a few moments: adapt each once

        def datetime_param(v):
            if v is None:
                return None
            if v not in seen:
                seen[v] = adapt(v)
            return seen[v]

        return datetime_param
    if isinstance(target, models.JSONField):
        adapt_json = connection.ops.adapt_json_value
        return lambda v: None if v is None else adapt_json(v, target.encoder)
    if isinstance(target, models.BooleanField):
        return lambda v: v
    if isinstance(target, models.DecimalField):
        return lambda v: field.get_db_prep_save(v, connection)
    if isinstance(target, models.CharField | models.TextField | models.IntegerField):
        return lambda v: v
    return lambda v: field.get_db_prep_save(v, connection)


def converter_for(model: type[models.Model], column: str) -> Callable[[Any], Any]:
    """The converter rows_insert/rows_update use for one column (for guard parameters)."""
    return _converter(_fields(model, [column])[0])


def _fields(model: type[models.Model], columns: Sequence[str]) -> list[models.Field]:
    meta = model._meta
    return [meta.pk if c == "pk" else meta.get_field(c) for c in columns]


def _mark(field: models.Field) -> str:
    if connection.vendor == "postgresql":
        # A VALUES list has no column types of its own: cast to the column's type.
        target = field.target_field if field.is_relation else field
        return f"CAST(%s AS {target.db_type(connection)})"
    return "%s"


def rows_insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """INSERT every row (values in the order of `columns`, field names) in one statement."""
    rows = list(rows)
    if not rows:
        return 0
    fields = _fields(model, columns)
    convert = [_converter(f) for f in fields]
    qn = connection.ops.quote_name
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list[Any] = []
    for row in rows:
        params.extend(c(v) for c, v in zip(convert, row, strict=True))
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
        f" VALUES {', '.join([row_sql] * len(rows))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    return len(rows)


def rows_update(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    guard: str = "",
    guard_params: Iterable[Any] = (),
) -> list[Any]:
    """UPDATE many rows, each with values of its own, in one statement (`UPDATE … FROM
    (VALUES …)`, PostgreSQL and SQLite alike). Each row is (pk, *values in `columns`);
    `guard` is more SQL on the table's own columns (`{table}.status = %s`, where `{table}`
    is replaced by the quoted table name). Returns the primary keys of the rows it changed."""
    rows = list(rows)
    if not rows:
        return []
    meta = model._meta
    fields = [meta.pk, *_fields(model, columns)]
    convert = [_converter(f) for f in fields]
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    names = [qn(f.column) for f in fields]
    row_sql = "(" + ", ".join(_mark(f) for f in fields) + ")"
    params: list[Any] = []
    for row in rows:
        params.extend(c(v) for c, v in zip(convert, row, strict=True))
    pk = names[0]
    sets = ", ".join(f"{n} = v.{n}" for n in names[1:])
    guard = guard.replace("{table}", table)
    sql = (
        f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([row_sql] * len(rows))})"
        f" UPDATE {table} SET {sets} FROM v WHERE {table}.{pk} = v.{pk}"
        + (f" AND {guard}" if guard else "")
        + f" RETURNING {table}.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + list(guard_params))
        found = [r[0] for r in cursor.fetchall()]
    if isinstance(meta.pk, models.UUIDField):
        return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in found]
    return found
