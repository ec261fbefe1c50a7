"""SQL of migration 0006: users and their sessions, the append-only audit log, and the generic
audit triggers every domain table carries.

Each audited table has three statement-level triggers (insert, update, delete) with transition
tables: one audit row per changed row, with the actor from `SET LOCAL permitmap.actor` (the
signed-in user's name; else `db:<role>` — a write outside the app is still attributed), the
table, the row's key (its `id`, else its `code`), and the row before and after as JSON
(redacted columns left out). A bulk
load that sets `permitmap.audit_bulk = 'summary'` (the demo loader) writes one row per statement
with the row count instead. The log refuses UPDATE, DELETE and TRUNCATE.
"""

AUDITED_TABLES: dict[str, tuple[str, ...]] = {  # table: columns never written to the log
    **{
        table: ()
        for table in (
            "admin_regions",
            "industry_codes",
            "units",
            "permits",
            "outlets",
            "outlet_pollutants",
            "rivers",
            "water_bodies",
            "places",
            "river_outfalls",
            "outfall_links",
            "zones",
            "zone_rules",
            "access_list_items",
            "flags",
            "screening_runs",
        )
    },
    "users": ("password_hash",),
}

UPGRADE_SQL = r"""
CREATE FUNCTION audit_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  who text := coalesce(nullif(current_setting('permitmap.actor', true), ''), 'db:' || session_user);
  hidden text[] := coalesce(TG_ARGV, '{}');  -- NULL when the trigger has no arguments
  op text := lower(TG_OP);
BEGIN
  IF current_setting('permitmap.audit_bulk', true) = 'summary' THEN
    IF TG_OP = 'DELETE' THEN
      INSERT INTO audit_log (actor, action, entity, after)
      SELECT who, op || ' (bulk)', TG_TABLE_NAME, jsonb_build_object('rows', count(*))
      FROM old_rows HAVING count(*) > 0;
    ELSE
      INSERT INTO audit_log (actor, action, entity, after)
      SELECT who, op || ' (bulk)', TG_TABLE_NAME, jsonb_build_object('rows', count(*))
      FROM new_rows HAVING count(*) > 0;
    END IF;
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO audit_log (actor, action, entity, entity_id, after)
    SELECT who, op, TG_TABLE_NAME, coalesce(n.j ->> 'id', n.j ->> 'code'), n.j - hidden
    FROM (SELECT to_jsonb(r) AS j FROM new_rows r) n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO audit_log (actor, action, entity, entity_id, before)
    SELECT who, op, TG_TABLE_NAME, coalesce(o.j ->> 'id', o.j ->> 'code'), o.j - hidden
    FROM (SELECT to_jsonb(r) AS j FROM old_rows r) o;
  ELSE
    INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
    SELECT who, op, TG_TABLE_NAME, coalesce(n.j ->> 'id', n.j ->> 'code'),
           o.j - hidden, n.j - hidden
    FROM (SELECT to_jsonb(r) AS j FROM new_rows r) n
    JOIN (SELECT to_jsonb(r) AS j FROM old_rows r) o
      ON coalesce(o.j -> 'id', o.j -> 'code') = coalesce(n.j -> 'id', n.j -> 'code')
    WHERE o.j - hidden IS DISTINCT FROM n.j - hidden;
  END IF;
  RETURN NULL;
END $$;

-- Attach the three audit triggers to a table (later migrations call it for their tables).
CREATE FUNCTION permitmap_audit(target regclass, hidden text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  args text := coalesce((SELECT string_agg(quote_literal(h), ', ') FROM unnest(hidden) h), '');
BEGIN
  EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows'
                 ' FOR EACH STATEMENT EXECUTE FUNCTION audit_rows(%s)', target, args);
  EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows'
                 ' NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows(%s)',
                 target, args);
  EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows'
                 ' FOR EACH STATEMENT EXECUTE FUNCTION audit_rows(%s)', target, args);
END $$;

CREATE FUNCTION refuse_audit_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION refuse_audit_rewrite();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_rewrite();

CREATE TRIGGER users_touch BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
""" + "".join(
    f"SELECT permitmap_audit('{table}', ARRAY[{', '.join(repr(c) for c in hidden)}]::text[]);\n"
    for table, hidden in AUDITED_TABLES.items()
)

DOWNGRADE_SQL = (
    "".join(
        f"DROP TRIGGER IF EXISTS audit_{op} ON {table};\n"
        for table in AUDITED_TABLES
        for op in ("insert", "update", "delete")
    )
    + """
DROP TRIGGER IF EXISTS users_touch ON users;
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
DROP FUNCTION IF EXISTS refuse_audit_rewrite();
DROP FUNCTION IF EXISTS permitmap_audit(regclass, text[]);
DROP FUNCTION IF EXISTS audit_rows();
"""
)
