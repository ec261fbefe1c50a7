"""Apply and roll back the Alembic migrations programmatically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from geo.errors import SetupError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def require_postgis(engine: Engine) -> None:
    """Fail with one clear line when the server cannot provide the PostGIS extension."""
    try:
        with engine.connect() as conn:
            available = conn.execute(
                text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
    except OperationalError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise SetupError(f"cannot reach the database at {url}", detail=str(exc)) from exc
    if not available:
        raise SetupError(
            "the PostGIS extension is not available on this PostgreSQL server: install PostGIS 3 "
            "(Debian: postgresql-15-postgis-3) or point DATABASE_URL at a PostGIS server"
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    require_postgis(engine)
    _run(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to `revision` ("base" removes everything)."""
    _run(engine, lambda cfg: command.downgrade(cfg, revision))


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if not exists:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def require_migrated(engine: Engine) -> None:
    """Fail with one clear line when the database lacks the schema of this version."""
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise SetupError(f"cannot reach the database at {url}", detail=str(exc)) from exc
    if revision != head_revision():
        raise SetupError(
            f"the database is at migration {revision or 'none (no permitmap schema, no PostGIS)'}, "
            f"this version needs {head_revision()}: run `permitmap db migrate`"
        )


def _run(engine: Engine, action: Callable[[Config], None]) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            action(config)
    except ProgrammingError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else "unknown error"
        raise SetupError(f"a migration failed: {reason}", detail=str(exc)) from exc
