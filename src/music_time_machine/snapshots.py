"""Monthly snapshots ("Currently Obsessed"): Spotify's top 50 tracks and artists for each range.

A snapshot is six lists (tracks and artists x short, medium, long term), stored with their
rank under the day they were taken. Each list is committed on its own, so when Spotify fails
mid-way the lists already fetched are kept, and the next run fetches only the missing ones.
Running again the same day adds nothing; the scheduled run also reuses a snapshot already
taken this month (it completes that one instead of starting another).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import db
from .db import insert_ignoring_conflicts
from .history import Catalogue
from .records import PlayRecord, name_key
from .schema import artists, snapshots
from .spotify.client import TIME_RANGES, SpotifyClient, TopItem

KINDS = ("track", "artist")
LISTS = tuple((kind, time_range) for kind in KINDS for time_range in TIME_RANGES)
_API_KIND = {"track": "tracks", "artist": "artists"}


@dataclass(frozen=True)
class SnapshotResult:
    """What one run did: the day the snapshot is filed under and how many lists it fetched."""

    taken_on: date
    lists_fetched: int
    entries: int

    def summary(self) -> str:
        if not self.lists_fetched:
            return f"The snapshot of {self.taken_on} was already complete."
        return f"Snapshot of {self.taken_on}: {self.lists_fetched} lists, {self.entries} entries."


def snapshot_day(conn: Connection, user_id: int, today: date, *, scheduled: bool) -> date:
    """The day to file this run under: today, or for the scheduled run this month's earlier snapshot."""
    if not scheduled:
        return today
    earlier = conn.execute(
        sa.select(sa.func.max(snapshots.c.taken_on)).where(
            snapshots.c.user_id == user_id, snapshots.c.taken_on >= today.replace(day=1), snapshots.c.taken_on <= today
        )
    ).scalar()
    return earlier or today


def missing_lists(conn: Connection, user_id: int, taken_on: date) -> list[tuple[str, str]]:
    """The (kind, time_range) lists the snapshot of `taken_on` does not have yet."""
    present = set(
        tuple(row)
        for row in conn.execute(
            sa.select(snapshots.c.kind, snapshots.c.time_range)
            .where(snapshots.c.user_id == user_id, snapshots.c.taken_on == taken_on)
            .distinct()
        )
    )
    return [entry for entry in LISTS if entry not in present]


def latest_snapshot_day(conn: Connection, user_id: int) -> date | None:
    """The day of the user's latest snapshot, or None."""
    return conn.execute(sa.select(sa.func.max(snapshots.c.taken_on)).where(snapshots.c.user_id == user_id)).scalar()


def create_monthly_snapshot(
    engine: Engine, user_id: int, client: SpotifyClient, *, today: date, scheduled: bool = False
) -> SnapshotResult:
    """Fetch and store whatever lists of the snapshot are missing; each list commits on its own."""
    with engine.connect() as conn:
        taken_on = snapshot_day(conn, user_id, today, scheduled=scheduled)
        todo = missing_lists(conn, user_id, taken_on)
    entries = 0
    for kind, time_range in todo:
        items = client.top(_API_KIND[kind], time_range)  # a failure here keeps the lists before it
        with db.transaction(engine) as conn:
            ids = _track_ids(conn, items) if kind == "track" else _artist_ids(conn, items)
            rows = [
                {"user_id": user_id, "taken_on": taken_on, "time_range": time_range, "kind": kind,
                 "rank": item.rank, f"{kind}_id": item_id}
                for item, item_id in zip(items, ids, strict=True)
            ]  # fmt: skip
            if rows:
                # A run racing this one (the page's button and the worker) cannot duplicate a rank.
                conn.execute(insert_ignoring_conflicts(conn, snapshots), rows)
        entries += len(items)
    return SnapshotResult(taken_on=taken_on, lists_fetched=len(todo), entries=entries)


def _track_ids(conn: Connection, items: list[TopItem]) -> list[int]:
    # The same identity as played tracks (URI first, else artist + title): a track in a top
    # list and in the history is one track.
    records = [
        PlayRecord(ended_at=0, ms_played=0, artist_name=item.artist_name or "", track_name=item.name,
                   source="api", album_name=item.album_name, spotify_uri=item.uri)
        for item in items
    ]  # fmt: skip
    return Catalogue().resolve(conn, records)


def _artist_ids(conn: Connection, items: list[TopItem]) -> list[int]:
    """Artists by URI, else by name (then the URI is filled in), else created with both."""
    ids = []
    for item in items:
        key = name_key(item.name)
        artist_id = conn.execute(sa.select(artists.c.id).where(artists.c.spotify_uri == item.uri)).scalar()
        if artist_id is None:
            artist_id = conn.execute(sa.select(artists.c.id).where(artists.c.name_key == key)).scalar()
            if artist_id is None:
                conn.execute(insert_ignoring_conflicts(conn, artists).values(name=item.name, name_key=key,
                                                                             spotify_uri=item.uri))  # fmt: skip
                artist_id = conn.execute(sa.select(artists.c.id).where(artists.c.name_key == key)).scalar_one()
            else:
                conn.execute(
                    artists.update().where(artists.c.id == artist_id, artists.c.spotify_uri.is_(None))
                    .values(spotify_uri=item.uri)
                )  # fmt: skip
        ids.append(artist_id)
    return ids
