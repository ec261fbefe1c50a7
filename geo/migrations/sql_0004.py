"""SQL of migration 0004: data versions for cache invalidation, enforcement status, layer views.

`unit_status` is the one place a unit's enforcement status is computed; later work (the
enforcement workflow, online monitoring) extends it. The `layer_*` views are what the layer
registry serves: one row per map feature, with every field either audience may see.
"""

VERSIONED_TABLES = (
    "admin_regions",
    "industry_codes",
    "units",
    "permits",
    "outlets",
    "outlet_pollutants",
    "river_outfalls",
    "rivers",
    "water_bodies",
    "zones",
    "zone_rules",
    "flags",
)

_VERSION_TRIGGERS = "\n".join(
    f"CREATE TRIGGER {table}_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
    f" FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();"
    for table in VERSIONED_TABLES
)

UPGRADE_SQL = (
    r"""
-- One row per table, bumped by every statement that writes the table: caches built from a
-- table remember its version and are stale once it moves. Row locks make the bump transactional.
CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO data_versions AS d (source, version, changed_at) VALUES (TG_TABLE_NAME, 1, now())
  ON CONFLICT (source) DO UPDATE SET version = d.version + 1, changed_at = now();
  RETURN NULL;
END $$;
"""
    + _VERSION_TRIGGERS
    + r"""

CREATE INDEX ix_permits_current
  ON permits (unit_id, (status = 'valid') DESC, valid_to DESC, id DESC);

-- Each unit with its status: its permit (the valid one, else the latest) and its open flags and
-- those of its outlets. `permit_state` is public (permit validity is disclosed); the rest is for
-- staff. The unit's own columns are here too, so layers read units once (no self-join).
CREATE VIEW unit_status AS
SELECT u.id AS unit_id,
       u.name, u.credit_code, u.site_seq, u.industry_code, u.category::text AS category,
       u.county_code, u.address, u.status::text AS operating_status,
       u.location_source::text AS location_source, u.geom,
       p.id AS permit_id,
       p.permit_no,
       p.valid_from AS permit_valid_from,
       p.valid_to AS permit_valid_to,
       CASE
         WHEN p.id IS NULL THEN 'none'
         WHEN p.status IN ('revoked', 'cancelled', 'withdrawn') THEN 'revoked'
         WHEN p.status = 'expired' OR p.valid_to < current_date THEN 'expired'
         WHEN p.valid_to <= current_date + 90 THEN 'expiring'
         ELSE 'valid'
       END AS permit_state,
       coalesce(f.open_flags, 0) AS open_flags,
       CASE
         WHEN coalesce(f.prohibited, 0) > 0 THEN 'violation'
         WHEN u.status = 'closed' THEN 'closed'
         WHEN p.id IS NULL THEN 'no_permit'
         WHEN p.status IN ('revoked', 'cancelled', 'withdrawn') THEN 'revoked'
         WHEN p.status = 'expired' OR p.valid_to < current_date THEN 'expired'
         WHEN coalesce(f.open_flags, 0) > 0 THEN 'warning'
         WHEN p.valid_to <= current_date + 90 THEN 'expiring'
         ELSE 'valid'
       END AS enforcement_status
FROM units u
LEFT JOIN LATERAL (
  SELECT id, permit_no, valid_from, valid_to, status FROM permits
  WHERE permits.unit_id = u.id
  ORDER BY (status = 'valid') DESC, valid_to DESC, id DESC
  LIMIT 1
) p ON true
LEFT JOIN (
  SELECT unit_id, count(*) AS open_flags,
         count(*) FILTER (WHERE severity = 'prohibited') AS prohibited
  FROM (
    SELECT feature_id AS unit_id, severity FROM flags
    WHERE feature_type = 'unit' AND status IN ('open', 'confirmed')
    UNION ALL
    SELECT o.unit_id, fl.severity FROM flags fl JOIN outlets o ON o.id = fl.feature_id
    WHERE fl.feature_type = 'outlet' AND fl.status IN ('open', 'confirmed')
  ) open_unit_flags
  GROUP BY unit_id
) f ON f.unit_id = u.id;

CREATE VIEW layer_units AS
SELECT s.unit_id AS id, s.name, s.credit_code, s.site_seq, s.industry_code,
       i.name AS industry_name, s.category, s.county_code, r.name AS county_name, s.address,
       s.operating_status, s.location_source, s.permit_no, s.permit_valid_from,
       s.permit_valid_to, s.permit_state, s.open_flags, s.enforcement_status, s.geom
FROM unit_status s
-- left joins (the foreign keys make them inner): the planner drops them when only codes are read
LEFT JOIN industry_codes i ON i.code = s.industry_code
LEFT JOIN admin_regions r ON r.code = s.county_code;

CREATE VIEW layer_outlets AS
SELECT o.id, o.code, o.medium::text AS medium, o.kind::text AS kind, o.unit_id,
       u.name AS unit_name, u.credit_code, u.county_code, o.receiving_water,
       (SELECT string_agg(p.pollutant_name || ' ' || p.concentration_limit::float8 || ' '
                          || p.concentration_unit, '; ' ORDER BY p.pollutant_code)
        FROM outlet_pollutants p WHERE p.outlet_id = o.id) AS permitted_limits,
       o.geom
FROM outlets o JOIN units u ON u.id = o.unit_id;

CREATE VIEW layer_river_outfalls AS
SELECT f.id, f.code, f.name, f.outfall_type::text AS outfall_type, f.receiving_water,
       rv.name AS river_name, f.geom
FROM river_outfalls f LEFT JOIN rivers rv ON rv.id = f.river_id;

CREATE VIEW layer_flags AS
SELECT f.id, f.feature_type::text AS feature_type, f.feature_id, f.county_code, f.zone_code,
       f.zone_kind::text AS zone_kind, r.code AS rule_code, f.severity::text AS severity,
       f.legal_basis, f.classification, f.distance_m::float8 AS distance_m,
       f.status::text AS status, f.first_seen, f.last_seen, g.geom
FROM flags f
JOIN zone_rules r ON r.id = f.rule_id
CROSS JOIN LATERAL (
  SELECT geom FROM units WHERE f.feature_type = 'unit' AND units.id = f.feature_id
  UNION ALL
  SELECT geom FROM outlets WHERE f.feature_type = 'outlet' AND outlets.id = f.feature_id
  UNION ALL
  SELECT geom FROM river_outfalls
  WHERE f.feature_type = 'river_outfall' AND river_outfalls.id = f.feature_id
) g;

CREATE VIEW layer_zones AS
SELECT id, kind::text AS kind, grade, code, name, parent_code, approval_doc, approved_on,
       version, valid_from, valid_to, geom
FROM zones;
"""
)

DOWNGRADE_SQL = (
    r"""
DROP VIEW IF EXISTS layer_zones;
DROP VIEW IF EXISTS layer_flags;
DROP VIEW IF EXISTS layer_river_outfalls;
DROP VIEW IF EXISTS layer_outlets;
DROP VIEW IF EXISTS layer_units;
DROP VIEW IF EXISTS unit_status;
DROP INDEX IF EXISTS ix_permits_current;
"""
    + "\n".join(f"DROP TRIGGER IF EXISTS {t}_data_version ON {t};" for t in VERSIONED_TABLES)
    + "\nDROP FUNCTION IF EXISTS bump_data_version();\n"
)
