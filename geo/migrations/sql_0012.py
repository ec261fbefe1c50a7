"""SQL of migration 0012: online monitoring (HJ 212-2017).

- `monitoring_devices`: a data-acquisition device (数采仪) by its `mn`, registered to an outlet,
  with the SHA-256 of `mn:password` (the protocol sends the password in clear; the database
  keeps only the digest), the interval its minute data are expected at and how many missed
  intervals make it offline.
- `monitoring_thresholds`: per pollutant code, the instrument range and how many identical
  consecutive values count as a constant (stuck) signal.
- `readings`: every value received, partitioned by month of `data_time` (PostgreSQL native
  partitioning; `monitoring_partition(month)` creates a month's partition, the writer calls it for
  the months it sees, retention drops whole partitions). A repeated packet (its acknowledgement
  lost) is not stored twice: (outlet, pollutant, command, data time) is unique.
- `special_periods`: declared date ranges (heavy-pollution weather, 重污染天气应急) per county or
  for the whole province, during which an outlet's `outlet_pollutants.special_limit` applies.
- `monitoring_events`: exceedance / abnormal / offline findings with start, end and peak; at most
  one open event per outlet, pollutant and rule; `problem_id` once a problem was opened from it.
- `outlet_monitoring_status`: each outlet's live status (offline > exceedance > abnormal > normal;
  not_monitored without a device).
Devices, thresholds, special periods, special limits and events carry the audit triggers.
"""

UPGRADE_SQL = """
ALTER TABLE outlet_pollutants ADD COLUMN special_limit numeric(12, 4);
ALTER TABLE outlet_pollutants ADD CONSTRAINT special_limit_positive
  CHECK (special_limit IS NULL OR special_limit > 0);

CREATE TABLE monitoring_devices (
  mn text PRIMARY KEY,
  outlet_id bigint NOT NULL REFERENCES outlets (id) ON DELETE CASCADE,
  password_sha256 text NOT NULL,
  interval_s integer NOT NULL DEFAULT 60,
  offline_intervals integer NOT NULL DEFAULT 5,
  active boolean NOT NULL DEFAULT true,
  registered_at timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz,
  CONSTRAINT mn_format CHECK (mn ~ '^[0-9A-Za-z]{1,24}$'),
  CONSTRAINT password_sha256_format CHECK (password_sha256 ~ '^[0-9a-f]{64}$'),
  CONSTRAINT interval_positive CHECK (interval_s > 0),
  CONSTRAINT offline_intervals_positive CHECK (offline_intervals > 0)
);
CREATE INDEX ix_monitoring_devices_outlet_id ON monitoring_devices (outlet_id);
SELECT permitmap_audit('monitoring_devices', ARRAY['password_sha256']::text[]);

CREATE TABLE monitoring_thresholds (
  pollutant_code text PRIMARY KEY,
  range_min double precision,
  range_max double precision,
  constant_intervals integer NOT NULL DEFAULT 10,
  CONSTRAINT pollutant_code_format CHECK (pollutant_code ~ '^[wa][0-9]{5}$'),
  CONSTRAINT range_order CHECK (range_min IS NULL OR range_max IS NULL OR range_min < range_max),
  CONSTRAINT constant_intervals_at_least_two CHECK (constant_intervals >= 2)
);
SELECT permitmap_audit('monitoring_thresholds');

CREATE TABLE readings (
  outlet_id bigint NOT NULL,
  pollutant_code text NOT NULL,
  cn smallint NOT NULL,
  data_time timestamptz NOT NULL,
  value double precision,
  min double precision,
  max double precision,
  cou double precision,
  flag text,
  received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (data_time);
CREATE UNIQUE INDEX ux_readings ON readings (outlet_id, pollutant_code, cn, data_time);

CREATE FUNCTION monitoring_partition(month date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  first date := date_trunc('month', month)::date;
  name text := 'readings_' || to_char(first, 'YYYYMM');
BEGIN
  EXECUTE format(
    'CREATE TABLE IF NOT EXISTS %I PARTITION OF readings'
    ' FOR VALUES FROM (%L) TO (%L)',
    name, (first::timestamp AT TIME ZONE 'Asia/Shanghai'),
    ((first + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai'));
  RETURN name;
END $$;

CREATE TABLE special_periods (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  county_code varchar(6) REFERENCES admin_regions (code),
  starts_on date NOT NULL,
  ends_on date NOT NULL,
  reason text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT period_order CHECK (ends_on >= starts_on),
  CONSTRAINT name_given CHECK (length(btrim(name)) > 0)
);
SELECT permitmap_audit('special_periods');

CREATE TABLE monitoring_events (
  id bigserial PRIMARY KEY,
  outlet_id bigint NOT NULL REFERENCES outlets (id) ON DELETE CASCADE,
  mn text,
  pollutant_code text,
  kind text NOT NULL,
  rule text NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz,
  peak_value double precision,
  peak_at timestamptz,
  limit_value double precision,
  detail text,
  problem_id bigint REFERENCES problems (id) ON DELETE SET NULL,
  detected_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT event_kind CHECK (kind IN ('exceedance', 'abnormal', 'offline')),
  CONSTRAINT event_order CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX ux_monitoring_events_open
  ON monitoring_events (outlet_id, coalesce(pollutant_code, ''), rule) WHERE ended_at IS NULL;
CREATE INDEX ix_monitoring_events_outlet ON monitoring_events (outlet_id, started_at);
SELECT permitmap_audit('monitoring_events');

CREATE VIEW outlet_monitoring_status AS
SELECT o.id AS outlet_id,
       CASE
         WHEN NOT EXISTS (SELECT 1 FROM monitoring_devices d
                          WHERE d.outlet_id = o.id AND d.active) THEN 'not_monitored'
         WHEN EXISTS (SELECT 1 FROM monitoring_events e WHERE e.outlet_id = o.id
                      AND e.ended_at IS NULL AND e.kind = 'offline') THEN 'offline'
         WHEN EXISTS (SELECT 1 FROM monitoring_events e WHERE e.outlet_id = o.id
                      AND e.ended_at IS NULL AND e.kind = 'exceedance') THEN 'exceedance'
         WHEN EXISTS (SELECT 1 FROM monitoring_events e WHERE e.outlet_id = o.id
                      AND e.ended_at IS NULL AND e.kind = 'abnormal') THEN 'abnormal'
         ELSE 'normal'
       END AS live_status
FROM outlets o;
"""

DOWNGRADE_SQL = """
DROP VIEW IF EXISTS outlet_monitoring_status;
DROP TABLE IF EXISTS monitoring_events;
DROP TABLE IF EXISTS special_periods;
DROP FUNCTION IF EXISTS monitoring_partition(date);
DROP TABLE IF EXISTS readings;
DROP TABLE IF EXISTS monitoring_thresholds;
DROP TABLE IF EXISTS monitoring_devices;
ALTER TABLE outlet_pollutants DROP CONSTRAINT IF EXISTS special_limit_positive;
ALTER TABLE outlet_pollutants DROP COLUMN IF EXISTS special_limit;
"""
