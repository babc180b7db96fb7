"""Drop plays' batch index and their foreign key to import_batches: the index cost about a
seventh of importing a play, and no query reads plays by batch. The key only nulled the plays'
batch_id when a batch was deleted, and a batch goes only together with its user's plays
(`userdata.clear_data`, deleting the user), so `batch_id` stays as a plain column.

On SQLite dropping a foreign key rebuilds the plays table (Alembic's batch mode).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plays") as batch:
        batch.drop_index("ix_plays_batch")
        batch.drop_constraint("fk_plays_batch_id_import_batches", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("plays") as batch:
        batch.create_foreign_key(
            "fk_plays_batch_id_import_batches", "import_batches", ["batch_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_plays_batch", ["batch_id"])
