"""Read-only questions about a user's history: (conn, user_id, …) -> plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import plays, tracks


@dataclass(frozen=True)
class Overview:
    """The basic numbers of a user's music history."""

    plays: int
    listening_hours: float
    distinct_tracks: int
    distinct_artists: int
    first_play: datetime | None  # UTC
    last_play: datetime | None  # UTC
    podcast_plays: int


def overview(conn: Connection, user_id: int) -> Overview:
    """Plays, hours, distinct tracks and artists, first and last play (music only) and podcast plays."""
    music = sa.and_(plays.c.user_id == user_id, plays.c.kind == "music")
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(plays.c.ms_played), 0),
            sa.func.count(sa.distinct(plays.c.track_id)),
            sa.func.min(plays.c.ended_at),
            sa.func.max(plays.c.ended_at),
        ).where(music)
    ).one()
    artists = conn.execute(
        sa.select(sa.func.count(sa.distinct(tracks.c.artist_id))).select_from(plays.join(tracks)).where(music)
    ).scalar_one()
    podcasts = conn.execute(
        sa.select(sa.func.count()).where(plays.c.user_id == user_id, plays.c.kind != "music")
    ).scalar_one()

    def when(ts: int | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    return Overview(
        plays=row[0],
        listening_hours=round(int(row[1]) / 3_600_000, 1),
        distinct_tracks=row[2],
        distinct_artists=artists,
        first_play=when(row[3]),
        last_play=when(row[4]),
        podcast_plays=podcasts,
    )
