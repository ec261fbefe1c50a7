"""The time, injected: the app and the CLI use the system clock, tests a fixed one, so reminders,
deadlines and overdue lists are testable on a fixed date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

CHINA = timezone(timedelta(hours=8), "CST")


class Clock(Protocol):
    """Something that tells the time."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def today(self) -> date:
        """Today's date (in China Standard Time: the bureaus' day)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time (UTC)."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Today in China (UTC+8)."""
        return datetime.now(CHINA).date()


@dataclass(frozen=True)
class FixedClock:
    """A clock stopped at `at` (tests)."""

    at: datetime

    def now(self) -> datetime:
        """`at`."""
        return self.at

    def today(self) -> date:
        """`at`'s date in China."""
        return self.at.astimezone(CHINA).date()
