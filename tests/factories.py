"""Small hand-made rows for schema and rule tests (inserted through SQL, inside the test's
transaction)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.credit_code import check_digit

COUNTY = "500116"
SQUARE = "SRID=4326;MULTIPOLYGON(((106 29,106.1 29,106.1 29.1,106 29.1,106 29)))"


def credit_code(serial: int) -> str:
    """A well-formed code with a valid check digit."""
    first17 = f"91{COUNTY}{serial:08d}X"[:17]
    return first17 + check_digit(first17)


def add_region(session: Session) -> None:
    """Chongqing and one county (江津区)."""
    session.execute(
        text("""
        INSERT INTO admin_regions (code, name, level, parent_code, geom) VALUES
          ('500000', '重庆市', 'province', NULL, ST_GeomFromEWKT(:square)),
          (:county, '江津区', 'county', '500000', ST_GeomFromEWKT(:square))
    """),
        {"square": SQUARE, "county": COUNTY},
    )


def add_unit(session: Session, code: str, *, site_seq: int = 1) -> int:
    """A unit at (106.05, 29.05); returns its id."""
    return session.execute(
        text("""
        INSERT INTO units (credit_code, site_seq, name, industry_code, category, county_code,
                           status, geom, location_source)
        VALUES (:code, :seq, '江津测试化工有限公司', '2614', 'key', :county, 'operating',
                ST_GeomFromEWKT('SRID=4326;POINT(106.05 29.05)'), 'surveyed')
        RETURNING id
    """),
        {"code": code, "seq": site_seq, "county": COUNTY},
    ).scalar_one()


def add_permit(session: Session, unit_id: int, permit_no: str) -> int:
    """A valid permit 2024-01-01 … 2028-12-31; returns its id."""
    return session.execute(
        text("""
        INSERT INTO permits (permit_no, unit_id, kind, report_frequencies, issued_on, valid_from,
                             valid_to, status, authority)
        VALUES (:no, :unit, 'permit', '{annual,quarterly}', '2024-01-01', '2024-01-01',
                '2028-12-31', 'valid', '重庆市江津区生态环境局')
        RETURNING id
    """),
        {"no": permit_no, "unit": unit_id},
    ).scalar_one()
