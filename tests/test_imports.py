"""Imports of units, permits, outlets and river outfalls on a small demo province: round trips
from permitmap's own exports, one failing row per validation rule, GBK and DMS input, dry runs,
re-screening, the audit entry, and a database left exactly as it was by a rejected file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from geo.coords import InputCRS, wgs84_to_gcj02
from geo.credit_code import check_digit
from geo.imports.base import ImportRejectedError, ImportReport, ImportSource
from geo.imports.columns import spec_table
from geo.imports.outfalls import OUTFALL_COLUMNS
from geo.imports.outlets import OUTLET_COLUMNS
from geo.imports.permits import PERMIT_COLUMNS
from geo.imports.regions import REGION_COLUMNS
from geo.imports.rivers import RIVER_COLUMNS
from geo.imports.run import ImportOptions, run_import
from geo.imports.units import UNIT_COLUMNS
from geo.imports.zone_columns import ZONE_COLUMNS
from geo.settings import ImportSettings
from tests.conftest import TEST_AS_OF, use_session
from tests.roles import ACCOUNTS, as_role, role_settings
from tests.test_import_tables import raw_xlsx, workbook

STAFF = {"Authorization": "Bearer dev-staff-token"}
NOW = datetime(2026, 11, 24, 8, tzinfo=UTC)
UNIT_HEADER = [
    "统一社会信用代码",
    "单位名称",
    "行业类别代码",
    "管理类别",
    "地址",
    "生产状态",
    "经度",
    "纬度",
]


@pytest.fixture(scope="module")
def province(engine):
    """A 300-unit demo province, committed once for the module."""
    write_demo(engine, build_demo(DemoOptions(units=300, as_of=TEST_AS_OF)))


def new_code(serial: int) -> str:
    """A well-formed credit code with a right check digit, not in the demo."""
    first17 = f"91500199{serial:08d}M"[:17]
    return first17 + check_digit(first17)


def csv_bytes(rows: list[list[object]], header: list[str] = UNIT_HEADER, encoding="utf-8") -> bytes:
    """A CSV file of `rows` under `header`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def run(
    session: Session,
    kind: str,
    data: bytes,
    filename: str = "file.csv",
    *,
    dry_run: bool = False,
    crs: InputCRS | None = None,
) -> ImportReport:
    """Import through the runner in the test's session."""
    source = ImportSource(data=data, filename=filename, limits=ImportSettings(), crs=crs)
    return run_import(session, kind, source, options=ImportOptions(dry_run=dry_run), now=NOW)


def rejected(session: Session, kind: str, data: bytes, **kwargs) -> ImportReport:
    """The report of an import that must be rejected."""
    with pytest.raises(ImportRejectedError) as caught:
        run(session, kind, data, **kwargs)
    return caught.value.report


def snapshot(session: Session, table: str) -> str:
    """A digest of a table's whole content (rows in key order)."""
    rows = session.execute(text(f"SELECT t::text FROM {table} t ORDER BY t::text")).scalars()
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def inside_point(session: Session, county: str | None = None) -> tuple[float, float]:
    """A point inside a county of the province (away from every zone is not needed)."""
    row = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p, code"
            " FROM admin_regions WHERE level = 'county' AND (CAST(:c AS text) IS NULL OR code = :c)"
            " ORDER BY code LIMIT 1) s"
        ),
        {"c": county},
    ).one()
    return float(row[0]), float(row[1])


def problems_of(report: ImportReport) -> set[tuple[int | None, str | None, str]]:
    """(row, field, first words of the message) of each problem."""
    return {(p.row, p.field, p.message) for p in report.problems}


def has_problem(report: ImportReport, row: int | None, field: str, words: str) -> bool:
    """Whether the report has a problem at row/field whose message contains `words`."""
    return any(p.row == row and p.field == field and words in p.message for p in report.problems)


# ---- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_units_export_then_import_changes_nothing(
    province, client: TestClient, session: Session, fmt: str
) -> None:
    exported = client.get(f"/api/layers/units/export?format={fmt}", headers=STAFF)
    assert exported.status_code == 200
    before = snapshot(session, "units")
    report = run(session, "units", exported.content, filename=f"units.{fmt}")
    units = session.execute(text("SELECT count(*) FROM units")).scalar_one()
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (units, 0, 0, units)
    assert snapshot(session, "units") == before
    assert report.screening is None  # nothing changed, nothing re-screened


def test_units_edited_export_updates_and_inserts_by_credit_code(
    province, client: TestClient, session: Session
) -> None:
    exported = client.get("/api/layers/units/export?format=csv", headers=STAFF).content
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    header, first = rows[0], rows[1]
    name = header.index("单位名称")
    first[name] = "改名后的测试单位有限公司"
    added = list(first)
    added[header.index("统一社会信用代码")] = new_code(1)
    added[header.index("单位名称")] = "新增测试单位有限公司"
    data = csv_bytes([first, added], header=header)
    report = run(session, "units", data)
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 0)
    names = session.execute(
        text("SELECT name FROM units WHERE credit_code IN (:a, :b) AND site_seq = 1"),
        {"a": first[header.index("统一社会信用代码")], "b": new_code(1)},
    ).scalars()
    assert set(names) == {"改名后的测试单位有限公司", "新增测试单位有限公司"}


def test_a_dry_run_counts_exactly_what_the_import_then_does(
    province, client: TestClient, session: Session
) -> None:
    exported = client.get("/api/layers/units/export?format=csv", headers=STAFF).content
    header, *rows = csv.reader(io.StringIO(exported.decode("utf-8-sig")))
    rows[0][header.index("单位名称")] = "试运行改名的测试单位有限公司"
    added = list(rows[1])
    added[header.index("统一社会信用代码")] = new_code(2)
    added[header.index("单位名称")] = "试运行新增测试单位有限公司"
    data = csv_bytes([*rows, added], header=header)
    before = (snapshot(session, "units"), snapshot(session, "audit_log"))
    dry = run(session, "units", data, dry_run=True)
    assert (snapshot(session, "units"), snapshot(session, "audit_log")) == before
    real = run(session, "units", data)
    counts = [(r.inserted, r.updated, r.unchanged) for r in (dry, real)]
    assert counts == [(1, 1, len(rows) - 1)] * 2  # unchanged rows are not counted as updates
    assert dry.run_id is None and dry.screening is None and real.run_id is not None


def test_outlets_and_outfalls_round_trip(province, client: TestClient, session: Session) -> None:
    for layer, kind, table in (
        ("outlets", "outlets", "outlets"),
        ("river_outfalls", "outfalls", "river_outfalls"),
    ):
        exported = client.get(f"/api/layers/{layer}/export?format=xlsx", headers=STAFF)
        before = snapshot(session, table)
        report = run(session, kind, exported.content, filename=f"{layer}.xlsx")
        assert report.inserted == report.updated == 0, (kind, report.as_dict())
        assert report.unchanged > 0
        assert snapshot(session, table) == before


def permits_file(session: Session, limit: int = 20) -> tuple[list[str], list[list[str]]]:
    """Stored permits written the way the national platform exports them."""
    header = [
        "许可证编号",
        "统一社会信用代码",
        "厂区序号",
        "发证日期",
        "有效期限",
        "发证机关",
        "许可证状态",
    ]
    rows = session.execute(
        text(
            "SELECT p.permit_no, u.credit_code, u.site_seq::text,"
            " to_char(p.issued_on, 'YYYY年MM月DD日'),"
            " to_char(p.valid_from, 'YYYY-MM-DD') || '至' || to_char(p.valid_to, 'YYYY-MM-DD'),"
            " p.authority, CASE p.status WHEN 'valid' THEN '有效' WHEN 'expired' THEN '过期'"
            " WHEN 'revoked' THEN '撤销' WHEN 'cancelled' THEN '注销' ELSE '吊销' END"
            " FROM permits p JOIN units u ON u.id = p.unit_id ORDER BY p.id LIMIT :n"
        ),
        {"n": limit},
    ).all()
    return header, [list(r) for r in rows]


def test_permits_round_trip_then_a_renewal_moves_the_version_with_history(
    province, session: Session
) -> None:
    header, rows = permits_file(session)
    before = snapshot(session, "permits")
    report = run(session, "permits", csv_bytes(rows, header))
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(rows))
    assert snapshot(session, "permits") == before
    rows[0][4] = rows[0][4].split("至")[0] + "至2031-12-31"
    report = run(session, "permits", csv_bytes(rows[:1], header))
    assert report.updated == 1
    version, valid_to, change = session.execute(
        text(
            "SELECT p.version, p.valid_to::text, h.change FROM permits p"
            " JOIN permit_history h ON h.permit_id = p.id WHERE p.permit_no = :no"
            " ORDER BY h.id DESC LIMIT 1"
        ),
        {"no": rows[0][0]},
    ).one()
    assert (valid_to, change) == ("2031-12-31", "import") and version >= 2


# ---- validation: one failing row per rule ----------------------------------------------------


def test_every_unit_rule_has_a_failing_row_and_nothing_is_written(
    province, session: Session
) -> None:
    stored = session.execute(
        text("SELECT credit_code, name, county_code FROM units ORDER BY id LIMIT 1")
    ).one()
    lon, lat = inside_point(session, stored.county_code)
    good = new_code(10)
    wrong_digit = new_code(11)[:17] + ("0" if new_code(11)[17] != "0" else "1")
    rows = [
        [good, "正常单位", "2614", "重点管理", "", "运行", lon, lat],  # row 2: fine
        ["91500116MA5U7C12IO", "格式错误", "2614", "重点管理", "", "运行", lon, lat],  # 3
        [wrong_digit, "校验位错误", "2614", "重点管理", "", "运行", lon, lat],  # 4
        [new_code(12), "行业不存在", "9999", "重点管理", "", "运行", lon, lat],  # 5
        [new_code(13), "类别不符", "4411", "登记管理", "", "运行", lon, lat],  # 6
        [new_code(14), "省外坐标", "2614", "重点管理", "", "运行", 116.4, 39.9],  # 7
        [new_code(15), "经纬度颠倒", "2614", "重点管理", "", "运行", lat, lon],  # 8
        [good, "文件内重复", "2614", "重点管理", "", "运行", lon, lat],  # 9
        [new_code(16), stored.name, "2614", "重点管理", "", "运行", lon, lat],  # 10
        [new_code(17), "管理类别错", "2614", "大概重点", "", "运行", lon, lat],  # 11
        [new_code(18), "", "2614", "重点管理", "", "运行", lon, lat],  # 12
        [new_code(19), "坐标乱码", "2614", "重点管理", "", "运行", "东经一百零六", lat],  # 13
    ]
    before = snapshot(session, "units")
    report = rejected(session, "units", csv_bytes(rows))
    assert has_problem(report, 3, "统一社会信用代码", "18 characters")
    assert has_problem(report, 4, "统一社会信用代码", "check digit")
    assert has_problem(report, 5, "行业类别代码", "not a GB/T 4754-2017")
    assert has_problem(report, 6, "管理类别", "not registered only")
    assert has_problem(report, 7, "经度", "outside the province")
    assert has_problem(report, 8, "经度", "swapped")
    assert has_problem(report, 9, "统一社会信用代码", "repeats row 2")
    assert has_problem(report, 10, "单位名称", "exists in the county")
    assert has_problem(report, 11, "管理类别", "not one of")
    assert has_problem(report, 12, "单位名称", "required")
    assert has_problem(report, 13, "经度", "not a longitude")
    assert not any(p.row == 2 for p in report.problems)
    assert snapshot(session, "units") == before


def test_a_county_the_point_is_far_from_is_a_problem(province, session: Session) -> None:
    counties = (
        session.execute(
            text("SELECT code FROM admin_regions WHERE level = 'county' ORDER BY code LIMIT 2")
        )
        .scalars()
        .all()
    )
    lon, lat = inside_point(session, counties[0])
    header = [*UNIT_HEADER, "区县代码"]
    rows = [[new_code(20), "区县不符", "2614", "重点管理", "", "运行", lon, lat, counties[1]]]
    report = rejected(session, "units", csv_bytes(rows, header))
    assert has_problem(report, 2, "区县代码", f"lies in county {counties[0]}")


def test_every_permit_rule_has_a_failing_row(province, session: Session) -> None:
    header, rows = permits_file(session, limit=1)
    (no, code, site, issued, validity, authority, status) = rows[0]
    other = session.execute(
        text(
            "SELECT p.permit_no FROM permits p JOIN units u ON u.id = p.unit_id"
            " WHERE u.credit_code <> :c LIMIT 1"
        ),
        {"c": code},
    ).scalar_one()
    bad_rows = [
        [no[:-1], code, site, issued, validity, authority, status],  # 2: format
        [new_code(30) + "001P", code, site, issued, validity, authority, status],  # 3: not its code
        [no, code, site, issued, "2025-01-01至2020-01-01", authority, status],  # 4: dates reversed
        [
            no,
            code,
            site,
            "2030年1月1日",
            validity,
            authority,
            status,
        ],  # 5: issued after start (and dup)
        [
            new_code(31) + "001P",
            new_code(31),
            "1",
            issued,
            validity,
            authority,
            status,
        ],  # 6: no unit
        [other, code, site, issued, validity, authority, status],  # 7: another unit's number
        [no[:18] + "009P", code, site, issued, "不知道", authority, status],  # 8: bad range
    ]
    report = rejected(session, "permits", csv_bytes(bad_rows, header))
    assert has_problem(report, 2, "许可证编号", "22 characters")
    assert has_problem(report, 3, "许可证编号", "does not start with the credit code")
    assert has_problem(report, 4, "有效期限", "ends before it starts")
    assert has_problem(report, 5, "发证日期", "issued after the validity starts")
    assert has_problem(report, 5, "许可证编号", "repeats row 4")
    assert has_problem(report, 6, "统一社会信用代码", "import the units first")
    assert has_problem(report, 7, "许可证编号", "another unit")
    assert has_problem(report, 8, "有效期限", "not a validity range")


def test_outlet_rules(province, session: Session) -> None:
    code, site = session.execute(
        text("SELECT credit_code, site_seq::text FROM units ORDER BY id LIMIT 1")
    ).one()
    lon, lat = inside_point(session)
    header = [
        "统一社会信用代码",
        "厂区序号",
        "排放口编号",
        "类别",
        "排放口类型",
        "经度",
        "纬度",
        "受纳水体",
    ]
    rows = [
        [code, site, "DW901", "废水", "主要排放口", lon, lat, "长江"],  # 2: fine
        [code, site, "DX001", "废水", "主要排放口", lon, lat, ""],  # 3: code format
        [code, site, "DA901", "废水", "一般排放口", lon, lat, ""],  # 4: medium clash
        [code, site, "DA902", "废气", "一般排放口", lon, lat, "长江"],  # 5: air with water
        [new_code(40), "1", "DW001", "废水", "主要排放口", lon, lat, ""],  # 6: no unit
        [code, site, "DW901", "废水", "主要排放口", lon, lat, "长江"],  # 7: duplicate
    ]
    report = rejected(session, "outlets", csv_bytes(rows, header))
    assert has_problem(report, 3, "排放口编号", "DW or DA")
    assert has_problem(report, 4, "类别", "other medium")
    assert has_problem(report, 5, "受纳水体", "only a water outlet")
    assert has_problem(report, 6, "统一社会信用代码", "import the units first")
    assert has_problem(report, 7, "排放口编号", "repeats row 2")


def test_outlet_pollutants_replace_the_stored_ones(province, session: Session) -> None:
    unit_id, code, site = session.execute(
        text("SELECT id, credit_code, site_seq::text FROM units ORDER BY id LIMIT 1")
    ).one()
    lon, lat = inside_point(session)
    header = [
        "统一社会信用代码",
        "厂区序号",
        "排放口编号",
        "排放口类型",
        "经度",
        "纬度",
        "污染物代码",
        "污染物名称",
        "许可排放浓度限值",
        "年许可排放量(吨)",
    ]
    rows = [
        [code, site, "DW950", "主要排放口", lon, lat, "w01018", "化学需氧量", "50", "12.5"],
        [code, site, "DW950", "主要排放口", lon, lat, "w21003", "氨氮", "5", ""],
    ]
    report = run(session, "outlets", csv_bytes(rows, header))
    assert report.inserted == 1
    stored = session.execute(
        text(
            "SELECT p.pollutant_code, p.concentration_limit::float8, p.concentration_unit,"
            " p.annual_limit_t::float8 FROM outlet_pollutants p"
            " JOIN outlets o ON o.id = p.outlet_id WHERE o.unit_id = :u AND o.code = 'DW950'"
            " ORDER BY 1"
        ),
        {"u": unit_id},
    ).all()
    assert [tuple(r) for r in stored] == [
        ("w01018", 50.0, "mg/L", 12.5),
        ("w21003", 5.0, "mg/L", None),
    ]
    run(session, "outlets", csv_bytes(rows[:1], header))
    left = session.execute(
        text(
            "SELECT count(*) FROM outlet_pollutants p JOIN outlets o ON o.id = p.outlet_id"
            " WHERE o.unit_id = :u AND o.code = 'DW950'"
        ),
        {"u": unit_id},
    ).scalar_one()
    assert left == 1
    rows[1][4] = str(lon + 0.01)  # the same outlet elsewhere on another row
    report = rejected(session, "outlets", csv_bytes(rows, header))
    assert has_problem(report, 3, "排放口编号", "differ from row 2")


def test_outfalls_rules_and_river(province, session: Session) -> None:
    name = session.execute(text("SELECT name FROM river_outfalls LIMIT 1")).scalar_one()
    river = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(geom, 0.5) p"
            " FROM rivers ORDER BY id LIMIT 1) r"
        )
    ).one()
    header = ["排污口编码", "排污口名称", "排污口类型", "受纳水体", "经度", "纬度"]
    good = ["RO-TEST-1", "测试排污口", "工业排污口", "测试河", river[0], river[1]]
    report = run(session, "outfalls", csv_bytes([good], header))
    assert report.inserted == 1
    on_river = session.execute(
        text("SELECT river_id IS NOT NULL FROM river_outfalls WHERE code = 'RO-TEST-1'")
    ).scalar_one()
    assert on_river
    bad = [
        ["RO-TEST-2", name, "工业排污口", "测试河", river[0], river[1]],
        ["RO-TEST-3", "类型错误", "排水沟", "测试河", river[0], river[1]],
        ["RO-TEST-3", "重复", "其他排口", "测试河", river[0], river[1]],
    ]
    report = rejected(session, "outfalls", csv_bytes(bad, header))
    assert has_problem(report, 2, "排污口名称", "another code")
    assert has_problem(report, 3, "排污口类型", "not one of")
    assert has_problem(report, 4, "排污口编码", "repeats row 3")


# ---- encodings, coordinates, dry runs, re-screening, audit ----------------------------------


def test_gbk_csv_with_dms_and_gcj02_coordinates(province, session: Session) -> None:
    lon, lat = inside_point(session)
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    dms_lat = f"{int(glat)}°{int(glat * 60 % 60)}′{glat * 3600 % 60:.4f}″N"
    rows = [
        [
            new_code(50),
            "重庆市㮾某化工有限公司",
            "2614",
            "重点管理",
            "江津区某路",
            "停产",
            glon,
            dms_lat,
        ]
    ]
    data = csv_bytes(rows, encoding="gb18030")
    report = run(session, "units", data, crs=InputCRS.GCJ02)
    assert report.inserted == 1
    name, status, source, x, y = session.execute(
        text(
            "SELECT name, status::text, location_source::text, ST_X(geom), ST_Y(geom)"
            " FROM units WHERE credit_code = :c"
        ),
        {"c": new_code(50)},
    ).one()
    assert (name, status, source) == ("重庆市㮾某化工有限公司", "suspended", "converted_gcj02")
    assert abs(x - lon) < 1e-5 and abs(y - lat) < 1e-5  # ~1 m (DMS to 4 decimals of a second)


def test_dry_run_counts_but_writes_nothing(province, session: Session) -> None:
    lon, lat = inside_point(session)
    rows = [[new_code(60), "试运行单位", "2614", "重点管理", "", "运行", lon, lat]]
    before = snapshot(session, "units")
    report = run(session, "units", csv_bytes(rows), dry_run=True)
    assert (report.ok, report.inserted, report.run_id) == (True, 1, None)
    assert snapshot(session, "units") == before


def test_imported_unit_in_a_protection_zone_is_flagged_and_audited(
    province, session: Session
) -> None:
    lon, lat = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM zones"
            " WHERE kind = 'water_protection' AND grade = 'I' AND valid_to IS NULL"
            " ORDER BY code LIMIT 1) z"
        )
    ).one()
    session.execute(text("SELECT set_config('permitmap.actor', 'tester', true)"))
    rows = [[new_code(70), "一级保护区内化工厂", "2614", "重点管理", "", "运行", lon, lat]]
    report = run(session, "units", csv_bytes(rows), filename="一级区.csv")
    assert report.screening and report.run_id
    severity = session.execute(
        text(
            "SELECT f.severity::text FROM flags f JOIN units u ON u.id = f.feature_id"
            " AND f.feature_type = 'unit' WHERE u.credit_code = :c ORDER BY 1 LIMIT 1"
        ),
        {"c": new_code(70)},
    ).scalar_one()
    assert severity == "prohibited"
    entry = session.execute(
        text(
            "SELECT actor, after ->> 'filename', after ->> 'inserted' FROM audit_log"
            " WHERE entity = 'import_runs' ORDER BY id DESC LIMIT 1"
        )
    ).one()
    assert tuple(entry) == ("tester", "一级区.csv", "1")


def test_missing_columns_and_an_unreadable_file_are_reported(province, session: Session) -> None:
    report = rejected(session, "units", csv_bytes([["x"]], header=["单位名称"]))
    assert any("统一社会信用代码 is missing" in p.message for p in report.problems)
    report = rejected(session, "units", b"%PDF-1.4 not a table", filename="units.xlsx")
    assert report.problem_count == 1


# ---- the command line --------------------------------------------------------------------------


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    """`permitmap …` against the module's database."""
    env = {**os.environ, "PERMITMAP_DATABASE_URL": db_url}
    return subprocess.run(
        [str(Path(sys.executable).with_name("permitmap")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_rejects_a_bad_file_naming_rows_and_leaves_the_database_as_it_was(
    province, db_url: str, engine, tmp_path: Path
) -> None:
    with Session(engine) as session:
        lon, lat = inside_point(session)
        before = {t: snapshot(session, t) for t in ("units", "audit_log", "import_runs", "flags")}
    rows = [
        [new_code(80), "好的单位", "2614", "重点管理", "", "运行", lon, lat],
        [new_code(81), "坏的单位", "2614", "重点管理", "", "运行", lon, 99.0],
    ]
    path = tmp_path / "units.csv"
    path.write_bytes(csv_bytes(rows))
    result = cli(db_url, "import", "units", str(path))
    assert result.returncode == 1
    assert "row 3, 纬度 = '99.0'" in result.stderr and "nothing imported" in result.stderr
    with Session(engine) as session:
        assert {t: snapshot(session, t) for t in before} == before
    dry = cli(db_url, "import", "units", str(path.with_name("ok.csv")), "--dry-run")
    assert dry.returncode == 1 and "no such file" in dry.stderr
    path.with_name("ok.csv").write_bytes(csv_bytes(rows[:1]))
    dry = cli(db_url, "import", "units", str(path.with_name("ok.csv")), "--dry-run")
    assert dry.returncode == 0 and "would insert 1" in dry.stdout
    real = cli(db_url, "import", "units", str(path.with_name("ok.csv")))
    assert real.returncode == 0 and "inserted 1" in real.stdout, real.stderr
    with Session(engine) as session:
        actor = session.execute(
            text("SELECT actor FROM import_runs ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert actor.startswith("cli")


# ---- the API ---------------------------------------------------------------------------------


@pytest.fixture
def role_client(db_url: str, session: Session):
    """The app with a token per role, on the test's rolled-back session."""
    app = create_app(role_settings(db_url))
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


def post_import(client: TestClient, role: str, data: bytes, **form: str):
    """POST /api/imports as `role`."""
    return client.post(
        "/api/imports",
        data={"kind": "units", **form},
        files={"file": ("单位.csv", data, "text/csv")},
        headers=as_role(role),
    )


def test_api_import_reports_every_problem_as_a_422_and_writes_on_a_good_file(
    province, role_client: TestClient, session: Session
) -> None:
    lon, lat = inside_point(session)
    bad = csv_bytes(
        [
            [new_code(90), "好单位", "2614", "重点管理", "", "运行", lon, lat],
            [new_code(91), "坏单位一", "2614", "重点管理", "", "运行", lon, "abc"],
            [new_code(92), "坏单位二", "99", "重点管理", "", "运行", lon, lat],
        ]
    )
    response = post_import(role_client, "supervisor", bad)
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["problem_count"] == 2 and body["rows"] == 3
    assert {(p["row"], p["field"]) for p in body["problems"]} == {(3, "纬度"), (4, "行业类别代码")}
    good = csv_bytes([[new_code(90), "好单位", "2614", "重点管理", "", "运行", lon, lat]])
    dry = post_import(role_client, "supervisor", good, dry_run="true")
    assert dry.status_code == 200 and dry.json()["inserted"] == 1 and dry.json()["run_id"] is None
    assert post_import(role_client, "inspector", good).status_code == 403
    assert post_import(role_client, None, good).status_code == 401
    written = post_import(role_client, "admin", good)
    assert written.status_code == 200 and written.json()["inserted"] == 1
    runs = role_client.get("/api/imports", headers=as_role("inspector")).json()
    assert runs[0]["filename"] == "单位.csv" and runs[0]["actor"] == ACCOUNTS["admin"]
    unknown = role_client.post(
        "/api/imports",
        data={"kind": "ponds"},
        files={"file": ("x.csv", good, "text/csv")},
        headers=as_role("admin"),
    )
    assert unknown.status_code == 422 and "unknown kind" in unknown.json()["title"]


# ---- bad files: a clear message and nothing written ----------------------------------------------


def bad_files() -> dict[str, tuple[bytes, str, str]]:
    """name → (bytes, file name, words the one problem must contain)."""
    header = {f"{col}1": title for col, title in zip("ABCDEFGH", UNIT_HEADER, strict=True)}
    row = dict(
        zip("ABCDEFGH", [new_code(100), "单位", "2614", "重点管理", "", "运行"], strict=False)
    )
    values = {f"{col}2": value for col, value in row.items()} | {"G2": 106.5, "H2": 29.5}
    bomb = b'<?xml version="1.0"?><worksheet><sheetData>' + b" " * (20 * 2**20)
    return {
        "wrong encoding": (
            csv_bytes([["x"] * 8]).replace(b"x", b"\xff\xfe\x80"),
            "u.csv",
            "encoding",
        ),
        "merged header cells": (workbook(header | values, merges=("A1:B1",)), "u.xlsx", "merged"),
        "formulas": (workbook(header | values | {"B2": '=CONCAT("单","位")'}), "u.xlsx", "formula"),
        "zip bomb": (raw_xlsx(bomb + b"</sheetData></worksheet>"), "u.xlsx", "suspiciously"),
        "not a spreadsheet": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "u.xlsx", "not a spreadsheet"),
        "legacy xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "u.xls", ".xls"),
        "empty": (b"", "u.csv", "empty"),
    }


@pytest.mark.parametrize("case", list(bad_files()))
def test_a_bad_file_is_one_clear_problem_and_writes_nothing(
    province, session: Session, case: str
) -> None:
    data, filename, words = bad_files()[case]
    before = snapshot(session, "units")
    report = rejected(session, "units", data, filename=filename)
    assert report.problem_count == 1 and words in report.problems[0].message, report.as_dict()
    assert "Traceback" not in report.problems[0].message
    assert snapshot(session, "units") == before


def test_empty_rows_are_skipped_and_rows_keep_their_numbers(province, session: Session) -> None:
    lon, lat = inside_point(session)
    data = csv_bytes(
        [
            [new_code(110), "第一", "2614", "重点管理", "", "运行", lon, lat],
            [""] * 8,
            [new_code(111), "第三", "2614", "重点管理", "", "运行", lon, "不是纬度"],
        ]
    )
    report = rejected(session, "units", data)
    assert report.rows == 2 and [p.row for p in report.problems] == [4]


def test_readme_documents_every_import_column() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    specs = (
        UNIT_COLUMNS,
        PERMIT_COLUMNS,
        OUTLET_COLUMNS,
        OUTFALL_COLUMNS,
        ZONE_COLUMNS,
        REGION_COLUMNS,
        RIVER_COLUMNS,
    )
    for spec in specs:
        assert spec_table(spec) in readme, spec[0].title


def test_cli_reads_the_encoding_it_is_told(province, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(
        csv_bytes(
            [[new_code(120), "重庆单位", "2614", "重点管理", "", "运行", 1, 2]], encoding="gbk"
        )
    )
    told_wrong = cli(db_url, "import", "units", str(path), "--encoding", "utf-8", "--dry-run")
    assert told_wrong.returncode == 1 and "line 1 is not valid UTF-8" in told_wrong.stderr
    told_right = cli(db_url, "import", "units", str(path), "--encoding", "gbk", "--dry-run")
    assert told_right.returncode == 1 and "outside the province" in told_right.stderr


def test_cli_imports_a_zone_from_geojson(province, db_url: str, engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        lon, lat = inside_point(session)
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]
    feature = {
        "type": "Feature",
        "properties": {"编码": "YQ-CLI-1", "名称": "命令行园区", "类型": "工业园区"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path = tmp_path / "园区.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), "utf-8")
    result = cli(db_url, "import", "zones", str(path))
    assert result.returncode == 0 and "inserted 1" in result.stdout, result.stderr
    again = cli(db_url, "import", "zones", str(path))
    assert again.returncode == 0 and "1 unchanged" in again.stdout, again.stderr


@pytest.mark.parametrize("fmt", ["gpkg", "geojson"])
def test_zones_export_then_import_changes_nothing(
    province, client: TestClient, session: Session, fmt: str
) -> None:
    exported = client.get(f"/api/layers/zones_water_protection/export?format={fmt}")
    assert exported.status_code == 200
    before = snapshot(session, "zones")
    report = run(session, "zones", exported.content, filename=f"zones.{fmt}")
    assert report.rows > 0 and (report.inserted, report.updated) == (0, 0), report.as_dict()
    assert report.unchanged == report.rows
    assert snapshot(session, "zones") == before
