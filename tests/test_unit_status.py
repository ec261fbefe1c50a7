"""The enforcement status view: a unit's permit state (public) and its status for staff, in
the priority order of migration 0010 (one unit per level; ties go to the higher level)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from layers.registry import ENFORCEMENT_STATUS, LAYERS, PERMIT_STATE
from tests.layer_fixtures import EXPECTED_STATUS, _permit, _unit, build_world


def test_every_status_comes_from_the_permit_and_the_open_flags(session) -> None:
    world = build_world(session)
    rows = session.execute(
        text("SELECT unit_id, permit_state, enforcement_status, open_flags FROM unit_status")
    ).all()
    found = {row.unit_id: (row.permit_state, row.enforcement_status) for row in rows}
    assert {key: found[uid] for key, uid in world.units.items()} == EXPECTED_STATUS
    flags = {row.unit_id: row.open_flags for row in rows}
    assert flags[world.units["warning"]] == 1
    assert flags[world.units["dismissed"]] == 0
    assert flags[world.units["outlet_flag"]] == 1


def test_the_valid_permit_wins_over_a_later_expired_one(session) -> None:
    world = build_world(session)
    unit = world.units["valid"]
    session.execute(
        text("""
        INSERT INTO permits (permit_no, unit_id, kind, report_frequencies, issued_on, valid_from,
                             valid_to, status, authority)
        SELECT credit_code || '002Q', id, 'permit', '{annual}', current_date, current_date,
               current_date + 5000, 'revoked', 'x' FROM units WHERE id = :u
    """),
        {"u": unit},
    )
    state = session.execute(
        text("SELECT permit_state FROM unit_status WHERE unit_id = :u"), {"u": unit}
    ).scalar_one()
    assert state == "valid"


def test_writes_bump_the_data_version_of_their_table(session) -> None:
    def versions() -> dict[str, int]:
        rows = session.execute(text("SELECT source, version FROM data_versions")).all()
        return {r.source: r.version for r in rows}

    before = versions()
    build_world(session)
    after = versions()
    for table in ("units", "permits", "outlets", "zones", "flags", "river_outfalls"):
        assert after[table] > before.get(table, 0), table
    session.execute(text("UPDATE units SET name = name || '!' WHERE false"))
    assert versions()["units"] == after["units"] + 1


# --- the priority order (migration 0010) ------------------------------------------------------

PRIORITY = (
    "violation",
    "closed",
    "no_permit",
    "revoked",
    "expired",
    "exceedance",
    "overdue_problem",
    "open_problem",
    "monitoring_abnormal",
    "warning",
    "expiring",
    "valid",
)
# problem (status, deadline offset from today in days or None)
OVERDUE = ("rectifying", -10)
OPEN = ("open", 60)
NO_DEADLINE = ("submitted", None)
VERIFIED_LATE = ("verified", -10)
CLOSED_LATE = ("closed", -10)
# key: (world unit it starts from or None for a new valid one, problems, expected status)
CASES: dict[str, tuple[str | None, tuple[tuple[str, int | None], ...], str]] = {
    "violation": ("violation", (), "violation"),
    "closed": ("closed", (), "closed"),
    "no_permit": ("none", (), "no_permit"),
    "revoked": ("revoked", (), "revoked"),
    "expired": ("expired_by_date", (), "expired"),
    "overdue_problem": (None, (OVERDUE,), "overdue_problem"),
    "open_problem": (None, (OPEN,), "open_problem"),
    "warning": ("warning", (), "warning"),
    "expiring": ("expiring", (), "expiring"),
    "valid": ("valid", (), "valid"),
    # ties: the highest level wins
    "violation_with_overdue": ("violation", (OVERDUE,), "violation"),
    "closed_with_overdue": ("closed", (OVERDUE, OPEN), "closed"),
    "unpermitted_with_overdue": ("none", (OVERDUE,), "no_permit"),
    "revoked_with_open": ("revoked", (OPEN,), "revoked"),
    "expired_with_overdue": ("expired_status", (OVERDUE, OPEN), "expired"),
    "overdue_and_open_and_flag": ("warning", (OPEN, OVERDUE), "overdue_problem"),
    "open_and_flag": ("warning", (OPEN,), "open_problem"),
    "open_without_deadline_and_expiring": ("expiring", (NO_DEADLINE,), "open_problem"),
    "verified_and_closed_count_not": ("valid", (VERIFIED_LATE, CLOSED_LATE), "valid"),
}


def _problem(session, unit_id: int, status: str, deadline_days: int | None) -> None:
    session.execute(
        text("""
        INSERT INTO problems (source, problem_type, unit_id, finding, department, deadline,
                              status, opened_on, opened_by, closed_at)
        VALUES ('inspection', 'rectification_order', :unit, '现场检查发现问题', '执法支队',
                current_date + CAST(:days AS int), CAST(:status AS problem_status),
                current_date - 200, 'tester',
                CASE WHEN CAST(:status AS text) = 'closed' THEN now() END)
    """),
        {"unit": unit_id, "status": status, "days": deadline_days},
    )


def _statuses(session) -> dict[int, tuple[str, int, int]]:
    rows = session.execute(
        text("SELECT unit_id, enforcement_status, open_problems, overdue_problems FROM unit_status")
    ).all()
    return {r.unit_id: (r.enforcement_status, r.open_problems, r.overdue_problems) for r in rows}


def test_the_order_of_the_legend_is_the_priority_order() -> None:
    assert tuple(c.value for c in ENFORCEMENT_STATUS.classes) == PRIORITY
    assert [c.value for c in PERMIT_STATE.classes] == [
        "valid", "expiring", "expired", "revoked", "none"
    ]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_each_level_and_ties_resolved_by_priority(session, case: str) -> None:
    world = build_world(session)
    start, problems, expected = CASES[case]
    unit = _new_valid_unit(session) if start is None else world.units[start]
    for status, days in problems:
        _problem(session, unit, status, days)
    found = _statuses(session)
    assert found[unit][0] == expected
    open_count = sum(1 for s, _ in problems if s not in ("verified", "closed"))
    overdue = sum(1 for s, d in problems if s not in ("verified", "closed") and d and d < 0)
    assert found[unit][1:] == (open_count, overdue)
    others = {k: found[u][0] for k, u in world.units.items() if u != unit}
    assert others == {k: EXPECTED_STATUS[k][1] for k in others}


def test_a_problem_past_its_deadline_becomes_overdue_on_the_next_day(session) -> None:
    build_world(session)
    unit = _new_valid_unit(session)
    _problem(session, unit, "open", 0)  # due today: not yet overdue
    assert _statuses(session)[unit][0] == "open_problem"
    session.execute(text("UPDATE problems SET deadline = current_date - 1 WHERE unit_id = :u"),
                    {"u": unit})  # fmt: skip
    assert _statuses(session)[unit][0] == "overdue_problem"


def test_problems_bump_the_units_layer_data_version(session) -> None:
    assert "problems" in LAYERS["units"].sources
    build_world(session)
    unit = _new_valid_unit(session)
    version = text("SELECT coalesce(max(version), 0) FROM data_versions WHERE source = 'problems'")
    before = session.execute(version).scalar_one()
    _problem(session, unit, "open", 60)
    assert session.execute(version).scalar_one() == before + 1


def test_public_tiles_do_not_read_the_problem_ledger(session) -> None:
    """The planner drops the problem join when the status is not read (public tiles)."""
    plan = session.execute(
        text("EXPLAIN SELECT id, name, permit_state, geom FROM layer_units")
    ).scalars()
    plan_text = "\n".join(plan)
    assert "problems" not in plan_text and "flags" not in plan_text, plan_text


def _new_valid_unit(session) -> int:
    unit = _unit(session, 60, "extra", 106.09, 29.09, "operating")
    _permit(session, unit, 60, 1000, "valid")
    return unit
