"""Bulk SQL for hot paths: many rows in ONE statement, with values converted once per column.

Django's bulk_create and bulk_update convert every value through the full field machinery
and split batches by a parameter limit older SQLite builds had; on dispatch's path that
costs more than the database spends storing the rows. These helpers build one multi-row
INSERT (or one UPDATE … FROM VALUES) with a converter chosen once per column.
Used by layers that all sit above this one (providers, messaging).
"""

from __future__ import annotations

import json
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


def _pg_array_type(field: models.Field) -> tuple[str, str]:
    """(the array's element type, the cast from it to the column's type) on PostgreSQL."""
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.JSONField):
        return "text", "::jsonb"  # JSON travels as text, then becomes jsonb
    return field.db_type(connection) if not field.is_relation else target.rel_db_type(
        connection
    ), ""


def _pg_converter(field: models.Field) -> Callable[[Any], Any]:
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.JSONField):
        encoder = target.encoder
        return lambda v: None if v is None else json.dumps(v, cls=encoder)
    if isinstance(target, models.UUIDField):
        return lambda v: v if v is None or isinstance(v, uuid.UUID) else uuid.UUID(str(v))
    return lambda v: v  # psycopg adapts str, int, bool, Decimal, datetime and UUID itself


def _pg_columns(fields: list[models.Field], rows: list[Sequence[Any]]):
    """One array parameter per column (unnest zips them back into rows): a short statement
    psycopg and the server parse once, whatever the number of rows."""
    arrays: list[list[Any]] = [[] for _ in fields]
    convert = [_pg_converter(f) for f in fields]
    for row in rows:
        for i, value in enumerate(row):
            arrays[i].append(convert[i](value))
    types = [_pg_array_type(f) for f in fields]
    unnest = ", ".join(f"%s::{t}[]" for t, _ in types)
    return arrays, types, unnest


def rows_insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """INSERT every row (values in the order of `columns`, field names) in one statement."""
    rows = list(rows)
    if not rows:
        return 0
    fields = _fields(model, columns)
    if connection.vendor == "postgresql":
        qn = connection.ops.quote_name
        arrays, types, unnest = _pg_columns(fields, rows)
        names = [qn(f.column) for f in fields]
        select = ", ".join(f"v.{n}{cast}" for n, (_, cast) in zip(names, types, strict=True))
        sql = (
            f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(names)})"
            f" SELECT {select} FROM unnest({unnest}) AS v({', '.join(names)})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, arrays)
        return len(rows)
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
    """UPDATE many rows, each with values of its own, in one statement: `UPDATE … FROM
    (VALUES …)` on SQLite, `UPDATE … FROM unnest(…)` on PostgreSQL. Each row is
    (pk, *values in `columns`); `guard` is more SQL on the table's own columns, `{table}`
    standing for the quoted table name. Returns the primary keys of the rows it changed."""
    rows = list(rows)
    if not rows:
        return []
    meta = model._meta
    fields = [meta.pk, *_fields(model, columns)]
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    names = [qn(f.column) for f in fields]
    pk = names[0]
    guard = f" AND {guard.replace('{table}', table)}" if guard else ""
    if connection.vendor == "postgresql":
        params, types, unnest = _pg_columns(fields, rows)
        sets = ", ".join(
            f"{n} = v.{n}{cast}" for n, (_, cast) in zip(names[1:], types[1:], strict=True)
        )
        source = f"unnest({unnest}) AS v({', '.join(names)})"
        sql = f"UPDATE {table} SET {sets} FROM {source}"
    else:
        convert = [_converter(f) for f in fields]
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        params = []
        for row in rows:
            params.extend(c(v) for c, v in zip(convert, row, strict=True))
        sets = ", ".join(f"{n} = v.{n}" for n in names[1:])
        values = ", ".join([row_sql] * len(rows))
        sql = f"WITH v ({', '.join(names)}) AS (VALUES {values}) UPDATE {table} SET {sets} FROM v"
    sql += f" WHERE {table}.{pk} = v.{pk}{guard} RETURNING {table}.{pk}"
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) + list(guard_params))
        found = [r[0] for r in cursor.fetchall()]
    if isinstance(meta.pk, models.UUIDField):
        return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in found]
    return found
