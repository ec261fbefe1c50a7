"""SQL of migration 0011: imports.

`import_runs` records every import that wrote (kind, file name and SHA-256, rows, inserted /
updated / unchanged, the screening run it triggered); the audit triggers of migration 0006 put
an entry in the audit log for each, naming the actor. `industry_codes.typical_category` is the
management tier the 2019 名录 gives the industry (from data/reference/industry_codes.csv), which
an import checks a unit's category against. The outlets layer gains the unit's `site_seq`, so an
export of outlets names their unit fully and can be imported back.
"""

UPGRADE_SQL = """
ALTER TABLE industry_codes ADD COLUMN typical_category management_category;

CREATE TABLE import_runs (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  filename text NOT NULL,
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  rows integer NOT NULL CHECK (rows >= 0),
  inserted integer NOT NULL CHECK (inserted >= 0),
  updated integer NOT NULL CHECK (updated >= 0),
  unchanged integer NOT NULL CHECK (unchanged >= 0),
  actor text NOT NULL,
  screening_run_id bigint REFERENCES screening_runs (id),
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_import_runs_at ON import_runs (at);
SELECT permitmap_audit('import_runs');

-- the outlets layer names the unit's site too, so an export of it can be imported back
CREATE OR REPLACE VIEW layer_outlets AS
SELECT o.id, o.code, o.medium::text AS medium, o.kind::text AS kind, o.unit_id,
       u.name AS unit_name, u.credit_code, u.county_code, o.receiving_water,
       (SELECT string_agg(p.pollutant_name || ' ' || p.concentration_limit::float8 || ' '
                          || p.concentration_unit, '; ' ORDER BY p.pollutant_code)
        FROM outlet_pollutants p WHERE p.outlet_id = o.id) AS permitted_limits,
       o.geom, u.site_seq
FROM outlets o JOIN units u ON u.id = o.unit_id;
"""

DOWNGRADE_SQL = """
DROP VIEW layer_outlets;
CREATE VIEW layer_outlets AS
SELECT o.id, o.code, o.medium::text AS medium, o.kind::text AS kind, o.unit_id,
       u.name AS unit_name, u.credit_code, u.county_code, o.receiving_water,
       (SELECT string_agg(p.pollutant_name || ' ' || p.concentration_limit::float8 || ' '
                          || p.concentration_unit, '; ' ORDER BY p.pollutant_code)
        FROM outlet_pollutants p WHERE p.outlet_id = o.id) AS permitted_limits,
       o.geom
FROM outlets o JOIN units u ON u.id = o.unit_id;
DROP TABLE import_runs;
ALTER TABLE industry_codes DROP COLUMN typical_category;
"""
