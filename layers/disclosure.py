"""A unit's information-disclosure record (信息公开): what the permit regulations make public.

The record is built from explicit lists of fields, and every one must be a public field of the
registry's layer it comes from (the units layer for the unit and its permit, the outlets layer
for outlets), checked when this module loads. Nothing here selects a staff-only field: flags,
enforcement status, operating status and addresses never reach this record. The site number
(public) addresses a record (`?site=N`) and is returned as `site`, with the unit's `sites`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.credit_code import is_well_formed
from geo.errors import NotFoundError
from geo.penalties import public_penalties
from layers.declarations import Audience, Field, Layer
from layers.registry import OUTLETS, UNITS
from layers.sources import quoted

UNIT_FIELDS = (
    *("name", "credit_code", "category", "industry_code", "industry_name", "county_name"),
    *("permit_no", "permit_valid_from", "permit_valid_to", "permit_state"),
)
OUTLET_FIELDS = ("code", "kind", "medium")
# outlet_pollutants holds permitted limits only (许可排放浓度/许可排放量): all of it is disclosed
POLLUTANT_COLUMNS = (
    *("pollutant_code", "pollutant_name", "concentration_limit", "concentration_unit"),
    "annual_limit_t",
)
RECORD_KEYS = ("site", "sites", *UNIT_FIELDS, "lon", "lat", "outlets", "penalties")


def _public_fields(layer: Layer, names: tuple[str, ...]) -> tuple[Field, ...]:
    """The layer's fields called `names`; each must be declared public."""
    public = {f.name: f for f in layer.fields_for(Audience.PUBLIC)}
    refused = [name for name in names if name not in public]
    if refused:
        raise LookupError(f"not public fields of layer {layer.id!r}: {refused}")
    return tuple(public[name] for name in names)


UNIT_PUBLIC = _public_fields(UNITS, UNIT_FIELDS)
OUTLET_PUBLIC = _public_fields(OUTLETS, OUTLET_FIELDS)


def public_unit(session: Session, *, credit_code: str, site: int | None) -> dict[str, Any]:
    """The disclosure record of the unit with this credit code (any case) and site (default:
    the lowest); `penalties` lists its public penalty decisions only (number, date, violation,
    legal basis, amount), newest first."""
    code = credit_code.strip().upper()
    sites = _sites(session, code) if is_well_formed(code) else []
    chosen = sites[0] if site is None and sites else site
    if chosen not in sites:
        which = f" and site {site}" if site is not None else ""
        raise NotFoundError(f"no unit with credit code {credit_code!r}{which}")
    geometry = sa.literal_column(quoted(UNITS.geom_column))
    row = session.execute(
        sa.select(
            *[_labelled(f) for f in UNIT_PUBLIC],
            sa.func.ST_X(geometry).label("lon"),
            sa.func.ST_Y(geometry).label("lat"),
            _column(UNITS.field("id")).label("unit_id"),
        )
        .select_from(sa.table(UNITS.source))
        .where(_column(UNITS.field("credit_code")) == code, _site_column() == chosen)
    ).one()
    record = {"site": chosen, "sites": sites} | {f.name: row._mapping[f.name] for f in UNIT_PUBLIC}
    record |= {"lon": row.lon, "lat": row.lat}
    record["outlets"] = _outlets(session, row.unit_id)
    return record | {"penalties": public_penalties(session, unit_id=row.unit_id)}


def _sites(session: Session, code: str) -> list[int]:
    statement = (
        sa.select(_site_column())
        .select_from(sa.table(UNITS.source))
        .where(_column(UNITS.field("credit_code")) == code)
        .order_by(_site_column())
    )
    return list(session.execute(statement).scalars())


def _outlets(session: Session, unit_id: int) -> list[dict[str, Any]]:
    outlet_id = _column(OUTLETS.field("id")).label("outlet_id")
    rows = session.execute(
        sa.select(outlet_id, *[_labelled(f) for f in OUTLET_PUBLIC])
        .select_from(sa.table(OUTLETS.source))
        .where(_column(OUTLETS.field("unit_id")) == unit_id)
        .order_by(_column(OUTLETS.field("code")), outlet_id)
    ).mappings()
    outlets = {row["outlet_id"]: {f.name: row[f.name] for f in OUTLET_PUBLIC} for row in rows}
    pollutants = sa.table(
        "outlet_pollutants", *[sa.column(c) for c in ("outlet_id", *POLLUTANT_COLUMNS)]
    )
    limits = session.execute(
        sa.select(
            pollutants.c.outlet_id,
            pollutants.c.pollutant_code,
            pollutants.c.pollutant_name,
            sa.cast(pollutants.c.concentration_limit, sa.Float).label("concentration_limit"),
            pollutants.c.concentration_unit,
            sa.cast(pollutants.c.annual_limit_t, sa.Float).label("annual_limit_t"),
        )
        .where(pollutants.c.outlet_id.in_(list(outlets)))
        .order_by(pollutants.c.outlet_id, pollutants.c.pollutant_code)
    ).mappings()
    by_outlet: dict[int, list[dict[str, Any]]] = {i: [] for i in outlets}
    for limit in limits:
        by_outlet[limit["outlet_id"]].append({c: limit[c] for c in POLLUTANT_COLUMNS})
    return [{**outlet, "pollutants": by_outlet[i]} for i, outlet in outlets.items()]


def _column(field: Field) -> sa.ColumnElement[Any]:
    return sa.literal_column(field.expression)


def _labelled(field: Field) -> sa.ColumnElement[Any]:
    return _column(field).label(field.name)


def _site_column() -> sa.ColumnElement[Any]:
    """The site number, to match and order on."""
    return _column(UNITS.field("site_seq"))
