"""Table definitions for the whole product (SQLAlchemy Core, one MetaData).

Conventions, chosen so the same SQL runs on SQLite and PostgreSQL:
- a play's end time is `plays.ended_at`, an integer of Unix seconds in UTC: compact (a decade
  of plays is millions of rows), fast to compare, and free of the two databases' different
  timestamp types; everything else uses naive UTC `DateTime`s;
- every row that belongs to a person carries `user_id` with ON DELETE CASCADE, so deleting a
  user removes their data and nothing else;
- names are `Text` (podcast titles can be long); identity of a name is its `name_key`
  (see `records.name_key`).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY, so big ids are INTEGER there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user_fk() -> sa.Column:
    return sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),  # local login name
    sa.Column("display_name", sa.Text),
    sa.Column("spotify_id", sa.String(100), unique=True),
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("listen_threshold_ms", sa.Integer, nullable=False, server_default="30000"),
    sa.Column("needs_reconnect", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("blocked_until", sa.DateTime),  # Spotify said "wait" (429) until then
    sa.Column("blocked_reason", sa.Text),
    sa.Column("sync_cursor_ms", sa.BigInteger),  # recently-played `after` cursor
    sa.Column("last_sync_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

spotify_tokens = sa.Table(
    "spotify_tokens",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("access_token", sa.Text, nullable=False),  # Fernet-encrypted
    sa.Column("refresh_token", sa.Text, nullable=False),  # Fernet-encrypted
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("scope", sa.Text),
    sa.Column("signed_in_at", sa.DateTime, nullable=False),  # refresh tokens die 6 months after this
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

login_tokens = sa.Table(
    "login_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _user_fk(),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256; the token is never stored
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("used_at", sa.DateTime),
)

artists = sa.Table(
    "artists",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False, unique=True),
    sa.Column("spotify_uri", sa.String(100), unique=True),
)

tracks = sa.Table(
    "tracks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("artist_id", sa.Integer, sa.ForeignKey("artists.id"), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("title_key", sa.Text, nullable=False),
    sa.Column("album_name", sa.Text),
    # Known for extended-export and API plays; account-export plays match by artist + title.
    sa.Column("spotify_uri", sa.String(100), unique=True),
    sa.Column("kind", sa.String(10), nullable=False, server_default="music"),
    sa.Column("duration_ms", sa.Integer),
    sa.Index("ix_tracks_artist_title", "artist_id", "title_key"),
)

import_batches = sa.Table(
    "import_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _user_fk(),
    sa.Column("origin", sa.String(10), nullable=False),  # cli | web
    sa.Column("label", sa.Text, nullable=False),  # what was imported, for the list of imports
    sa.Column("status", sa.String(12), nullable=False),  # running | done | failed
    sa.Column("files_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("files_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("plays_added", sa.Integer, nullable=False, server_default="0"),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("report", sa.JSON),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Index("ix_import_batches_user", "user_id", "created_at"),
)

plays = sa.Table(
    "plays",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    _user_fk(),
    sa.Column("track_id", sa.Integer, sa.ForeignKey("tracks.id"), nullable=False),
    sa.Column("ended_at", sa.BigInteger, nullable=False),  # Unix seconds, UTC
    sa.Column("ms_played", sa.Integer, nullable=False),
    sa.Column("source", sa.String(10), nullable=False),  # extended | account | api
    sa.Column("kind", sa.String(10), nullable=False),  # music | podcast | audiobook
    sa.Column("skipped", sa.Boolean),
    sa.Column("shuffle", sa.Boolean),
    sa.Column("offline", sa.Boolean),
    sa.Column("incognito", sa.Boolean),
    sa.Column("reason_start", sa.String(32)),
    sa.Column("reason_end", sa.String(32)),
    sa.Column("platform", sa.Text),
    # Personal fields, stored only when the user opts in at import.
    sa.Column("conn_country", sa.String(8)),
    sa.Column("ip_addr", sa.String(64)),
    sa.Column("user_agent", sa.Text),
    sa.Column("username", sa.Text),
    # The import that stored the play. No foreign key (nor index): a batch is deleted only
    # together with its user's plays, and no query reads plays by batch (revision 0006).
    sa.Column("batch_id", sa.Integer),
    # One play per user, track and end second: re-importing the same export adds nothing.
    # Nothing else is indexed: per-track and per-month views read the summary tables (rollups),
    # and every extra index on this table slows each import (revisions 0003 and 0006 dropped
    # the per-track and per-batch ones).
    sa.UniqueConstraint("user_id", "ended_at", "track_id", name="uq_plays_user_time_track"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _user_fk(),
    sa.Column("taken_on", sa.Date, nullable=False),
    sa.Column("time_range", sa.String(12), nullable=False),  # short_term | medium_term | long_term
    sa.Column("kind", sa.String(8), nullable=False),  # track | artist
    sa.Column("rank", sa.Integer, nullable=False),  # 1-based
    sa.Column("track_id", sa.Integer, sa.ForeignKey("tracks.id")),
    sa.Column("artist_id", sa.Integer, sa.ForeignKey("artists.id")),
    sa.UniqueConstraint("user_id", "taken_on", "time_range", "kind", "rank", name="uq_snapshots_entry"),
)

playlists = sa.Table(
    "playlists",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _user_fk(),
    sa.Column("source", sa.String(40), nullable=False),  # forgotten_gems, recent_discoveries, …
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("rules", sa.JSON, nullable=False),
    sa.Column("spotify_id", sa.String(64)),
    sa.Column("spotify_url", sa.Text),
    sa.Column("track_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("auto_refresh", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("refreshed_at", sa.DateTime),
    sa.Index("ix_playlists_user", "user_id", "created_at"),
)

playlist_tracks = sa.Table(
    "playlist_tracks",
    metadata,
    sa.Column("playlist_id", sa.Integer, sa.ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("track_id", sa.Integer, sa.ForeignKey("tracks.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job", sa.String(40), nullable=False),  # sync | snapshot | playlist_refresh | …
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("status", sa.String(12), nullable=False),  # running | ok | failed | skipped
    sa.Column("message", sa.Text),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Index("ix_job_runs_job_user", "job", "user_id", "started_at"),
)

# A lease per job name: the worker that holds an unexpired row runs the job; others skip it.
job_locks = sa.Table(
    "job_locks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# --- Rollups: summary tables kept up to date by `rollups` ------------------------------------
# Music plays only, bucketed by the *local* day of the user's time zone (the SQL adds the
# zone's UTC offsets, which Python finds with zoneinfo, so DST is right on both databases).
# They are derived data: `rollups.refresh` brings them up to date with `plays`,
# `rollups.rebuild` recreates them.
# On SQLite they are WITHOUT ROWID tables, stored in primary-key order (revision 0007): a row
# is written once, not to the table and again to its key's index, and a range of days or months
# is read straight from the table (a refresh of 1M plays: about a sixth less time).
_CLUSTERED = {"sqlite_with_rowid": False}

daily_plays = sa.Table(
    "daily_plays",
    metadata,
    _user_fk(),
    sa.Column("day", sa.Date, nullable=False),  # local date in the user's time zone
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("artist_id", sa.Integer, nullable=False),
    sa.Column("plays", sa.Integer, nullable=False),
    sa.Column("listens", sa.Integer, nullable=False),  # plays with ms_played >= the user's threshold
    sa.Column("ms_played", sa.BigInteger, nullable=False),
    sa.Column("skips", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "day", "track_id"),
    **_CLUSTERED,
)

monthly_tracks = sa.Table(
    "monthly_tracks",
    metadata,
    _user_fk(),
    sa.Column("month", sa.String(7), nullable=False),  # 'YYYY-MM', local
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("artist_id", sa.Integer, nullable=False),
    sa.Column("plays", sa.Integer, nullable=False),
    sa.Column("listens", sa.Integer, nullable=False),
    sa.Column("ms_played", sa.BigInteger, nullable=False),
    sa.Column("skips", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "month", "track_id"),
    # A track's months (track pages). No query looks months up by artist: monthly_artists has
    # those (revision 0005 dropped the per-artist index, which slowed every refresh).
    sa.Index("ix_monthly_tracks_track", "user_id", "track_id", "month"),
    **_CLUSTERED,
)

monthly_artists = sa.Table(
    "monthly_artists",
    metadata,
    _user_fk(),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("artist_id", sa.Integer, nullable=False),
    sa.Column("plays", sa.Integer, nullable=False),
    sa.Column("listens", sa.Integer, nullable=False),
    sa.Column("ms_played", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "month", "artist_id"),
    **_CLUSTERED,
)

# The monthly charts derived from plays: top 50 tracks and artists of each month by listens
# (ties: more minutes first, then the lower id). Consistency, turnover and taste shift read these.
monthly_charts = sa.Table(
    "monthly_charts",
    metadata,
    _user_fk(),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # track | artist
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("item_id", sa.Integer, nullable=False),  # tracks.id or artists.id
    sa.Column("listens", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "month", "kind", "rank"),
    sa.Index("ix_monthly_charts_item", "user_id", "kind", "item_id"),
    **_CLUSTERED,
)

# Listening by local day, hour and source (weekday 0 = Monday): the clock, time per month,
# skip rate, data coverage.
hourly_plays = sa.Table(
    "hourly_plays",
    metadata,
    _user_fk(),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("hour", sa.Integer, nullable=False),
    sa.Column("source", sa.String(10), nullable=False),  # extended | account | api (data coverage)
    sa.Column("weekday", sa.Integer, nullable=False),
    sa.Column("plays", sa.Integer, nullable=False),
    sa.Column("listens", sa.Integer, nullable=False),
    sa.Column("ms_played", sa.BigInteger, nullable=False),
    sa.Column("skips", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "day", "hour", "source"),
    **_CLUSTERED,
)

# All-time per track: first and last local day, totals (tracks tracked, discoveries, track pages).
track_totals = sa.Table(
    "track_totals",
    metadata,
    _user_fk(),
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("artist_id", sa.Integer, nullable=False),
    sa.Column("first_day", sa.Date, nullable=False),
    sa.Column("last_day", sa.Date, nullable=False),
    sa.Column("plays", sa.Integer, nullable=False),
    sa.Column("listens", sa.Integer, nullable=False),
    sa.Column("ms_played", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "track_id"),
    sa.Index("ix_track_totals_first", "user_id", "first_day"),
    **_CLUSTERED,
)

# What the rollups of a user were built with; `version` changes whenever they or the plays change.
rollup_state = sa.Table(
    "rollup_state",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("listen_threshold_ms", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Plays ending in [stale_from, stale_until] (Unix seconds) changed since the rollups were
    # last brought up to date (rollups.mark_changed, rollups.refresh); null when none did.
    sa.Column("stale_from", sa.BigInteger),
    sa.Column("stale_until", sa.BigInteger),
)
