"""The write floor of an import: what PostgreSQL alone spends putting the CSV's rows into `units`.

No validation, no county check, no screening, no Python work on the rows: the file is COPYed
(PostgreSQL parses the CSV, as for ogr2ogr) into a temporary table of text columns, then inserted
into `units` the way `permitmap import units` inserts a load that more than doubles the table
(secondary indexes and foreign keys dropped, the rows inserted with the table's own triggers and
the import's bulk audit, one summary entry, the indexes rebuilt and the foreign keys
re-validated), and committed. Any
import into permitmap's schema, however fast its own checks, spends at least this; so
`ogr2ogr seconds / floor seconds` bounds the ratio any validating import could reach.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from geo.bulk import drop_indexes_and_foreign_keys, rebuild_indexes_and_foreign_keys

READ_CHUNK_BYTES = 1 << 20
STAGE = """CREATE TEMP TABLE floor_rows (
    credit_code text, site_seq text, name text, industry_code text, category text,
    county_code text, address text, status text, lon text, lat text) ON COMMIT DROP"""
INSERT = """INSERT INTO units (credit_code, site_seq, name, industry_code, category, county_code,
    address, status, location_source, geom)
SELECT credit_code, site_seq::smallint, name, industry_code,
    (CASE category WHEN '重点管理' THEN 'key' WHEN '简化管理' THEN 'simplified'
        ELSE 'registration' END)::management_category,
    county_code, address,
    (CASE status WHEN '运行' THEN 'operating' WHEN '停产' THEN 'suspended'
        ELSE 'closed' END)::operating_status,
    'reported', ST_SetSRID(ST_MakePoint(lon::float8, lat::float8), 4326)
FROM floor_rows"""


@dataclass
class Floor:
    """The floor's steps (seconds, in order) and the rows it inserted."""

    steps: dict[str, float] = field(default_factory=dict)
    rows: int = 0

    @property
    def seconds(self) -> float:
        """The whole floor, start of the COPY to the end of the commit."""
        return sum(self.steps.values())


def write_floor(engine: Engine, csv_path: Path) -> Floor:
    """Time the floor on `engine`'s database (which it changes: recreate it afterwards)."""
    floor = Floor()
    with engine.connect() as conn:
        started = time.perf_counter()

        def step(name: str) -> None:
            nonlocal started
            now = time.perf_counter()
            floor.steps[name] = now - started
            started = now

        conn.execute(text("SET LOCAL permitmap.audit_bulk = 'summary'"))  # as the import does
        conn.execute(text(STAGE))
        _copy_file(conn, csv_path)
        step("copy")
        deferred = drop_indexes_and_foreign_keys(conn, ("units",))
        floor.rows = conn.execute(text(INSERT)).rowcount
        step("insert")
        rebuild_indexes_and_foreign_keys(conn, [d for d in deferred if "bigram" not in d.name])
        step("indexes")
        rebuild_indexes_and_foreign_keys(conn, [d for d in deferred if "bigram" in d.name])
        step("name search index")
        conn.commit()
        step("commit")
    return floor


def _copy_file(conn: Connection, csv_path: Path) -> None:
    cursor = conn.connection.driver_connection.cursor()
    with (
        cursor.copy("COPY floor_rows FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        csv_path.open("rb") as source,
    ):
        while chunk := source.read(READ_CHUNK_BYTES):
            copy.write(chunk)
