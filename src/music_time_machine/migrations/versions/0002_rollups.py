"""rollups: summary tables for analytics (daily_plays, monthly_tracks, monthly_artists,
monthly_charts, hourly_plays, track_totals)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _user_fk():
    return sa.Column('user_id', sa.Integer(), nullable=False)


def _fk(table):
    return sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f(f'fk_{table}_user_id_users'), ondelete='CASCADE')


def _counts():
    return [
        sa.Column('plays', sa.Integer(), nullable=False),
        sa.Column('listens', sa.Integer(), nullable=False),
        sa.Column('ms_played', sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('daily_plays',
    _user_fk(),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('artist_id', sa.Integer(), nullable=False),
    *_counts(),
    sa.Column('skips', sa.Integer(), nullable=False),
    _fk('daily_plays'),
    sa.PrimaryKeyConstraint('user_id', 'day', 'track_id', name=op.f('pk_daily_plays'))
    )
    op.create_table('monthly_tracks',
    _user_fk(),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('artist_id', sa.Integer(), nullable=False),
    *_counts(),
    sa.Column('skips', sa.Integer(), nullable=False),
    _fk('monthly_tracks'),
    sa.PrimaryKeyConstraint('user_id', 'month', 'track_id', name=op.f('pk_monthly_tracks'))
    )
    op.create_index('ix_monthly_tracks_track', 'monthly_tracks', ['user_id', 'track_id', 'month'])
    op.create_index('ix_monthly_tracks_artist', 'monthly_tracks', ['user_id', 'artist_id', 'month'])
    op.create_table('monthly_artists',
    _user_fk(),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('artist_id', sa.Integer(), nullable=False),
    *_counts(),
    _fk('monthly_artists'),
    sa.PrimaryKeyConstraint('user_id', 'month', 'artist_id', name=op.f('pk_monthly_artists'))
    )
    op.create_table('monthly_charts',
    _user_fk(),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('listens', sa.Integer(), nullable=False),
    _fk('monthly_charts'),
    sa.PrimaryKeyConstraint('user_id', 'month', 'kind', 'rank', name=op.f('pk_monthly_charts'))
    )
    op.create_index('ix_monthly_charts_item', 'monthly_charts', ['user_id', 'kind', 'item_id'])
    op.create_table('hourly_plays',
    _user_fk(),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    *_counts(),
    sa.Column('skips', sa.Integer(), nullable=False),
    _fk('hourly_plays'),
    sa.PrimaryKeyConstraint('user_id', 'day', 'hour', 'source', name=op.f('pk_hourly_plays'))
    )
    op.create_table('track_totals',
    _user_fk(),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('artist_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    *_counts(),
    _fk('track_totals'),
    sa.PrimaryKeyConstraint('user_id', 'track_id', name=op.f('pk_track_totals'))
    )
    op.create_index('ix_track_totals_first', 'track_totals', ['user_id', 'first_day'])
    op.create_table('rollup_state',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('listen_threshold_ms', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    _fk('rollup_state'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_rollup_state'))
    )
    # No data step: 0001 and 0002 were released together, so no database holds plays without
    # summary tables. (A migration must not call app code: it changes after the migration.)


def downgrade() -> None:
    for name in ('rollup_state', 'track_totals', 'hourly_plays', 'monthly_charts', 'monthly_artists',
                 'monthly_tracks', 'daily_plays'):
        op.drop_table(name)
