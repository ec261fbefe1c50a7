"""The enforcement status view: a unit's permit state (public) and its status for staff."""

from __future__ import annotations

from sqlalchemy import text

from tests.layer_fixtures import EXPECTED_STATUS, build_world


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
