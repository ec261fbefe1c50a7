"""Import of permits and registrations (排污许可证 / 排污登记) from a spreadsheet, upserted by
permit number.

Every permit belongs to a unit already stored (by credit code and site number: import the units
first). The number follows HJ 608-2017 and starts with the unit's credit code; the dates are in
order (issued ≤ valid from < valid to); a registration-category unit holds a registration and
the others a permit. A changed permit moves on its `version` (so an editor holding the old one
gets a conflict) and gets a history row `import`; a new one gets its `issue` row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.imports.base import ImportReport, ImportSource, Problem
from geo.imports.columns import Column
from geo.imports.fields import (
    CREDIT_CODE,
    SITE_SEQ,
    Cells,
    read_cells,
    read_credit_codes,
    read_site_seq,
)
from geo.imports.staging import (
    report_queries,
    stage,
    update_clause,
)
from geo.imports.values import blank, parse_date_ranges, parse_dates
from geo.models import PERMIT_NO_PATTERN
from geo.permits import HISTORY_ACTOR
from geo.screening import Scope

KINDS = {
    **dict.fromkeys(("排污许可证", "许可证", "permit"), "permit"),
    **dict.fromkeys(("排污登记", "登记", "登记表", "registration"), "registration"),
}
STATUSES = {
    **dict.fromkeys(("有效", "在有效期内", "valid"), "valid"),
    **dict.fromkeys(("过期", "已过期", "失效", "expired"), "expired"),
    **dict.fromkeys(("撤销", "已撤销", "revoked"), "revoked"),
    **dict.fromkeys(("注销", "已注销", "cancelled"), "cancelled"),
    **dict.fromkeys(("吊销", "已吊销", "withdrawn"), "withdrawn"),
}
FREQUENCIES = {"年报": "annual", "半年报": "semiannual", "季报": "quarterly", "月报": "monthly"}
PERMIT_COLUMNS: tuple[Column, ...] = (
    Column(
        "permit_no",
        ("许可证编号", "排污许可证编号", "登记编号", "permit_no", "permit number"),
        True,
        "22 characters (HJ 608-2017): the credit code, 3 digits, a letter",
    ),
    CREDIT_CODE,
    SITE_SEQ,
    Column(
        "kind",
        ("许可证类型", "证书类型", "kind"),
        False,
        "排污许可证 / 排污登记; from the unit's category when absent",
    ),
    Column("issued_on", ("发证日期", "登记日期", "issued_on"), False, "date; 有效期起 when absent"),
    Column(
        "validity",
        ("有效期限", "有效期", "validity"),
        False,
        "`2021-01-01至2025-12-31`; or the two columns below",
    ),
    Column(
        "valid_from", ("有效期起", "有效期开始", "valid_from", "permit valid from"), False, "date"
    ),
    Column("valid_to", ("有效期至", "有效期截止", "valid_to", "permit valid to"), False, "date"),
    Column("authority", ("发证机关", "发证机构", "authority"), True, "the issuing authority"),
    Column(
        "status",
        ("许可证状态", "状态", "status"),
        False,
        "有效 / 过期 / 撤销 / 注销 / 吊销; 有效 when absent",
    ),
    Column(
        "report_frequencies",
        ("执行报告频次", "执行报告", "report_frequencies"),
        False,
        "年报、半年报、季报、月报 (any of them, separated by 、 , ; or spaces)",
    ),
)
STAGE_TYPES = {
    "row": "integer",
    "permit_no": "text",
    "credit_code": "text",
    "site_seq": "smallint",
    "kind": "permit_kind",
    "issued_on": "date",
    "valid_from": "date",
    "valid_to": "date",
    "authority": "text",
    "status": "permit_status",
    "report_frequencies": "text",
}
_PERMIT_NO = re.compile(PERMIT_NO_PATTERN)
_SEPARATORS = r"[、,，;；\s]+"


@dataclass(frozen=True)
class StagedPermits:
    """What `check` left for `write`: the fields the file gives."""

    fields: frozenset[str]


class PermitImporter:
    """排污许可证 and 排污登记 from .xlsx/.csv."""

    kind = "permits"

    def check(
        self, session: Session, source: ImportSource, report: ImportReport
    ) -> StagedPermits | None:
        """Read, validate and stage the permits."""
        cells = read_cells(source, report, PERMIT_COLUMNS)
        if cells is None:
            return None
        if not cells.has("validity") and not (cells.has("valid_from") and cells.has("valid_to")):
            report.add(
                Problem(
                    "the column 有效期限 (or 有效期起 and 有效期至) is missing", field="有效期限"
                )
            )
            return None
        frame = self._parse(cells)
        source.progress("checked", report.rows, report.rows)
        stage(session, "import_permits", frame, STAGE_TYPES)
        self._check_in_database(session, cells, report)
        source.progress("staged", report.rows, report.rows)
        return StagedPermits(frozenset(cells.columns.headers))

    def _parse(self, cells: Cells) -> pd.DataFrame:
        codes, _ = read_credit_codes(cells)  # they must match stored units
        numbers = cells.required("permit_no").str.upper()
        well_formed = numbers.str.match(_PERMIT_NO).to_numpy(dtype=bool)
        cells.flag(
            ~well_formed & ~blank(numbers),
            "permit_no",
            "a permit number has 22 characters (HJ 608-2017): the unit's 18-character credit"
            " code, a 3-digit sequence and a letter",
        )
        foreign = well_formed & (numbers.str[:18] != codes).to_numpy()
        cells.flag(foreign, "permit_no", "the permit number does not start with the credit code")
        cells.duplicates([numbers], "permit_no", "the permit number")
        valid_from, valid_to = self._validity(cells)
        issued_on, bad = parse_dates(cells.text("issued_on"))
        if cells.has("issued_on"):
            cells.flag(bad, "issued_on", "not a date (2023-01-05, 2023/1/5, 2023年1月5日)")
        issued_on = issued_on.fillna(valid_from)
        late = (issued_on > valid_from).to_numpy()
        if late.any():
            cells.flag(
                late,
                "issued_on" if cells.has("issued_on") else "valid_from",
                "issued after the validity starts",
            )
        frequencies = self._frequencies(cells)
        return pd.DataFrame(
            {
                "row": cells.rows,
                "permit_no": numbers.to_numpy(),
                "credit_code": codes.to_numpy(),
                "site_seq": read_site_seq(cells),
                "kind": cells.choice("kind", KINDS, "").to_numpy(),
                "issued_on": issued_on.dt.date.to_numpy(),
                "valid_from": valid_from.dt.date.to_numpy(),
                "valid_to": valid_to.dt.date.to_numpy(),
                "authority": cells.required("authority").to_numpy(),
                "status": cells.choice("status", STATUSES, "valid").to_numpy(),
                "report_frequencies": frequencies.to_numpy(),
            }
        )

    @staticmethod
    def _validity(cells: Cells) -> tuple[pd.Series, pd.Series]:
        if cells.has("validity"):
            valid_from, valid_to, bad = parse_date_ranges(cells.required("validity"))
            cells.flag(bad, "validity", "not a validity range (2021-01-01至2025-12-31)")
            name = "validity"
        else:
            valid_from, bad_from = parse_dates(cells.required("valid_from"))
            valid_to, bad_to = parse_dates(cells.required("valid_to"))
            cells.flag(bad_from, "valid_from", "not a date (2023-01-05, 2023/1/5, 2023年1月5日)")
            cells.flag(bad_to, "valid_to", "not a date (2023-01-05, 2023/1/5, 2023年1月5日)")
            name = "valid_to"
        reversed_ = (valid_to <= valid_from).to_numpy()
        cells.flag(reversed_, name, "the validity ends before it starts")
        return valid_from, valid_to

    @staticmethod
    def _frequencies(cells: Cells) -> pd.Series:
        values = cells.text("report_frequencies")
        if not cells.has("report_frequencies"):
            return values
        known = {**FREQUENCIES, **{v: v for v in FREQUENCIES.values()}}
        parts = values.str.split(_SEPARATORS, regex=True)
        bad = parts.map(lambda items: any(i and i not in known for i in items)).to_numpy(bool)
        cells.flag(bad, "report_frequencies", "frequencies are 年报、半年报、季报、月报")
        return parts.map(
            lambda items: "{" + ",".join(known[i] for i in items if i in known) + "}"
        ).where(~blank(values), "")

    def _check_in_database(self, session: Session, cells: Cells, report: ImportReport) -> None:
        params = {
            "code_header": cells.header(CREDIT_CODE.name),
            "no_header": cells.header("permit_no"),
            "kind_header": cells.header("kind") if cells.has("kind") else cells.header("permit_no"),
        }
        session.execute(
            text(
                "ALTER TABLE import_permits ADD COLUMN unit_id bigint;"
                " UPDATE import_permits s SET unit_id = u.id FROM units u"
                " WHERE u.credit_code = s.credit_code AND u.site_seq = s.site_seq;"
                " UPDATE import_permits s SET kind = CASE WHEN u.category = 'registration'"
                " THEN 'registration' ELSE 'permit' END::permit_kind"
                " FROM units u WHERE u.id = s.unit_id AND s.kind IS NULL"
            )
        )
        checks = [
            "SELECT s.row, CAST(:code_header AS text), s.credit_code,"
            " 'no unit with this credit code and site ' || s.site_seq || ': import the units"
            " first' FROM import_permits s WHERE s.unit_id IS NULL AND s.credit_code IS NOT NULL",
            "SELECT s.row, CAST(:no_header AS text), s.permit_no,"
            " 'this number belongs to the permit of another unit (' || u.credit_code || ')'"
            " FROM import_permits s JOIN permits p ON p.permit_no = s.permit_no"
            " JOIN units u ON u.id = p.unit_id WHERE p.unit_id <> s.unit_id",
            "SELECT s.row, CAST(:kind_header AS text), s.kind::text,"
            " 'a unit under ' || u.category::text || ' management holds '"
            " || CASE WHEN u.category = 'registration' THEN 'a registration (排污登记)'"
            " ELSE 'a permit (排污许可证)' END"
            " FROM import_permits s JOIN units u ON u.id = s.unit_id"
            " WHERE (s.kind = 'registration') <> (u.category = 'registration')",
        ]
        report_queries(session, report, checks, params)

    def write(self, session: Session, staged: StagedPermits, report: ImportReport) -> Scope:
        """Upsert the staged permits with their history; nothing to re-screen."""
        updates = {
            "kind": "EXCLUDED.kind",
            "issued_on": "EXCLUDED.issued_on",
            "valid_from": "EXCLUDED.valid_from",
            "valid_to": "EXCLUDED.valid_to",
            "authority": "EXCLUDED.authority",
        }
        if "status" in staged.fields:
            updates["status"] = "EXCLUDED.status"
        if "report_frequencies" in staged.fields:
            updates["report_frequencies"] = "EXCLUDED.report_frequencies"
        session.execute(
            text("SELECT set_config('permitmap.change_note', :note, true)"),
            {"note": f"import of {report.filename}"},
        )
        written = session.execute(
            text(
                "WITH old AS (SELECT p.id, to_jsonb(p) - 'updated_at' AS j FROM permits p"
                "  JOIN import_permits s USING (permit_no)),"
                " up AS (INSERT INTO permits (permit_no, unit_id, kind, report_frequencies,"
                "  issued_on, valid_from, valid_to, status, authority)"
                "  SELECT permit_no, unit_id, kind,"
                "  coalesce(CAST(report_frequencies AS text[]), '{}'), issued_on,"
                "  valid_from, valid_to, status, authority FROM import_permits ORDER BY row"
                "  ON CONFLICT (permit_no)"
                f" {update_clause('permits', updates, also='version = permits.version + 1')}"
                "  RETURNING permits.*, xmax = 0 AS inserted),"
                " history AS (INSERT INTO permit_history (permit_id, change, note, before, after,"
                "  actor) SELECT up.id, 'import', :note, old.j,"
                f"  to_jsonb(up) - 'updated_at' - 'inserted', {HISTORY_ACTOR}"
                "  FROM up JOIN old USING (id) WHERE NOT up.inserted)"
                " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
                " FROM up"
            ),
            {"note": f"import of {report.filename}"},
        ).one()
        report.inserted, report.updated = int(written[0]), int(written[1])
        report.unchanged = report.rows - report.inserted - report.updated
        return Scope()
