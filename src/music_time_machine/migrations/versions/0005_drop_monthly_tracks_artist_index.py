"""Drop monthly_tracks' per-artist index: no query uses it (monthly_artists answers per artist),
and it cost about a fifth of writing monthly_tracks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_monthly_tracks_artist", table_name="monthly_tracks")


def downgrade() -> None:
    op.create_index("ix_monthly_tracks_artist", "monthly_tracks", ["user_id", "artist_id", "month"])
