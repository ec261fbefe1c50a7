"""Monthly reminders on a fixed date: the 30/60/90-day and expired buckets per county, closed
units' permits to cancel, the CSV and XLSX exports, and `permitmap reminders`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.clock import FixedClock
from geo.reminders import monthly_reminders
from geo.settings import AuthSettings, DatabaseSettings, Settings
from tests.conftest import use_session
from tests.factories import SQUARE, credit_code
from tests.test_cli import assert_one_line_error, run

CLOCK = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
STAFF = {"Authorization": "Bearer inspector-token"}
DEC = date(2026, 12, 1)  # the list of 2026-12 is taken on its first day
# (label, county, unit status, permit status, valid_to); the bucket each lands in for 2026-12
PERMITS = (
    ("A", "500116", "operating", "valid", DEC - timedelta(10)),  # expired (not marked so)
    ("B", "500116", "operating", "expired", DEC - timedelta(100)),  # expired
    ("C", "500116", "operating", "valid", DEC),  # within_30 (0 days left)
    ("D", "500116", "suspended", "valid", DEC + timedelta(30)),  # within_30
    ("E", "500116", "operating", "valid", DEC + timedelta(31)),  # within_60
    ("F", "500116", "operating", "valid", DEC + timedelta(90)),  # within_90
    ("G", "500116", "operating", "valid", DEC + timedelta(91)),  # not yet
    ("H", "500116", "operating", "revoked", DEC + timedelta(9)),  # not held
    ("I", "500116", "closed", "valid", date(2029, 6, 30)),  # closed_unit
    ("J", "500116", "closed", "cancelled", date(2029, 6, 30)),  # done
    ("L", "500117", "operating", "valid", DEC + timedelta(60)),  # within_60
    ("M", "500117", "closed", "expired", DEC - timedelta(40)),  # closed_unit
)
EXPECTED_DEC = {
    "500116": [
        *(("expired", "B"), ("expired", "A"), ("within_30", "C"), ("within_30", "D")),
        *(("within_60", "E"), ("within_90", "F"), ("closed_unit", "I")),
    ],
    "500117": [("within_60", "L"), ("closed_unit", "M")],
}


def _insert_unit(conn, serial: int, county: str, status: str) -> tuple[int, str]:
    code = credit_code(serial)
    unit_id = conn.execute(
        text(
            "INSERT INTO units (credit_code, name, industry_code, category, county_code, status,"
            " geom, location_source) VALUES (:code, :name, '2614', 'key', :county, :status,"
            " ST_GeomFromEWKT('SRID=4326;POINT(106.05 29.05)'), 'surveyed') RETURNING id"
        ),
        {"code": code, "name": f"单位{serial}", "county": county, "status": status},
    ).scalar_one()
    return unit_id, code


def _insert_permit(conn, unit: tuple[int, str], seq: int, status: str, valid_to: date) -> None:
    valid_from = valid_to - timedelta(days=5 * 365 - 1)
    conn.execute(
        text(
            "INSERT INTO permits (permit_no, unit_id, kind, issued_on, valid_from, valid_to,"
            " status, authority) VALUES (:no, :unit, 'permit', :start, :start, :end, :status,"
            " '测试局')"
        ),
        {"no": f"{unit[1]}{seq:03d}P", "unit": unit[0], "start": valid_from, "end": valid_to}
        | {"status": status},
    )


@pytest.fixture(scope="module")
def world(engine: Engine) -> dict[str, str]:
    """The permits above, committed (the CLI reads them from another process): label → number."""
    numbers = {}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO admin_regions (code, name, level, parent_code, geom) VALUES"
                " ('500000', '重庆市', 'province', NULL, ST_GeomFromEWKT(:sq)),"
                " ('500116', '江津区', 'county', '500000', ST_GeomFromEWKT(:sq)),"
                " ('500117', '合川区', 'county', '500000', ST_GeomFromEWKT(:sq))"
            ),
            {"sq": SQUARE},
        )
        for serial, (label, county, unit_status, status, valid_to) in enumerate(PERMITS, 100):
            unit = _insert_unit(conn, serial, county, unit_status)
            _insert_permit(conn, unit, 1, status, valid_to)
            numbers[label] = f"{unit[1]}001P"
        # K: an expired permit superseded by the unit's new permit in force: neither is listed
        unit = _insert_unit(conn, 99, "500116", "operating")
        _insert_permit(conn, unit, 1, "expired", DEC - timedelta(60))
        _insert_permit(conn, unit, 2, "valid", date(2031, 9, 30))
    return numbers


@pytest.fixture
def api(db_url: str, session: Session, world: dict[str, str]) -> TestClient:
    auth = AuthSettings(staff_tokens=SecretStr("insp:inspector-token:inspector"))
    settings = Settings(
        database=DatabaseSettings(database_url=db_url, db_warm_pool=False), auth=auth
    )
    app = create_app(settings, clock=CLOCK)
    use_session(app, session)
    with TestClient(app) as client:
        yield client


def labelled(numbers: dict[str, str], items: list[dict]) -> list[tuple[str, str]]:
    by_number = {v: k for k, v in numbers.items()}
    return [(i["reminder"], by_number[i["permit_no"]]) for i in items]


def test_the_months_list_per_county_with_its_buckets(api, world) -> None:
    response = api.get("/api/reminders", params={"month": "2026-12"}, headers=STAFF)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["month"], body["as_of"], body["county"]) == ("2026-12", "2026-12-01", None)
    assert body["totals"] == {
        "expired": 2,
        "within_30": 2,
        "within_60": 2,
        "within_90": 1,
        "closed_unit": 2,
    }
    assert [(c["county_code"], c["county_name"]) for c in body["counties"]] == [
        ("500116", "江津区"),
        ("500117", "合川区"),
    ]
    for county in body["counties"]:
        assert labelled(world, county["items"]) == EXPECTED_DEC[county["county_code"]]
        assert sum(county["counts"].values()) == len(county["items"])
    first = body["counties"][0]["items"][1]  # A
    assert (first["days_left"], first["permit_status"], first["valid_to"]) == (
        -10,
        "valid",
        "2026-11-21",
    )
    assert {"unit_id", "unit_name", "credit_code", "category", "operating_status"} <= set(first)


def test_one_county_and_the_default_month_from_the_clock(api, world) -> None:
    one = api.get("/api/reminders?month=2026-12&county=500117", headers=STAFF).json()
    assert [c["county_code"] for c in one["counties"]] == ["500117"]
    assert one["county"] == "500117" and sum(one["totals"].values()) == 2
    now = api.get("/api/reminders", headers=STAFF).json()  # November 2026, from 2026-11-01
    assert (now["month"], now["as_of"]) == ("2026-11", "2026-11-01")
    assert labelled(world, now["counties"][0]["items"])[:6] == [
        ("expired", "B"),
        ("within_30", "A"),
        ("within_30", "C"),
        ("within_60", "D"),
        ("within_90", "E"),
        ("closed_unit", "I"),
    ]
    assert labelled(world, now["counties"][1]["items"]) == [
        ("within_90", "L"),
        ("closed_unit", "M"),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "12/2026"}, "month"),
        ({"county": "5001"}, "county"),
    ],
)
def test_bad_months_and_counties_are_problems_naming_the_field(api, params, field) -> None:
    response = api.get("/api/reminders", params=params, headers=STAFF)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


def test_the_cached_list_follows_writes(api, world, session) -> None:
    def listed() -> list[str]:
        body = api.get("/api/reminders?month=2026-12&county=500116", headers=STAFF).json()
        return [i["permit_no"] for i in body["counties"][0]["items"]]

    assert world["C"] in listed() and listed() == listed()
    session.execute(
        text("UPDATE permits SET status = 'revoked' WHERE permit_no = :no"), {"no": world["C"]}
    )
    assert world["C"] not in listed()


def test_reminders_are_for_staff(api) -> None:
    assert api.get("/api/reminders").status_code == 401


def test_csv_export(api, world) -> None:
    response = api.get("/api/reminders?month=2026-12&format=csv", headers=STAFF)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="reminders-2026-12.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["区县代码", "区县", "提醒", "许可证编号"]
    assert len(rows) == 1 + 9
    assert rows[1][:4] == ["500116", "江津区", "已过期", world["B"]]
    english = api.get("/api/reminders?month=2026-12&format=csv&lang=en", headers=STAFF)
    assert english.content.decode("utf-8-sig").splitlines()[1].startswith("500116,江津区,expired")


def test_xlsx_export_opens_in_openpyxl(api, world) -> None:
    response = api.get("/api/reminders?month=2026-12&format=xlsx&county=500116", headers=STAFF)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("区县代码", "区县", "提醒") and len(rows) == 1 + 7
    assert rows[-1][2] == "已关闭单位待注销" and rows[-1][3] == world["I"]
    assert rows[1][6] == datetime(2026, 8, 23)  # valid_to, a date cell


def test_the_geo_function_matches_the_api(session, world) -> None:
    found = monthly_reminders(session, month=DEC, county="500116")
    assert found.counties[0].counts == {
        "expired": 2,
        "within_30": 2,
        "within_60": 1,
        "within_90": 1,
        "closed_unit": 1,
    }


# ---- the command --------------------------------------------------------------------------------


def test_cli_prints_counts_per_county(db_url, world) -> None:
    done = run("reminders", "--month", "2026-12", database_url=db_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "permit reminders for 2026-12 (as of 2026-12-01)"
    assert lines[2].split() == ["500116", "江津区", "2", "2", "1", "1", "1"]
    assert lines[3].split() == ["500117", "合川区", "0", "0", "1", "0", "1"]
    assert lines[4].split() == ["total", "2", "2", "2", "1", "2"]


def test_cli_exports(db_url, world, tmp_path) -> None:
    done = run("reminders", "--month", "2026-12", "--format", "csv", database_url=db_url)
    assert done.returncode == 0 and done.stdout.count("\n") == 10
    target = tmp_path / "reminders.xlsx"
    args = ("--month", "2026-12", "--county", "500117", "--format", "xlsx", "--output")
    done = run("reminders", *args, str(target), database_url=db_url)
    assert done.returncode == 0, done.stderr
    assert "2 reminders for 2026-12" in done.stdout
    rows = list(load_workbook(target).active.iter_rows(values_only=True))
    assert [r[3] for r in rows[1:]] == [world["L"], world["M"]]


def test_cli_errors_are_one_line(db_url) -> None:
    assert_one_line_error(run("reminders", "--month", "2026-13", database_url=db_url), "--month")
    assert_one_line_error(run("reminders", "--county", "x", database_url=db_url), "--county")
    done = run("reminders", "--format", "xlsx", database_url=db_url)
    assert_one_line_error(done, "--output")
