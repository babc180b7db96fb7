"""Small builders for users, tracks and plays, for tests that need exact, hand-worked data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from music_time_machine import users
from music_time_machine.history import store_plays
from music_time_machine.records import PlayRecord

NOW = datetime(2026, 5, 8, 12, 0, 0)


def make_user(conn: Connection, name: str = "alice", **kwargs) -> int:
    """A user named `name`; returns the id."""
    return users.create_user(conn, name, now=NOW, **kwargs)


def ts(text: str) -> int:
    """Unix seconds of an ISO time in UTC ('2026-05-01T10:00:00')."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def play(
    artist: str = "Artist",
    track: str = "Track",
    at: str = "2026-05-01T10:00:00",
    ms: int = 200_000,
    *,
    source: str = "extended",
    uri: str | None = "auto",
    kind: str = "music",
    **fields,
) -> PlayRecord:
    """A play record; by default with a URI derived from the artist and track names."""
    if uri == "auto":
        uri = "spotify:track:" + hashlib.sha1(f"{artist}\0{track}".encode()).hexdigest()[:22]
    return PlayRecord(
        ended_at=ts(at), ms_played=ms, artist_name=artist, track_name=track, source=source, kind=kind,
        spotify_uri=uri, **fields,
    )  # fmt: skip


def add_plays(conn: Connection, user_id: int, *records: PlayRecord) -> int:
    """Store the plays; returns how many were added."""
    return store_plays(conn, user_id, list(records)).added
