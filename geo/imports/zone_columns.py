"""What the columns of a zones file hold: the column spec, the labels of zone kinds and grades
(Chinese as approvals write them, and permitmap's enum values), and zones read from features'
cells, vectorised per column, each polygon made valid (repairs noted per zone).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from geo.geofiles import repair_note
from geo.imports.base import ImportReport, Problem
from geo.imports.columns import Column, ColumnMap, report_where
from geo.imports.gisfiles import FeatureTable
from geo.imports.values import blank, parse_choices, parse_dates
from geo.models import ZoneKind

KIND_NAMES = {
    ZoneKind.WATER_PROTECTION: "饮用水水源保护区",
    ZoneKind.CONTROL_UNIT: "环境管控单元",
    ZoneKind.ECOLOGICAL_REDLINE: "生态保护红线",
    ZoneKind.NATURE_RESERVE: "自然保护区",
    ZoneKind.INDUSTRIAL_PARK: "工业园区",
}
KIND_LABELS = {
    **{name: kind.value for kind, name in KIND_NAMES.items()},
    **{kind.value: kind.value for kind in ZoneKind},
    "水源保护区": "water_protection", "饮用水水源地": "water_protection",
    "生态环境管控单元": "control_unit", "管控单元": "control_unit",
    "生态红线": "ecological_redline", "自然保护地": "nature_reserve",
    "产业园区": "industrial_park", "园区": "industrial_park",
}  # fmt: skip
GRADE_NAMES = {
    "I": "一级", "II": "二级", "quasi": "准保护区",
    "priority": "优先保护", "key": "重点管控", "general": "一般管控",
    "core": "核心区", "buffer": "缓冲区", "experimental": "实验区",
}  # fmt: skip
GRADE_LABELS = {
    **{name: grade for grade, name in GRADE_NAMES.items()},
    **{grade: grade for grade in GRADE_NAMES},
    "一级保护区": "I", "二级保护区": "II", "准": "quasi",
    "优先保护单元": "priority", "重点管控单元": "key", "一般管控单元": "general",
}  # fmt: skip
ZONE_COLUMNS = (
    Column("code", ("编码", "区域编码", "保护区编码", "管控单元编码", "code"), True,
           "the zone's code; a new code adds a zone, a known one a new version of it"),
    Column("name", ("名称", "保护区名称", "管控单元名称", "区域名称", "name"), True,
           "the zone's name"),
    Column("kind", ("类型", "区域类型", "kind"), True,
           "饮用水水源保护区, 环境管控单元, 生态保护红线, 自然保护区 or 工业园区"),
    Column("grade", ("级别", "保护区级别", "管控类别", "grade"), False,
           "一级/二级/准保护区 (water sources), 优先保护/重点管控/一般管控 (control units), "
           "核心区/缓冲区/实验区 (reserves); empty for red lines and parks"),
    Column(
        "approval_doc",
        ("批复文号", "批复文件", "approval_doc", "approval document"),
        False,
        "the approval's document number",
    ),
    Column("approved_on", ("批复日期", "approved_on"), False, "the approval's date"),
    Column("valid_from", ("生效日期", "valid_from"), False,
           "when this version takes effect (default: 批复日期, else the day of the import)"),
)  # fmt: skip
# A corner-point table may leave out name and kind for zones that exist already.
CORNER_ZONE_COLUMNS = tuple(
    replace(column, required=False) if column.name in ("name", "kind") else column
    for column in ZONE_COLUMNS
)


@dataclass
class StagedZone:
    """A zone as read and checked: its attributes (None where blank), its polygon in EPSG:4326,
    and what `write` does with it: "insert" (version 1), "version" (the next) or "unchanged"."""

    row: int
    code: str
    name: str | None
    kind: str | None
    grade: str | None
    approval_doc: str | None
    approved_on: date | None
    valid_from: date | None
    geometry: BaseGeometry
    action: str = "insert"
    version: int = 1


def read_zones(
    features: FeatureTable, columns: ColumnMap, required: set[str], report: ImportReport
) -> list[StagedZone]:
    """Zones from the features' cells (vectorised per column; `required`: the fields that
    must not be blank); rows with problems left out, their problems in `report`."""
    frame, rows = features.frame, features.rows
    bad = np.zeros(len(frame), dtype=bool)

    def cells(name: str) -> pd.Series:
        if not columns.has(name):
            return pd.Series([""] * len(frame), dtype=object)
        return frame[columns.header(name)].astype(str).str.strip().reset_index(drop=True)

    def flag(mask: np.ndarray, name: str, message: str) -> None:
        nonlocal bad
        if columns.has(name) and report_where(
            report, mask, cells(name), rows, columns.header(name), message
        ):
            bad |= mask

    code, name = cells("code"), cells("name")
    flag(blank(code), "code", "a zone code is required")
    bad |= _repeated(code, rows, columns, report)
    kind, bad_kind = parse_choices(cells("kind"), KIND_LABELS)
    grade, bad_grade = parse_choices(cells("grade"), GRADE_LABELS)
    approved_on, bad_approved = parse_dates(cells("approved_on"))
    valid_from, bad_valid = parse_dates(cells("valid_from"))
    if "name" in required:
        flag(blank(name), "name", "a zone name is required")
    if "kind" in required:
        flag(blank(cells("kind")), "kind", "a zone kind is required")
    flag(bad_kind, "kind", "unknown kind: use " + ", ".join(KIND_NAMES.values()))
    flag(
        bad_grade,
        "grade",
        "unknown grade: use 一级/二级/准保护区, 优先保护/重点管控/一般管控 or 核心区/缓冲区/实验区",
    )
    for mask, field in ((bad_approved, "approved_on"), (bad_valid, "valid_from")):
        flag(mask, field, "not a date: write it as 2024-05-01, 2024/5/1 or 2024年5月1日")
    geometries, bad_geometry = polygons(features.geometries, code.to_numpy(), rows, report)
    keep = np.flatnonzero(~(bad | bad_geometry))
    doc = cells("approval_doc")
    return [
        StagedZone(
            row=int(rows[i]), code=code.iat[i], name=name.iat[i] or None,
            kind=_choice(kind.iat[i]), grade=_choice(grade.iat[i]),
            approval_doc=doc.iat[i] or None,
            approved_on=_day(approved_on.iat[i]), valid_from=_day(valid_from.iat[i]),
            geometry=geometries[i],
        )
        for i in keep
    ]  # fmt: skip


def _repeated(
    code: pd.Series, rows: np.ndarray, columns: ColumnMap, report: ImportReport
) -> np.ndarray:
    """Rows whose code an earlier row has (a problem each); all their rows are left out."""
    again = code.duplicated(keep="first").to_numpy() & ~blank(code)
    first = pd.Series(rows).groupby(code.to_numpy()).min()
    for i in np.flatnonzero(again):
        report.add(
            Problem(
                f"zone {code.iat[i]} is in the file twice (first at row "
                f"{first[code.iat[i]]}); give each zone once",
                row=int(rows[i]),
                field=columns.header("code"),
                value=code.iat[i],
            )
        )
    return code.duplicated(keep=False).to_numpy() & ~blank(code)


def _choice(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _day(value: object) -> date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


def polygons(
    geometries: np.ndarray, labels: np.ndarray, rows: np.ndarray, report: ImportReport
) -> tuple[np.ndarray, np.ndarray]:
    """Each geometry as a valid MultiPolygon (repairs noted as `zone <label>: ...`), and a mask
    of those with a problem: none, empty, not polygonal, or no area once made valid."""
    out = np.empty(len(geometries), dtype=object)
    bad = np.zeros(len(geometries), dtype=bool)
    for i, geometry in enumerate(geometries):
        where = f"zone {labels[i]}" if labels[i] else f"the feature at row {rows[i]}"
        if geometry is None or geometry.is_empty:
            report.add(Problem(f"{where} has no geometry", row=int(rows[i])))
            bad[i] = True
            continue
        if not geometry.is_valid:
            report.note(f"{where}: {repair_note(shapely.is_valid_reason(geometry))}")
            geometry = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
        parts = [p for p in _flat_parts(geometry) if p.geom_type == "Polygon"]
        if not parts:
            what = (
                "has no area"
                if geometry.geom_type.endswith("Polygon")
                else (f"is a {geometry.geom_type}, not a polygon")
            )
            report.add(Problem(f"{where} {what}", row=int(rows[i]), value=geometry.geom_type))
            bad[i] = True
            continue
        merged = MultiPolygon(parts)
        out[i] = (
            merged if merged.is_valid else MultiPolygon(shapely.get_parts(shapely.union_all(parts)))
        )
    return out, bad


def _flat_parts(geometry: BaseGeometry) -> np.ndarray:
    """Single-part geometries (multi-geometries and collections taken apart, however nested)."""
    parts = np.asarray([geometry], dtype=object)
    while (shapely.get_type_id(parts) >= 4).any():
        parts = shapely.get_parts(parts)
    return parts


def column_title(columns: ColumnMap, name: str) -> str:
    """The field's header in the file, else its documented title (for messages)."""
    return (
        columns.header(name)
        if columns.has(name)
        else next(c.title for c in ZONE_COLUMNS if c.name == name)
    )
