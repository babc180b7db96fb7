"""Exports of a user's data: plays as CSV or JSON Lines, snapshots as CSV.

Each export is a generator of text chunks that reads the rows a chunk at a time by id (keyset
paging), so a decade of plays streams out in constant memory. It opens its own connection and
reads in one transaction, so the file is one consistent picture even while imports write.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .schema import artists, plays, snapshots, tracks

CHUNK = 5_000

PLAY_FIELDS = (
    "ended_at", "ms_played", "artist", "track", "album", "spotify_uri", "kind", "source", "skipped", "shuffle",
    "offline", "incognito", "reason_start", "reason_end", "platform", "conn_country", "ip_addr", "user_agent",
    "username",
)  # fmt: skip
SNAPSHOT_FIELDS = ("taken_on", "time_range", "kind", "rank", "artist", "track", "spotify_uri")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _play_rows(engine: Engine, user_id: int, chunk: int) -> Iterator[dict]:
    """The user's plays, oldest id first, fetched `chunk` rows per query."""
    query = (
        sa.select(
            plays.c.id, plays.c.ended_at, plays.c.ms_played, artists.c.name.label("artist"),
            tracks.c.title.label("track"), tracks.c.album_name.label("album"), tracks.c.spotify_uri, plays.c.kind,
            plays.c.source, plays.c.skipped, plays.c.shuffle, plays.c.offline, plays.c.incognito,
            plays.c.reason_start, plays.c.reason_end, plays.c.platform, plays.c.conn_country, plays.c.ip_addr,
            plays.c.user_agent, plays.c.username,
        )  # fmt: skip
        .join(tracks, tracks.c.id == plays.c.track_id)
        .join(artists, artists.c.id == tracks.c.artist_id)
        .where(plays.c.user_id == user_id)
        .order_by(plays.c.id)
        .limit(chunk)
    )
    with engine.connect() as conn, conn.begin():
        last_id = 0
        while True:
            rows = conn.execute(query.where(plays.c.id > last_id)).mappings().all()
            for row in rows:
                yield {field: row[field] for field in PLAY_FIELDS} | {"ended_at": _iso(row["ended_at"])}
            if len(rows) < chunk:
                return
            last_id = rows[-1]["id"]


def _csv_lines(fields: tuple[str, ...], rows: Iterator[dict], per_chunk: int = 1_000) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for count, row in enumerate(rows, 1):
        writer.writerow(row)
        if count % per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def plays_csv(engine: Engine, user_id: int, *, chunk: int = CHUNK) -> Iterator[str]:
    """The user's plays as CSV text chunks (a header row, then one row per play; times in UTC)."""
    return _csv_lines(PLAY_FIELDS, _play_rows(engine, user_id, chunk))


def plays_jsonl(engine: Engine, user_id: int, *, chunk: int = CHUNK) -> Iterator[str]:
    """The user's plays as JSON Lines: one object per play."""
    for row in _play_rows(engine, user_id, chunk):
        yield orjson.dumps(row).decode() + "\n"


def snapshots_csv(engine: Engine, user_id: int) -> Iterator[str]:
    """The user's Spotify snapshots as CSV: one row per list entry."""
    track_artist = artists.alias("track_artist")
    query = (
        sa.select(
            snapshots.c.taken_on, snapshots.c.time_range, snapshots.c.kind, snapshots.c.rank,
            sa.func.coalesce(artists.c.name, track_artist.c.name).label("artist"), tracks.c.title.label("track"),
            sa.func.coalesce(tracks.c.spotify_uri, artists.c.spotify_uri).label("spotify_uri"),
        )  # fmt: skip
        .select_from(
            snapshots.outerjoin(tracks, tracks.c.id == snapshots.c.track_id)
            .outerjoin(track_artist, track_artist.c.id == tracks.c.artist_id)
            .outerjoin(artists, artists.c.id == snapshots.c.artist_id)
        )
        .where(snapshots.c.user_id == user_id)
        .order_by(snapshots.c.taken_on, snapshots.c.kind, snapshots.c.time_range, snapshots.c.rank)
    )

    def rows() -> Iterator[dict]:
        # A snapshot is 300 rows; years of them are thousands, small enough to stream from one cursor.
        with engine.connect() as conn, conn.begin():
            for row in conn.execute(query).mappings():
                yield {**row, "taken_on": row["taken_on"].isoformat()}

    return _csv_lines(SNAPSHOT_FIELDS, rows())
