"""SQL of migration 0001 that Alembic's table operations cannot express."""

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [pow(3, i, 31) for i in range(17)]
CHECKSUM_TERMS = " + ".join(
    f"(strpos('{ALPHABET}', substr(code, {i + 1}, 1)) - 1) * {w}" for i, w in enumerate(WEIGHTS)
)

ENUM_TYPES = (
    "region_level",
    "management_category",
    "operating_status",
    "location_source",
    "permit_kind",
    "permit_status",
    "medium",
    "outlet_kind",
    "outfall_type",
    "zone_kind",
)

PRE_TABLES_SQL = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- GB 32100-2015 check digit (position 18): weights 3^(i-1) mod 31 over the 31-symbol alphabet.
-- One expression, no FROM, so the planner inlines it into the generated column (fast COPY).
CREATE FUNCTION credit_code_checksum_ok(code text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT substr('{ALPHABET}', (31 - ({CHECKSUM_TERMS}) % 31) % 31 + 1, 1) = substr(code, 18, 1)
$$;
"""

POST_TABLES_SQL = r"""
-- One version of a zone valid at any date.
ALTER TABLE zones ADD CONSTRAINT zones_one_version_at_a_time
  EXCLUDE USING gist (code WITH =, daterange(valid_from, valid_to) WITH &&);

-- Polygons are made valid (and 2D, multi) on every write, whatever the client sent.
CREATE FUNCTION make_polygons_valid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.geom := ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Force2D(NEW.geom)), 3));
  IF ST_IsEmpty(NEW.geom) THEN
    RAISE EXCEPTION 'polygon has no area once made valid' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER zones_make_valid BEFORE INSERT OR UPDATE OF geom ON zones
  FOR EACH ROW EXECUTE FUNCTION make_polygons_valid();
CREATE TRIGGER admin_regions_make_valid BEFORE INSERT OR UPDATE OF geom ON admin_regions
  FOR EACH ROW EXECUTE FUNCTION make_polygons_valid();
CREATE TRIGGER water_bodies_make_valid BEFORE INSERT OR UPDATE OF geom ON water_bodies
  FOR EACH ROW EXECUTE FUNCTION make_polygons_valid();

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER units_touch BEFORE UPDATE ON units
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER permits_touch BEFORE UPDATE ON permits
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER outlets_touch BEFORE UPDATE ON outlets
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER river_outfalls_touch BEFORE UPDATE ON river_outfalls
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Permit history: written set-based per statement (COPY of a million permits stays fast),
-- never updated or deleted. A writer may explain a change with SET LOCAL permitmap.change_note.
CREATE FUNCTION permit_history_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO permit_history (permit_id, change, note, after)
  SELECT n.id, 'issue', current_setting('permitmap.change_note', true), to_jsonb(n)
  FROM new_rows n;
  RETURN NULL;
END $$;
CREATE FUNCTION permit_history_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO permit_history (permit_id, change, note, before, after)
  SELECT n.id,
         CASE
           WHEN n.status <> o.status THEN CASE n.status
             WHEN 'revoked' THEN 'revoke' WHEN 'cancelled' THEN 'cancel'
             WHEN 'withdrawn' THEN 'withdraw' WHEN 'expired' THEN 'expire' ELSE 'reinstate' END
           WHEN n.valid_to > o.valid_to THEN 'renewal'
           ELSE 'change'
         END,
         current_setting('permitmap.change_note', true),
         to_jsonb(o) - 'updated_at', to_jsonb(n) - 'updated_at'
  FROM new_rows n JOIN old_rows o USING (id)
  WHERE to_jsonb(o) - 'updated_at' IS DISTINCT FROM to_jsonb(n) - 'updated_at';
  RETURN NULL;
END $$;
CREATE TRIGGER permits_history_insert AFTER INSERT ON permits
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION permit_history_on_insert();
CREATE TRIGGER permits_history_update AFTER UPDATE ON permits
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION permit_history_on_update();

CREATE FUNCTION refuse_history_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'permit history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER permit_history_append_only BEFORE UPDATE OR DELETE ON permit_history
  FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();

-- Zones as valid at a date; current_zones is that at today.
CREATE FUNCTION zones_at(at_date date) RETURNS SETOF zones
LANGUAGE sql STABLE AS $$
  SELECT * FROM zones
  WHERE valid_from <= at_date AND (valid_to IS NULL OR valid_to > at_date)
$$;
CREATE VIEW current_zones AS SELECT * FROM zones_at(current_date);
"""

DOWNGRADE_SQL = r"""
DROP VIEW IF EXISTS current_zones;
DROP FUNCTION IF EXISTS zones_at(date);
DROP TRIGGER IF EXISTS permit_history_append_only ON permit_history;
DROP TRIGGER IF EXISTS permits_history_insert ON permits;
DROP TRIGGER IF EXISTS permits_history_update ON permits;
DROP FUNCTION IF EXISTS refuse_history_rewrite();
DROP FUNCTION IF EXISTS permit_history_on_insert() CASCADE;
DROP FUNCTION IF EXISTS permit_history_on_update() CASCADE;
DROP FUNCTION IF EXISTS touch_updated_at() CASCADE;
DROP FUNCTION IF EXISTS make_polygons_valid() CASCADE;
"""
