"""Monitoring devices (数采仪): registration of an `MN` to an outlet with its password, and the
in-memory registry the receiver authenticates packets against.

HJ 212 sends the password (`PW`) in clear in every packet; the database keeps only
SHA-256(`mn:password`), so a leaked table does not give the passwords away, and checking a packet
costs one hash (the receiver caches the result per connection).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, ValidationError

MN_PATTERN = r"^[0-9A-Za-z]{1,24}$"


def password_digest(mn: str, password: str) -> str:
    """The stored form of a device's password."""
    return hashlib.sha256(f"{mn}:{password}".encode()).hexdigest()


@dataclass(frozen=True)
class Device:
    """A registered device as the receiver needs it."""

    mn: str
    outlet_id: int
    password_sha256: str
    interval_s: int
    offline_intervals: int

    def accepts(self, password: str) -> bool:
        """Whether `password` is this device's (constant-time comparison)."""
        return hmac.compare_digest(password_digest(self.mn, password), self.password_sha256)


def register_device(
    session: Session,
    *,
    mn: str,
    outlet_id: int,
    password: str,
    interval_s: int = 60,
    offline_intervals: int = 5,
) -> Device:
    """Register `mn` to an outlet (or move it and set a new password when registered already)."""
    if not re.match(MN_PATTERN, mn):
        raise ValidationError("an MN has 1–24 letters and digits", field="mn", value=mn)
    if not 1 <= len(password) <= 32:
        raise ValidationError("a device password has 1–32 characters", field="password")
    outlet = session.execute(text("SELECT 1 FROM outlets WHERE id = :id"), {"id": outlet_id})
    if outlet.first() is None:
        raise NotFoundError(f"no outlet with id {outlet_id}")
    row = session.execute(
        text(
            "INSERT INTO monitoring_devices (mn, outlet_id, password_sha256, interval_s,"
            " offline_intervals) VALUES (:mn, :outlet, :digest, :interval, :offline)"
            " ON CONFLICT (mn) DO UPDATE SET outlet_id = EXCLUDED.outlet_id,"
            " password_sha256 = EXCLUDED.password_sha256, interval_s = EXCLUDED.interval_s,"
            " offline_intervals = EXCLUDED.offline_intervals, active = true"
            " RETURNING mn, outlet_id, password_sha256, interval_s, offline_intervals"
        ),
        {
            "mn": mn,
            "outlet": outlet_id,
            "digest": password_digest(mn, password),
            "interval": interval_s,
            "offline": offline_intervals,
        },
    ).one()
    return Device(*row)


def active_devices(session: Session) -> dict[str, Device]:
    """Every active device by MN (the receiver's registry; reloaded periodically)."""
    rows = session.execute(
        text(
            "SELECT mn, outlet_id, password_sha256, interval_s, offline_intervals"
            " FROM monitoring_devices WHERE active"
        )
    ).all()
    return {row.mn: Device(*row) for row in rows}


def deactivate_device(session: Session, *, mn: str) -> None:
    """Stop accepting data from `mn` (its readings and events stay)."""
    done = session.execute(
        text("UPDATE monitoring_devices SET active = false WHERE mn = :mn AND active"), {"mn": mn}
    ).rowcount
    if not done:
        raise ConflictError(f"no active device {mn}")


def touch_devices(session: Session, mns: Sequence[str], now: datetime) -> list[int]:
    """Record that these devices sent data at `now`, and close their open offline events there.
    Returns the ids of the events closed.

    `last_seen` never moves back, and is rewritten only once it is a tenth of the device's
    offline threshold old (30 s at the default 60 s × 5): a device sending every few seconds
    does not rewrite its row every batch, and the sweep (which waits the whole threshold) still
    sees it in time. It stays out of the audit log (migration 0013)."""
    if not mns:
        return []
    session.execute(
        text(
            "UPDATE monitoring_devices SET last_seen = CAST(:now AS timestamptz)"
            " WHERE mn = ANY(:mns) AND (last_seen IS NULL OR last_seen < CAST(:now AS timestamptz)"
            " - make_interval(secs => interval_s * offline_intervals / 10.0))"
        ),
        {"mns": list(mns), "now": now},
    )
    closed = session.execute(
        text(
            "UPDATE monitoring_events"
            " SET ended_at = greatest(CAST(:now AS timestamptz), started_at)"
            " WHERE kind = 'offline' AND ended_at IS NULL AND mn = ANY(:mns) RETURNING id"
        ),
        {"mns": list(mns), "now": now},
    )
    return list(closed.scalars())


@dataclass(frozen=True)
class DeviceListing:
    """A registered device as staff see it (never its password digest)."""

    mn: str
    outlet_id: int
    outlet_code: str
    unit_id: int
    unit_name: str
    county_code: str
    interval_s: int
    offline_intervals: int
    active: bool
    registered_at: datetime
    last_seen: datetime | None
    live_status: str


def list_devices(
    session: Session,
    *,
    outlet_id: int | None = None,
    county: str | None = None,
    mn: str | None = None,
) -> list[DeviceListing]:
    """Registered devices (active or not), by MN, with their outlet, unit and live status."""
    rows = session.execute(
        text("""
        SELECT d.mn, d.outlet_id, o.code AS outlet_code, o.unit_id, u.name AS unit_name,
               u.county_code, d.interval_s, d.offline_intervals, d.active, d.registered_at,
               d.last_seen, s.live_status
        FROM monitoring_devices d
        JOIN outlets o ON o.id = d.outlet_id
        JOIN units u ON u.id = o.unit_id
        JOIN outlet_monitoring_status s ON s.outlet_id = d.outlet_id
        WHERE (CAST(:outlet AS bigint) IS NULL OR d.outlet_id = :outlet)
          AND (CAST(:county AS text) IS NULL OR u.county_code = :county)
          AND (CAST(:mn AS text) IS NULL OR d.mn = :mn)
        ORDER BY d.mn
    """),
        {"outlet": outlet_id, "county": county, "mn": mn},
    ).all()
    return [DeviceListing(*row) for row in rows]
