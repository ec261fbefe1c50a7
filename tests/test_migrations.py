"""Migrations run down to nothing and up again, and zone versions behave."""

from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text

from geo.errors import NotFoundError, ValidationError
from geo.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from geo.zones import new_zone_version, zone_version_at, zone_versions


def test_down_to_base_and_up_again(engine) -> None:
    assert current_revision(engine) == head_revision()
    downgrade(engine, "base")
    assert current_revision(engine) is None
    leftover = set(inspect(engine).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
    assert leftover == set()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM industry_codes")).scalar() == 1381


def test_models_match_the_migrations(db_url) -> None:
    # Alembic compares the ORM models with the migrated schema; any drift raises.
    command.check(alembic_config(db_url))


NOW = datetime(2026, 11, 24, tzinfo=UTC)
SQUARE = "SRID=4326;MULTIPOLYGON(((106 29,106.1 29,106.1 29.1,106 29.1,106 29)))"
BIGGER = "SRID=4490;POLYGON((106 29,106.2 29,106.2 29.2,106 29.2,106 29))"


def test_new_zone_version_closes_the_old_one(session) -> None:
    session.execute(
        text("""
        INSERT INTO zones (kind, grade, code, name, geom, source, version, valid_from)
        VALUES ('water_protection', 'II', 'SY500116001-II', '测试二级保护区',
                ST_GeomFromEWKT(:geom), 'test', 1, '2024-01-01')
    """),
        {"geom": SQUARE},
    )
    second = new_zone_version(
        session,
        now=NOW,
        code="SY500116001-II",
        geometry_ewkt=BIGGER,
        valid_from=date(2025, 7, 1),
        approval_doc="渝府〔2025〕1号",
    )
    versions = zone_versions(session, code="SY500116001-II")
    assert [(v.version, v.valid_to) for v in versions] == [(1, date(2025, 7, 1)), (2, None)]
    assert second.version == 2
    assert zone_version_at(session, code="SY500116001-II", at=date(2025, 1, 1)).version == 1
    assert zone_version_at(session, code="SY500116001-II", at=date(2025, 7, 1)).version == 2
    assert zone_version_at(session, code="SY500116001-II").version == 2
    areas = session.execute(
        text(
            "SELECT version, ST_Area(geom), ST_SRID(geom) FROM zones "
            "WHERE code = 'SY500116001-II' ORDER BY version"
        )
    ).all()
    assert [tuple(a) for a in areas] == [
        (1, pytest.approx(0.01), 4326),
        (2, pytest.approx(0.04), 4326),
    ]
    current = session.execute(
        text("SELECT count(*) FROM current_zones WHERE code = 'SY500116001-II'")
    ).scalar()
    assert current == 1


def test_new_version_must_start_later_and_zone_must_exist(session) -> None:
    session.execute(
        text("""
        INSERT INTO zones (kind, grade, code, name, geom, source, version, valid_from)
        VALUES ('water_protection', 'I', 'SY500116002-I', '测试', ST_GeomFromEWKT(:geom), 'test',
                1, '2025-01-01')
    """),
        {"geom": SQUARE},
    )
    with pytest.raises(ValidationError, match="must start after"):
        new_zone_version(
            session,
            now=NOW,
            code="SY500116002-I",
            geometry_ewkt=SQUARE,
            valid_from=date(2024, 1, 1),
        )
    with pytest.raises(NotFoundError):
        new_zone_version(
            session, now=NOW, code="NO-SUCH", geometry_ewkt=SQUARE, valid_from=date(2025, 1, 1)
        )
