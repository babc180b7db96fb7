"""A user's data as a whole: the statistics on the settings page, clearing it, deleting the account."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import analytics, rollups
from .schema import import_batches, playlists, plays, snapshots, users


@dataclass(frozen=True)
class DataStatistics:
    """What the settings page says about the user's data and the database behind it."""

    tracks: int
    plays: int
    snapshots: int  # days a snapshot was taken on
    last_snapshot: date | None
    last_sync: datetime | None
    database_bytes: int | None


def statistics(conn: Connection, user_id: int) -> DataStatistics:
    """Counts of the user's tracks, plays and snapshots, their last snapshot and sync, the database size."""
    played = analytics.play_counts(conn, user_id)
    taken = conn.execute(
        sa.select(sa.func.count(sa.distinct(snapshots.c.taken_on)), sa.func.max(snapshots.c.taken_on)).where(
            snapshots.c.user_id == user_id
        )
    ).one()
    last_sync = conn.execute(sa.select(users.c.last_sync_at).where(users.c.id == user_id)).scalar()
    return DataStatistics(
        tracks=played[1], plays=played[0], snapshots=taken[0], last_snapshot=taken[1], last_sync=last_sync,
        database_bytes=database_size(conn),
    )  # fmt: skip


def database_size(conn: Connection) -> int | None:
    """Bytes the database takes on disk (SQLite: the file and its WAL; PostgreSQL: pg_database_size)."""
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
    path = conn.engine.url.database
    if not path or path == ":memory:":
        return None
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


def clear_data(conn: Connection, user_id: int) -> int:
    """Delete the user's history (plays and imports), snapshots and playlists; returns the plays deleted.

    Import batches go too: the importer recognises files it already read by them, and after a
    clear the same export must import again.
    """
    deleted = conn.execute(plays.delete().where(plays.c.user_id == user_id)).rowcount
    for table in (import_batches, snapshots, playlists):  # playlist_tracks follow by ON DELETE CASCADE
        conn.execute(table.delete().where(table.c.user_id == user_id))
    rollups.rebuild(conn, user_id)
    return deleted


def delete_account(conn: Connection, user_id: int) -> bool:
    """Delete the user and everything of theirs (tokens included); whether the user existed."""
    # Every table with a user_id references users ON DELETE CASCADE (schema.py): one DELETE does it.
    return conn.execute(users.delete().where(users.c.id == user_id)).rowcount == 1
