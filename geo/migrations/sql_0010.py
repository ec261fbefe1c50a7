"""SQL of migration 0010: penalty decisions, execution reports, enforcement status with problems.

Tables (models in `geo/models_penalties.py`): `penalties` (行政处罚决定: number, date, violation,
legal basis, amount, public or not; optimistic `version`) and `execution_reports` (执行报告 a
permit owes per period, with its due date; `problem_id` once the check opened a problem for it
being late or missing). Both carry the audit triggers of migration 0006.

`unit_status` is replaced to read the problem ledger (migration 0008). A unit's
`enforcement_status` is the first of these that holds (highest priority first):

  1. violation        an open or confirmed *prohibited* flag on the unit or one of its outlets
  2. closed           the unit is closed (关停): the cancellation list and the ledger follow it up
  3. no_permit        no permit or registration at all (无证排污)
  4. revoked          its permit is revoked, cancelled or withdrawn (撤销/注销/吊销)
  5. expired          its permit has expired (by status or by date)
  6. overdue_problem  an open problem (not verified or closed) past its deadline
  7. open_problem     an open problem within its deadline (or with none)
  8. warning          an open or confirmed flag that is not prohibited (awaiting review)
  9. expiring         the permit expires within 90 days
 10. valid            none of the above (正常)

Permit states outrank problems (discharging without a valid permit is itself the violation);
confirmed problems outrank flags still under review. `permit_state`, the public colouring, is
unchanged. The problem counts (`open_problems`, `overdue_problems`, appended so the view is
replaced in place) come from a lateral count per unit through a partial index on
problems (unit_id, deadline) WHERE open; the planner drops that join, like the flags one,
whenever a query reads neither the status nor the counts (public tiles and their clusters).
Writes to `problems` bump its data version, so cached tiles and clusters of the units layer
(which lists it among its sources) are rebuilt.
"""

from geo.migrations.sql_0004 import UPGRADE_SQL as SQL_0004

TABLES_SQL = r"""
CREATE TABLE penalties (
  id bigserial PRIMARY KEY,
  decision_no text NOT NULL CONSTRAINT uq_penalties_decision_no UNIQUE,
  unit_id bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
  decided_on date NOT NULL,
  violation text NOT NULL,
  legal_basis text NOT NULL,
  amount_yuan numeric(14, 2) NOT NULL,
  public boolean NOT NULL DEFAULT false,
  version integer NOT NULL DEFAULT 1,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT amount_not_negative CHECK (amount_yuan >= 0),
  CONSTRAINT decision_no_present CHECK (length(btrim(decision_no)) > 0),
  CONSTRAINT version_positive CHECK (version >= 1)
);
CREATE INDEX ix_penalties_unit_id ON penalties (unit_id);
CREATE INDEX ix_penalties_decided_on ON penalties (decided_on);
CREATE TRIGGER penalties_touch BEFORE UPDATE ON penalties
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT permitmap_audit('penalties');

CREATE TYPE report_kind AS ENUM ('annual', 'quarterly', 'monthly');
CREATE TABLE execution_reports (
  id bigserial PRIMARY KEY,
  permit_id bigint NOT NULL REFERENCES permits (id) ON DELETE CASCADE,
  kind report_kind NOT NULL,
  period varchar(8) NOT NULL,
  period_start date NOT NULL,
  period_end date NOT NULL,
  due_on date NOT NULL,
  submitted_on date,
  submitted_by text,
  problem_id bigint REFERENCES problems (id) ON DELETE SET NULL,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_execution_reports_period UNIQUE (permit_id, kind, period_start),
  CONSTRAINT period_order CHECK (period_end >= period_start),
  CONSTRAINT due_after_period CHECK (due_on > period_end),
  CONSTRAINT version_positive CHECK (version >= 1)
);
CREATE INDEX ix_execution_reports_permit_id ON execution_reports (permit_id);
CREATE INDEX ix_execution_reports_problem_id ON execution_reports (problem_id);
CREATE INDEX ix_execution_reports_unresolved ON execution_reports (due_on)
  WHERE problem_id IS NULL;
CREATE TRIGGER execution_reports_touch BEFORE UPDATE ON execution_reports
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT permitmap_audit('execution_reports');
"""

DROP_TABLES_SQL = r"""
DROP TABLE IF EXISTS execution_reports;
DROP TYPE IF EXISTS report_kind;
DROP TABLE IF EXISTS penalties;
"""

OPEN_PROBLEM = "status NOT IN ('verified', 'closed')"

# the unit_status of 0004 with the problem levels; the columns keep their order (layer_units
# reads them) and the problem counts are appended, so CREATE OR REPLACE suffices
STATUS_SQL = rf"""
CREATE INDEX ix_problems_open_unit ON problems (unit_id, deadline) WHERE {OPEN_PROBLEM};
CREATE TRIGGER problems_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON problems
  FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();

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
         WHEN coalesce(q.overdue, 0) > 0 THEN 'overdue_problem'
         WHEN coalesce(q.open_problems, 0) > 0 THEN 'open_problem'
         WHEN coalesce(f.open_flags, 0) > 0 THEN 'warning'
         WHEN p.valid_to <= current_date + 90 THEN 'expiring'
         ELSE 'valid'
       END AS enforcement_status,
       coalesce(q.open_problems, 0) AS open_problems,
       coalesce(q.overdue, 0) AS overdue_problems
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
-- one probe of the partial index per unit read: a tile pays for its own units only, however
-- many problems are open elsewhere (a grouped subquery, like the flags one, aggregated every
-- open problem for every tile: 30,000 open problems made a staff z12 tile ~40 ms slower)
LEFT JOIN LATERAL (
  SELECT count(*) AS open_problems,
         count(*) FILTER (WHERE deadline < current_date) AS overdue
  FROM problems WHERE problems.unit_id = u.id AND {OPEN_PROBLEM}
) q ON true;
"""


def _statement_of(sql: str, opening: str) -> str:
    """The statement of `sql` that starts with `opening` (up to its closing semicolon)."""
    start = sql.index(opening)
    return sql[start : sql.index(";\n", start) + 2]


# back to 0004's view: the appended columns cannot be removed in place, so the view and the
# layer view that reads it are dropped and made again from 0004's own text
RESTORE_0004_SQL = (
    "DROP VIEW layer_units;\nDROP VIEW unit_status;\n"
    + _statement_of(SQL_0004, "CREATE VIEW unit_status AS")
    + "\n"
    + _statement_of(SQL_0004, "CREATE VIEW layer_units AS")
    + """
DROP TRIGGER IF EXISTS problems_data_version ON problems;
DELETE FROM data_versions WHERE source = 'problems';
DROP INDEX IF EXISTS ix_problems_open_unit;
"""
)

UPGRADE_SQL = TABLES_SQL + STATUS_SQL

DOWNGRADE_SQL = RESTORE_0004_SQL + DROP_TABLES_SQL
