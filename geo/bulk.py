"""Bulk loading: COPY into tables whose secondary indexes and foreign keys are rebuilt afterwards.

Maintaining a GiST index and checking foreign keys row by row costs more than the COPY itself; the
way pg_restore does it is to load first, then build indexes and validate foreign keys set-based.
Everything happens inside the caller's transaction, so a failure leaves the schema as it was.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, text

COPY_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Deferred:
    """An index or foreign key set aside during a bulk load."""

    table: str
    name: str
    definition: str
    is_constraint: bool


def _deferrable(conn: Connection, tables: tuple[str, ...]) -> list[Deferred]:
    """Foreign keys touching the tables, and their indexes that back no constraint."""
    foreign_keys = conn.execute(
        text("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.contype = 'f' AND (c.conrelid::regclass::text = ANY(:tables)
                                   OR c.confrelid::regclass::text = ANY(:tables))
    """),
        {"tables": list(tables)},
    ).all()
    indexes = conn.execute(
        text("""
        SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
               pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(:tables)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    """),
        {"tables": list(tables)},
    ).all()
    return [Deferred(t, n, d, True) for t, n, d in foreign_keys] + [
        Deferred(t, n, d, False) for t, n, d in indexes
    ]


def drop_indexes_and_foreign_keys(conn: Connection, tables: tuple[str, ...]) -> list[Deferred]:
    """Drop the secondary indexes and foreign keys of `tables`; return what to rebuild."""
    deferred = _deferrable(conn, tables)
    for item in deferred:
        if item.is_constraint:
            conn.execute(text(f'ALTER TABLE {item.table} DROP CONSTRAINT "{item.name}"'))
        else:
            conn.execute(text(f"DROP INDEX {item.name}"))
    return deferred


def rebuild_indexes_and_foreign_keys(conn: Connection, deferred: list[Deferred]) -> None:
    """Build the indexes, then re-add (and so validate, set-based) the foreign keys."""
    for item in sorted(deferred, key=lambda d: d.is_constraint):
        if item.is_constraint:
            conn.execute(
                text(f'ALTER TABLE {item.table} ADD CONSTRAINT "{item.name}" {item.definition}')
            )
        else:
            conn.execute(text(item.definition))


def copy_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    """COPY a frame into a table as CSV, in chunks so memory stays flat; `on_rows` hears of each
    chunk sent (for a progress bar)."""
    cursor = conn.connection.driver_connection.cursor()
    columns = ", ".join(frame.columns)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        for start in range(0, len(frame), COPY_CHUNK_ROWS):
            buffer = io.StringIO()
            frame.iloc[start : start + COPY_CHUNK_ROWS].to_csv(buffer, header=False, index=False)
            copy.write(buffer.getvalue())
            if on_rows is not None:
                on_rows(min(COPY_CHUNK_ROWS, len(frame) - start))
