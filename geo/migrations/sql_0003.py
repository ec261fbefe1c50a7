"""SQL of migration 0003: enum types, the rule audit trigger, seed rules, append-only events."""

PRE_TABLES_SQL = """
CREATE TYPE feature_type AS ENUM ('unit', 'outlet', 'river_outfall');
CREATE TYPE severity AS ENUM ('prohibited', 'restricted', 'notice');
CREATE TYPE flag_status AS ENUM ('open', 'confirmed', 'dismissed', 'resolved');
"""

WPPCL = "《中华人民共和国水污染防治法》"
RESERVES = "《中华人民共和国自然保护区条例》第三十二条"
# (code, kind, grade, feature, medium, scope, requires_discharge, applies_to, severity, basis, text)
SEED_RULES = [
    (
        "WP-OUTFALL",
        "water_protection",
        None,
        "river_outfall",
        None,
        "any",
        False,
        "any",
        "prohibited",
        f"{WPPCL}第六十四条",
        "饮用水水源保护区内禁止设置排污口",
    ),
    (
        "WP-OUTLET",
        "water_protection",
        None,
        "outlet",
        "water",
        "any",
        False,
        "any",
        "prohibited",
        f"{WPPCL}第六十四条",
        "水污染物排放口位于饮用水水源保护区内",
    ),
    (
        "WP1-UNIT",
        "water_protection",
        "I",
        "unit",
        None,
        "any",
        False,
        "any",
        "prohibited",
        f"{WPPCL}第六十五条",
        "一级保护区内禁止建设与供水设施和保护水源无关的项目；已建成的，责令拆除或者关闭",
    ),
    (
        "WP2-UNIT",
        "water_protection",
        "II",
        "unit",
        None,
        "any",
        True,
        "any",
        "prohibited",
        f"{WPPCL}第六十六条",
        "二级保护区内禁止建设排放污染物的项目；已建成的，责令拆除或者关闭",
    ),
    (
        "WPQ-UNIT-NEW",
        "water_protection",
        "quasi",
        "unit",
        None,
        "heavy_water_polluter",
        False,
        "new",
        "prohibited",
        f"{WPPCL}第六十七条",
        "准保护区内禁止新建、扩建严重污染水体的项目",
    ),
    (
        "WPQ-UNIT",
        "water_protection",
        "quasi",
        "unit",
        None,
        "heavy_water_polluter",
        False,
        "existing",
        "restricted",
        f"{WPPCL}第六十七条",
        "准保护区内改建项目不得增加排污量",
    ),
    (
        "NR-CORE",
        "nature_reserve",
        "core",
        "unit",
        None,
        "any",
        False,
        "any",
        "prohibited",
        RESERVES,
        "核心区内不得建设任何生产设施",
    ),
    (
        "NR-BUFFER",
        "nature_reserve",
        "buffer",
        "unit",
        None,
        "any",
        False,
        "any",
        "prohibited",
        RESERVES,
        "缓冲区内不得建设任何生产设施",
    ),
    (
        "NR-EXP",
        "nature_reserve",
        "experimental",
        "unit",
        None,
        "any",
        True,
        "any",
        "restricted",
        RESERVES,
        "实验区内不得建设污染环境、破坏资源或者景观的生产设施；超标的限期治理",
    ),
    (
        "RL-UNIT",
        "ecological_redline",
        None,
        "unit",
        None,
        "any",
        False,
        "any",
        "prohibited",
        "《关于加强生态保护红线管理的通知（试行）》（自然资发〔2022〕142号）",
        "生态保护红线内禁止开发性、生产性建设活动",
    ),
    (
        "CU-ACCESS",
        "control_unit",
        None,
        "unit",
        None,
        "access_list",
        False,
        "any",
        "prohibited",
        "生态环境分区管控 生态环境准入清单（空间布局约束）",
        "行业属于所在环境管控单元准入清单禁止类",
    ),
    (
        "CU-PRIORITY",
        "control_unit",
        "priority",
        "unit",
        None,
        "heavy_water_polluter",
        False,
        "any",
        "notice",
        "《关于加强生态环境分区管控的意见》",
        "优先保护单元内严格限制大规模、高强度的工业开发",
    ),
]


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


SEED_SQL = (
    "INSERT INTO zone_rules (code, zone_kind, zone_grade, feature_type, medium, "
    "industry_scope, requires_discharge, applies_to, severity, legal_basis, description) VALUES\n"
    + ",\n".join("({})".format(", ".join(_literal(v) for v in rule)) for rule in SEED_RULES)
    + ";"
)

POST_TABLES_SQL = f"""
-- Every change to a rule is audited; the actor comes from SET LOCAL permitmap.actor.
CREATE FUNCTION audit_zone_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO zone_rule_audit (rule_id, action, changed_by, before, after)
  VALUES (COALESCE(NEW.id, OLD.id), lower(TG_OP),
          COALESCE(current_setting('permitmap.actor', true), current_user),
          CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
          CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
  RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER zone_rules_audit AFTER INSERT OR UPDATE OR DELETE ON zone_rules
  FOR EACH ROW EXECUTE FUNCTION audit_zone_rule();
CREATE TRIGGER zone_rules_touch BEFORE UPDATE ON zone_rules
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TRIGGER flag_events_append_only BEFORE UPDATE OR DELETE ON flag_events
  FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION refuse_history_rewrite();

SELECT set_config('permitmap.actor', 'migration 0003', true);
{SEED_SQL}
"""

DOWNGRADE_SQL = """
DROP TRIGGER IF EXISTS flag_events_append_only ON flag_events;
DROP TRIGGER IF EXISTS zone_rules_audit ON zone_rules;
DROP FUNCTION IF EXISTS audit_zone_rule();
"""
