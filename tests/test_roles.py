"""Every staff endpoint of the OpenAPI document refuses the anonymous (401) and the wrong role
(403), and lets the right role through; every write is in the audit log under its author."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.users import ROLES, create_user, set_actor
from tests.conftest import use_session
from tests.factories import add_region, add_unit, credit_code
from tests.layer_fixtures import build_world
from tests.roles import TOKENS, role_settings
from tests.routes import staff_routes


@pytest.fixture
def role_client(db_url, session):
    """The app with one service token per role."""
    app = create_app(role_settings(db_url))
    use_session(app, session)
    with TestClient(app) as client:
        yield client


def operations(app) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(method, path, admitted roles or None) of every operation the OpenAPI document lists."""
    roles = staff_routes(app)
    found = []
    for path, item in app.openapi()["paths"].items():
        for method in item:
            found.append((method.upper(), path, roles.get((method.upper(), path))))
    return found


def concrete(path: str) -> str:
    """The path with every parameter filled with a value no record has."""
    return re.sub(r"\{[^}]+\}", "999999", path)


def call(client: TestClient, method: str, path: str, role: str | None):
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    return client.request(method, concrete(path), headers=headers, json={})


def test_the_document_lists_staff_and_public_operations(role_client) -> None:
    listed = operations(role_client.app)
    assert any(roles is None for _, _, roles in listed)
    staff = [(m, p) for m, p, roles in listed if roles is not None]
    assert ("GET", "/api/audit") in staff and ("POST", "/api/units") in staff
    # every staff route of the app is in the document (none hides from this walk)
    documented = {(m, p) for m, p, _ in listed}
    hidden = {k for k in staff_routes(role_client.app) if k not in documented}
    assert hidden <= {("POST", "/siting/check"), ("POST", "/siting/check-file")}  # pages


def test_every_staff_operation_refuses_the_anonymous_and_the_wrong_role(role_client) -> None:
    problems = []
    for method, path, roles in operations(role_client.app):
        if roles is None:
            continue
        anonymous = call(role_client, method, path, None)
        if anonymous.status_code != 401:
            problems.append(f"{method} {path} anonymous → {anonymous.status_code}")
        for role in ROLES:
            status = call(role_client, method, path, role).status_code
            if role not in roles and status != 403:
                problems.append(f"{method} {path} as {role} → {status} (should be 403)")
            if role in roles and status in (401, 403):
                problems.append(f"{method} {path} as {role} → {status} (should pass)")
    assert not problems, "\n".join(problems)


def test_public_operations_need_no_sign_in(role_client) -> None:
    for method, path, roles in operations(role_client.app):
        if roles is None and method == "GET":
            assert call(role_client, method, path, None).status_code != 401, path


def test_writes_are_audited_under_their_author(role_client, session) -> None:
    build_world(session)
    headers = {"Authorization": f"Bearer {TOKENS['supervisor']}"}
    flag_id = session.execute(text("SELECT min(id) FROM flags")).scalar_one()
    response = role_client.patch(
        f"/api/flags/{flag_id}", json={"status": "confirmed"}, headers=headers
    )
    assert response.status_code == 200, response.text
    rows = session.execute(
        text(
            "SELECT actor, action, before ->> 'status', after ->> 'status' FROM audit_log"
            " WHERE entity = 'flags' AND entity_id = :id"
        ),
        {"id": str(flag_id)},
    ).all()
    assert ("supervisor-account", "update", "open", "confirmed") in rows


def test_the_audit_log_is_append_only_and_read_by_admins(role_client, session) -> None:
    build_world(session)
    with pytest.raises(Exception, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with pytest.raises(Exception, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM audit_log"))
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    entries = role_client.get("/api/audit", params={"entity": "units"}, headers=admin).json()
    assert entries and all(e["entity"] == "units" for e in entries)
    assert {"actor", "at", "action", "before", "after", "entity_id"} <= set(entries[0])


def test_audit_rows_hold_the_row_but_never_a_password_hash(session) -> None:
    set_actor(session, "an admin")
    user_id = create_user(
        session, username="zhao.kai", display_name="赵凯", role="reviewer", password="x" * 12
    )
    actor, after = session.execute(
        text("SELECT actor, after FROM audit_log WHERE entity = 'users' AND entity_id = :id"),
        {"id": str(user_id)},
    ).one()
    assert actor == "an admin"
    assert after["username"] == "zhao.kai" and after["role"] == "reviewer"
    assert "password_hash" not in after


def test_every_audited_table_names_its_rows(session) -> None:
    """The generic audit function names and pairs rows by `id` or `code`: a table without either
    must use the keyed one (else its rows go unnamed and its updates unlogged)."""
    unnamed = session.execute(
        text("""
        SELECT DISTINCT c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE p.proname = 'audit_rows' AND NOT EXISTS (
            SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND NOT a.attisdropped
            AND a.attname IN ('id', 'code'))
    """)
    ).scalars()
    assert list(unnamed) == []


def test_an_outfall_links_update_is_logged_under_its_key(session) -> None:
    add_region(session)
    unit = add_unit(session, credit_code(71))
    outfall = session.execute(
        text("""
        INSERT INTO river_outfalls (code, name, outfall_type, receiving_water, geom)
        VALUES ('RK500116TEST01', '测试入河排污口', 'industrial', '长江',
                ST_GeomFromEWKT('SRID=4326;POINT(106.06 29.06)')) RETURNING id
    """)
    ).scalar_one()
    session.execute(
        text("INSERT INTO outfall_links (outfall_id, unit_id) VALUES (:o, :u)"),
        {"o": outfall, "u": unit},
    )
    outlet = session.execute(
        text("""
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        VALUES (:u, 'DW001', 'water', 'main', ST_GeomFromEWKT('SRID=4326;POINT(106.05 29.05)'),
                '长江') RETURNING id
    """),
        {"u": unit},
    ).scalar_one()
    set_actor(session, "a reviewer")
    session.execute(
        text("UPDATE outfall_links SET outlet_id = :outlet WHERE outfall_id = :o"),
        {"outlet": outlet, "o": outfall},
    )
    actor, entity_id, before, after = session.execute(
        text(
            "SELECT actor, entity_id, before, after FROM audit_log"
            " WHERE entity = 'outfall_links' AND action = 'update'"
        )
    ).one()
    assert (actor, entity_id) == ("a reviewer", f"{outfall}:{unit}")
    assert (before["outlet_id"], after["outlet_id"]) == (None, outlet)
