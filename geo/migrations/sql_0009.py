"""SQL of migration 0009: random inspections (双随机) and permit quality spot checks.

Tables: the positive list (正面清单), inspector–unit conflicts, draws with their snapshots,
the items a draw picked and the results entered against them. A draw's record is immutable
(only its publication may be set, once) and its items cannot be rewritten: a trigger refuses,
so re-running a draw from its record always means re-running what was drawn. Every table is
audited; the draw's bulky snapshots are kept out of the audit log (the row itself keeps them).
"""

AUDITED: dict[str, tuple[str, ...]] = {
    "positive_list": (),
    "inspection_conflicts": (),
    "draws": ("population", "assignee_pool", "conflicts"),
    "draw_items": (),
    "inspection_results": (),
}

UPGRADE_SQL = r"""
CREATE TYPE draw_kind AS ENUM ('inspection', 'permit_quality');
CREATE TYPE inspection_conclusion AS ENUM ('compliant', 'problems_found', 'not_operating');

CREATE TABLE positive_list (
  id bigserial PRIMARY KEY,
  unit_id bigint NOT NULL UNIQUE REFERENCES units (id) ON DELETE CASCADE,
  reason text,
  added_by text NOT NULL,
  added_at timestamptz NOT NULL
);

CREATE TABLE inspection_conflicts (
  id bigserial PRIMARY KEY,
  inspector_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  unit_id bigint NOT NULL REFERENCES units (id) ON DELETE CASCADE,
  reason text NOT NULL,
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL,
  CONSTRAINT uq_inspection_conflicts_pair UNIQUE (inspector_id, unit_id)
);
CREATE INDEX ix_inspection_conflicts_inspector_id ON inspection_conflicts (inspector_id);
CREATE INDEX ix_inspection_conflicts_unit_id ON inspection_conflicts (unit_id);

CREATE TABLE draws (
  id bigserial PRIMARY KEY,
  kind draw_kind NOT NULL,
  year smallint NOT NULL,
  period text,
  drawn_on date NOT NULL,
  drawn_at timestamptz NOT NULL,
  drawn_by text NOT NULL,
  seed bigint NOT NULL,
  algorithm text NOT NULL,
  parameters jsonb NOT NULL,
  population jsonb NOT NULL,
  assignee_pool jsonb NOT NULL,
  conflicts jsonb NOT NULL,
  digest text NOT NULL,
  published_at timestamptz,
  published_by text,
  CONSTRAINT seed_nonneg CHECK (seed >= 0),
  CONSTRAINT year_range CHECK (year BETWEEN 2000 AND 2100),
  CONSTRAINT published_by_whom CHECK ((published_at IS NULL) = (published_by IS NULL))
);

CREATE TABLE draw_items (
  id bigserial PRIMARY KEY,
  draw_id bigint NOT NULL REFERENCES draws (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  unit_id bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
  permit_id bigint REFERENCES permits (id) ON DELETE RESTRICT,
  stratum text NOT NULL,
  positive_list boolean NOT NULL,
  assignee_ids integer[] NOT NULL,
  CONSTRAINT uq_draw_items_seq UNIQUE (draw_id, seq),
  CONSTRAINT uq_draw_items_unit UNIQUE (draw_id, unit_id, permit_id)
);
CREATE INDEX ix_draw_items_draw_id ON draw_items (draw_id);
CREATE INDEX ix_draw_items_unit_id ON draw_items (unit_id);

CREATE TABLE inspection_results (
  id bigserial PRIMARY KEY,
  draw_id bigint NOT NULL REFERENCES draws (id) ON DELETE CASCADE,
  item_id bigint NOT NULL UNIQUE REFERENCES draw_items (id) ON DELETE CASCADE,
  conclusion inspection_conclusion NOT NULL,
  findings text,
  inspected_on date NOT NULL,
  entered_by text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_inspection_results_draw_id ON inspection_results (draw_id);
CREATE TRIGGER inspection_results_touch BEFORE UPDATE ON inspection_results
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- A draw's record is what a replay re-runs: only its publication may change, and only once.
CREATE FUNCTION refuse_draw_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'draws' AND TG_OP = 'UPDATE' THEN
    IF OLD.published_at IS NULL
       AND (to_jsonb(NEW) - 'published_at' - 'published_by')
           = (to_jsonb(OLD) - 'published_at' - 'published_by') THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'a draw''s record cannot be rewritten (% on %)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER draws_immutable BEFORE UPDATE OR DELETE ON draws
  FOR EACH ROW EXECUTE FUNCTION refuse_draw_rewrite();
CREATE TRIGGER draw_items_immutable BEFORE UPDATE OR DELETE ON draw_items
  FOR EACH ROW EXECUTE FUNCTION refuse_draw_rewrite();
""" + "".join(
    f"SELECT permitmap_audit('{table}', ARRAY[{', '.join(repr(c) for c in hidden)}]::text[]);\n"
    for table, hidden in AUDITED.items()
)

DOWNGRADE_SQL = """
DROP TABLE IF EXISTS inspection_results;
DROP TABLE IF EXISTS draw_items;
DROP TABLE IF EXISTS draws;
DROP FUNCTION IF EXISTS refuse_draw_rewrite();
DROP TABLE IF EXISTS inspection_conflicts;
DROP TABLE IF EXISTS positive_list;
DROP TYPE IF EXISTS inspection_conclusion;
DROP TYPE IF EXISTS draw_kind;
"""
