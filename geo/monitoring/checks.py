"""Checks of new readings against permit limits and abnormal-data rules, opening and closing
monitoring events. (Stub: being written.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session


@dataclass
class CheckSummary:
    """What a check run did: ids of the events it opened and closed."""

    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def run_checks(session: Session, *, now: datetime) -> CheckSummary:
    """Check the rows of `monitor_batch` (the batch just stored, see geo.monitoring.readings)."""
    raise NotImplementedError


def sweep_offline(session: Session, *, now: datetime) -> CheckSummary:
    """Open `offline` events for devices silent too long; close them when data came back."""
    raise NotImplementedError
