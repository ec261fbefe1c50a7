"""SQL of migration 0013: online monitoring in the enforcement status and on the outlets layer.

`unit_status` is replaced (same columns in the same order, `open_monitoring_events` appended)
so that open monitoring events (migration 0012) on any of the unit's outlets take part in its
`enforcement_status`, the first of these that holds (highest priority first):

  1. violation            an open or confirmed *prohibited* flag on the unit or one of its outlets
  2. closed               the unit is closed (关停): the cancellation list and the ledger follow it
  3. no_permit            no permit or registration at all (无证排污)
  4. revoked              its permit is revoked, cancelled or withdrawn (撤销/注销/吊销)
  5. expired              its permit has expired (by status or by date)
  6. exceedance           an open exceedance event on one of its outlets (超标排放)
  7. overdue_problem      an open problem (not verified or closed) past its deadline
  8. open_problem         an open problem within its deadline (or with none)
  9. monitoring_abnormal  an open abnormal-data or offline event on one of its outlets
                          (数据异常/离线)
 10. warning              an open or confirmed flag that is not prohibited (awaiting review)
 11. expiring             the permit expires within 90 days
 12. valid                none of the above (正常)

Discharging over the permitted limits is itself a violation found by the data, so it ranks right
after the permit states and above the ledger; abnormal or missing data is a finding still to be
checked, so it ranks after confirmed problems and above flags under review. The two new levels
are EXISTS tests inside the CASE (probing the partial unique index of open events per outlet),
and the count is a lateral aggregate: like the flag and problem joins, the planner drops all of
it whenever a query reads neither the status nor the counts (public tiles and their clusters).

`layer_outlets` gains `live_status` (from `outlet_monitoring_status`, a scalar subquery the
planner leaves out when the column is not read), appended after 0011's `site_seq`.

Caches: writes to `monitoring_events` that change which events are open (an event opened,
closed, re-opened or deleted while open), and writes to `monitoring_devices` that change which
outlet a device serves or whether it is active, bump their data version, so the units and
outlets layers' cached tiles and clusters are rebuilt; peak updates and `last_seen` do not.
`monitoring_devices`, `monitoring_thresholds` and `outlet_pollutants` get audit triggers that
name and pair rows by their key (`mn`, `pollutant_code`, `outlet_id:pollutant_code`; the generic
ones of 0006 use `id` or `code`, which they lack, so their updates went unlogged); a device
update is silent when only `last_seen` changed (the receiver touches it with every batch).
"""

from geo.migrations.sql_0004 import UPGRADE_SQL as SQL_0004
from geo.migrations.sql_0010 import STATUS_SQL as SQL_0010
from geo.migrations.sql_0010 import _statement_of
from geo.migrations.sql_0011 import UPGRADE_SQL as SQL_0011

OPEN_PROBLEM = "status NOT IN ('verified', 'closed')"


def _open_events(kinds: str) -> str:
    """EXISTS: an open monitoring event of these kinds on one of the unit's outlets."""
    return (
        "EXISTS (SELECT 1 FROM outlets mo JOIN monitoring_events me ON me.outlet_id = mo.id"
        f" WHERE mo.unit_id = u.id AND me.ended_at IS NULL AND me.kind IN ({kinds}))"
    )


STATUS_VIEW_SQL = rf"""
CREATE OR REPLACE VIEW unit_status AS
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
         WHEN {_open_events("'exceedance'")} THEN 'exceedance'
         WHEN coalesce(q.overdue, 0) > 0 THEN 'overdue_problem'
         WHEN coalesce(q.open_problems, 0) > 0 THEN 'open_problem'
         WHEN {_open_events("'abnormal', 'offline'")} THEN 'monitoring_abnormal'
         WHEN coalesce(f.open_flags, 0) > 0 THEN 'warning'
         WHEN p.valid_to <= current_date + 90 THEN 'expiring'
         ELSE 'valid'
       END AS enforcement_status,
       coalesce(q.open_problems, 0) AS open_problems,
       coalesce(q.overdue, 0) AS overdue_problems,
       coalesce(m.open_events, 0) AS open_monitoring_events
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
) f ON f.unit_id = u.id
LEFT JOIN LATERAL (
  SELECT count(*) AS open_problems,
         count(*) FILTER (WHERE deadline < current_date) AS overdue
  FROM problems WHERE problems.unit_id = u.id AND {OPEN_PROBLEM}
) q ON true
LEFT JOIN LATERAL (
  SELECT count(*) AS open_events
  FROM outlets mo JOIN monitoring_events me ON me.outlet_id = mo.id
  WHERE mo.unit_id = u.id AND me.ended_at IS NULL
) m ON true;
"""

LAYER_OUTLETS_SQL = r"""
CREATE OR REPLACE VIEW layer_outlets AS
SELECT o.id, o.code, o.medium::text AS medium, o.kind::text AS kind, o.unit_id,
       u.name AS unit_name, u.credit_code, u.county_code, o.receiving_water,
       (SELECT string_agg(p.pollutant_name || ' ' || p.concentration_limit::float8 || ' '
                          || p.concentration_unit, '; ' ORDER BY p.pollutant_code)
        FROM outlet_pollutants p WHERE p.outlet_id = o.id) AS permitted_limits,
       o.geom, u.site_seq,
       (SELECT s.live_status FROM outlet_monitoring_status s WHERE s.outlet_id = o.id)
         AS live_status
FROM outlets o JOIN units u ON u.id = o.unit_id;
"""

VERSION_SQL = r"""
CREATE FUNCTION bump_version_of(table_name text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO data_versions AS d (source, version, changed_at) VALUES ($1, 1, now())
  ON CONFLICT (source) DO UPDATE SET version = d.version + 1, changed_at = now();
$$;

-- the set of open events changed: an event inserted or deleted while open, or one whose
-- openness, kind or outlet an update changed (a higher peak changes nothing on the map); each
-- operation has its own branch (a statement naming a transition table the trigger lacks fails).
-- Transition tables carry no statistics and plpgsql keeps the plan of a function's first call:
-- a first call on one row planned a nested loop that later paired 2,000 rows with 2,000 (0.7 s),
-- so the functions that join before and after rows never use one.
CREATE FUNCTION monitoring_events_version() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
  changed boolean := TG_OP = 'TRUNCATE';
BEGIN
  IF TG_OP = 'INSERT' THEN
    changed := EXISTS (SELECT 1 FROM new_rows WHERE ended_at IS NULL);
  ELSIF TG_OP = 'DELETE' THEN
    changed := EXISTS (SELECT 1 FROM old_rows WHERE ended_at IS NULL);
  ELSIF TG_OP = 'UPDATE' THEN
    changed := EXISTS (
      SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE (n.ended_at IS NULL) <> (o.ended_at IS NULL)
         OR (n.ended_at IS NULL AND (n.kind, n.outlet_id) <> (o.kind, o.outlet_id)));
  END IF;
  IF changed THEN
    PERFORM bump_version_of(TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END $$;

-- a device added, removed, moved to another outlet, activated or deactivated (not last_seen)
CREATE FUNCTION monitoring_devices_version() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
  changed boolean := true;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    changed := EXISTS (
      SELECT 1 FROM new_rows n JOIN old_rows o ON o.mn = n.mn
      WHERE (n.outlet_id, n.active) <> (o.outlet_id, o.active));
  END IF;
  IF changed THEN
    PERFORM bump_version_of(TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END $$;
"""


def _version_triggers(table: str, function: str) -> str:
    """Statement triggers (one per event: transition tables allow only one) calling `function`."""
    return (
        f"CREATE TRIGGER {table}_version_insert AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        f"CREATE TRIGGER {table}_version_update AFTER UPDATE ON {table}"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        f"CREATE TRIGGER {table}_version_delete AFTER DELETE ON {table}"
        f" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        f"CREATE TRIGGER {table}_version_truncate AFTER TRUNCATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
    )


# The generic audit (0006) names a row by its `id` or `code` and pairs the rows before and after
# an update by them. Devices (key `mn`), thresholds (`pollutant_code`) and outlet pollutants
# (`outlet_id`, `pollutant_code`: special limits) have neither: their rows were logged without a
# name, and an update compared every row with every other and logged nothing (2,000 devices
# touched by a batch took 0.3 s). These tables get audit triggers that use their key (a
# composite one as `outlet_id:pollutant_code`), bulk summaries as in 0006; the device update
# trigger also stays silent when only `last_seen` changed.
AUDIT_SQL = r"""
CREATE FUNCTION audit_key(j jsonb, keys text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(j ->> k, ':' ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS u(k, i)
$$;

CREATE FUNCTION audit_rows_by_key() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
  who text := coalesce(nullif(current_setting('permitmap.actor', true), ''), 'db:' || session_user);
  keys text[] := string_to_array(TG_ARGV[0], ',');
  hidden text[] := coalesce(TG_ARGV[1:], '{}');
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
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO audit_log (actor, action, entity, entity_id, after)
    SELECT who, op, TG_TABLE_NAME, audit_key(n.j, keys), n.j - hidden
    FROM (SELECT to_jsonb(r) AS j FROM new_rows r) n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO audit_log (actor, action, entity, entity_id, before)
    SELECT who, op, TG_TABLE_NAME, audit_key(o.j, keys), o.j - hidden
    FROM (SELECT to_jsonb(r) AS j FROM old_rows r) o;
  ELSE
    INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
    SELECT who, op, TG_TABLE_NAME, n.k, o.j - hidden, n.j - hidden
    FROM (SELECT audit_key(to_jsonb(r), keys) AS k, to_jsonb(r) AS j FROM new_rows r) n
    JOIN (SELECT audit_key(to_jsonb(r), keys) AS k, to_jsonb(r) AS j FROM old_rows r) o
      ON o.k = n.k
    WHERE o.j - hidden IS DISTINCT FROM n.j - hidden;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION audit_device_updates() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
  who text := coalesce(nullif(current_setting('permitmap.actor', true), ''), 'db:' || session_user);
BEGIN
  INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
  SELECT who, 'update', TG_TABLE_NAME, n.mn,
         to_jsonb(o) - ARRAY['password_sha256', 'last_seen'],
         to_jsonb(n) - ARRAY['password_sha256', 'last_seen']
  FROM new_rows n JOIN old_rows o ON o.mn = n.mn
  -- every column but last_seen, compared without JSON (a batch touches thousands of rows; a
  -- column added to the table must be added here)
  WHERE (n.outlet_id, n.password_sha256, n.interval_s, n.offline_intervals, n.active,
         n.registered_at)
        IS DISTINCT FROM (o.outlet_id, o.password_sha256, o.interval_s, o.offline_intervals,
                          o.active, o.registered_at);
  RETURN NULL;
END $$;
"""


AUDITED_OPS = ("insert", "update", "delete")


def _audit_trigger(table: str, op: str, function: str) -> str:
    """Replace the audit trigger of `op` on `table` with one calling `function`."""
    tables = {
        "insert": "REFERENCING NEW TABLE AS new_rows",
        "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "delete": "REFERENCING OLD TABLE AS old_rows",
    }
    return (
        f"DROP TRIGGER audit_{op} ON {table};\n"
        f"CREATE TRIGGER audit_{op} AFTER {op.upper()} ON {table} {tables[op]}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function};\n"
    )


# table: (function of its insert and delete triggers, of its update trigger, 0006's function)
KEYED_AUDIT = {
    "monitoring_devices": (
        "audit_rows_by_key('mn', 'password_sha256')",
        "audit_device_updates()",
        "audit_rows('password_sha256')",
    ),
    "monitoring_thresholds": ("audit_rows_by_key('pollutant_code')",) * 2 + ("audit_rows()",),
    "outlet_pollutants": ("audit_rows_by_key('outlet_id,pollutant_code')",) * 2 + ("audit_rows()",),
}
AUDIT_TRIGGERS_SQL = "".join(
    _audit_trigger(table, op, update if op == "update" else rows)
    for table, (rows, update, _) in KEYED_AUDIT.items()
    for op in AUDITED_OPS
)

# back to the generic triggers
RESTORE_AUDIT_SQL = (
    "".join(
        _audit_trigger(table, op, generic)
        for table, (*_, generic) in KEYED_AUDIT.items()
        for op in AUDITED_OPS
    )
    + "DROP FUNCTION audit_device_updates();\nDROP FUNCTION audit_rows_by_key();\n"
    + "DROP FUNCTION audit_key(jsonb, text[]);\n"
)

TRIGGERS = (
    ("monitoring_events", "monitoring_events_version"),
    ("monitoring_devices", "monitoring_devices_version"),
)

UPGRADE_SQL = (
    STATUS_VIEW_SQL
    + LAYER_OUTLETS_SQL
    + VERSION_SQL
    + "".join(_version_triggers(table, function) for table, function in TRIGGERS)
    + AUDIT_SQL
    + AUDIT_TRIGGERS_SQL
)

# back to 0010's unit_status and 0011's layer_outlets: appended columns cannot be removed in
# place, so the views (and layer_units, which reads unit_status) are made again from their text
DOWNGRADE_SQL = (
    RESTORE_AUDIT_SQL
    + "".join(
        f"DROP TRIGGER {table}_version_{op} ON {table};\n"
        for table, _ in TRIGGERS
        for op in ("insert", "update", "delete", "truncate")
    )
    + """
DROP FUNCTION monitoring_devices_version();
DROP FUNCTION monitoring_events_version();
DROP FUNCTION bump_version_of(text);
DELETE FROM data_versions WHERE source IN ('monitoring_events', 'monitoring_devices');
DROP VIEW layer_outlets;
DROP VIEW layer_units;
DROP VIEW unit_status;
"""
    + _statement_of(SQL_0010, "CREATE OR REPLACE VIEW unit_status AS")
    + "\n"
    + _statement_of(SQL_0004, "CREATE VIEW layer_units AS")
    + "\n"
    + _statement_of(SQL_0011, "CREATE OR REPLACE VIEW layer_outlets AS")
)
