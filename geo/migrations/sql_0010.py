"""SQL of migration 0010: penalty decisions, execution reports, enforcement status with problems."""

UPGRADE_SQL = "SELECT 1;"

DOWNGRADE_SQL = "SELECT 1;"
