"""Database connection: which URL to use, the engine, and a health probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from geo.cluster import EmbeddedCluster
from geo.errors import ConflictError, PermitmapError, SetupError, ValidationError
from geo.settings import ClusterSettings, DatabaseSettings


def database_url(db: DatabaseSettings, cluster: ClusterSettings) -> str:
    """`DATABASE_URL` when set, else the embedded cluster's database."""
    if db.database_url:
        return db.database_url
    return EmbeddedCluster(cluster).url(db.database_name)


def make_engine(url: str, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """An engine; with `pre_ping` every checkout first tests its connection (a restarted server
    then costs nothing but that round trip). Without it the first request on a dead connection
    fails, and SQLAlchemy replaces the whole pool at once (see `api/errors.py`)."""
    try:
        make_url(url)
    except ArgumentError as exc:
        raise SetupError(f"DATABASE_URL is not a valid database URL: {url!r}") from exc
    return create_engine(url, pool_pre_ping=pre_ping, pool_size=pool_size)


def warm_pool(
    engine: Engine, connections: int, prepare: Callable[[Session], None] | None = None
) -> None:
    """Open the pool's connections up front, each with PostGIS loaded and `prepare` run on it.

    A fresh PostgreSQL backend loads the PostGIS library on its first spatial call and the
    catalogue entries of each relation on its first query of it (tens of milliseconds in all);
    doing that at start-up keeps it out of the first users' requests. `prepare` runs the
    caller's typical queries (read-only; rolled back).
    """
    opened = []
    try:
        for _ in range(connections):
            connection = engine.connect()
            opened.append(connection)
            connection.execute(
                text("SELECT ST_AsMVTGeom(ST_Point(0, 0, 3857), ST_TileEnvelope(0, 0, 0))")
            )
            if prepare is not None:
                prepare(Session(bind=connection))
            connection.rollback()
    finally:
        for connection in opened:
            connection.close()


@dataclass(frozen=True)
class DatabaseVersions:
    """What `/health` and `permitmap db status` report."""

    postgres: str
    postgis: str | None


def probe(engine: Engine) -> DatabaseVersions:
    """Connect and read the PostgreSQL and PostGIS versions; one clear error when unreachable."""
    try:
        with engine.connect() as conn:
            postgres = conn.execute(text("SHOW server_version")).scalar_one()
            has_postgis = conn.execute(
                text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
            postgis = (
                conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
                if has_postgis
                else None
            )
    except OperationalError as exc:
        raise SetupError(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}",
            detail=str(exc),
        ) from exc
    return DatabaseVersions(postgres=postgres, postgis=postgis)


@dataclass(frozen=True)
class Refusal:
    """How to tell a user that a named constraint refused their write."""

    field: str
    message: str
    conflict: bool = False


def refusal_error(
    exc: IntegrityError, known: dict[str, Refusal], fallback: Refusal
) -> PermitmapError:
    """The user-facing error for a constraint violation (the database's text goes to the log)."""
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    refusal = known.get(name or "", fallback)
    if refusal.conflict:
        return ConflictError(refusal.message, detail=str(exc.orig))
    return ValidationError(refusal.message, field=refusal.field, detail=str(exc.orig))
