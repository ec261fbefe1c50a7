"""Adding and editing units, outlets and river outfalls: validated, and re-screened in the same
transaction (what the write touches, nothing else)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.coords import parse_crs, parse_point
from geo.credit_code import is_well_formed
from geo.db import Refusal, refusal_error
from geo.errors import NotFoundError, ValidationError
from geo.relocation import SOURCE_BY_CRS, province_bounds
from geo.screening import RunSummary, Scope, screen

# What to tell the user when a named constraint refuses a write.
CONSTRAINTS = {
    "uq_units_credit_code_site": Refusal(
        "credit_code", "this enterprise already has a unit with that site number", True
    ),
    "units_industry_code_fkey": Refusal("industry_code", "not a GB/T 4754-2017 小类 code"),
    "uq_outlets_unit_code": Refusal("code", "the unit already has an outlet with this code", True),
    "code_matches_medium": Refusal("code", "DW… outlets discharge to water, DA… to air"),
    "code_format": Refusal("code", "the code does not have the expected format"),
    "river_outfalls_code_key": Refusal("code", "an outfall with this code exists", True),
    "receiving_water_only_for_water": Refusal("receiving_water", "only water outlets have one"),
}
OTHER_REFUSAL = Refusal("body", "the values break a rule of the data model")
UNIT_EDITABLE = ("name", "industry_code", "category", "status", "address")


def _write(session: Session, statement: str, values: dict) -> int:
    """Run an INSERT/UPDATE … RETURNING id; turn constraint refusals into field errors."""
    try:
        with session.begin_nested():
            row = session.execute(text(statement), values).first()
    except IntegrityError as exc:
        raise refusal_error(exc, CONSTRAINTS, OTHER_REFUSAL) from exc
    if row is None:
        raise NotFoundError("no such feature")
    return row[0]


def _point(session: Session, values: dict) -> tuple[float, float, str]:
    crs = parse_crs(values.get("crs") or "wgs84")
    lon, lat = parse_point(
        values["longitude"], values["latitude"], crs=crs, bounds=province_bounds(session)
    )
    return lon, lat, SOURCE_BY_CRS[crs]


def _county_at(session: Session, lon: float, lat: float) -> str:
    county = session.execute(
        text(
            "SELECT code FROM admin_regions WHERE level = 'county' AND "
            "ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) LIMIT 1"
        ),
        {"x": lon, "y": lat},
    ).scalar()
    if county is None:
        raise ValidationError(
            "the location is in no county of the province", field="coordinates", value=(lon, lat)
        )
    return county


def create_unit(session: Session, *, values: dict, now: datetime) -> tuple[int, RunSummary]:
    """Add a unit at a typed-in location (its county found from it) and screen it."""
    if not is_well_formed(values["credit_code"]):
        raise ValidationError(
            "a credit code is 18 characters of 0-9 and A-Y without I, O, S, V, Z",
            field="credit_code",
            value=values["credit_code"],
        )
    lon, lat, source = _point(session, values)
    unit_id = _write(
        session,
        """
        INSERT INTO units (credit_code, site_seq, name, industry_code, category, county_code,
                           address, status, geom, location_source)
        VALUES (:credit_code, :site_seq, :name, :industry_code, CAST(:category AS
                management_category), :county, :address, CAST(:status AS operating_status),
                ST_SetSRID(ST_MakePoint(:x, :y), 4326), CAST(:source AS location_source))
        RETURNING id""",
        {
            **values,
            "county": _county_at(session, lon, lat),
            "x": lon,
            "y": lat,
            "source": values.get("location_source") or source,
        },
    )
    return unit_id, screen(session, now=now, scope=Scope(unit_ids=(unit_id,)))


def update_unit(session: Session, *, unit_id: int, changes: dict, now: datetime) -> RunSummary:
    """Change a unit's fields and re-screen it with its outlets (rules read industry, category
    and status)."""
    unknown = sorted(set(changes) - set(UNIT_EDITABLE))
    if unknown or not changes:
        raise ValidationError(
            f"cannot change: {', '.join(unknown) or 'nothing sent'}",
            field=unknown[0] if unknown else "body",
        )
    casts = {
        "category": "CAST(:category AS management_category)",
        "status": "CAST(:status AS operating_status)",
    }
    assignments = ", ".join(f"{k} = {casts.get(k, ':' + k)}" for k in changes)
    _write(
        session,
        f"UPDATE units SET {assignments} WHERE id = :id RETURNING id",
        {**changes, "id": unit_id},
    )
    outlets = (
        session.execute(text("SELECT id FROM outlets WHERE unit_id = :id"), {"id": unit_id})
        .scalars()
        .all()
    )
    return screen(session, now=now, scope=Scope(unit_ids=(unit_id,), outlet_ids=tuple(outlets)))


def create_outlet(
    session: Session, *, unit_id: int, values: dict, now: datetime
) -> tuple[int, RunSummary]:
    """Add an outlet (DW…/DA…) to a unit and screen it."""
    lon, lat, _ = _point(session, values)
    outlet_id = _write(
        session,
        """
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        SELECT id, :code, CAST(:medium AS medium), CAST(:kind AS outlet_kind),
               ST_SetSRID(ST_MakePoint(:x, :y), 4326), :receiving_water
        FROM units WHERE id = :unit RETURNING id""",
        {**values, "unit": unit_id, "x": lon, "y": lat},
    )
    return outlet_id, screen(session, now=now, scope=Scope(outlet_ids=(outlet_id,)))


def create_outfall(session: Session, *, values: dict, now: datetime) -> tuple[int, RunSummary]:
    """Add a river outfall and screen it."""
    lon, lat, _ = _point(session, values)
    outfall_id = _write(
        session,
        """
        INSERT INTO river_outfalls (code, name, outfall_type, receiving_water, geom)
        VALUES (:code, :name, CAST(:outfall_type AS outfall_type), :receiving_water,
                ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        RETURNING id""",
        {**values, "x": lon, "y": lat},
    )
    return outfall_id, screen(session, now=now, scope=Scope(outfall_ids=(outfall_id,)))
