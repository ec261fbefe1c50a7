"""Execution reports: what each permit owes and by when (per category and frequency, on a fixed
date), submission rules, and the check that turns late or missing reports into problems, once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.clock import FixedClock
from geo.errors import ConflictError, QueryError, ValidationError
from geo.reports import check_reports, generate_reports, list_reports, submit_report
from tests.conftest import use_session
from tests.dbtools import create_database, database_url_for, drop_database
from tests.factories import add_permit, add_region, add_unit, credit_code
from tests.roles import as_role, role_settings

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
PERMITMAP = str(Path(sys.executable).parent / "permitmap")


def unit_with_permit(
    session: Session,
    serial: int,
    *,
    category: str = "key",
    frequencies: str = "{annual,quarterly}",
    valid_from: str = "2024-01-01",
    kind: str = "permit",
) -> tuple[int, int]:
    """A unit of this category with one valid permit (to 2028-12-31); (unit id, permit id)."""
    code = credit_code(700 + serial)
    unit = add_unit(session, code)
    permit = add_permit(session, unit, f"{code}001P")
    session.execute(
        text("UPDATE units SET category = CAST(:c AS management_category) WHERE id = :u"),
        {"c": category, "u": unit},
    )
    session.execute(
        text(
            "UPDATE permits SET report_frequencies = CAST(:f AS text[]), issued_on = :v,"
            " valid_from = :v, kind = CAST(:k AS permit_kind) WHERE id = :p"
        ),
        {"f": frequencies, "v": date.fromisoformat(valid_from), "k": kind, "p": permit},
    )
    return unit, permit


def owed(session: Session, permit: int, year: int = 2026) -> list[tuple[str, str, date]]:
    return [
        (r["kind"], r["period"], r["due_on"])
        for r in list_reports(session, permit_id=permit, year=year)
    ]


@pytest.fixture
def region(session) -> None:
    add_region(session)


def test_due_dates_by_category_and_frequency(session, region) -> None:
    _, key = unit_with_permit(session, 1)
    _, key_default = unit_with_permit(session, 2, frequencies="{}")
    _, simplified = unit_with_permit(session, 3, category="simplified", frequencies="{}")
    _, monthly = unit_with_permit(session, 4, frequencies="{annual,quarterly,monthly}")
    _, registration = unit_with_permit(session, 5, category="registration", frequencies="{}")
    _, registered = unit_with_permit(session, 6, kind="registration", frequencies="{annual}")
    assert generate_reports(session, year=2026) > 0
    quarters = [
        ("quarterly", "2026Q1", date(2026, 4, 15)),
        ("quarterly", "2026Q2", date(2026, 7, 15)),
        ("quarterly", "2026Q3", date(2026, 10, 15)),
    ]  # the fourth quarter is part of the annual report
    key_annual = ("annual", "2026", date(2027, 1, 15))
    assert owed(session, key) == sorted([*quarters, key_annual], key=lambda r: r[2])
    assert owed(session, key_default) == owed(session, key)
    assert owed(session, simplified) == [("annual", "2026", date(2027, 1, 31))]
    months = [
        ("monthly", f"2026-{m:02d}", date(2026 + m // 12, m % 12 + 1, 15))
        for m in (1, 2, 4, 5, 7, 8, 10, 11)  # March, June, September: in the quarterly one
    ]
    assert owed(session, monthly) == sorted([*quarters, key_annual, *months], key=lambda r: r[2])
    assert owed(session, registration) == [] and owed(session, registered) == []


def test_periods_held_too_briefly_are_not_owed(session, region) -> None:
    _, late_start = unit_with_permit(
        session, 1, frequencies="{annual,quarterly,monthly}", valid_from="2026-10-25"
    )
    _, mid_quarter = unit_with_permit(session, 2, valid_from="2026-09-05")
    generate_reports(session, year=2026)
    # from 25 October: not 3 months in the year, 10 days of October but not of a month
    # before it, November and December (the latter part of the annual report) are owed
    assert owed(session, late_start) == [("monthly", "2026-11", date(2026, 12, 15))]
    assert owed(session, mid_quarter) == [  # 26 days of Q3: under a month
        ("annual", "2026", date(2027, 1, 15))
    ]
    assert owed(session, late_start, 2025) == []


def test_generating_twice_adds_nothing(session, region) -> None:
    unit_with_permit(session, 1)
    assert generate_reports(session, year=2026) == 4
    assert generate_reports(session, year=2026) == 0
    with pytest.raises(QueryError):
        generate_reports(session, year=1999)


def test_late_or_missing_reports_become_problems_once(session, region) -> None:
    unit, permit = unit_with_permit(session, 1)
    unit_with_permit(session, 2, category="simplified", frequencies="{}")
    generate_reports(session, year=2026)
    reports = {r["period"]: r for r in list_reports(session, permit_id=permit)}
    on_time, late = reports["2026Q3"], reports["2026Q2"]
    submit_report(session, report_id=on_time["id"], version=1, submitted_on=date(2026, 10, 10),
                  today=TODAY, submitted_by="clerk")  # fmt: skip
    submit_report(session, report_id=late["id"], version=1, submitted_on=date(2026, 7, 20),
                  today=TODAY, submitted_by="clerk")  # fmt: skip
    first = check_reports(session, today=TODAY, checked_by="checker")
    problems = session.execute(
        text(
            "SELECT r.period, p.source::text, p.problem_type, p.unit_id, p.deadline,"
            " p.status::text, p.department, p.opened_by, p.finding FROM execution_reports r"
            " JOIN problems p ON p.id = r.problem_id ORDER BY r.due_on, r.permit_id"
        )
    ).all()
    by_period = {(row.period, row.unit_id): row for row in problems}
    # key permit: 2025 Q1–Q3 and annual (due 2026-01-15), 2026 Q1 missing, Q2 late;
    # simplified: 2025 annual (due 2026-01-31)
    assert sorted(p for p, u in by_period if u == unit) == [
        "2025", "2025Q1", "2025Q2", "2025Q3", "2026Q1", "2026Q2"
    ]  # fmt: skip
    assert [p for p, u in by_period if u != unit] == ["2025"]
    assert first.opened == 7 and len(first.problem_ids) == 7
    missing, late_row = by_period[("2026Q1", unit)], by_period[("2026Q2", unit)]
    assert (missing.source, missing.problem_type, missing.status) == (
        "execution_report", "report_missing", "open"
    )  # fmt: skip
    assert missing.deadline == date(2027, 2, 24)  # three months to file it
    assert "2026Q1" in missing.finding and "逾期未提交" in missing.finding
    assert (late_row.problem_type, late_row.deadline) == ("report_late", None)
    assert "2026-07-20" in late_row.finding
    assert missing.department == "重庆市江津区生态环境局" and missing.opened_by == "checker"
    again = check_reports(session, today=TODAY, checked_by="checker")
    assert (again.generated, again.opened) == (0, 0)
    # the unit's status shows its overdue problems once their deadline passes
    status = session.execute(
        text("SELECT open_problems FROM unit_status WHERE unit_id = :u"), {"u": unit}
    ).scalar_one()
    assert status == 6


def test_submission_rules(session, region) -> None:
    _, permit = unit_with_permit(session, 1)
    generate_reports(session, year=2026)
    q3 = next(r for r in list_reports(session, permit_id=permit) if r["period"] == "2026Q3")
    annual = next(r for r in list_reports(session, permit_id=permit) if r["kind"] == "annual")

    def submit(report: dict, on: date, version: int = 1) -> dict:
        return submit_report(session, report_id=report["id"], version=version, submitted_on=on,
                             today=TODAY, submitted_by="clerk")  # fmt: skip

    with pytest.raises(QueryError):
        submit(q3, date(2026, 11, 25))  # after today
    with pytest.raises(ValidationError):
        submit(annual, date(2026, 11, 20))  # before the year ends
    with pytest.raises(ConflictError):
        submit(q3, date(2026, 10, 9), version=7)  # stale
    done = submit(q3, date(2026, 10, 9))
    assert (done["submitted_on"], done["submitted_by"], done["version"]) == (
        date(2026, 10, 9), "clerk", 2
    )  # fmt: skip
    with pytest.raises(ConflictError):
        submit(q3, date(2026, 10, 10), version=2)  # filed already


@pytest.fixture
def client(db_url, session):
    app = create_app(role_settings(db_url), clock=FixedClock(NOW))
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


def test_the_api(client, session, region) -> None:
    unit, permit = unit_with_permit(session, 1)
    assert client.post("/api/reports/check").status_code == 401
    assert client.post("/api/reports/check", headers=as_role("reviewer")).status_code == 403
    checked = client.post("/api/reports/check", headers=as_role("supervisor"))
    assert checked.status_code == 200, checked.text
    assert checked.json()["opened"] == 7 and checked.json()["generated"] == 8
    again = client.post("/api/reports/check", headers=as_role("supervisor")).json()
    assert (again["generated"], again["opened"]) == (0, 0)
    overdue = client.get(
        "/api/reports", params={"unit_id": unit, "overdue": True}, headers=as_role("inspector")
    ).json()
    assert len(overdue) == 7 and all(r["problem_id"] for r in overdue)
    annual = client.get(
        "/api/reports", params={"permit_id": permit, "year": 2026}, headers=as_role("inspector")
    ).json()[-1]
    assert annual["kind"] == "annual" and annual["due_on"] == "2027-01-15"
    path = f"/api/reports/{annual['id']}/submit"
    body = {"version": annual["version"]}
    assert client.post(path, json=body, headers=as_role("inspector")).status_code == 403
    early = client.post(path, json=body, headers=as_role("reviewer"))
    assert early.status_code == 422  # the year has not ended
    q3 = next(r for r in overdue if r["period"] == "2026Q3")
    filed = client.post(
        f"/api/reports/{q3['id']}/submit", json={"version": q3["version"]},
        headers=as_role("reviewer"),
    )  # fmt: skip
    assert filed.status_code == 200 and filed.json()["submitted_on"] == "2026-11-24"
    stale = client.post(
        f"/api/reports/{q3['id']}/submit", json={"version": q3["version"]},
        headers=as_role("reviewer"),
    )  # fmt: skip
    assert stale.status_code == 409
    missing = client.post("/api/reports/999999/submit", json=body, headers=as_role("reviewer"))
    assert missing.status_code == 404
    generated = client.post(
        "/api/reports/generate", params={"year": 2027}, headers=as_role("supervisor")
    )
    assert generated.json() == {"year": 2027, "generated": 4}
    audited = session.execute(
        text(
            "SELECT actor, action FROM audit_log WHERE entity = 'execution_reports'"
            " AND entity_id = :id ORDER BY id"
        ),
        {"id": str(q3["id"])},
    ).all()
    assert [tuple(a) for a in audited] == [
        ("supervisor-account", "insert"),
        ("supervisor-account", "update"),  # linked to its problem
        ("reviewer-account", "update"),  # filed
    ]


def test_the_cli_command(server_url, template_db) -> None:
    name = f"permitmap_test_{os.getpid()}_reports_cli"
    url = create_database(server_url, name, template=template_db)
    try:
        engine = create_engine(database_url_for(url, name))
        with Session(engine) as session, session.begin():
            add_region(session)
            unit_with_permit(session, 1)
        engine.dispose()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PERMITMAP_")}
        environment["DATABASE_URL"] = url

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [PERMITMAP, "reports", "check", *args],
                capture_output=True, text=True, env=environment, timeout=120, check=False,
            )  # fmt: skip

        first = run("--as-of", "2026-11-24")
        assert first.returncode == 0, first.stderr
        assert "8 expected reports added, 7 problems opened" in first.stdout
        second = run("--as-of", "2026-11-24")
        assert "0 expected reports added, 0 problems opened" in second.stdout
        bad = run("--as-of", "2026-13-01")
        assert bad.returncode != 0 and bad.stderr.startswith("permitmap: ")
    finally:
        drop_database(server_url, name)
