"""The receiver's database side: batches of accepted packets written in one transaction each,
the offline sweep, retention and the device registry.

`BatchWriter.write(batch)` runs, in ONE transaction: `store_readings` (COPY; repeats dropped),
`run_checks` (events opened and closed), `touch_devices` (last seen; offline events closed),
then COMMIT with `synchronous_commit = on` for that transaction (the embedded cluster runs with it
off, which may lose the last commits in a server crash: an acknowledged packet must survive
one). Only then does it return the packets committed, whose acknowledgements the caller may send.

A failed batch acknowledges nothing (devices re-send unacknowledged packets, HJ 212-2017 §6.2):
- an error that depends on the data (`DataError`, `IntegrityError`: a value the database refuses;
  SQLAlchemy's, or psycopg's own from the COPY)
  splits the batch in halves, written separately, so one bad packet cannot hold back the others;
  a single packet that still fails is dropped (counted, logged);
- any other error (the server down, a lost connection, a bug) fails the whole batch, and
  `backoff_s` tells the caller how long to wait before the next one (0.5 s doubling to 30 s).

Never raises: every failure is logged and counted. All methods are blocking and meant to run in
one worker thread, one call at a time (they share the partition registry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from geo.clock import CHINA, Clock
from geo.monitoring.checks import CheckSummary, run_checks, sweep_offline
from geo.monitoring.devices import Device, active_devices, touch_devices
from geo.monitoring.ingest import Accepted
from geo.monitoring.readings import (
    MonthRegistry,
    drop_partitions_before,
    known_months,
    store_readings,
)
from geo.users import set_actor

log = logging.getLogger("permitmap.monitor")

ACTOR = "monitor:receiver"
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0
T = TypeVar("T")


@dataclass
class BatchResult:
    """What writing a batch did: the packets committed (to acknowledge), rows stored (new) and
    repeated (stored before), events opened and closed, packets not committed, seconds taken,
    and for each event opened the seconds from the receipt of its outlet's first packet in the
    batch (`Accepted.received`) to its detection (`detected_at`, the database's clock)."""

    committed: list[Accepted] = field(default_factory=list)
    stored: int = 0
    repeated: int = 0
    opened: int = 0
    closed: int = 0
    failed: int = 0
    seconds: float = 0.0
    event_delays_s: list[float] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        """Add the counts of another (part of the same) batch."""
        self.committed += other.committed
        self.stored += other.stored
        self.repeated += other.repeated
        self.opened += other.opened
        self.closed += other.closed
        self.failed += other.failed
        self.event_delays_s += other.event_delays_s


def retention_start(now: datetime, months: int) -> datetime:
    """The first instant kept: midnight (China) on the first of the month `months` months before
    `now`'s month. Older partitions are dropped; older data times are refused."""
    china = now.astimezone(CHINA)
    index = china.year * 12 + china.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=CHINA)


class BatchWriter:
    """Writes the receiver's batches (see the module docstring). With `checks=False` it only
    stores (no checks, no last-seen): for measuring, never for serving."""

    def __init__(self, engine: Engine, *, clock: Clock, checks: bool = True) -> None:
        self._sessions = sessionmaker(engine)
        self._clock = clock
        self._checks = checks
        self._months: MonthRegistry | None = None
        self.failures = 0  # consecutive batches that failed as a whole

    @property
    def backoff_s(self) -> float:
        """How long to wait before the next batch (0 unless the last ones failed)."""
        if not self.failures:
            return 0.0
        return min(BACKOFF_FIRST_S * 2 ** (self.failures - 1), BACKOFF_MAX_S)

    def write(self, batch: Sequence[Accepted]) -> BatchResult:
        """Store and check `batch` in one transaction; the result lists what was committed."""
        started = time.perf_counter()
        result = self._write(list(batch), self._clock.now())
        result.seconds = time.perf_counter() - started
        return result

    def _write(self, batch: list[Accepted], now: datetime) -> BatchResult:
        try:
            result = self._transaction(batch, now)
        except (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError) as exc:
            self._months = None  # partitions created in the rolled-back transaction are gone
            if len(batch) == 1:
                item = batch[0]
                log.warning(
                    "packet QN=%s from MN=%s refused by the database (%s); not acknowledged",
                    item.packet.qn,
                    item.packet.mn,
                    type(getattr(exc, "orig", None) or exc).__name__,
                )
                return BatchResult(failed=1)
            half = len(batch) // 2
            result = self._write(batch[:half], now)
            result.add(self._write(batch[half:], now))
            return result
        except Exception as exc:  # the server down, a lost connection, a bug: retry later
            self._months = None
            self.failures += 1
            log.error(
                "batch of %d packets not written (%s: %s); none acknowledged, retrying in %.1f s",
                len(batch),
                type(exc).__name__,
                _first_line(exc),
                self.backoff_s,
            )
            return BatchResult(failed=len(batch))
        self.failures = 0
        return result

    def _transaction(self, batch: list[Accepted], now: datetime) -> BatchResult:
        rows = [row for item in batch for row in item.rows]
        with self._sessions() as session, session.begin():
            session.execute(text("SET LOCAL synchronous_commit = on"))
            set_actor(session, ACTOR)
            if self._months is None:
                self._months = known_months(session)
            stored = store_readings(session, rows, self._months)
            summary = run_checks(session, now=now) if self._checks else CheckSummary()
            if self._checks:
                touch_devices(session, sorted({item.device.mn for item in batch}), now)
            delays = _event_delays(session, batch, summary.opened) if summary.opened else []
        return BatchResult(
            committed=batch,
            stored=stored,
            repeated=len(rows) - stored,
            opened=len(summary.opened),
            closed=len(summary.closed),
            event_delays_s=delays,
        )

    def sweep_offline(self) -> CheckSummary | None:
        """Open and close offline events (None when it failed; logged)."""
        return self._job("offline sweep", lambda s: sweep_offline(s, now=self._clock.now()))

    def apply_retention(self, months: int) -> list[str] | None:
        """Drop the partitions before the retention start (None when it failed; logged)."""
        first: date = retention_start(self._clock.now(), months).date()
        dropped = self._job("retention", lambda s: drop_partitions_before(s, month=first))
        self._months = None
        return dropped

    def load_registry(self) -> dict[str, Device] | None:
        """The active devices by MN (None when the database could not be read; logged)."""
        return self._job("device registry", active_devices)

    def _job(self, name: str, action: Callable[[Session], T]) -> T | None:
        try:
            with self._sessions() as session, session.begin():
                set_actor(session, ACTOR)
                return action(session)
        except SQLAlchemyError as exc:
            log.error("%s failed (%s: %s)", name, type(exc).__name__, _first_line(exc))
            return None


def _event_delays(session: Session, batch: list[Accepted], opened: list[int]) -> list[float]:
    """Seconds from receipt (the outlet's first packet in the batch) to detection, per event."""
    received: dict[int, float] = {}
    for item in batch:
        outlet = item.device.outlet_id
        received[outlet] = min(received.get(outlet, item.received), item.received)
    detected = session.execute(
        text(
            "SELECT outlet_id, extract(epoch FROM detected_at)::float8 FROM monitoring_events"
            " WHERE id = ANY(:ids)"
        ),
        {"ids": opened},
    ).all()
    return [at - received[outlet] for outlet, at in detected if outlet in received]


def _first_line(exc: BaseException) -> str:
    """The first line of an error's text (SQLAlchemy appends the statement and parameters)."""
    text_ = str(getattr(exc, "orig", None) or exc)
    return text_.splitlines()[0][:200] if text_ else ""
