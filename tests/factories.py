"""Small builders for users, tracks and plays, for tests that need exact, hand-worked data."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from hypothesis import settings

from sqlalchemy.engine import Connection

from music_time_machine import users
from music_time_machine.generator import generate_history
from music_time_machine.history import store_plays
from music_time_machine.records import PlayRecord
from music_time_machine.schema import import_batches, playlists, plays, snapshots, spotify_tokens

NOW = datetime(2026, 5, 8, 12, 0, 0)
EXPORTS = Path(__file__).resolve().parent / "data" / "exports"  # our own fixture files of every format


def examples(thorough: int) -> int:
    """How many examples a property test draws: `thorough` under the thorough profile (make test,
    CI), a fifth of it (at least 5) under the quick one (conftest.py)."""
    return max(5, thorough * settings.default.max_examples // 100)


@functools.cache
def generated(plays: int, start: date, end: date, seed: int) -> tuple[PlayRecord, ...]:
    """`generate_history(...)`, made once per test process (records are read-only by contract)."""
    return tuple(generate_history(plays, start=start, end=end, seed=seed))


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


def give_data(conn: Connection, user_id: int, artist: str) -> None:
    """Two plays, a snapshot entry, a playlist, an import batch and Spotify tokens for the user."""
    add_plays(conn, user_id, play(artist, f"{artist} song", "2026-04-01T10:00:00"),
              play(artist, f"{artist} song", "2026-04-02T10:00:00"))  # fmt: skip
    track_id = conn.execute(sa.select(plays.c.track_id).where(plays.c.user_id == user_id)).scalar()
    conn.execute(snapshots.insert().values(user_id=user_id, taken_on=date(2026, 4, 1), time_range="short_term",
                                           kind="track", rank=1, track_id=track_id))  # fmt: skip
    conn.execute(playlists.insert().values(user_id=user_id, source="forgotten_gems", name=f"{artist} gems",
                                           rules={}, created_at=NOW))  # fmt: skip
    conn.execute(import_batches.insert().values(user_id=user_id, origin="cli", label="export.zip", status="done",
                                                options={}, created_at=NOW))  # fmt: skip
    conn.execute(spotify_tokens.insert().values(user_id=user_id, access_token="a", refresh_token="r",
                                                expires_at=NOW, signed_in_at=NOW, updated_at=NOW))  # fmt: skip
