"""rollup_state.stale_from / stale_until: the plays an import changed, summarised at its end.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: a plain ALTER TABLE ADD COLUMN on both databases.
    op.add_column("rollup_state", sa.Column("stale_from", sa.BigInteger(), nullable=True))
    op.add_column("rollup_state", sa.Column("stale_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollup_state") as batch:
        batch.drop_column("stale_until")
        batch.drop_column("stale_from")
