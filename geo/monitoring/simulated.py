"""Simulated devices (`permitmap monitor simulate`): registered on existing outlets under MNs
`SIM` + 21 digits, all with one password, so a simulator can drive the receiver end to end.

The simulated packets (`factor_fields`) carry the eight factors a real wastewater or
flue-gas outlet's analysers send: its permitted pollutants and the usual flow and condition
factors (Annex B), with values well under any permit limit, varied so that no constant-signal
rule fires; an exceedance is 10× a generous limit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

MN_PREFIX = "SIM"
WATER = {  # code: typical value (the demo's smallest limit is at least 2.5× that)
    "w01018": 20.0,  # COD, limit ≥ 50 mg/L
    "w21003": 1.5,  # ammonia nitrogen, ≥ 5
    "w21011": 0.2,  # total phosphorus, ≥ 0.5
    "w21001": 6.0,  # total nitrogen, ≥ 15
    "w00000": 12.0,  # flow, L/s
    "w01001": 7.2,  # pH
    "w01010": 18.0,  # water temperature
    "w01014": 800.0,  # conductivity
}
AIR = {
    "a34013": 4.0,  # particulates, limit ≥ 10 mg/m³
    "a24088": 20.0,  # non-methane hydrocarbons, ≥ 60
    "a21002": 25.0,  # NOx, ≥ 50
    "a21026": 12.0,  # SO2, ≥ 35
    "a00000": 30.0,  # flow, m³/s
    "a01012": 80.0,  # flue-gas temperature
    "a01013": 0.3,  # pressure, kPa
    "a19001": 9.0,  # oxygen, %
}
EXCEEDING = 1000.0  # above every demo limit (the largest is 300 mg/m³)


@dataclass(frozen=True)
class SimulatedDevice:
    """A simulated device: its MN, its outlet and the outlet's medium (water or air)."""

    mn: str
    outlet_id: int
    medium: str

    @property
    def factors(self) -> dict[str, float]:
        """The eight factor codes it sends and their typical values."""
        return WATER if self.medium == "water" else AIR


def simulated_mn(index: int) -> str:
    """The MN of simulated device `index` (0-based): `SIM` + 21 digits."""
    return f"{MN_PREFIX}{index + 1:021d}"


def register_simulated(session: Session, *, count: int, password: str) -> int:
    """Register `count` simulated devices on the first `count` outlets (by id), replacing those
    registered before (moved, new password, active); the password digest is the one
    `geo.monitoring.devices.password_digest` gives. Returns how many were registered."""
    return session.execute(
        text(f"""
        INSERT INTO monitoring_devices (mn, outlet_id, password_sha256, interval_s)
        SELECT '{MN_PREFIX}' || lpad(n::text, 21, '0'), o.id,
               encode(sha256(convert_to('{MN_PREFIX}' || lpad(n::text, 21, '0') || ':'
                                        || CAST(:password AS text), 'UTF8')), 'hex'), 60
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM outlets
              ORDER BY id LIMIT :count) o
        ON CONFLICT (mn) DO UPDATE SET outlet_id = EXCLUDED.outlet_id,
            password_sha256 = EXCLUDED.password_sha256, interval_s = 60, active = true
    """),
        {"count": count, "password": password},
    ).rowcount


def simulated_devices(session: Session, *, count: int) -> list[SimulatedDevice]:
    """The first `count` active simulated devices, by MN, with their outlet's medium."""
    rows = session.execute(
        text(f"""
        SELECT d.mn, d.outlet_id, o.medium::text FROM monitoring_devices d
        JOIN outlets o ON o.id = d.outlet_id
        WHERE d.active AND d.mn LIKE '{MN_PREFIX}%' ORDER BY d.mn LIMIT :count
    """),
        {"count": count},
    ).all()
    return [SimulatedDevice(*row) for row in rows]


def factor_fields(
    device: SimulatedDevice, rng: random.Random, *, exceed: bool = False
) -> dict[str, dict[str, str]]:
    """One packet's CP fields per factor: Avg, Min, Max and the normal flag; with `exceed`, the
    permitted pollutants' averages above any limit."""
    fields: dict[str, dict[str, str]] = {}
    for position, (code, typical) in enumerate(device.factors.items()):
        value = EXCEEDING if exceed and position < 4 else typical * rng.uniform(0.8, 1.2)
        fields[code] = {
            "Avg": f"{value:.3f}",
            "Min": f"{value * 0.9:.3f}",
            "Max": f"{value * 1.1:.3f}",
            "Flag": "N",
        }
    return fields
