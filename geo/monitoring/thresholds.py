"""Abnormal-data thresholds per pollutant code (`monitoring_thresholds`): the instrument range and
how many identical values in a row are a constant (stuck) signal. A pollutant without a row
has no range check and the default run of 10 (`geo.monitoring.abnormal`). Writes are audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationError
from geo.monitoring.abnormal import DEFAULT_CONSTANT_INTERVALS

POLLUTANT_CODE = re.compile(r"^[wa][0-9]{5}$")


@dataclass(frozen=True)
class Threshold:
    """A pollutant's thresholds; `configured` is false for the defaults of a code without a row."""

    pollutant_code: str
    range_min: float | None
    range_max: float | None
    constant_intervals: int
    configured: bool


def check_code(pollutant_code: str) -> None:
    """ValidationError unless an HJ 212 pollutant code (w or a and five digits, e.g. w01018)."""
    if not POLLUTANT_CODE.match(pollutant_code):
        message = "a pollutant code is w or a and five digits (HJ 212), e.g. w01018"
        raise ValidationError(message, field="pollutant_code", value=pollutant_code)


def get_threshold(session: Session, *, pollutant_code: str) -> Threshold:
    """The pollutant's thresholds (the defaults when none are configured)."""
    check_code(pollutant_code)
    row = session.execute(
        text("""
        SELECT pollutant_code, range_min, range_max, constant_intervals, true
        FROM monitoring_thresholds WHERE pollutant_code = :c
    """),
        {"c": pollutant_code},
    ).one_or_none()
    if row is None:
        return Threshold(pollutant_code, None, None, DEFAULT_CONSTANT_INTERVALS, False)
    return Threshold(*row)


def set_threshold(
    session: Session,
    *,
    pollutant_code: str,
    range_min: float | None,
    range_max: float | None,
    constant_intervals: int,
) -> Threshold:
    """Configure a pollutant's thresholds (replacing what was set)."""
    check_code(pollutant_code)
    if range_min is not None and range_max is not None and range_min >= range_max:
        raise ValidationError("range_min must be below range_max", field="range_max")
    if constant_intervals < 2:
        raise ValidationError("a constant run is at least 2 values", field="constant_intervals")
    session.execute(
        text("""
        INSERT INTO monitoring_thresholds (pollutant_code, range_min, range_max,
                                           constant_intervals)
        VALUES (:c, :lo, :hi, :n)
        ON CONFLICT (pollutant_code) DO UPDATE SET range_min = EXCLUDED.range_min,
            range_max = EXCLUDED.range_max, constant_intervals = EXCLUDED.constant_intervals
    """),
        {"c": pollutant_code, "lo": range_min, "hi": range_max, "n": constant_intervals},
    )
    return get_threshold(session, pollutant_code=pollutant_code)
