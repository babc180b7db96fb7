"""On SQLite, the summary tables become WITHOUT ROWID tables (stored in primary-key order):
each summary row was written twice, to the table and to its primary key's index, and ranges of
days and months were read through that index. Refreshing the summaries of 1M plays took about
a sixth less time. PostgreSQL has no such option and is not changed.

The tables are rebuilt with their rows (Alembic's batch mode: copy, drop, rename).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SUMMARIES = ("daily_plays", "hourly_plays", "monthly_tracks", "monthly_artists", "monthly_charts", "track_totals")


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in SUMMARIES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
