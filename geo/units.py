"""Units as staff look them up: a search by name, credit code or permit number, and the whole
record of one unit for the map's side panel.

The search is index-driven on any number of units (migration 0005): names through their
character bigrams, credit codes and permit numbers by prefix; exact code or permit matches come
first. Enforcement and permit state come from the `unit_status` view, their one source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFoundError, QueryError

SEARCH_MIN_CHARS = 2
SEARCH_MAX_CHARS = 100
# Name matches ranked per search: the first found (no order: a common term such as 有限公司 then
# stops after this many rows instead of reading all); enough to put the closest names first.
NAME_CANDIDATES = 200
_CODE_CHARS = re.compile(r"^[0-9A-Za-z]+$")  # what a credit code or permit number is made of


@dataclass(frozen=True)
class UnitHit:
    """One search result: enough to label it in a list and fly the map to it."""

    id: int
    name: str
    credit_code: str
    permit_no: str | None
    category: str
    county_name: str | None
    lon: float
    lat: float


def search_units(session: Session, *, q: str, limit: int) -> list[UnitHit]:
    """Units whose name contains `q` (any case), or whose credit code or any permit number
    starts with it; exact code or permit matches first, then prefixes, names starting with `q`,
    other names (shorter first). `permit_no` is the unit's current permit."""
    q = q.strip()
    if not SEARCH_MIN_CHARS <= len(q) <= SEARCH_MAX_CHARS:
        raise QueryError(
            f"q takes {SEARCH_MIN_CHARS} to {SEARCH_MAX_CHARS} characters", field="q", value=q
        )
    if "\x00" in q:
        raise QueryError("q must not contain NUL characters", field="q")
    params: dict[str, Any] = {"q": q, "limit": limit, "cap": NAME_CANDIDATES}
    params["contains"] = "%" + _like_escaped(q) + "%"
    params["starts"] = _like_escaped(q) + "%"
    branches = [_NAME_BRANCH]
    if _CODE_CHARS.match(q):
        code = q.upper()
        # a byte-wise range is the prefix, and stays index-driven under a generic plan
        params |= {"code": code, "lo": code, "hi": code[:-1] + chr(ord(code[-1]) + 1)}
        branches += [_CODE_BRANCH, _PERMIT_BRANCH]
    hits = "\n  UNION ALL\n".join(branches)
    # plans made for the actual q: a generic plan reads every "有限" name through the index
    session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    rows = session.execute(text(_SEARCH.format(hits=hits)), params).mappings()
    return [UnitHit(**row) for row in rows]


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_CODE_BRANCH = """
  (SELECT id, CASE WHEN credit_code = :code THEN 0 ELSE 1 END AS rank
   FROM units WHERE credit_code ~>=~ :lo AND credit_code ~<~ :hi
   ORDER BY credit_code LIMIT :limit)"""
_PERMIT_BRANCH = """
  (SELECT unit_id, CASE WHEN permit_no = :code THEN 0 ELSE 1 END
   FROM permits WHERE permit_no ~>=~ :lo AND permit_no ~<~ :hi
   ORDER BY permit_no LIMIT :limit)"""
_NAME_BRANCH = """
  (SELECT id, CASE WHEN name ILIKE :starts THEN 2 ELSE 3 END
   FROM units WHERE name_bigrams(name) @> name_bigrams(:q) AND name ILIKE :contains
   LIMIT :cap)"""
_SEARCH = """
WITH hits (unit_id, rank) AS ({hits}
), best AS (SELECT unit_id, min(rank) AS rank FROM hits GROUP BY unit_id)
SELECT s.unit_id AS id, s.name, s.credit_code, s.permit_no, s.category,
       r.name AS county_name, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat
FROM best b
JOIN unit_status s ON s.unit_id = b.unit_id
LEFT JOIN admin_regions r ON r.code = s.county_code
ORDER BY b.rank, char_length(s.name), s.name, s.unit_id
LIMIT :limit
"""


def unit_record(session: Session, *, unit_id: int) -> dict[str, Any]:
    """Everything staff see about a unit: its columns and status, its current permit and every
    permit newest first, its outlets with their permitted pollutants, its flags and those
    of its outlets (open and confirmed first, then dismissed and resolved), and `enforcement`:
    its penalty decisions (public or not) and its problems from the ledger, newest first, each
    marked with its `kind` ('penalty' or 'problem').
    """
    unit = session.execute(text(_UNIT), {"unit": unit_id}).mappings().first()
    if unit is None:
        raise NotFoundError(f"no unit {unit_id}")
    record = dict(unit)
    current_id = record.pop("permit_id")
    permits = [dict(row) for row in session.execute(text(_PERMITS), {"unit": unit_id}).mappings()]
    return {
        "unit": record,
        "permit": next((p for p in permits if p["id"] == current_id), None),
        "permits": permits,
        "outlets": _outlets(session, unit_id),
        "flags": [dict(row) for row in session.execute(text(_FLAGS), {"unit": unit_id}).mappings()],
        "enforcement": [
            dict(row) for row in session.execute(text(_ENFORCEMENT), {"unit": unit_id}).mappings()
        ],
    }


def _outlets(session: Session, unit_id: int) -> list[dict[str, Any]]:
    outlets = [dict(row) for row in session.execute(text(_OUTLETS), {"unit": unit_id}).mappings()]
    pollutants = session.execute(text(_POLLUTANTS), {"unit": unit_id}).mappings()
    by_outlet: dict[int, list[dict[str, Any]]] = {o["id"]: [] for o in outlets}
    for row in pollutants:
        item = dict(row)
        by_outlet[item.pop("outlet_id")].append(item)
    return [{**o, "pollutants": by_outlet[o["id"]]} for o in outlets]


_UNIT = """
SELECT u.id, u.name, u.credit_code, u.credit_code_ok, u.site_seq, u.industry_code,
       i.name AS industry_name, u.category::text AS category, u.county_code,
       r.name AS county_name, u.address, u.status::text AS operating_status,
       u.location_source::text AS location_source, ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat,
       u.created_at, u.updated_at, s.permit_id, s.permit_state, s.enforcement_status,
       s.open_flags, s.open_problems, s.overdue_problems
FROM units u
JOIN unit_status s ON s.unit_id = u.id
LEFT JOIN industry_codes i ON i.code = u.industry_code
LEFT JOIN admin_regions r ON r.code = u.county_code
WHERE u.id = :unit
"""
_PERMITS = """
SELECT id, permit_no, kind::text AS kind, status::text AS status, issued_on, valid_from,
       valid_to, authority, report_frequencies
FROM permits WHERE unit_id = :unit
ORDER BY issued_on DESC, valid_from DESC, id DESC
"""
_OUTLETS = """
SELECT id, code, medium::text AS medium, kind::text AS kind, receiving_water,
       ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM outlets WHERE unit_id = :unit ORDER BY code, id
"""
_POLLUTANTS = """
SELECT p.outlet_id, p.pollutant_code, p.pollutant_name,
       p.concentration_limit::float8 AS concentration_limit, p.concentration_unit,
       p.annual_limit_t::float8 AS annual_limit_t
FROM outlet_pollutants p JOIN outlets o ON o.id = p.outlet_id
WHERE o.unit_id = :unit ORDER BY p.outlet_id, p.pollutant_code
"""
_FLAGS = """
SELECT f.id, f.feature_type::text AS feature_type, f.feature_id, o.code AS outlet_code,
       r.code AS rule_code, f.severity::text AS severity, f.legal_basis, f.zone_code,
       z.name AS zone_name, f.zone_kind::text AS zone_kind, f.classification,
       f.distance_m::float8 AS distance_m, f.status::text AS status, f.status_reason,
       f.reviewer, f.reviewed_at, f.first_seen, f.last_seen
FROM flags f
JOIN zone_rules r ON r.id = f.rule_id
JOIN zones z ON z.id = f.zone_id
LEFT JOIN outlets o ON f.feature_type = 'outlet' AND o.id = f.feature_id
WHERE (f.feature_type = 'unit' AND f.feature_id = :unit)
   OR (f.feature_type = 'outlet' AND f.feature_id IN (SELECT id FROM outlets WHERE unit_id = :unit))
ORDER BY f.status IN ('open', 'confirmed') DESC, f.severity, f.last_seen DESC, f.id
"""
_ENFORCEMENT = """
SELECT 'penalty' AS kind, id, decided_on AS on_date, decision_no AS reference, violation AS finding,
       legal_basis, amount_yuan::float8 AS amount_yuan, public, NULL AS status,
       NULL::date AS deadline, NULL AS department, version
FROM penalties WHERE unit_id = :unit
UNION ALL
SELECT 'problem', id, opened_on, source::text || '/' || problem_type, finding, NULL, NULL, NULL,
       status::text, deadline, department, version
FROM problems WHERE unit_id = :unit
ORDER BY on_date DESC, kind, id DESC
"""
