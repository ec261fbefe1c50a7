"""The admin regions import: province, city and county boundaries (GB/T 2260 codes) from a
GeoPackage, a zipped Shapefile or GeoJSON (read as `geo.imports.gisfiles` reads zoning files),
upserted by code: a new code is added, a known one updated when its name, level, parent or
boundary (compared at 1e-9° in PostGIS) differs.

A region below the province names its parent (上级代码), which must be in the file or loaded
already; a province has none. Regions are not versioned (a boundary change overwrites) and
screening does not depend on them, so the import re-screens nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationError
from geo.imports.base import ImportReport, ImportSource
from geo.imports.columns import Column, ColumnMap, map_columns, report_where
from geo.imports.gisfiles import TABLE, FeatureTable, file_format, read_gis_layer
from geo.imports.values import blank, parse_choices
from geo.imports.zone_columns import polygons
from geo.screening import Scope

REGION_COLUMNS = (
    Column("code", ("行政区划代码", "区划代码", "代码", "code"), True,
           "the 6-digit GB/T 2260 code"),
    Column("name", ("名称", "行政区划名称", "区划名称", "name"), True, "the region's name"),
    Column("level", ("级别", "层级", "level"), True, "省, 市 or 区县 (province, city, county)"),
    Column("parent_code", ("上级代码", "上级行政区划代码", "parent_code"), False,
           "the code of the region it belongs to (all but the province)"),
)  # fmt: skip
LEVEL_LABELS = {
    **dict.fromkeys(("省", "省级", "直辖市", "自治区", "province"), "province"),
    **dict.fromkeys(("市", "市级", "地级", "地级市", "地区", "自治州", "city"), "city"),
    **dict.fromkeys(("区县", "县区", "县", "区", "县级", "县级市", "自治县", "county"), "county"),
}
EQUAL_GRID = 1e-9  # degrees: boundaries equal at this precision are unchanged
_CODE = r"^\d{6}$"
_STATE_SQL = """
SELECT s.code,
       CASE WHEN r.code IS NULL THEN 'insert'
            WHEN (r.name, r.level::text, r.parent_code) IS NOT DISTINCT FROM
                 (s.name, s.level, s.parent)
             AND ST_Equals(ST_ReducePrecision(r.geom, :grid),
                           ST_ReducePrecision(ST_GeomFromWKB(s.wkb, 4326), :grid))
            THEN 'unchanged' ELSE 'update' END AS action
FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:levels AS text[]),
            CAST(:parents AS text[]), CAST(:wkbs AS bytea[])) AS s(code, name, level, parent, wkb)
LEFT JOIN admin_regions r ON r.code = s.code
"""
_UPSERT_SQL = """
INSERT INTO admin_regions (code, name, level, parent_code, geom)
SELECT s.code, s.name, CAST(s.level AS region_level), s.parent, ST_GeomFromWKB(s.wkb, 4326)
FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:levels AS text[]),
            CAST(:parents AS text[]), CAST(:wkbs AS bytea[])) AS s(code, name, level, parent, wkb)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level,
  parent_code = EXCLUDED.parent_code, geom = EXCLUDED.geom
"""


@dataclass(frozen=True)
class StagedRegions:
    """Regions to add or update (unchanged ones are left out), as parallel lists."""

    codes: list[str]
    names: list[str]
    levels: list[str]
    parents: list[str | None]
    wkbs: list[bytes]


class RegionImporter:
    """Admin regions from GIS files (the `Importer` protocol, kind "regions")."""

    kind = "regions"

    def check(self, session: Session, source: ImportSource, report: ImportReport) -> StagedRegions:
        """Read and validate the file, compare with the loaded regions; writes nothing."""
        empty = StagedRegions([], [], [], [], [])
        fmt = file_format(source.data)
        if fmt == TABLE:
            raise ValidationError(
                "file: admin regions come as a GeoPackage, a zipped Shapefile or GeoJSON",
                field="file",
            )
        features = read_gis_layer(source, fmt, report)
        if features is None:
            return empty
        report.rows = len(features.rows)
        columns = map_columns(list(features.frame.columns), REGION_COLUMNS, report)
        if columns is None:
            return empty
        regions = _read_regions(session, features, columns, report)
        if regions is None:
            return empty
        parameters = {**regions.__dict__, "grid": EQUAL_GRID}
        actions = {row.code: row.action for row in session.execute(text(_STATE_SQL), parameters)}
        keep = [i for i, code in enumerate(regions.codes) if actions[code] != "unchanged"]
        report.inserted = sum(action == "insert" for action in actions.values())
        report.updated = sum(action == "update" for action in actions.values())
        report.unchanged = len(actions) - report.inserted - report.updated
        return StagedRegions(*([values[i] for i in keep] for values in regions.__dict__.values()))

    def write(self, session: Session, staged: object, report: ImportReport) -> Scope:
        """Add new regions and update changed ones; nothing to re-screen (an empty Scope)."""
        if not isinstance(staged, StagedRegions):
            raise TypeError("write takes what check returned")
        if staged.codes:
            session.execute(text(_UPSERT_SQL), staged.__dict__)
        return Scope()


def _read_regions(
    session: Session, features: FeatureTable, columns: ColumnMap, report: ImportReport
) -> StagedRegions | None:
    """The regions of the features, or None when any has a problem (each reported)."""
    frame, rows = features.frame, features.rows
    before = report.problem_count

    def cells(name: str) -> pd.Series:
        if not columns.has(name):
            return pd.Series([""] * len(frame), dtype=object)
        return frame[columns.header(name)].astype(str).str.strip().reset_index(drop=True)

    def flag(mask: np.ndarray, name: str, message: str) -> None:
        report_where(report, mask, cells(name), rows, columns.header(name), message)

    code, name, parent = cells("code"), cells("name"), cells("parent_code")
    level, bad_level = parse_choices(cells("level"), LEVEL_LABELS)
    level = level.fillna("")
    flag(~code.str.match(_CODE).to_numpy(), "code", "a region code is 6 digits (GB/T 2260)")
    flag(code.duplicated().to_numpy(), "code", "this code is in the file already")
    flag(blank(name), "name", "a region name is required")
    flag(bad_level | blank(cells("level")), "level", "the level is 省, 市 or 区县")
    if columns.has("parent_code"):
        flag(
            ~blank(parent) & ~parent.str.match(_CODE).to_numpy(),
            "parent_code",
            "a parent code is 6 digits",
        )
        flag(
            ((level == "province") & (parent != "")).to_numpy(),
            "parent_code",
            "a province has no parent region",
        )
    below = ((level != "province") & (level != "") & (parent == "")).to_numpy()
    report_where(
        report,
        below,
        cells("level"),
        rows,
        columns.header("level"),
        "a city or county needs its parent's code (上级代码)",
    )
    _check_parents(session, code, parent, rows, columns, report)
    geometries, _ = polygons(features.geometries, code.to_numpy(), rows, report)
    if report.problem_count > before:
        return None
    return StagedRegions(
        code.tolist(), name.tolist(), level.tolist(),
        [p or None for p in parent.tolist()], [shapely.to_wkb(g) for g in geometries],
    )  # fmt: skip


def _check_parents(
    session: Session,
    code: pd.Series,
    parent: pd.Series,
    rows: np.ndarray,
    columns: ColumnMap,
    report: ImportReport,
) -> None:
    """A problem for each parent code that is neither in the file nor loaded."""
    wanted = sorted(set(parent) - set(code) - {""})
    if not wanted:
        return
    loaded = set(
        session.execute(
            text("SELECT code FROM admin_regions WHERE code = ANY(CAST(:codes AS text[]))"),
            {"codes": wanted},
        ).scalars()
    )
    missing = (parent.isin(set(wanted) - loaded)).to_numpy()
    report_where(
        report,
        missing,
        parent,
        rows,
        columns.header("parent_code"),
        "no region with this code in the file nor loaded",
    )
