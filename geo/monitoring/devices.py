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
from dataclasses import dataclass

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
