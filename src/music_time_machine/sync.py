"""Recently played sync: new plays since the user's cursor, stored through `history.store_plays`.

The API says nothing about how long a recently-played entry was played; Spotify lists a play
there once 30 s of it were heard. So an API play is stored with `ms_played` = the track's
duration: it counts as a listen, and listening time is an upper bound for these plays.
Spotify only keeps the last 50 plays: more than 50 plays between two syncs lose the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import db
from .history import store_plays
from .records import PlayRecord
from .schema import users
from .spotify.client import RecentPlay, SpotifyClient


@dataclass(frozen=True)
class SyncResult:
    """What one sync did."""

    fetched: int
    added: int
    duplicates: int

    def summary(self) -> str:
        return f"{self.added} new plays ({self.fetched} fetched, {self.duplicates} already known)."


def play_record(play: RecentPlay) -> PlayRecord:
    """A recently-played entry as a play: it ended at `played_at`; `ms_played` is the duration."""
    return PlayRecord(
        ended_at=int(play.played_at.replace(tzinfo=UTC).timestamp()),
        ms_played=play.duration_ms,
        artist_name=play.artist_name,
        track_name=play.track_name,
        source="api",
        album_name=play.album_name,
        spotify_uri=play.uri,
    )


def sync_recently_played(engine: Engine, user_id: int, client: SpotifyClient, *, now: datetime) -> SyncResult:
    """Fetch the plays after the user's cursor and store the new ones; moves the cursor on."""
    with engine.connect() as conn:
        cursor = conn.execute(sa.select(users.c.sync_cursor_ms).where(users.c.id == user_id)).scalar()
    page = client.recently_played(after_ms=cursor)
    records = [play_record(play) for play in page.plays]
    newest_ms = [int(play.played_at.replace(tzinfo=UTC).timestamp() * 1000) for play in page.plays]
    new_cursor = max([ms for ms in (cursor, page.next_after_ms, *newest_ms) if ms is not None], default=None)
    with db.transaction(engine) as conn:
        # The dedup rules (same second, and across sources) live in store_plays, for every source.
        stored = store_plays(conn, user_id, records)
        conn.execute(users.update().where(users.c.id == user_id).values(sync_cursor_ms=new_cursor, last_sync_at=now))
    return SyncResult(fetched=len(records), added=stored.added, duplicates=stored.duplicates)
