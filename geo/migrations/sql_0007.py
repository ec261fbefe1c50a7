"""SQL of migration 0007: permit lifecycle transitions and expiry reminders.

- `permits.version`: optimistic locking. Every lifecycle transition (geo/permits.py) checks the
  version the client read and increments it; a stale version is a conflict, nothing is lost.
  Adding a column with a constant default is a catalogue change (no table rewrite).
- `permit_history.actor`: who wrote each history row (the request's signed-in user, from
  `permitmap.actor` as the audit triggers read it; else `db:<role>`).
- History rows of transitions are written explicitly by the transition functions, in the same
  statement as the permit write: the exact transition name ('issue', 'change', 'renew', 'revoke',
  'cancel', 'withdraw'), the reason, the actor and the decision time from the injected clock.
  Migration 0001's triggers had to guess the transition from the row diff (an extended validity
  was 'renewal', a change of dates and authority at once was ambiguous) and knew neither reason
  nor decision time. They stay as the safety net for writes outside the lifecycle (COPY loads,
  psql): the insert trigger records 'issue' for rows the writer did not record itself, the update
  trigger records unversioned edits with its inferred labels (a transition always moves the
  version, so it is never recorded twice).
"""

ACTOR = "coalesce(nullif(current_setting('permitmap.actor', true), ''), 'db:' || session_user)"

UPGRADE_SQL = f"""
ALTER TABLE permits ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE permits ADD CONSTRAINT version_positive CHECK (version >= 1);
ALTER TABLE permit_history ADD COLUMN actor text;

CREATE OR REPLACE FUNCTION permit_history_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO permit_history (permit_id, change, note, after, actor)
  SELECT n.id, 'issue', current_setting('permitmap.change_note', true), to_jsonb(n), {ACTOR}
  FROM new_rows n
  WHERE NOT EXISTS (SELECT 1 FROM permit_history h WHERE h.permit_id = n.id);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION permit_history_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO permit_history (permit_id, change, note, before, after, actor)
  SELECT n.id,
         CASE
           WHEN n.status <> o.status THEN CASE n.status
             WHEN 'revoked' THEN 'revoke' WHEN 'cancelled' THEN 'cancel'
             WHEN 'withdrawn' THEN 'withdraw' WHEN 'expired' THEN 'expire' ELSE 'reinstate' END
           WHEN n.valid_to > o.valid_to THEN 'renewal'
           ELSE 'change'
         END,
         current_setting('permitmap.change_note', true),
         to_jsonb(o) - 'updated_at', to_jsonb(n) - 'updated_at', {ACTOR}
  FROM new_rows n JOIN old_rows o USING (id)
  WHERE n.version = o.version
    AND to_jsonb(o) - 'updated_at' IS DISTINCT FROM to_jsonb(n) - 'updated_at';
  RETURN NULL;
END $$;
"""

# Migration 0001's trigger functions, as they were.
DOWNGRADE_SQL = r"""
CREATE OR REPLACE FUNCTION permit_history_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO permit_history (permit_id, change, note, after)
  SELECT n.id, 'issue', current_setting('permitmap.change_note', true), to_jsonb(n)
  FROM new_rows n;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION permit_history_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
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

ALTER TABLE permit_history DROP COLUMN IF EXISTS actor;
ALTER TABLE permits DROP CONSTRAINT IF EXISTS version_positive;
ALTER TABLE permits DROP COLUMN IF EXISTS version;
"""
