"""Load the demo province into PostGIS with COPY, one transaction, with a progress bar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Connection, Engine, text

from data.demo.options import DemoOptions
from data.demo.province import DemoData, build_demo
from geo.bulk import copy_frame, drop_indexes_and_foreign_keys, rebuild_indexes_and_foreign_keys

DEMO_TABLES = (
    "flag_events",
    "flags",
    "screening_runs",
    "access_list_items",
    "outfall_links",
    "river_outfalls",
    "outlet_pollutants",
    "outlets",
    "permit_history",
    "permits",
    "units",
    "zones",
    "places",
    "water_bodies",
    "rivers",
    "admin_regions",
)


def database_is_empty(engine: Engine) -> bool:
    """No regions and no units: nothing has been loaded."""
    with engine.connect() as conn:
        return not conn.execute(
            text("SELECT EXISTS (SELECT 1 FROM admin_regions) OR EXISTS (SELECT 1 FROM units)")
        ).scalar()


@contextmanager
def _step(progress: Progress | None, label: str) -> Iterator[None]:
    task = progress.add_task(label, total=None) if progress else None
    yield
    if progress is not None and task is not None:
        progress.update(task, total=1, completed=1)


def _copy_with_bar(
    conn: Connection, table: str, frame: pd.DataFrame, progress: Progress | None
) -> None:
    """COPY one table, advancing a bar of its rows."""
    if progress is None:
        copy_frame(conn, table, frame)
        return
    task = progress.add_task(f"loading {table}", total=len(frame))
    copy_frame(conn, table, frame, lambda rows: progress.advance(task, rows))


def write_demo(engine: Engine, demo: DemoData, progress: Progress | None = None) -> None:
    """Replace the inventory and zoning with the demo, all or nothing."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DEMO_TABLES)} RESTART IDENTITY CASCADE"))
        deferred = drop_indexes_and_foreign_keys(conn, DEMO_TABLES)
        # one audit row per table and load, not one per row (a million rows would double it)
        for table in demo.tables:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER audit_insert"))
        for table, frame in demo.tables.items():
            _copy_with_bar(conn, table, frame, progress)
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER audit_insert"))
        conn.execute(
            text(
                "INSERT INTO audit_log (actor, action, entity, after)"
                " SELECT 'permitmap demo', 'insert (bulk)', t.name, jsonb_build_object('rows', t.n)"
                " FROM unnest(CAST(:tables AS text[]), CAST(:rows AS bigint[])) AS t(name, n)"
            ),
            {"tables": list(demo.tables), "rows": [len(f) for f in demo.tables.values()]},
        )
        with _step(progress, "building indexes and checking foreign keys"):
            rebuild_indexes_and_foreign_keys(conn, deferred)
        with _step(progress, "resetting sequences"):
            for table in (
                "units",
                "permits",
                "outlets",
                "river_outfalls",
                "zones",
                "rivers",
                "water_bodies",
                "places",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE(max(id), 1), max(id) IS NOT NULL) FROM {table}"
                    )
                )
    with _step(progress, "analysing tables"), engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def load_demo(engine: Engine, options: DemoOptions, *, progress: bool = False) -> str:
    """Generate and load the demo province; return a one-line summary."""
    started = time.perf_counter()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        with _step(bar, f"generating the province ({options.units:,} units)"):
            demo = build_demo(options)
        write_demo(engine, demo, bar)
    seconds = time.perf_counter() - started
    counts = ", ".join(
        f"{len(demo.tables[t]):,} {t}"
        for t in ("units", "permits", "outlets", "river_outfalls", "zones")
    )
    return f"demo province {options.province} loaded in {seconds:.1f} s: {counts}"
