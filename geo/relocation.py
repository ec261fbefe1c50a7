"""Moving a unit, outlet or river outfall: validated coordinates in any accepted CRS, stored in
EPSG:4326, and the feature re-screened in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.coords import InputCRS, parse_crs, parse_point
from geo.errors import NotFoundError, ValidationError
from geo.screening import RunSummary, Scope, screen

TABLES = {"unit": "units", "outlet": "outlets", "river_outfall": "river_outfalls"}
SCOPE_FIELDS = {"unit": "unit_ids", "outlet": "outlet_ids", "river_outfall": "outfall_ids"}
SOURCE_BY_CRS = {
    InputCRS.WGS84: "reported",
    InputCRS.CGCS2000: "reported",
    InputCRS.GCJ02: "converted_gcj02",
    InputCRS.BD09: "converted_bd09",
}


@dataclass(frozen=True)
class Relocation:
    """Where the feature now stands and what re-screening it did."""

    feature_type: str
    feature_id: int
    longitude: float
    latitude: float
    screening: RunSummary


def province_bounds(session: Session) -> tuple[float, float, float, float] | None:
    """The province's extent (lon_min, lat_min, lon_max, lat_max), if a province is loaded."""
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM admin_regions WHERE level = 'province') x"
        )
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


def relocate(
    session: Session,
    *,
    feature_type: str,
    feature_id: int,
    longitude: str | float,
    latitude: str | float,
    crs: str,
    now: datetime,
    location_source: str | None = None,
) -> Relocation:
    """Move a feature to a typed-in position and re-screen it (and a unit's outlets)."""
    if feature_type not in TABLES:
        raise ValidationError(
            f"unknown feature type {feature_type!r}", field="feature_type", value=feature_type
        )
    input_crs = parse_crs(crs)
    lon, lat = parse_point(longitude, latitude, crs=input_crs, bounds=province_bounds(session))
    moved = session.execute(
        text(
            f"UPDATE {TABLES[feature_type]} SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) "
            "WHERE id = :id RETURNING id"
        ),
        {"x": lon, "y": lat, "id": feature_id},
    ).first()
    if moved is None:
        raise NotFoundError(f"{feature_type} {feature_id} does not exist")
    scope = Scope(
        **{f"{'outfall' if feature_type == 'river_outfall' else feature_type}_ids": (feature_id,)}
    )
    if feature_type == "unit":
        session.execute(
            text("UPDATE units SET location_source = CAST(:s AS location_source) WHERE id = :id"),
            {"s": location_source or SOURCE_BY_CRS[input_crs], "id": feature_id},
        )
        outlets = (
            session.execute(text("SELECT id FROM outlets WHERE unit_id = :id"), {"id": feature_id})
            .scalars()
            .all()
        )
        scope = Scope(unit_ids=(feature_id,), outlet_ids=tuple(outlets))
    summary = screen(session, now=now, scope=scope)
    return Relocation(feature_type, feature_id, lon, lat, summary)
