"""Screening: every unit, outlet and river outfall against every current zone, set-based in SQL.

One run, in the caller's transaction:
1. the current zones some active rule applies to are cut into small parts (ST_Subdivide) and
   their outlines likewise, each with a GiST index; the (zone, rule) pairs and the industries each
   control unit's access list bans are worked out once;
2. in one statement for the three feature types, the zone parts drive and probe the features'
   GiST indexes for those within the near-boundary band, and rules are matched on the spot (zone
   kind and grade, feature type, medium, industry scope, whether the unit discharges, the access
   list): only (feature, zone, rule) candidates come out, with whether the feature is inside;
3. for the candidates alone, the geodesic distance to the zone's outline (KNN on the outline
   parts) decides which match (inside, or outside but within the band) and how (near boundary);
4. flags are upserted: new ones opened, known ones touched (a resolved flag reopens; a dismissed
   one reopens only when the feature's geometry changed), and flags in scope that no longer match
   are resolved with the reason. Every transition is an event.
No Python loop touches a feature. bench/screen.py measures a run against a bare PostGIS join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

UNCERTAIN_SOURCES = ("geocoded", "converted_gcj02", "converted_bd09")
DEFAULT_NEAR_BOUNDARY_M = 50.0
# Degrees that cover `near` metres in longitude up to 60° N (1° ≥ 55.8 km there): index filter
# only; the exact test is geodesic.
METRES_PER_DEGREE_FLOOR = 55_800.0
SUBDIVIDE_VERTICES = 128


@dataclass(frozen=True)
class Scope:
    """What a run re-screens: everything (all empty) or the named features and zones."""

    unit_ids: tuple[int, ...] = ()
    outlet_ids: tuple[int, ...] = ()
    outfall_ids: tuple[int, ...] = ()
    zone_codes: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        """True for a full run."""
        return not (self.unit_ids or self.outlet_ids or self.outfall_ids or self.zone_codes)

    def describe(self) -> str:
        """A short text for the run record."""
        if self.everything:
            return "all"
        parts = [
            f"{name}={len(ids)}"
            for name, ids in (
                ("units", self.unit_ids),
                ("outlets", self.outlet_ids),
                ("outfalls", self.outfall_ids),
                ("zones", self.zone_codes),
            )
            if ids
        ]
        return ", ".join(parts)


@dataclass
class RunSummary:
    """What a run did."""

    run_id: int
    scope: str
    detected: int = 0
    still_open: int = 0
    reopened: int = 0
    resolved: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)


# The zones, their outlines and matches are temp tables. The zone parts, the (zone, rule) pairs
# and the banned industries, which the big join reads, are UNLOGGED tables named after the run, so
# that parallel workers (they cannot read temp tables) share that join; they are dropped at the
# run's end and vanish with a rollback. A role that may not create tables gets TEMP ones instead,
# and the join then runs in a single process.
ZONE_PARTS_SQL = """
CREATE TEMP TABLE screen_zones ON COMMIT DROP AS
SELECT z.id, z.code, z.kind, z.grade, z.geom FROM current_zones z
WHERE EXISTS (SELECT 1 FROM zone_rules r WHERE r.active AND r.applies_to IN ('existing', 'any')
              AND r.zone_kind = z.kind AND (r.zone_grade IS NULL OR r.zone_grade = z.grade));
CREATE {persistence} TABLE {rules} AS
SELECT z.id AS zone_id, r.id AS rule_id, r.feature_type, r.medium, r.industry_scope,
       r.industry_codes, r.requires_discharge
FROM screen_zones z JOIN zone_rules r ON r.active AND r.applies_to IN ('existing', 'any')
  AND r.zone_kind = z.kind AND (r.zone_grade IS NULL OR r.zone_grade = z.grade);
CREATE {persistence} TABLE {parts} WITH (parallel_workers = {workers}) AS
SELECT z.id AS zone_id, z.code AS zone_code,
       ARRAY(SELECT DISTINCT r.feature_type FROM {rules} r WHERE r.zone_id = z.id)
         AS feature_types,
       ST_Subdivide(z.geom, {vertices}) AS geom
FROM screen_zones z;
CREATE TEMP TABLE screen_zone_edges ON COMMIT DROP AS
SELECT id AS zone_id, ST_Subdivide(ST_Boundary(geom), {vertices}) AS geom FROM screen_zones;
CREATE INDEX ON {parts} USING gist (geom);
CREATE INDEX ON screen_zone_edges USING gist (geom);
CREATE {persistence} TABLE {banned} AS
WITH listed AS (
  SELECT DISTINCT z.id AS zone_id, banned
  FROM screen_zones z
  JOIN access_list_items a ON a.zone_code = z.code
  CROSS JOIN unnest(a.prohibited_industries) AS banned
  WHERE EXISTS (SELECT 1 FROM {rules} r
                WHERE r.zone_id = z.id AND r.industry_scope = 'access_list')),
expanded AS (
  SELECT b.banned, ic.code FROM (SELECT DISTINCT banned FROM listed) b
  JOIN industry_codes ic ON ic.code LIKE b.banned || '%')
SELECT DISTINCT l.zone_id, e.code AS industry_code FROM listed l JOIN expanded e USING (banned);
ANALYZE {rules};
ANALYZE {parts};
ANALYZE screen_zone_edges;
ANALYZE {banned};
"""

# Per feature type: the columns screening needs, from the feature's own table. Nothing here may
# keep the big join from running in parallel: no correlated subquery, so a unit that is not known
# to discharge by its category (it does when it has an outlet) is looked up only for the
# candidates a rule asks it of (`check_outlets`). An outlet's unit is joined with `= ANY (ARRAY[…])`
# so that it is looked up by primary key: the planner, which overestimates the outlets near zones
# by orders of magnitude, would otherwise hash all the units.
FEATURE_SOURCES = {
    "unit": """
        SELECT u.id, u.geom, u.county_code,
               u.location_source::text = ANY(:uncertain) AS uncertain,
               u.industry_code, u.category <> 'registration' AS discharges,
               u.industry_code IN (SELECT code FROM industry_codes WHERE heavy_water_polluter)
                 AS heavy, NULL::medium AS medium
        FROM units u
        WHERE u.status <> 'closed'""",
    "outlet": """
        SELECT o.id, o.geom, u.county_code,
               u.location_source::text = ANY(:uncertain) AS uncertain,
               u.industry_code, true AS discharges, o.medium,
               u.industry_code IN (SELECT code FROM industry_codes WHERE heavy_water_polluter)
                 AS heavy
        FROM outlets o JOIN units u ON u.id = ANY (ARRAY[o.unit_id])
        WHERE u.status <> 'closed'""",
    "river_outfall": """
        SELECT f.id, f.geom,
               (SELECT c.code FROM admin_regions c WHERE c.level = 'county'
                 AND ST_Intersects(c.geom, f.geom) LIMIT 1) AS county_code,
               false AS uncertain, NULL AS industry_code, false AS heavy, true AS discharges,
               'water'::medium AS medium
        FROM river_outfalls f""",
}
SCOPE_IDS = {"unit": "unit_ids", "outlet": "outlet_ids", "river_outfall": "outfall_ids"}

# The zone parts a rule for this feature type applies to drive, probing the features' GiST
# index; rules are matched on the spot, so only (feature, zone, rule) candidates are kept. A
# feature is inside a zone when it intersects one of its parts: the access-list condition asks
# that of the part at hand, which over the parts of a zone amounts to the same. One statement for
# the three feature types (CREATE TABLE AS, which unlike INSERT may run in parallel).
CANDIDATES_SQL = """
SELECT CAST('{feature_type}' AS feature_type) AS feature_type, f.id AS feature_id, p.zone_id,
       r.rule_id, bool_or(ST_Intersects(p.geom, f.geom)) AS inside, f.geom, f.county_code,
       f.uncertain, r.requires_discharge AND NOT f.discharges AS check_outlets
FROM {parts} p
JOIN ({source}) f ON ST_DWithin(p.geom, f.geom, :band_degrees)
JOIN {rules} r ON r.zone_id = p.zone_id AND r.feature_type = '{feature_type}'
WHERE '{feature_type}' = ANY (p.feature_types)
  AND (:everything OR f.id = ANY(CAST(:{ids} AS bigint[]))
       OR p.zone_code = ANY(CAST(:zones AS text[])))
  AND (r.medium IS NULL OR r.medium = f.medium)
  AND (r.industry_scope = 'any'
       OR (r.industry_scope = 'heavy_water_polluter' AND f.heavy)
       OR (r.industry_scope = 'listed' AND f.industry_code = ANY (r.industry_codes))
       OR (r.industry_scope = 'access_list' AND ST_Intersects(p.geom, f.geom)
           AND (p.zone_id, f.industry_code) IN (SELECT zone_id, industry_code FROM {banned})))
GROUP BY f.id, p.zone_id, r.rule_id, f.geom, f.county_code, f.uncertain, f.discharges,
         r.requires_discharge
"""

# Geodesic distance to the zone's outline (KNN on the outline parts), for candidates only.
MATCHES_SQL = """
CREATE TEMP TABLE screen_matches ON COMMIT DROP AS
SELECT DISTINCT ON (c.feature_type, c.feature_id, z.code, r.id)
       c.feature_type, c.feature_id, c.county_code, z.id AS zone_id, z.code AS zone_code,
       z.kind AS zone_kind, r.id AS rule_id, r.severity, r.legal_basis,
       CASE WHEN c.uncertain OR d.distance_m <= :near THEN 'near_boundary' ELSE 'inside' END
         AS classification,
       round(CAST(CASE WHEN c.inside THEN d.distance_m ELSE -d.distance_m END AS numeric), 1)
         AS distance_m,
       md5(ST_AsEWKB(c.geom)) AS geom_hash
FROM screen_candidates c
JOIN screen_zones z ON z.id = c.zone_id
JOIN zone_rules r ON r.id = c.rule_id
LEFT JOIN LATERAL (
  SELECT ST_Distance(e.geom::geography, c.geom::geography) AS distance_m FROM screen_zone_edges e
  WHERE e.zone_id = c.zone_id ORDER BY e.geom <-> c.geom LIMIT 1) d ON true
WHERE (c.inside OR d.distance_m <= :near)
  AND (NOT c.check_outlets OR EXISTS (SELECT 1 FROM outlets o WHERE o.unit_id = c.feature_id))
ORDER BY c.feature_type, c.feature_id, z.code, r.id
"""
MATCHES_INDEX_SQL = """
CREATE INDEX ON screen_matches (feature_type, feature_id, zone_code, rule_id);
ANALYZE screen_matches;
"""

# Flags this run is answerable for: all of them, or those of the named features and zones.
IN_SCOPE = """(:everything
  OR (f.feature_type = 'unit' AND f.feature_id = ANY(CAST(:unit_ids AS bigint[])))
  OR (f.feature_type = 'outlet' AND f.feature_id = ANY(CAST(:outlet_ids AS bigint[])))
  OR (f.feature_type = 'river_outfall' AND f.feature_id = ANY(CAST(:outfall_ids AS bigint[])))
  OR f.zone_code = ANY(CAST(:zones AS text[])))"""

KEY = """f.feature_type = m.feature_type AND f.feature_id = m.feature_id
  AND f.zone_code = m.zone_code AND f.rule_id = m.rule_id"""

EVENTS_FOR_KNOWN_SQL = f"""
INSERT INTO flag_events (flag_id, at, event, detail, run_id)
SELECT f.id, :now,
       CASE WHEN f.status = 'resolved' THEN 'reopened' WHEN f.status = 'dismissed'
            AND f.feature_geom_hash <> m.geom_hash THEN 'reopened' ELSE 'zone_version' END,
       CASE WHEN f.status = 'resolved' THEN 'found again in zone ' || m.zone_code
            WHEN f.status = 'dismissed' AND f.feature_geom_hash <> m.geom_hash
              THEN 'geometry changed since it was dismissed'
            ELSE 'now checked against zone version ' || z.version END,
       :run_id
FROM flags f JOIN screen_matches m ON {KEY} JOIN zones z ON z.id = m.zone_id
WHERE f.status = 'resolved' OR (f.status = 'dismissed' AND f.feature_geom_hash <> m.geom_hash)
   OR f.zone_id <> m.zone_id
"""

TOUCH_KNOWN_SQL = f"""
UPDATE flags f SET
  last_seen = :now, zone_id = m.zone_id, severity = m.severity, legal_basis = m.legal_basis,
  classification = m.classification, distance_m = m.distance_m, county_code = m.county_code,
  status = CASE WHEN f.status = 'resolved' THEN 'open'::flag_status
                WHEN f.status = 'dismissed' AND f.feature_geom_hash <> m.geom_hash
                  THEN 'open'::flag_status
                ELSE f.status END,
  status_reason = CASE WHEN f.status = 'dismissed' AND f.feature_geom_hash = m.geom_hash
                       THEN f.status_reason END,
  feature_geom_hash = m.geom_hash
FROM screen_matches m WHERE {KEY}
RETURNING f.status
"""

INSERT_NEW_SQL = """
WITH inserted AS (
  INSERT INTO flags (feature_type, feature_id, county_code, zone_id, zone_code, zone_kind,
                     rule_id, severity, legal_basis, classification, distance_m,
                     feature_geom_hash, first_seen, last_seen)
  SELECT feature_type, feature_id, county_code, zone_id, zone_code, zone_kind, rule_id,
         severity, legal_basis, classification, distance_m, geom_hash, :now, :now
  FROM screen_matches
  ON CONFLICT ON CONSTRAINT uq_flags DO NOTHING
  RETURNING id, zone_code)
INSERT INTO flag_events (flag_id, at, event, detail, run_id)
SELECT id, :now, 'detected', 'in zone ' || zone_code, :run_id FROM inserted
"""

RESOLVE_GONE_SQL = f"""
WITH gone AS (
  SELECT f.id,
         CASE WHEN cz.id IS NULL THEN 'zone ' || f.zone_code || ' is no longer in force'
              WHEN cz.id <> f.zone_id THEN 'zone version ' || cz.version || ' of '
                   || f.zone_code || ' no longer holds the feature'
              WHEN f.feature_geom_hash IS DISTINCT FROM (CASE f.feature_type
                   WHEN 'unit' THEN (SELECT md5(ST_AsEWKB(geom)) FROM units WHERE id = f.feature_id)
                   WHEN 'outlet' THEN (SELECT md5(ST_AsEWKB(geom)) FROM outlets
                                       WHERE id = f.feature_id)
                   ELSE (SELECT md5(ST_AsEWKB(geom)) FROM river_outfalls WHERE id = f.feature_id)
                   END)
                THEN 'the feature was moved or removed'
              ELSE 'the rule no longer applies to the feature' END AS reason
  FROM flags f LEFT JOIN current_zones cz ON cz.code = f.zone_code
  WHERE f.status IN ('open', 'confirmed') AND {IN_SCOPE}
    AND NOT EXISTS (SELECT 1 FROM screen_matches m WHERE {KEY})),
resolved AS (
  UPDATE flags f SET status = 'resolved', status_reason = gone.reason, last_seen = :now
  FROM gone WHERE f.id = gone.id RETURNING f.id, gone.reason)
INSERT INTO flag_events (flag_id, at, event, detail, run_id)
SELECT id, :now, 'resolved', reason, :run_id FROM resolved
"""


def _scope_parameters(scope: Scope) -> dict[str, object]:
    return {
        "everything": scope.everything,
        "unit_ids": list(scope.unit_ids),
        "outlet_ids": list(scope.outlet_ids),
        "outfall_ids": list(scope.outfall_ids),
        "zones": list(scope.zone_codes),
    }


def _work_tables(run_id: int) -> dict[str, str]:
    """Names of the run's unlogged work tables."""
    return {name: f"screen_{name}_{run_id}" for name in ("parts", "rules", "banned")}


def _collect_candidates(session: Session, scope: Scope, near_m: float, run_id: int) -> None:
    """Zone parts, then the (feature, zone, rule) candidates near or inside each zone."""
    tables = _work_tables(run_id)
    workers, may_create = session.execute(
        text(
            "SELECT current_setting('max_parallel_workers_per_gather')::int, "
            "coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)"
        )
    ).one()
    persistence = "UNLOGGED" if may_create else "TEMP"
    sql = ZONE_PARTS_SQL.format(
        vertices=SUBDIVIDE_VERTICES, workers=workers, persistence=persistence, **tables
    )
    session.execute(text(sql))
    branches = [
        CANDIDATES_SQL.format(source=source, feature_type=kind, ids=SCOPE_IDS[kind], **tables)
        for kind, source in FEATURE_SOURCES.items()
    ]
    session.execute(
        text(
            "CREATE TEMP TABLE screen_candidates ON COMMIT DROP AS\n" + "UNION ALL".join(branches)
        ),
        {
            **_scope_parameters(scope),
            "band_degrees": near_m / METRES_PER_DEGREE_FLOOR,
            "uncertain": list(UNCERTAIN_SOURCES),
        },
    )


def screen(
    session: Session,
    *,
    now: datetime,
    scope: Scope | None = None,
    near_boundary_m: float = DEFAULT_NEAR_BOUNDARY_M,
) -> RunSummary:
    """Screen the features in scope against every current zone and update the flags."""
    scope = scope or Scope()
    run_id = session.execute(
        text(
            "INSERT INTO screening_runs (started_at, scope, near_boundary_m) "
            "VALUES (:now, :scope, :near) RETURNING id"
        ),
        {"now": now, "scope": scope.describe(), "near": near_boundary_m},
    ).scalar_one()
    _collect_candidates(session, scope, near_boundary_m, run_id)
    session.execute(text(MATCHES_SQL), {"near": near_boundary_m})
    session.execute(text(MATCHES_INDEX_SQL))
    marks = {"now": now, "run_id": run_id}
    session.execute(text(EVENTS_FOR_KNOWN_SQL), marks)
    statuses = session.execute(text(TOUCH_KNOWN_SQL), marks).scalars().all()
    detected = session.execute(text(INSERT_NEW_SQL), marks).rowcount
    resolved = session.execute(
        text(RESOLVE_GONE_SQL), {**marks, **_scope_parameters(scope)}
    ).rowcount
    summary = RunSummary(
        run_id=run_id,
        scope=scope.describe(),
        detected=detected,
        still_open=sum(1 for s in statuses if s in ("open", "confirmed")),
        resolved=resolved,
    )
    summary.reopened = session.execute(
        text("SELECT count(*) FROM flag_events WHERE run_id = :run_id AND event = 'reopened'"),
        marks,
    ).scalar_one()
    summary.by_severity = dict(
        session.execute(
            text("SELECT severity::text, count(*) FROM screen_matches GROUP BY 1")
        ).all()
    )
    session.execute(
        text(
            "UPDATE screening_runs SET finished_at = clock_timestamp(), detected = :d, "
            "still_open = :o, reopened = :r, resolved = :x WHERE id = :run_id"
        ),
        {
            "d": detected,
            "o": summary.still_open,
            "r": summary.reopened,
            "x": resolved,
            "run_id": run_id,
        },
    )
    session.execute(
        text(
            "DROP TABLE IF EXISTS screen_matches, screen_candidates, screen_zone_edges, "
            "screen_zones, " + ", ".join(_work_tables(run_id).values())
        )
    )
    return summary
