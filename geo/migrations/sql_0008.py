"""SQL of migration 0008: problem ledger, rectification and evidence attachments.

`problems` is the ledger (问题台账): one row per problem, its state (open → rectifying →
submitted → verified → closed/销号) and a `version` for optimistic locking. `problem_events` is
its append-only history; `problem_attachments` describes evidence files stored on disk under a
random name (the bytes never live in the database). All three carry the audit triggers.
Column names `unit_id`, `status`, `deadline`, `closed_at` are read by the `unit_status` view
(migration 0010): never rename them.
"""

PROBLEM_SOURCES = (
    "permit_review",
    "monitoring",
    "inspection",
    "public_report",
    "screening_flag",
    "execution_report",
)
PROBLEM_STATUSES = ("open", "rectifying", "submitted", "verified", "closed")


def _values(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


UPGRADE_SQL = f"""
CREATE TYPE problem_source AS ENUM ({_values(PROBLEM_SOURCES)});
CREATE TYPE problem_status AS ENUM ({_values(PROBLEM_STATUSES)});

CREATE TABLE problems (
  id bigserial PRIMARY KEY,
  source problem_source NOT NULL,
  problem_type text NOT NULL,
  unit_id bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
  outlet_id bigint REFERENCES outlets (id) ON DELETE SET NULL,
  flag_id bigint REFERENCES flags (id) ON DELETE RESTRICT,
  finding text NOT NULL,
  department text NOT NULL,
  deadline date,
  status problem_status NOT NULL DEFAULT 'open',
  version integer NOT NULL DEFAULT 1,
  opened_on date NOT NULL,
  opened_by text NOT NULL,
  closed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_problems_flag UNIQUE (flag_id),
  CONSTRAINT problem_type_format CHECK (problem_type ~ '^[a-z][a-z0-9_]{{1,39}}$'),
  CONSTRAINT finding_given CHECK (length(btrim(finding)) > 0),
  CONSTRAINT department_given CHECK (length(btrim(department)) > 0),
  CONSTRAINT version_positive CHECK (version >= 1),
  CONSTRAINT deadline_after_opening CHECK (deadline IS NULL OR deadline > opened_on),
  CONSTRAINT closed_at_iff_closed CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
  CONSTRAINT flag_only_from_screening CHECK (flag_id IS NULL OR source = 'screening_flag')
);
CREATE INDEX ix_problems_unit_id ON problems (unit_id);
CREATE INDEX ix_problems_status_deadline ON problems (status, deadline);
CREATE INDEX ix_problems_closed_at ON problems (closed_at);
CREATE TRIGGER problems_touch BEFORE UPDATE ON problems
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE problem_events (
  id bigserial PRIMARY KEY,
  problem_id bigint NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  event text NOT NULL,
  from_status problem_status,
  to_status problem_status,
  version integer NOT NULL,
  note text,
  CONSTRAINT event_known CHECK (event IN ('opened', 'transition', 'edited', 'evidence_added'))
);
CREATE INDEX ix_problem_events_problem_id ON problem_events (problem_id);

CREATE FUNCTION refuse_problem_event_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'problem events are append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER problem_events_append_only BEFORE UPDATE OR DELETE ON problem_events
  FOR EACH ROW EXECUTE FUNCTION refuse_problem_event_rewrite();

CREATE TABLE problem_attachments (
  id bigserial PRIMARY KEY,
  problem_id bigint NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
  stored_name text NOT NULL,
  original_name text NOT NULL,
  media_type text NOT NULL,
  size_bytes bigint NOT NULL,
  sha256 text NOT NULL,
  uploaded_by text NOT NULL,
  uploaded_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_problem_attachments_stored_name UNIQUE (stored_name),
  CONSTRAINT stored_name_random CHECK (stored_name ~ '^[0-9a-f]{{32}}$'),
  CONSTRAINT sha256_hex CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
  CONSTRAINT size_positive CHECK (size_bytes > 0)
);
CREATE INDEX ix_problem_attachments_problem_id ON problem_attachments (problem_id);

SELECT permitmap_audit('problems');
SELECT permitmap_audit('problem_events');
SELECT permitmap_audit('problem_attachments');
"""

DOWNGRADE_SQL = """
DROP TABLE IF EXISTS problem_attachments;
DROP TABLE IF EXISTS problem_events;
DROP FUNCTION IF EXISTS refuse_problem_event_rewrite();
DROP TABLE IF EXISTS problems;
DROP TYPE IF EXISTS problem_status;
DROP TYPE IF EXISTS problem_source;
"""
