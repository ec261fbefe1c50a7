"""How a layer's rows are read: its source, fixed conditions, and the data version behind it.

Every identifier that reaches SQL here comes from a declaration in the registry, never from a
request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from layers.declarations import Audience, Field, Layer, Style


def quoted(identifier: str) -> str:
    """A declared identifier, double-quoted for SQL."""
    return '"' + identifier.replace('"', '""') + '"'


def fixed_conditions(layer: Layer, *, temporal_filter: bool = False) -> list[str]:
    """The declaration's own conditions; `default_where` gives way to a client's datetime."""
    conditions = [layer.where] if layer.where else []
    if layer.default_where and not temporal_filter:
        conditions.append(layer.default_where)
    return conditions


def where_sql(conditions: list[str]) -> str:
    """`WHERE a AND b`, or nothing."""
    return ("WHERE " + " AND ".join(f"({c})" for c in conditions)) if conditions else ""


def select_list(fields: tuple[Field, ...]) -> str:
    """Fields as a SELECT list, each under its declared name."""
    return ", ".join(f"{f.expression} AS {quoted(f.name)}" for f in fields)


def class_expression(layer: Layer, style: Style) -> str:
    """The SQL text of the field a style colours by (as text), or a constant."""
    if style.by is None:
        return "NULL::text"
    return f"({layer.field(style.by).expression})::text"


_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=1024)
def _driver_sql(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s` (casts such as `::text` left alone)."""
    return _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))


def fetch_row(session: Session, sql: str, params: Mapping[str, object]) -> tuple[Any, ...]:
    """The one row a tile statement returns, run on the driver's cursor inside the session's
    transaction: SQLAlchemy's execution layer costs ~100 µs a statement, and a cold tile runs
    three (measured with `make bench-serve`)."""
    with session.connection().connection.cursor() as cursor:
        cursor.execute(_driver_sql(sql), params)
        return cursor.fetchone()


def data_version(session: Session, layer: Layer, audience: Audience) -> str:
    """A key that changes whenever data under the audience's view of the layer changes, or the
    day does.

    Statement triggers bump `data_versions` for each table; the date is part of the key because
    statuses such as "expires within 90 days" move with it.
    """
    return fetch_row(
        session,
        "SELECT current_date::text || '|' || coalesce(string_agg(source || '=' || version,"
        " ',' ORDER BY source), '') FROM data_versions WHERE source = ANY(:sources)",
        {"sources": list(layer.sources_for(audience))},
    )[0]
