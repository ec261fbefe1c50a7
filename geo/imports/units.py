"""Import of pollutant discharge units (排污单位) from a spreadsheet, upserted by credit code and
site number.

Rules beyond the shared fields: the industry is a GB/T 4754-2017 class (by code, or by a name the
table knows); a unit of an industry the 名录 (2019) puts under 重点管理 is at least under 简化管理
(size thresholds move it down one tier, never to mere registration). The other direction is not
a rule: the 名录's generic processes (boilers, industrial kilns, surface treatment, water
treatment; classes 109–112) put a unit of any industry under 重点管理. A new unit named exactly
like a stored unit of the same county under another credit code is reported as a likely
duplicate. Columns absent from the file are left as they are on update.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bulk import Deferred, drop_indexes_and_foreign_keys, rebuild_indexes_and_foreign_keys
from geo.coords import InputCRS
from geo.imports.base import ImportReport, ImportSource, Problem
from geo.imports.columns import Column
from geo.imports.fields import (
    COUNTY,
    CREDIT_CODE,
    LATITUDE,
    LONGITUDE,
    SITE_SEQ,
    Cells,
    read_cells,
    read_county,
    read_credit_codes,
    read_points,
    read_site_seq,
)
from geo.imports.staging import (
    SAME_POINT_DEGREES,
    locate_points,
    location_checks,
    point_sql,
    report_queries,
    stage,
)
from geo.screening import Scope

CATEGORIES = {
    **dict.fromkeys(("重点管理", "重点", "key"), "key"),
    **dict.fromkeys(("简化管理", "简化", "simplified"), "simplified"),
    **dict.fromkeys(("登记管理", "排污登记", "登记", "registration"), "registration"),
}
STATUSES = {
    **dict.fromkeys(("运行", "生产", "正常生产", "在产", "operating"), "operating"),
    **dict.fromkeys(("停产", "停运", "暂停生产", "suspended"), "suspended"),
    **dict.fromkeys(("关闭", "关停", "已关闭", "closed"), "closed"),
}
LOCATION_SOURCES = {
    **dict.fromkeys(("实测", "surveyed"), "surveyed"),
    **dict.fromkeys(("申报", "reported"), "reported"),
    **dict.fromkeys(("地址解析", "geocoded"), "geocoded"),
    **dict.fromkeys(("高德转换", "converted_gcj02"), "converted_gcj02"),
    **dict.fromkeys(("百度转换", "converted_bd09"), "converted_bd09"),
}
SOURCE_BY_CRS = {
    InputCRS.GCJ02: "converted_gcj02",
    InputCRS.BD09: "converted_bd09",
}
UNIT_COLUMNS: tuple[Column, ...] = (
    CREDIT_CODE,
    SITE_SEQ,
    Column("name", ("单位名称", "排污单位名称", "企业名称", "name"), True, "the unit's name"),
    Column(
        "industry_code",
        ("行业类别代码", "行业代码", "industry_code", "industry code (GB/T 4754)"),
        False,
        "4-digit GB/T 4754-2017 class; one of this or 行业类别 is required",
    ),
    Column(
        "industry",
        ("行业类别", "所属行业", "industry", "industry_name"),
        False,
        "industry name, or a text holding the code (`D4411 火力发电`)",
    ),
    Column(
        "category",
        ("管理类别", "排污许可管理类别", "category", "management category"),
        True,
        "重点管理 / 简化管理 / 登记管理 (or key / simplified / registration)",
    ),
    COUNTY,
    Column("address", ("地址", "生产经营场所地址", "注册地址", "address"), False, "address"),
    Column(
        "status",
        ("生产状态", "运行状态", "operating_status", "operating status"),
        False,
        "运行 / 停产 / 关闭 (operating / suspended / closed); 运行 when absent",
    ),
    LONGITUDE,
    LATITUDE,
    Column(
        "location_source",
        ("坐标来源", "location_source", "location source"),
        False,
        "实测 / 申报 / 地址解析 / 高德转换 / 百度转换; from --crs when absent",
    ),
)
BULK_LOAD_FROM = 100_000  # new units from which indexes are rebuilt rather than maintained
STAGE_TYPES = {
    "row": "integer",
    "credit_code": "text",
    "site_seq": "smallint",
    "name": "text",
    "industry_code": "text",
    "industry": "text",
    "category": "management_category",
    "county_code": "text",
    "address": "text",
    "status": "operating_status",
    "location_source": "location_source",
    "lon": "float8",
    "lat": "float8",
    "check_digit_ok": "boolean",
}
# Columns an update overwrites when the file has the field's column (field -> unit columns).
UPDATABLE = {
    "name": ("name",),
    "category": ("category",),
    "address": ("address",),
    "status": ("status",),
    "location_source": ("location_source",),
}


@dataclass(frozen=True)
class StagedUnits:
    """What `check` left for `write`: the fields the file gives."""

    fields: frozenset[str]


class UnitImporter:
    """排污单位 from .xlsx/.csv."""

    kind = "units"

    def __init__(self, *, allow_bad_check_digit: bool = False) -> None:
        self.allow_bad_check_digit = allow_bad_check_digit

    def check(
        self, session: Session, source: ImportSource, report: ImportReport
    ) -> StagedUnits | None:
        """Read, validate and stage the units."""
        cells = read_cells(source, report, UNIT_COLUMNS)
        if cells is None:
            return None
        if not (cells.has("industry_code") or cells.has("industry")):
            report.add(
                Problem("the column 行业类别代码 (or 行业类别) is missing", field="行业类别代码")
            )
            return None
        frame = self._parse(cells, source.crs or InputCRS.WGS84)
        source.progress("checked", report.rows, report.rows)
        stage(session, "import_units", frame, STAGE_TYPES)
        self._check_in_database(session, cells, report)
        source.progress("staged", report.rows, report.rows)
        return StagedUnits(frozenset(cells.columns.headers))

    def _parse(self, cells: Cells, crs: InputCRS) -> pd.DataFrame:
        codes, wrong_digit = read_credit_codes(cells)
        sites = read_site_seq(cells)
        cells.duplicates([codes, pd.Series(sites)], CREDIT_CODE.name, "the credit code and site")
        lon, lat = read_points(cells, crs)
        industry_code = cells.text("industry_code")
        if cells.has("industry_code"):
            bad = ~industry_code.str.fullmatch(r"\d{4}|").to_numpy(dtype=bool)
            cells.flag(bad, "industry_code", "an industry code has 4 digits (GB/T 4754-2017)")
        industry = cells.text("industry")
        missing_industry = (industry_code == "").to_numpy() & (industry == "").to_numpy()
        if missing_industry.any():
            name = "industry_code" if cells.has("industry_code") else "industry"
            cells.flag(missing_industry, name, "an industry is required")
        default_source = SOURCE_BY_CRS.get(crs, "reported")
        return pd.DataFrame(
            {
                "row": cells.rows,
                "credit_code": codes.to_numpy(),
                "site_seq": sites,
                "name": cells.required("name").to_numpy(),
                "industry_code": industry_code.to_numpy(),
                "industry": industry.to_numpy(),
                "category": cells.choice("category", CATEGORIES, None).to_numpy(),
                "county_code": read_county(cells).to_numpy(),
                "address": cells.text("address").to_numpy(),
                "status": cells.choice("status", STATUSES, "operating").to_numpy(),
                "location_source": cells.choice(
                    "location_source", LOCATION_SOURCES, default_source
                ).to_numpy(),
                "lon": lon,
                "lat": lat,
                "check_digit_ok": ~wrong_digit,
            }
        )

    def _check_in_database(self, session: Session, cells: Cells, report: ImportReport) -> None:
        # the industry: a code the table holds, else a code inside the text, else a name
        session.execute(
            text(
                "UPDATE import_units s SET industry_code = coalesce("
                "  s.industry_code, substring(s.industry FROM '(?<![0-9])[0-9]{4}(?![0-9])'),"
                "  (SELECT i.code FROM industry_codes i WHERE i.name = s.industry LIMIT 1))"
                " WHERE s.industry_code IS NULL AND s.industry IS NOT NULL"
            )
        )
        industry_header = cells.header(
            "industry_code" if cells.has("industry_code") else "industry"
        )
        params = {
            "allow_bad": self.allow_bad_check_digit,
            "code_header": cells.header(CREDIT_CODE.name),
            "industry_header": industry_header,
            "category_header": cells.header("category"),
            "name_header": cells.header("name"),
            "lon_header": cells.header(LONGITUDE.name),
            "county_header": cells.header(COUNTY.name) if cells.has(COUNTY.name) else None,
        }
        locate_points(session, "import_units", with_county=cells.has(COUNTY.name))
        checks = [
            # a code stored already is kept as it is (the database marks a wrong check digit)
            "SELECT s.row, CAST(:code_header AS text), s.credit_code,"
            " 'wrong check digit (GB 32100-2015); --allow-bad-check-digit keeps such codes'"
            " FROM import_units s WHERE NOT s.check_digit_ok AND NOT :allow_bad AND NOT EXISTS"
            " (SELECT 1 FROM units u WHERE u.credit_code = s.credit_code)",
            "SELECT s.row, CAST(:industry_header AS text), coalesce(s.industry_code, s.industry),"
            " 'not a GB/T 4754-2017 industry class'"
            " FROM import_units s WHERE (s.industry_code ~ '^[0-9]{4}$'"
            " OR s.industry_code IS NULL AND s.industry IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM industry_codes i WHERE i.code = s.industry_code)",
            "SELECT s.row, CAST(:category_header AS text), s.category::text,"
            " 'the 名录 puts industry ' || i.code || ' ' || i.name || ' under '"
            " || i.typical_category::text || ' management: a unit of it is at least simplified"
            " (简化管理), not registered only'"
            " FROM import_units s JOIN industry_codes i ON i.code = s.industry_code"
            " WHERE s.category = 'registration' AND i.typical_category = 'key'",
            "SELECT s.row, CAST(:name_header AS text), s.name,"
            " 'a unit of this name exists in the county under credit code ' || u.credit_code"
            " || ': the same unit under another code?'"
            " FROM import_units s JOIN units u ON u.name = s.name"
            " AND u.county_code = coalesce(s.county_code, s.found_county)"
            " AND u.credit_code <> s.credit_code"
            " WHERE NOT EXISTS (SELECT 1 FROM units k WHERE k.credit_code = s.credit_code"
            " AND k.site_seq = s.site_seq)",
            *location_checks("import_units", with_county=cells.has(COUNTY.name)),
        ]
        report_queries(session, report, checks, params)

    def write(self, session: Session, staged: StagedUnits, report: ImportReport) -> Scope:
        """Update the stored units that changed, insert the new ones; return both."""
        point = point_sql()
        moved = f"NOT ST_DWithin(u.geom, {point}, {SAME_POINT_DEGREES})"
        updates = {
            column: f"s.{column}"
            for field, columns in UPDATABLE.items()
            if field in staged.fields
            for column in columns
        }
        updates |= {
            "geom": f"CASE WHEN {moved} THEN {point} ELSE u.geom END",
            "industry_code": "s.industry_code",
            "county_code": "coalesce(s.county_code, s.found_county)",
        }
        if "location_source" not in staged.fields:  # follows the point only when it moved
            updates["location_source"] = (
                f"CASE WHEN {moved} THEN s.location_source ELSE u.location_source END"
            )
        # an unchanged unit is neither locked nor written (a re-run touches nothing)
        updated = (
            session.execute(
                text(
                    "UPDATE units u SET "
                    + ", ".join(f"{column} = {value}" for column, value in updates.items())
                    + " FROM import_units s"
                    " WHERE u.credit_code = s.credit_code AND u.site_seq = s.site_seq"
                    f" AND ({', '.join(f'u.{c}' for c in updates)})"
                    f" IS DISTINCT FROM ({', '.join(updates.values())})"
                    " RETURNING u.id"
                )
            )
            .scalars()
            .all()
        )
        new = session.execute(
            text(
                "SELECT count(*) FROM import_units s WHERE NOT EXISTS (SELECT 1 FROM units u"
                " WHERE u.credit_code = s.credit_code AND u.site_seq = s.site_seq)"
            )
        ).scalar_one()
        deferred = self._defer_indexes(session, new)
        inserted = (
            session.execute(
                text(
                    "INSERT INTO units (credit_code, site_seq, name, industry_code, category,"
                    " county_code, address, status, location_source, geom)"
                    " SELECT credit_code, site_seq, name, industry_code, category,"
                    " coalesce(county_code, found_county), address, status, location_source,"
                    f" {point}"
                    " FROM import_units s WHERE NOT EXISTS (SELECT 1 FROM units u"
                    "  WHERE u.credit_code = s.credit_code AND u.site_seq = s.site_seq)"
                    " ORDER BY s.row RETURNING id"
                )
            )
            .scalars()
            .all()
        )
        if deferred:
            rebuild_indexes_and_foreign_keys(session.connection(), deferred)
        report.inserted, report.updated = len(inserted), len(updated)
        report.unchanged = report.rows - len(inserted) - len(updated)
        return Scope(unit_ids=(*updated, *inserted))

    @staticmethod
    def _defer_indexes(session: Session, new: int) -> list[Deferred]:
        """For a load that more than doubles the table, drop its secondary indexes and foreign
        keys to rebuild them afterwards (set-based, faster than row by row); the table is
        locked for the import's transaction either way."""
        stored = session.execute(text("SELECT count(*) FROM units")).scalar_one()
        if new < BULK_LOAD_FROM or new < stored:
            return []
        return drop_indexes_and_foreign_keys(session.connection(), ("units",))
