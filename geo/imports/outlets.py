"""Import of discharge outlets (排放口) and, optionally, their permitted pollutants, upserted by
the unit (credit code, site number) and the outlet code.

One row per outlet; or, with a 污染物代码 column, one row per outlet and pollutant (the outlet's
own fields repeated, and they must agree). The code's second letter gives the medium (DW water,
DA air); a 类别 column must agree with it; only a water outlet has a receiving water. When the
file lists pollutants, an outlet's stored pollutants become exactly those listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.coords import InputCRS
from geo.imports.base import ImportReport, ImportSource
from geo.imports.columns import Column
from geo.imports.fields import (
    CREDIT_CODE,
    LATITUDE,
    LONGITUDE,
    RECEIVING_WATER,
    SITE_SEQ,
    Cells,
    read_cells,
    read_credit_codes,
    read_points,
    read_site_seq,
)
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
from geo.imports.values import blank, parse_numbers
from geo.models import OUTLET_CODE_PATTERN
from geo.screening import Scope

MEDIA = {
    **dict.fromkeys(("废水", "水", "废水排放口", "water"), "water"),
    **dict.fromkeys(("废气", "气", "大气", "废气排放口", "air"), "air"),
}
OUTLET_KINDS = {
    **dict.fromkeys(("主要排放口", "主要", "main"), "main"),
    **dict.fromkeys(("一般排放口", "一般", "general"), "general"),
}
POLLUTANT_FIELDS = ("pollutant_name", "concentration_limit", "concentration_unit", "annual_limit")
OUTLET_COLUMNS: tuple[Column, ...] = (
    CREDIT_CODE,
    SITE_SEQ,
    Column("code", ("排放口编号", "排污口编号", "code", "outlet code"), True, "DW001 / DA001"),
    Column(
        "medium", ("类别", "排放口类别", "medium"), False, "废水 / 废气; must agree with the code"
    ),
    Column(
        "kind",
        ("排放口类型", "kind", "outlet type"),
        True,
        "主要排放口 / 一般排放口 (main / general)",
    ),
    LONGITUDE,
    LATITUDE,
    RECEIVING_WATER,
    Column(
        "pollutant_code",
        ("污染物代码", "pollutant_code"),
        False,
        "HJ 212 / HJ 524 code (w01018, a21026…): one row per outlet and pollutant",
    ),
    Column("pollutant_name", ("污染物名称", "污染物种类", "pollutant_name"), False, "with a code"),
    Column(
        "concentration_limit",
        ("许可排放浓度限值", "排放浓度限值", "浓度限值", "concentration_limit"),
        False,
        "a number > 0 (read only with 污染物代码)",
    ),
    Column("concentration_unit", ("浓度单位", "concentration_unit"), False, "mg/L or mg/m3"),
    Column(
        "annual_limit",
        ("年许可排放量(吨)", "年许可排放量", "许可排放量", "annual_limit_t"),
        False,
        "tonnes per year",
    ),
)
STAGE_TYPES = {
    "row": "integer",
    "credit_code": "text",
    "site_seq": "smallint",
    "code": "text",
    "medium": "medium",
    "kind": "outlet_kind",
    "lon": "float8",
    "lat": "float8",
    "receiving_water": "text",
    "pollutant_code": "text",
    "pollutant_name": "text",
    "concentration_limit": "numeric",
    "concentration_unit": "text",
    "annual_limit": "numeric",
}
_OUTLET_FIELDS = "s.medium, s.kind, s.lon, s.lat, s.receiving_water"


@dataclass(frozen=True)
class StagedOutlets:
    """What `check` left for `write`: the fields the file gives, and whether it lists
    pollutants."""

    fields: frozenset[str]
    with_pollutants: bool


class OutletImporter:
    """排放口 (and their permitted pollutants) from .xlsx/.csv."""

    kind = "outlets"

    def check(
        self, session: Session, source: ImportSource, report: ImportReport
    ) -> StagedOutlets | None:
        """Read, validate and stage the outlets."""
        cells = read_cells(source, report, OUTLET_COLUMNS)
        if cells is None:
            return None
        columns = cells.columns
        with_pollutants = columns.has("pollutant_code")
        if not with_pollutants:
            given = [columns.header(f) for f in POLLUTANT_FIELDS if columns.has(f)]
            if given:
                report.note(
                    f"{', '.join(given)}: pollutant columns are read only with 污染物代码"
                    " (one row per outlet and pollutant); stored pollutants are kept"
                )
            columns = type(columns)(
                {k: v for k, v in columns.headers.items() if k not in POLLUTANT_FIELDS}
            )
            cells = Cells(cells.frame, columns, cells.rows, report)
        frame = self._parse(cells, source.crs or InputCRS.WGS84, with_pollutants)
        source.progress("checked", report.rows, report.rows)
        stage(session, "import_outlets", frame, STAGE_TYPES)
        self._check_in_database(session, cells, report)
        source.progress("staged", report.rows, report.rows)
        return StagedOutlets(frozenset(columns.headers), with_pollutants)

    def _parse(self, cells: Cells, crs: InputCRS, with_pollutants: bool) -> pd.DataFrame:
        codes, _ = read_credit_codes(cells)  # they must match stored units
        sites = read_site_seq(cells)
        outlet = cells.required("code").str.upper()
        bad_code = ~outlet.str.fullmatch(OUTLET_CODE_PATTERN.strip("^$")).to_numpy(bool)
        cells.flag(bad_code & ~blank(outlet), "code", "an outlet code is DW or DA and 3 digits")
        medium = np.where(outlet.str[1] == "W", "water", "air")
        if cells.has("medium"):
            given = cells.choice("medium", MEDIA, None)
            clash = given.notna().to_numpy() & (given.to_numpy() != medium) & ~bad_code
            cells.flag(clash, "medium", "the outlet code says the other medium (DW water, DA air)")
        receiving = cells.text(RECEIVING_WATER.name)
        if cells.has(RECEIVING_WATER.name):
            on_air = (medium == "air") & ~blank(receiving)
            cells.flag(on_air, RECEIVING_WATER.name, "only a water outlet has a receiving water")
        keys = [codes, pd.Series(sites), outlet]
        pollutants = self._pollutants(cells, medium) if with_pollutants else {}
        if with_pollutants:
            keys.append(pd.Series(pollutants["pollutant_code"]))
        cells.duplicates(keys, "code", "the outlet" + (" and pollutant" if with_pollutants else ""))
        lon, lat = read_points(cells, crs)
        return pd.DataFrame(
            {
                "row": cells.rows,
                "credit_code": codes.to_numpy(),
                "site_seq": sites,
                "code": outlet.to_numpy(),
                "medium": medium,
                "kind": cells.choice("kind", OUTLET_KINDS, None).to_numpy(),
                "lon": lon,
                "lat": lat,
                "receiving_water": receiving.to_numpy(),
                **{
                    name: pollutants.get(name, np.full(len(cells), ""))
                    for name in ("pollutant_code", *POLLUTANT_FIELDS)
                },
            }
        )

    @staticmethod
    def _pollutants(cells: Cells, medium: np.ndarray) -> dict[str, np.ndarray]:
        code = cells.required("pollutant_code").str.lower()
        bad = ~code.str.fullmatch(r"[wa]\d{5}").to_numpy(bool) & ~blank(code)
        cells.flag(bad, "pollutant_code", "a pollutant code is w or a and 5 digits (HJ 212)")
        limit, bad_limit = parse_numbers(cells.required("concentration_limit"))
        cells.flag(bad_limit | (limit <= 0), "concentration_limit", "a limit is a number > 0")
        annual, bad_annual = parse_numbers(cells.text("annual_limit"))
        if cells.has("annual_limit"):
            cells.flag(bad_annual | (annual < 0), "annual_limit", "tonnes: a number >= 0")
        unit = cells.text("concentration_unit")
        unit = unit.where(~blank(unit), pd.Series(np.where(medium == "water", "mg/L", "mg/m3")))
        name = cells.text("pollutant_name")
        return {
            "pollutant_code": code.to_numpy(),
            "pollutant_name": name.where(~blank(name), code).to_numpy(),
            "concentration_limit": limit,
            "concentration_unit": unit.to_numpy(),
            "annual_limit": annual,
        }

    def _check_in_database(self, session: Session, cells: Cells, report: ImportReport) -> None:
        session.execute(
            text(
                "ALTER TABLE import_outlets ADD COLUMN unit_id bigint;"
                " UPDATE import_outlets s SET unit_id = u.id FROM units u"
                " WHERE u.credit_code = s.credit_code AND u.site_seq = s.site_seq"
            )
        )
        locate_points(session, "import_outlets")
        params = {
            "code_header": cells.header(CREDIT_CODE.name),
            "outlet_header": cells.header("code"),
            "lon_header": cells.header(LONGITUDE.name),
        }
        checks = [
            "SELECT s.row, CAST(:code_header AS text), s.credit_code,"
            " 'no unit with this credit code and site ' || s.site_seq || ': import the units"
            " first' FROM import_outlets s WHERE s.unit_id IS NULL AND s.credit_code IS NOT NULL",
            # with pollutants, the outlet's own fields repeat on its rows and must agree
            "SELECT s.row, CAST(:outlet_header AS text), s.code,"
            " 'the outlet''s type, place or receiving water differ from row ' || f.row"
            " FROM import_outlets s JOIN LATERAL (SELECT * FROM import_outlets f"
            "  WHERE f.unit_id = s.unit_id AND f.code = s.code ORDER BY f.row LIMIT 1) f ON true"
            f" WHERE f.row <> s.row AND ({_OUTLET_FIELDS})"
            f" IS DISTINCT FROM ({_OUTLET_FIELDS.replace('s.', 'f.')})",
            *location_checks("import_outlets", with_county=False),
        ]
        report_queries(session, report, checks, params)

    def write(self, session: Session, staged: StagedOutlets, report: ImportReport) -> Scope:
        """Upsert the staged outlets (and pollutants); return the outlets that changed."""
        updates = {
            "medium": "EXCLUDED.medium",
            "kind": "EXCLUDED.kind",
            "geom": kept_point_sql("outlets"),
        }
        if RECEIVING_WATER.name in staged.fields:
            updates["receiving_water"] = "EXCLUDED.receiving_water"
        changed = session.execute(
            text(
                "INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)"
                f" SELECT DISTINCT ON (unit_id, code) unit_id, code, medium, kind, {point_sql()},"
                " receiving_water FROM import_outlets s ORDER BY unit_id, code, row"
                f" ON CONFLICT (unit_id, code) {update_clause('outlets', updates)}"
                " RETURNING id, xmax = 0 AS inserted"
            )
        ).all()
        outlets = session.execute(
            text("SELECT count(DISTINCT (unit_id, code)) FROM import_outlets")
        )
        count_written(report, changed, int(outlets.scalar_one()))
        if staged.with_pollutants:
            self._write_pollutants(session, report)
        return Scope(outlet_ids=tuple(int(row.id) for row in changed))

    @staticmethod
    def _write_pollutants(session: Session, report: ImportReport) -> None:
        session.execute(text("DROP TABLE IF EXISTS import_outlet_pollutants"))
        session.execute(
            text(
                "CREATE TEMP TABLE import_outlet_pollutants ON COMMIT DROP AS"
                " SELECT o.id AS outlet_id, s.pollutant_code, s.pollutant_name,"
                " s.concentration_limit, s.concentration_unit, s.annual_limit"
                " FROM import_outlets s JOIN outlets o ON o.unit_id = s.unit_id AND o.code = s.code"
            )
        )
        removed = session.execute(
            text(
                "DELETE FROM outlet_pollutants p USING (SELECT DISTINCT outlet_id"
                " FROM import_outlet_pollutants) s WHERE p.outlet_id = s.outlet_id"
                " AND NOT EXISTS (SELECT 1 FROM import_outlet_pollutants n"
                "  WHERE n.outlet_id = p.outlet_id AND n.pollutant_code = p.pollutant_code)"
            )
        ).rowcount
        written = session.execute(
            text(
                "INSERT INTO outlet_pollutants (outlet_id, pollutant_code, pollutant_name,"
                " concentration_limit, concentration_unit, annual_limit_t)"
                " SELECT * FROM import_outlet_pollutants"
                " ON CONFLICT (outlet_id, pollutant_code) DO UPDATE SET"
                " pollutant_name = EXCLUDED.pollutant_name,"
                " concentration_limit = EXCLUDED.concentration_limit,"
                " concentration_unit = EXCLUDED.concentration_unit,"
                " annual_limit_t = EXCLUDED.annual_limit_t"
                " WHERE (outlet_pollutants.pollutant_name, outlet_pollutants.concentration_limit,"
                " outlet_pollutants.concentration_unit, outlet_pollutants.annual_limit_t)"
                " IS DISTINCT FROM (EXCLUDED.pollutant_name, EXCLUDED.concentration_limit,"
                " EXCLUDED.concentration_unit, EXCLUDED.annual_limit_t)"
            )
        ).rowcount
        report.note(f"pollutant limits: {written} written, {removed} removed")
