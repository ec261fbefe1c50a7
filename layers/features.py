"""Features of a registry layer as GeoJSON, for OGC API – Features.

PostgreSQL writes each feature's JSON (`json_build_object`, `ST_AsGeoJSON`); Python only joins
them. Filters from clients arrive as CQL2 compiled over the audience's own fields (never a
staff-only one for the public), as typed property equalities, a bbox and a datetime; all values
are bound parameters, and a client filter runs under a statement timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from geo.errors import QueryError, ValidationError
from layers.cql2_filter import CGCS2000, CRS84, Queryable, compile_filter
from layers.declarations import Audience, Field, Layer
from layers.ogc_params import ItemsQuery
from layers.sources import fixed_conditions, quoted

GEOJSON_DECIMALS = 7  # ~1 cm


@dataclass(frozen=True)
class ItemsPage:
    """One page of features: their GeoJSON text and the counts OGC asks for."""

    features: list[str]
    number_matched: int

    @property
    def number_returned(self) -> int:
        """How many features the page holds."""
        return len(self.features)


def queryables(layer: Layer, audience: Audience) -> dict[str, Queryable]:
    """What this audience may filter the layer on: its visible fields and the geometry."""
    found = {
        f.name: Queryable(f.name, f.type, sa.literal_column(f.expression))
        for f in layer.fields_for(audience)
    }
    found["geometry"] = Queryable("geometry", "geometry", _geometry(layer))
    return found


def query_items(
    session: Session, layer: Layer, audience: Audience, query: ItemsQuery, *, timeout_ms: int
) -> ItemsPage:
    """A page of the layer's features that match the query, ordered by id."""
    conditions = _conditions(layer, audience, query)
    _limit_client_filter(session, query, timeout_ms)
    id_column = sa.literal_column(layer.field(layer.id_field).expression)
    statement = (
        sa.select(sa.cast(_feature_json(layer, audience, query.crs), sa.Text))
        .select_from(sa.table(layer.source))
        .where(*conditions)
        .order_by(id_column)
        .limit(query.limit)
        .offset(query.offset)
    )
    counted = layer.count_source if _base_table_suffices(query) else None
    counter = (
        sa.select(sa.func.count()).select_from(sa.table(counted or layer.source)).where(*conditions)
    )
    with _client_filter_errors(query, timeout_ms):
        features = list(session.execute(statement).scalars())
        matched = session.execute(counter).scalar_one()
    return ItemsPage(features=features, number_matched=matched)


def count_matching(
    session: Session,
    layer: Layer,
    audience: Audience,
    query: ItemsQuery,
    *,
    timeout_ms: int,
    at_most: int,
) -> int:
    """How many features match the query's conditions (paging ignored), counting no further
    than `at_most + 1`: enough to tell whether more than `at_most` match."""
    conditions = _conditions(layer, audience, query)
    _limit_client_filter(session, query, timeout_ms)
    counted = layer.count_source if _base_table_suffices(query) else None
    matching = (
        sa.select(sa.literal(1))
        .select_from(sa.table(counted or layer.source))
        .where(*conditions)
        .limit(at_most + 1)
    )
    with _client_filter_errors(query, timeout_ms):
        return session.execute(
            sa.select(sa.func.count()).select_from(matching.subquery())
        ).scalar_one()


def feature_pages(
    session: Session,
    layer: Layer,
    audience: Audience,
    query: ItemsQuery,
    *,
    shape: Literal["geojson", "values"],
    page_size: int,
    timeout_ms: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """Every feature matching the query's conditions (paging ignored), in id order, a page at a
    time (keyset on the id, so each page costs the same). A "geojson" row is the feature's text,
    as /items writes it; a "values" row holds the audience's fields in declared order, then
    longitude and latitude for point layers."""
    conditions = _conditions(layer, audience, query)
    _limit_client_filter(session, query, timeout_ms)
    id_column = _column(layer.field(layer.id_field))
    if shape == "geojson":
        columns = [sa.cast(_feature_json(layer, audience, CRS84), sa.Text)]
    else:
        columns = [_column(f) for f in layer.fields_for(audience)]
        if layer.geometry == "point":
            columns += [sa.func.ST_X(_geometry(layer)), sa.func.ST_Y(_geometry(layer))]
    statement = sa.select(*columns, id_column).select_from(sa.table(layer.source))
    last: Any = None
    while True:
        page = statement.where(*conditions)
        if last is not None:
            page = page.where(id_column > last)
        with _client_filter_errors(query, timeout_ms):
            rows = session.execute(page.order_by(id_column).limit(page_size)).all()
        if rows:
            yield [tuple(row[:-1]) for row in rows]
        if len(rows) < page_size:
            return
        last = rows[-1][-1]


def get_item(
    session: Session, layer: Layer, audience: Audience, feature_id: str, crs: str
) -> str | None:
    """One feature's GeoJSON text, or None when there is no such feature."""
    id_field = layer.field(layer.id_field)
    try:
        value = _typed(id_field, feature_id)
    except QueryError:
        return None
    statement = (
        sa.select(sa.cast(_feature_json(layer, audience, crs), sa.Text))
        .select_from(sa.table(layer.source))
        .where(*[sa.text(c) for c in fixed_conditions(layer, temporal_filter=True)])
        .where(sa.literal_column(id_field.expression) == value)
    )
    return session.execute(statement).scalar_one_or_none()


def _limit_client_filter(session: Session, query: ItemsQuery, timeout_ms: int) -> None:
    """A client's filter runs under a statement timeout (for the rest of the transaction)."""
    if query.filter_text is not None:
        session.execute(sa.select(sa.func.set_config("statement_timeout", str(timeout_ms), True)))


def _feature_json(layer: Layer, audience: Audience, crs: str) -> ColumnElement[Any]:
    geometry = _geometry(layer)
    if crs == CGCS2000:  # EPSG:4490 lists latitude first
        geometry = sa.func.ST_FlipCoordinates(geometry)
    properties = sa.func.json_build_object(
        *[part for f in layer.fields_for(audience) for part in (f.name, _column(f))]
    )
    return sa.func.json_build_object(
        "type",
        "Feature",
        "id",
        _column(layer.field(layer.id_field)),
        "geometry",
        sa.cast(sa.func.ST_AsGeoJSON(geometry, GEOJSON_DECIMALS), sa.JSON),
        "properties",
        properties,
    )


def _conditions(layer: Layer, audience: Audience, query: ItemsQuery) -> list[ColumnElement[bool]]:
    temporal = query.interval is not None and layer.temporal is not None
    conditions: list[ColumnElement[bool]] = [
        sa.text(c) for c in fixed_conditions(layer, temporal_filter=temporal)
    ]
    if query.bbox is not None:
        envelope = sa.func.ST_MakeEnvelope(*query.bbox, 4326)
        conditions.append(sa.func.ST_Intersects(_geometry(layer), envelope))
    if query.interval is not None:
        conditions.append(_in_interval(layer, query.interval))
    visible = {f.name: f for f in layer.fields_for(audience)}
    for name, text_value in query.properties.items():
        conditions.append(_column(visible[name]) == _typed(visible[name], text_value))
    if query.filter_text is not None:
        compiled = _compiled_filter(query, queryables(layer, audience))
        conditions.append(compiled)
    return conditions


def _compiled_filter(query: ItemsQuery, allowed: dict[str, Queryable]) -> ColumnElement[bool]:
    try:
        return compile_filter(
            query.filter_text or "", allowed, lang=query.filter_lang, filter_crs=query.filter_crs
        )
    except ValidationError as error:
        raise QueryError(error.message, field=error.field, value=error.value) from error


def _in_interval(
    layer: Layer, interval: tuple[datetime | None, datetime | None]
) -> ColumnElement[bool]:
    if layer.temporal is None:
        raise QueryError(f"collection {layer.id!r} has no time to filter on", field="datetime")
    start, end = interval
    begins = sa.literal_column(layer.field(layer.temporal.start).expression)
    ends = (
        sa.literal_column(layer.field(layer.temporal.end).expression)
        if layer.temporal.end
        else begins
    )
    parts: list[ColumnElement[bool]] = []
    if end is not None:
        parts.append(begins <= end)
    if start is not None:
        parts.append(sa.or_(ends.is_(None), ends >= start))
    return sa.and_(*parts)


def _typed(field: Field, value: str) -> object:
    """A property value from the query string, converted to the field's type and checked to be
    storable (64-bit integers, no NUL characters), so the database never sees a bad value."""
    try:
        typed = _converted(field, value)
    except (ValueError, KeyError, OverflowError):
        raise QueryError(
            f"{field.name} takes a {field.type} value", field=field.name, value=value
        ) from None
    if isinstance(typed, int) and not -(2**63) <= typed < 2**63:
        raise QueryError(f"{field.name} is out of range", field=field.name, value=value)
    if "\x00" in value:
        raise QueryError(f"{field.name} must not contain NUL characters", field=field.name)
    return typed


def _converted(field: Field, value: str) -> object:
    if field.type == "integer":
        return int(value)
    if field.type == "number":
        return float(value)
    if field.type == "boolean":
        return {"true": True, "false": False}[value.lower()]
    if field.type == "date":
        return date.fromisoformat(value)
    if field.type == "datetime":
        return datetime.fromisoformat(value)
    return value


def _base_table_suffices(query: ItemsQuery) -> bool:
    """Whether the match count needs only the geometry, which the layer's base table holds."""
    return query.interval is None and not query.properties and query.filter_text is None


def _column(field: Field) -> ColumnElement[Any]:
    return sa.literal_column(field.expression)


def _geometry(layer: Layer) -> ColumnElement[Any]:
    return sa.literal_column(quoted(layer.geom_column))


@contextmanager
def _client_filter_errors(query: ItemsQuery, timeout_ms: int) -> Iterator[None]:
    """Turn database errors caused by a client's filter (timeout, bad value) into a 400."""
    try:
        yield
    except sa_exc.DBAPIError as error:
        if query.filter_text is None:
            raise
        if "statement timeout" in str(error.orig):
            raise QueryError(
                f"the filter took longer than {timeout_ms} ms; narrow it", field="filter"
            ) from error
        raise QueryError(
            "the filter could not be evaluated", field="filter", detail=str(error.orig)
        ) from error
