"""Import of river outfalls (入河排污口, HJ 1312-2023 classes), upserted by outfall code.

An outfall is placed on the nearest river line within 1 km of its point (none when there is no
river that close); a new outfall named exactly like a stored one under another code is reported
as a likely duplicate.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.coords import InputCRS
from geo.imports.base import ImportReport, ImportSource
from geo.imports.columns import Column
from geo.imports.fields import LATITUDE, LONGITUDE, read_cells, read_points
from geo.imports.staging import (
    count_written,
    kept_point_sql,
    locate_points,
    location_checks,
    point_sql,
    report_queries,
    stage,
    update_clause,
)
from geo.screening import Scope

RIVER_SNAP_M = 1000
RIVER_SNAP_DEGREES = 0.012  # the index pre-filter: more than 1 km at China's latitudes
OUTFALL_TYPES = {
    **dict.fromkeys(("工业排污口", "工业", "industrial"), "industrial"),
    **dict.fromkeys(
        ("城镇污水处理厂排污口", "污水处理厂排污口", "城镇污水处理厂", "municipal_wwtp"),
        "municipal_wwtp",
    ),
    **dict.fromkeys(("农业排口", "农业", "agricultural"), "agricultural"),
    **dict.fromkeys(("其他排口", "其他", "other"), "other"),
}
OUTFALL_COLUMNS: tuple[Column, ...] = (
    Column("code", ("排污口编码", "入河排污口编码", "code", "outfall code"), True, "unique code"),
    Column("name", ("排污口名称", "入河排污口名称", "name"), True, "name"),
    Column(
        "outfall_type",
        ("排污口类型", "排污口分类", "outfall_type", "outfall type"),
        True,
        "工业排污口 / 城镇污水处理厂排污口 / 农业排口 / 其他排口",
    ),
    Column("receiving_water", ("受纳水体", "receiving_water", "receiving water"), True, "name"),
    LONGITUDE,
    LATITUDE,
)
STAGE_TYPES = {
    "row": "integer",
    "code": "text",
    "name": "text",
    "outfall_type": "outfall_type",
    "receiving_water": "text",
    "lon": "float8",
    "lat": "float8",
}


class OutfallImporter:
    """入河排污口 from .xlsx/.csv."""

    kind = "outfalls"

    def check(self, session: Session, source: ImportSource, report: ImportReport) -> bool | None:
        """Read, validate and stage the outfalls."""
        cells = read_cells(source, report, OUTFALL_COLUMNS)
        if cells is None:
            return None
        codes = cells.required("code")
        cells.duplicates([codes], "code", "the outfall code")
        lon, lat = read_points(cells, source.crs or InputCRS.WGS84)
        frame = pd.DataFrame(
            {
                "row": cells.rows,
                "code": codes.to_numpy(),
                "name": cells.required("name").to_numpy(),
                "outfall_type": cells.choice("outfall_type", OUTFALL_TYPES, None).to_numpy(),
                "receiving_water": cells.required("receiving_water").to_numpy(),
                "lon": lon,
                "lat": lat,
            }
        )
        source.progress("checked", report.rows, report.rows)
        stage(session, "import_outfalls", frame, STAGE_TYPES)
        locate_points(session, "import_outfalls")
        params = {"lon_header": cells.header(LONGITUDE.name), "name_header": cells.header("name")}
        checks = [
            "SELECT s.row, CAST(:name_header AS text), s.name,"
            " 'an outfall of this name is stored under code ' || f.code || ': the same"
            " outfall under another code?' FROM import_outfalls s"
            " JOIN river_outfalls f ON f.name = s.name AND f.code <> s.code"
            " WHERE NOT EXISTS (SELECT 1 FROM river_outfalls k WHERE k.code = s.code)",
            *location_checks("import_outfalls", with_county=False),
        ]
        report_queries(session, report, checks, params)
        source.progress("staged", report.rows, report.rows)
        return True

    def write(self, session: Session, staged: object, report: ImportReport) -> Scope:
        """Upsert the staged outfalls (placed on the nearest river); return those changed."""
        updates = {f: f"EXCLUDED.{f}" for f in ("name", "outfall_type", "receiving_water")}
        updates["geom"] = kept_point_sql("river_outfalls")
        updates["river_id"] = (  # a point that did not move keeps its river
            "CASE WHEN river_outfalls.geom = "
            + updates["geom"]
            + " THEN river_outfalls.river_id ELSE EXCLUDED.river_id END"
        )
        point = point_sql()
        changed = session.execute(
            text(
                "INSERT INTO river_outfalls (code, name, outfall_type, receiving_water, geom,"
                f" river_id) SELECT s.code, s.name, s.outfall_type, s.receiving_water, {point},"
                f" (SELECT r.id FROM rivers r WHERE r.geom && ST_Expand({point},"
                f" {RIVER_SNAP_DEGREES}) AND ST_DWithin(r.geom::geography, {point}::geography,"
                f" {RIVER_SNAP_M}) ORDER BY r.geom <-> {point} LIMIT 1)"
                " FROM import_outfalls s ORDER BY s.row"
                f" ON CONFLICT (code) {update_clause('river_outfalls', updates)}"
                " RETURNING id, xmax = 0 AS inserted"
            )
        ).all()
        count_written(report, changed, report.rows)
        return Scope(outfall_ids=tuple(int(row.id) for row in changed))
