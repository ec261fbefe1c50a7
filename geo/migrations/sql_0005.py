"""SQL of migration 0005: the indexes behind the staff unit search.

Names are searched by substring. pg_trgm's GIN index cannot serve a two-character pattern
(`%化工%` has no whole trigram), and two characters are the usual Chinese search term (化工, 江津,
电镀), which then scans every unit (~350 ms on 1,000,000). So names are indexed by their
character bigrams instead: `name_bigrams(q)` ⊆ `name_bigrams(name)` narrows the candidates for any
q of two characters or more, and `ILIKE` rechecks them. Credit codes and permit numbers are
searched by prefix; both are upper case by their CHECK constraints, so `text_pattern_ops` indexes
on the plain columns serve a case-insensitive prefix (the query upper-cases q).
"""

UPGRADE_SQL = r"""
-- Lower-cased two-character substrings of a name (distinct; a one-character name has none).
CREATE FUNCTION name_bigrams(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(lower(name), i, 2)), '{}')
  FROM generate_series(1, char_length(name) - 1) AS i
$$;

CREATE INDEX ix_units_name_bigrams ON units USING gin (name_bigrams(name));
CREATE INDEX ix_units_credit_code_prefix ON units (credit_code text_pattern_ops);
CREATE INDEX ix_permits_permit_no_prefix ON permits (permit_no text_pattern_ops);
"""

DOWNGRADE_SQL = r"""
DROP INDEX IF EXISTS ix_permits_permit_no_prefix;
DROP INDEX IF EXISTS ix_units_credit_code_prefix;
DROP INDEX IF EXISTS ix_units_name_bigrams;
DROP FUNCTION IF EXISTS name_bigrams(text);
"""
