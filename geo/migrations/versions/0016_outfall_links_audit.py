"""outfall_links audited by their key (outfall_id, unit_id)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24

The generic audit trigger of 0006 names and pairs rows by `id` or `code`; a link between a river
outfall and a unit has neither, so its rows were logged without a name and its updates (which
outlet of the unit drains to the outfall) not at all. Same cure as 0013 gave devices,
thresholds and outlet pollutants: the keyed audit function, with the composite key
`outfall_id:unit_id`.
"""

from alembic import op

from geo.migrations.sql_0013 import AUDITED_OPS, _audit_trigger

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for operation in AUDITED_OPS:
        function = "audit_rows_by_key('outfall_id,unit_id')"
        op.execute(_audit_trigger("outfall_links", operation, function))


def downgrade() -> None:
    for operation in AUDITED_OPS:
        op.execute(_audit_trigger("outfall_links", operation, "audit_rows()"))
