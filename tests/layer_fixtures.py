"""A small hand-made world for layer, tile and OGC tests: one county, units in every enforcement
status, outlets with limits, a river outfall, zones with two versions, flags.

Staff-only values carry the marker `STAFFONLY` so a test can prove they never reach the public.
Dates are relative to the database's current_date, as the status view is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import COUNTY, add_region, credit_code

STAFF_MARKER = "STAFFONLY"
# (key, x, y, permit: (valid_to offset in days, status) or None, unit status, flag severity/status)
UNIT_CASES: list[tuple[str, float, float, tuple[int, str] | None, str, tuple[str, str] | None]] = [
    ("valid", 106.010, 29.010, (1000, "valid"), "operating", None),
    ("expiring", 106.020, 29.010, (30, "valid"), "operating", None),
    ("expired_by_date", 106.030, 29.010, (-10, "valid"), "operating", None),
    ("expired_status", 106.040, 29.010, (500, "expired"), "operating", None),
    ("revoked", 106.050, 29.010, (500, "revoked"), "operating", None),
    ("none", 106.060, 29.010, None, "operating", None),
    ("closed", 106.070, 29.010, (1000, "valid"), "closed", None),
    ("violation", 106.050, 29.050, (1000, "valid"), "operating", ("prohibited", "open")),
    ("warning", 106.052, 29.052, (1000, "valid"), "operating", ("restricted", "confirmed")),
    ("dismissed", 106.054, 29.054, (1000, "valid"), "operating", ("prohibited", "dismissed")),
    ("outlet_flag", 106.080, 29.080, (1000, "valid"), "operating", None),
]
EXPECTED_STATUS = {
    "valid": ("valid", "valid"),
    "expiring": ("expiring", "expiring"),
    "expired_by_date": ("expired", "expired"),
    "expired_status": ("expired", "expired"),
    "revoked": ("revoked", "revoked"),
    "none": ("none", "no_permit"),
    "closed": ("valid", "closed"),
    "violation": ("valid", "violation"),
    "warning": ("valid", "warning"),
    "dismissed": ("valid", "valid"),
    "outlet_flag": ("valid", "violation"),
}
ZONE_NOW = (
    "SRID=4326;MULTIPOLYGON(((106.04 29.04,106.06 29.04,106.06 29.06,106.04 29.06,106.04 29.04)))"
)
ZONE_BEFORE = (
    "SRID=4326;MULTIPOLYGON(((106.0 29.0,106.02 29.0,106.02 29.02,106.0 29.02,106.0 29.0)))"
)


@dataclass
class World:
    """Ids of what `build_world` inserted."""

    units: dict[str, int] = field(default_factory=dict)
    outlets: dict[str, int] = field(default_factory=dict)
    outfall: int = 0
    zone_now: int = 0
    zone_before: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    penalties: dict[str, int] = field(default_factory=dict)


def build_world(session: Session) -> World:
    """Insert the world (inside the caller's transaction) and return its ids."""
    add_region(session)
    world = World()
    world.zone_before, world.zone_now = _zones(session)
    for serial, (key, x, y, permit, status, _) in enumerate(UNIT_CASES, start=1):
        world.units[key] = _unit(session, serial, key, x, y, status)
        if permit is not None:
            _permit(session, world.units[key], serial, *permit)
    for key in ("valid", "outlet_flag"):
        world.outlets[key] = _outlet(session, world.units[key], key)
    world.outfall = session.execute(
        text("""
        INSERT INTO river_outfalls (code, name, outfall_type, receiving_water, geom)
        VALUES ('500116OF0001', '江津测试入河排污口', 'industrial', '长江',
                ST_GeomFromEWKT('SRID=4326;POINT(106.09 29.02)')) RETURNING id
    """)
    ).scalar_one()
    for key, *_, flag in UNIT_CASES:
        if flag is not None:
            world.flags[key] = _flag(session, "unit", world.units[key], world.zone_now, *flag)
    world.flags["outlet"] = _flag(
        session, "outlet", world.outlets["outlet_flag"], world.zone_now, "prohibited", "open"
    )
    for public in (True, False):
        world.penalties["public" if public else "staff"] = _penalty(
            session, world.units["violation"], public=public
        )
    return world


PUBLIC_PENALTY_NO = "渝津环罚〔2026〕1号"


def _penalty(session: Session, unit_id: int, *, public: bool) -> int:
    """A penalty decision on the unit: the public one discloses, the other carries the marker."""
    marker = "" if public else f"{STAFF_MARKER} "
    return session.execute(
        text("""
        INSERT INTO penalties (decision_no, unit_id, decided_on, violation, legal_basis,
                               amount_yuan, public, created_by)
        VALUES (:no, :unit, current_date - 30, :violation, :basis, :amount, :public, 'tester')
        RETURNING id
    """),
        {
            "no": PUBLIC_PENALTY_NO if public else f"{marker}渝津环罚〔2026〕2号",
            "unit": unit_id,
            "violation": f"{marker}在饮用水水源一级保护区内设置排污口",
            "basis": f"{marker}《水污染防治法》第八十四条",
            "amount": 200000 if public else 500000,
            "public": public,
        },
    ).scalar_one()


def _unit(session: Session, serial: int, key: str, x: float, y: float, status: str) -> int:
    return session.execute(
        text("""
        INSERT INTO units (credit_code, name, industry_code, category, county_code, address,
                           status, geom, location_source)
        VALUES (:code, :name, '2614', 'key', :county, :address, :status,
                ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'surveyed')
        RETURNING id
    """),
        {
            "code": credit_code(900 + serial),
            "name": f"测试单位{key}",
            "county": COUNTY,
            "address": f"{STAFF_MARKER} 地址 {key}",
            "status": status,
            "x": x,
            "y": y,
        },
    ).scalar_one()


def _permit(session: Session, unit_id: int, serial: int, days: int, status: str) -> None:
    code = session.execute(text("SELECT credit_code FROM units WHERE id = :u"), {"u": unit_id})
    session.execute(
        text("""
        INSERT INTO permits (permit_no, unit_id, kind, report_frequencies, issued_on, valid_from,
                             valid_to, status, authority)
        VALUES (:no, :unit, 'permit', '{annual}', current_date - 1000, current_date - 1000,
                current_date + :days, :status, '重庆市江津区生态环境局')
    """),
        {"no": f"{code.scalar_one()}001P", "unit": unit_id, "days": days, "status": status},
    )


def _outlet(session: Session, unit_id: int, key: str) -> int:
    outlet_id = session.execute(
        text("""
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        SELECT id, 'DW001', 'water', 'main', ST_Translate(geom, 0.001, 0), '长江'
        FROM units WHERE id = :unit RETURNING id
    """),
        {"unit": unit_id},
    ).scalar_one()
    session.execute(
        text("""
        INSERT INTO outlet_pollutants (outlet_id, pollutant_code, pollutant_name,
                                       concentration_limit, concentration_unit, annual_limit_t)
        VALUES (:o, 'w01018', '化学需氧量', 50, 'mg/L', 12.5)
    """),
        {"o": outlet_id},
    )
    return outlet_id


def _zones(session: Session) -> tuple[int, int]:
    ids = []
    for version, geom, valid_from, valid_to in (
        (1, ZONE_BEFORE, "2020-01-01", "2025-01-01"),
        (2, ZONE_NOW, "2025-01-01", None),
    ):
        ids.append(
            session.execute(
                text("""
                INSERT INTO zones (kind, grade, code, name, geom, source, version, valid_from,
                                   valid_to)
                VALUES ('water_protection', 'I', 'SY500116900-I', '测试水源一级保护区',
                        ST_GeomFromEWKT(:geom), 'test', :v, :f, :t) RETURNING id
            """),
                {"geom": geom, "v": version, "f": valid_from, "t": valid_to},
            ).scalar_one()
        )
    return ids[0], ids[1]


def _flag(
    session: Session, feature: str, feature_id: int, zone_id: int, severity: str, status: str
) -> int:
    return session.execute(
        text("""
        INSERT INTO flags (feature_type, feature_id, county_code, zone_id, zone_code, zone_kind,
                           rule_id, severity, legal_basis, classification, distance_m,
                           feature_geom_hash, first_seen, last_seen, status, status_reason,
                           reviewer, reviewed_at)
        SELECT :feature, :fid, :county, z.id, z.code, z.kind, r.id, :severity,
               :basis, 'inside', 12.5, 'hash', now() - interval '2 days', now(),
               CAST(:status AS flag_status),
               CASE WHEN CAST(:status AS text) = 'open' THEN NULL ELSE :reason END,
               CASE WHEN CAST(:status AS text) = 'open' THEN NULL ELSE 'dev-staff' END,
               CASE WHEN CAST(:status AS text) = 'open' THEN NULL ELSE now() END
        FROM zones z, zone_rules r WHERE z.id = :zone AND r.code = 'WP1-UNIT'
        RETURNING id
    """),
        {
            "feature": feature,
            "fid": feature_id,
            "county": COUNTY,
            "zone": zone_id,
            "severity": severity,
            "basis": f"{STAFF_MARKER} 水污染防治法第六十五条",
            "status": status,
            "reason": f"{STAFF_MARKER} 复核意见",
        },
    ).scalar_one()
