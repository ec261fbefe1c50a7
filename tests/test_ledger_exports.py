"""Flags and the problem ledger as spreadsheets: every matching row, Chinese headers, staff only."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import text

from geo.problems import open_problem
from tests.conftest import TEST_AS_OF
from tests.layer_fixtures import build_world

STAFF = {"Authorization": "Bearer dev-staff-token"}


def rows_of(content: bytes) -> list[tuple]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return list(sheet.iter_rows(values_only=True))


def test_flags_export_holds_every_matching_flag(client, session) -> None:
    build_world(session)
    response = client.get("/api/flags/export", headers=STAFF)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = rows_of(response.content)
    assert rows[0][:2] == ("编号", "对象类型")
    assert len(rows) - 1 == session.execute(text("SELECT count(*) FROM flags")).scalar_one()
    prohibited = client.get("/api/flags/export", params={"severity": "prohibited"}, headers=STAFF)
    expected = session.execute(
        text("SELECT count(*) FROM flags WHERE severity = 'prohibited'")
    ).scalar_one()
    assert len(rows_of(prohibited.content)) - 1 == expected


def test_problem_ledger_export_in_csv_and_english(client, session) -> None:
    world = build_world(session)
    for unit in ("valid", "expired_by_date"):
        open_problem(
            session,
            source="inspection",
            problem_type="inspection_finding",
            unit_id=world.units[unit],
            finding="排放口标志牌缺失",
            department="执法支队",
            deadline=None,
            today=TEST_AS_OF,
            opened_by="tester",
        )
    response = client.get(
        "/api/problems/export", params={"format": "csv", "lang": "en"}, headers=STAFF
    )
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,source,problem_type")
    assert len(lines) - 1 == session.execute(text("SELECT count(*) FROM problems")).scalar_one()
    assert "排放口标志牌缺失" in response.content.decode("utf-8-sig")


def test_ledger_exports_are_for_staff(client) -> None:
    assert client.get("/api/flags/export").status_code == 401
    assert client.get("/api/problems/export").status_code == 401
    bad = client.get("/api/flags/export", params={"format": "pdf"}, headers=STAFF)
    assert bad.status_code in (400, 422)
