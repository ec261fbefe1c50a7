"""OGC CQL2 filters (text or JSON) compiled into SQLAlchemy conditions over an allow-list.

`cql2` only parses: its JSON tree is walked here, and only the operators below, only the queryables
the caller hands in, and only bound parameters reach SQL. (cql2's own `to_sql()` passes unknown
functions through verbatim and pygeofilter turns unknown properties into `false`, so neither writes
SQL for us.) Every problem is a `ValidationError` that names what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import eq, ge, gt, le, lt, ne
from typing import Any, Literal, get_args

import numpy as np
import shapely
import shapely.geometry
import shapely.validation
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from geo.errors import ValidationError
from layers.cql2_parse import LANGS, MAX_COORDINATES, MAX_IN_VALUES, parse_filter
from layers.cql2_parse import filter_error as _error

PropertyType = Literal["string", "integer", "number", "boolean", "date", "datetime", "geometry"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"  # axis order latitude, longitude


@dataclass(frozen=True)
class Queryable:
    """A property a client may filter on: its public name, type and the SQL expression behind it."""

    name: str
    type: PropertyType
    column: ColumnElement[Any]  # geometry columns are SRID 4326 (lon/lat)


Handler = Callable[[str, list[Any]], ColumnElement[bool]]

_FAMILY = {"integer": "number", "date": "temporal", "datetime": "temporal"}  # others: themselves
_COMPARISONS = {"=": eq, "<>": ne, "<": lt, "<=": le, ">": gt, ">=": ge}
_SPATIAL = {
    "s_intersects": sa.func.ST_Intersects,
    "s_disjoint": sa.func.ST_Disjoint,
    "s_within": sa.func.ST_Within,
    "s_contains": sa.func.ST_Contains,
}
_TEMPORAL = ("t_intersects", "t_before", "t_after")
_LOGICAL = ("and", "or", "not")
_PREDICATES = {*_LOGICAL, *_COMPARISONS, *_SPATIAL, *_TEMPORAL, "like", "between", "in", "isnull"}
_GEOMETRY_TYPES = {
    *("Point", "LineString", "Polygon", "GeometryCollection"),
    *("MultiPoint", "MultiLineString", "MultiPolygon"),
}
# Standard CQL2 operators we do not offer; any other name is reported as an unknown function.
_CQL2_OPERATORS = {
    *("casei", "accenti", "a_equals", "a_contains", "a_containedby", "a_overlaps"),
    *("s_equals", "s_touches", "s_overlaps", "s_crosses", "t_equals", "t_during", "t_meets"),
    *("t_metby", "t_overlaps", "t_overlappedby", "t_starts", "t_startedby", "t_finishes"),
    *("t_finishedby", "t_contains", "t_disjoint", "+", "-", "*", "/", "%", "^", "div", "||"),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def compile_filter(
    filter_text: str,
    queryables: Mapping[str, Queryable],
    *,
    lang: str = "cql2-text",
    filter_crs: str = CRS84,
) -> ColumnElement[bool]:
    """Compile a CQL2 filter into a boolean SQLAlchemy expression holding only bound parameters.

    `queryables` maps the public property names (case-sensitive) to what may be filtered on;
    geometry literals are read in `filter_crs` (CRS84, or CGCS2000 with latitude first). Raises
    `ValidationError` (field "filter", "filter-lang" or "filter-crs") for anything else.
    """
    if lang not in LANGS:
        message = f"filter-lang '{lang}' is not supported (use {' or '.join(LANGS)})"
        raise ValidationError(message, field="filter-lang", value=lang)
    if filter_crs not in (CRS84, CGCS2000):
        message = f"filter-crs '{filter_crs}' is not supported (use {CRS84} or {CGCS2000})"
        raise ValidationError(message, field="filter-crs", value=filter_crs)
    tree = parse_filter(filter_text, lang, supported=_PREDICATES, known=_CQL2_OPERATORS)
    try:
        return _Compiler(queryables, swap_axes=filter_crs == CGCS2000).predicate(tree)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise _error("filter is not a valid CQL2 expression", filter_text, repr(exc)) from exc


class _Compiler:
    """Walks a CQL2 JSON tree into SQLAlchemy, checking names and types on the way."""

    def __init__(self, queryables: Mapping[str, Queryable], *, swap_axes: bool) -> None:
        self.queryables = queryables
        self.swap_axes = swap_axes
        self.handlers: dict[str, Handler] = {
            **dict.fromkeys(_LOGICAL, self._logical),
            **dict.fromkeys(_COMPARISONS, self._compare),
            **dict.fromkeys(_SPATIAL, self._spatial),
            **dict.fromkeys(_TEMPORAL, self._temporal),
            "like": self._like,
            "between": self._between,
            "in": self._in,
            "isnull": self._is_null,
        }

    def predicate(self, node: Any) -> ColumnElement[bool]:
        """A condition: a logical, comparison, spatial or temporal operation, or a boolean."""
        if isinstance(node, bool):
            return sa.true() if node else sa.false()
        if _is_property(node):
            queryable = self.property(node)
            if queryable.type != "boolean":
                raise _error(f"property '{queryable.name}' is not a condition", queryable.name)
            return queryable.column == sa.true()
        if not (isinstance(node, dict) and isinstance(node.get("op"), str)):
            raise _error(f"expected a condition, got {_describe(node)}", node)
        op, args = node["op"].lower(), node.get("args")
        if not isinstance(args, list):
            raise _error(f"operator '{op}' needs a list of arguments", op)
        return self.handlers[op](op, args)

    def property(self, node: dict[str, Any]) -> Queryable:
        """The queryable a `{"property": name}` node names."""
        name = node["property"]
        if isinstance(name, str) and name in self.queryables:
            return self.queryables[name]
        names = list(self.queryables)
        listed = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
        raise _error(f"unknown property '{name}' (queryable: {listed or 'none'})", name)

    def value(self, node: Any, target: Queryable) -> ColumnElement[Any]:
        """A literal bound as a parameter fit for `target`, or a property of the same kind."""
        if not _is_property(node):
            return sa.literal(*_python_value(node, target))
        other = self.property(node)
        if _FAMILY.get(other.type, other.type) != _FAMILY.get(target.type, target.type):
            message = (
                f"cannot compare {target.type} '{target.name}' with {other.type} '{other.name}'"
            )
            raise _error(message, other.name)
        return other.column

    def _subject(self, op: str, args: list[Any], arity: int, kinds: tuple[str, ...]) -> Queryable:
        """The property an operator applies to (its first argument), of one of `kinds`."""
        _arity(op, args, arity)
        if not _is_property(args[0]):
            raise _error(f"operator '{op}' needs a property first, got {_describe(args[0])}", op)
        target = self.property(args[0])
        if target.type not in kinds:
            raise _error(f"'{op}' does not apply to {target.type} property '{target.name}'", op)
        return target

    def _logical(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        if op == "not":
            _arity(op, args, 1)
            return sa.not_(self.predicate(args[0]))
        if len(args) < 2:
            raise _error(f"operator '{op}' needs at least two conditions", op)
        parts = [self.predicate(arg) for arg in args]
        return sa.and_(*parts) if op == "and" else sa.or_(*parts)

    def _compare(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        _arity(op, args, 2)
        subject = next((arg for arg in args if _is_property(arg)), None)
        if subject is None:
            raise _error(f"comparison '{op}' needs a property on one side", op)
        target = self.property(subject)
        if target.type == "geometry":
            message = (
                f"'{op}' does not apply to geometry '{target.name}': use {', '.join(_SPATIAL)}"
            )
            raise _error(message, op)
        return _COMPARISONS[op](self.value(args[0], target), self.value(args[1], target))

    def _like(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        target = self._subject(op, args, 2, ("string",))
        return target.column.like(self.value(args[1], target))

    def _between(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        kinds = ("string", "integer", "number", "date", "datetime")
        target = self._subject(op, args, 3, kinds)
        return target.column.between(self.value(args[1], target), self.value(args[2], target))

    def _in(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        target = self._subject(op, args, 2, ("string", "integer", "number", "date", "datetime"))
        values = args[1]
        if not isinstance(values, list) or not values:
            raise _error("'in' needs a non-empty list of values", values)
        if len(values) > MAX_IN_VALUES:
            message = f"'in' list is too long ({len(values):,} values; at most {MAX_IN_VALUES:,})"
            raise _error(message, values[:20])
        converted = [_python_value(item, target) for item in values]
        if len({type(sql_type) for _, sql_type in converted}) > 1:
            raise _error(f"'in' list for '{target.name}' mixes dates and timestamps", values)
        python_values = [value for value, _ in converted]
        param = sa.bindparam("in", python_values, converted[0][1], expanding=True, unique=True)
        return target.column.in_(param)

    def _is_null(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        return self._subject("isNull", args, 1, get_args(PropertyType)).column.is_(None)

    def _spatial(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        _arity(op, args, 2)
        if not any(_is_property(arg) for arg in args):
            raise _error(f"operator '{op}' needs a geometry property", op)
        left, right = (self._geometry(op, arg) for arg in args)
        return _SPATIAL[op](left, right, type_=sa.Boolean)

    def _geometry(self, op: str, node: Any) -> ColumnElement[Any]:
        if _is_property(node):
            queryable = self.property(node)
            if queryable.type != "geometry":
                raise _error(f"'{op}' needs geometries; '{queryable.name}' is not one", op)
            return queryable.column
        if isinstance(node, dict) and "bbox" in node:
            return _bbox(node["bbox"], self.swap_axes)
        if isinstance(node, dict) and "type" in node:
            geojson = sa.literal(_geojson(node, self.swap_axes), sa.String)
            return sa.func.ST_SetSRID(sa.func.ST_GeomFromGeoJSON(geojson), 4326)
        raise _error(f"'{op}' needs geometries, got {_describe(node)}", node)

    def _temporal(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        target = self._subject(op, args, 2, ("date", "datetime"))
        column, other = target.column, args[1]
        if not (isinstance(other, dict) and "interval" in other):
            compare = {"t_intersects": eq, "t_before": lt, "t_after": gt}[op]
            return compare(column, self.value(other, target))
        start, end = _interval(other["interval"], target)
        if op == "t_before":
            return sa.false() if start is None else column < start
        if op == "t_after":
            return sa.false() if end is None else column > end
        conditions = [column >= start] if start is not None else []
        conditions += [column <= end] if end is not None else []
        return sa.and_(*conditions) if conditions else column.is_not(None)


def _arity(op: str, args: list[Any], count: int) -> None:
    if len(args) != count:
        raise _error(f"operator '{op}' takes {count} argument(s), got {len(args)}", op)


def _is_property(node: Any) -> bool:
    return isinstance(node, dict) and "property" in node


def _python_value(node: Any, target: Queryable) -> tuple[Any, TypeEngine[Any]]:
    """A literal as a Python value and SQL type, if it fits the property `target`."""
    kind = target.type
    if kind == "string" and isinstance(node, str):
        return node, sa.String()
    if kind == "boolean" and isinstance(node, bool):
        return node, sa.Boolean()
    if kind in ("integer", "number") and _is_number(node):
        if kind == "number":
            return float(node), sa.Float()
        if float(node).is_integer() and abs(node) <= 2**53:
            return int(node), sa.Integer()
        raise _error(f"property '{target.name}' holds whole numbers, not {node:g}", node)
    if kind in ("date", "datetime") and isinstance(node, dict):
        instant = _instant(node)
        if instant is not None:
            return instant
    raise _error(f"property '{target.name}' is {kind}; cannot use {_describe(node)}", node)


def _instant(node: dict[str, Any]) -> tuple[Any, TypeEngine[Any]] | None:
    """A `{"date": …}` or `{"timestamp": …}` literal as a Python value and SQL type."""
    text = node.get("date", node.get("timestamp"))
    if not isinstance(text, str):
        return None
    try:
        if "date" in node:
            return date.fromisoformat(text), sa.Date()
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _error(f"invalid date or timestamp '{text[:40]}'", text) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), sa.DateTime(timezone=True)


def _interval(bounds: Any, target: Queryable) -> list[ColumnElement[Any] | None]:
    """Start and end of an interval literal as bound parameters; None for an open end ("..")."""
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise _error("an interval needs a start and an end", bounds)
    ends: list[ColumnElement[Any] | None] = []
    for bound in bounds:
        if isinstance(bound, str) and bound != "..":
            bound = {"date" if _DATE.fullmatch(bound) else "timestamp": bound}
        ends.append(None if bound == ".." else sa.literal(*_python_value(bound, target)))
    return ends


def _geojson(node: dict[str, Any], swap_axes: bool) -> str:
    """A geometry literal checked (type, size, range, validity) as 2D GeoJSON, longitude first."""
    kind = node.get("type")
    if kind not in _GEOMETRY_TYPES:
        raise _error(f"unsupported geometry type {_describe(kind)}", kind)
    try:
        geometry = shapely.geometry.shape(node)
    except (ValueError, TypeError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
        raise _error(f"invalid {kind} geometry: {exc}", kind) from exc
    if (count := shapely.get_num_coordinates(geometry)) > MAX_COORDINATES:
        message = f"geometry has too many coordinates ({count:,}; at most {MAX_COORDINATES:,})"
        raise _error(message, kind)
    geometry = shapely.transform(geometry, lambda xy: xy[:, ::-1] if swap_axes else xy)
    lon, lat = shapely.get_coordinates(geometry).T
    if not (np.all(np.abs(lon) <= 180) and np.all(np.abs(lat) <= 90)):
        raise _error(f"{kind} coordinates outside longitude -180..180 / latitude -90..90", kind)
    if geometry.is_empty or not geometry.is_valid:
        reason = "empty" if geometry.is_empty else shapely.validation.explain_validity(geometry)
        raise _error(f"invalid {kind} geometry: {reason}", kind)
    return shapely.to_geojson(geometry)


def _bbox(values: Any, swap_axes: bool) -> ColumnElement[Any]:
    """A 2D bbox literal (min lon, min lat, max lon, max lat) as ST_MakeEnvelope."""
    if not (isinstance(values, list) and len(values) == 4 and all(map(_is_number, values))):
        raise _error("a bbox needs 4 numbers: the lower corner, then the upper corner", values)
    west, south, east, north = (values[i] for i in ((1, 0, 3, 2) if swap_axes else (0, 1, 2, 3)))
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        message = "a bbox's lower corner must not exceed its upper one, within -180..180 / -90..90"
        raise _error(message, values)
    corners = (sa.literal(v, sa.Float) for v in (west, south, east, north))
    return sa.func.ST_MakeEnvelope(*corners, 4326)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _describe(node: Any) -> str:
    """A node as a short JSON fragment, for messages."""
    text = json.dumps(node, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
