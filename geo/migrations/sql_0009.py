"""SQL of migration 0009: random inspections (双随机) and permit quality spot checks."""

UPGRADE_SQL = "SELECT 1;"

DOWNGRADE_SQL = "SELECT 1;"
