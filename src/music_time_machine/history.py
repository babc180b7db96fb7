"""Storing plays, tracks and artists: identity resolution and the exact-duplicate rule.

`store_plays` is the one way plays get into the database, whatever their source. It resolves
each record's artist and track (Spotify URI when known, else the normalised artist + title) and
inserts the plays, skipping any the user already has at the same second for the same track.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import insert_ignoring_conflicts
from .records import PlayRecord, name_key
from .schema import artists, plays, tracks

_CHUNK = 500  # keeps IN (...) lists under every database's parameter limit


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Catalogue:
    """Ids of artists and tracks already resolved, so a long import asks the database once each.

    The ids are only valid while the transactions that created them are committed: after a
    rollback, start a new Catalogue.
    """

    artist_ids: dict[str, int] = field(default_factory=dict)  # name_key -> id
    track_ids_by_uri: dict[str, int] = field(default_factory=dict)
    track_ids_by_name: dict[tuple[int, str], int] = field(default_factory=dict)  # (artist_id, title_key)

    def resolve(self, conn: Connection, records: Sequence[PlayRecord]) -> list[int]:
        """The track id of every record, creating missing artists and tracks."""
        self._resolve_artists(conn, {name_key(r.artist_name): r.artist_name for r in records})
        return self._resolve_tracks(conn, records)

    def _resolve_artists(self, conn: Connection, names: dict[str, str]) -> None:
        missing = [key for key in names if key not in self.artist_ids]
        if not missing:
            return
        self._load_artists(conn, missing)
        new = [{"name": names[key], "name_key": key} for key in missing if key not in self.artist_ids]
        if new:
            conn.execute(insert_ignoring_conflicts(conn, artists), new)
            self._load_artists(conn, [row["name_key"] for row in new])

    def _load_artists(self, conn: Connection, keys: Sequence[str]) -> None:
        for chunk in _chunks(keys):
            rows = conn.execute(sa.select(artists.c.name_key, artists.c.id).where(artists.c.name_key.in_(chunk)))
            self.artist_ids.update((key, artist_id) for key, artist_id in rows)

    def _resolve_tracks(self, conn: Connection, records: Sequence[PlayRecord]) -> list[int]:
        wanted_uris = {r.spotify_uri for r in records if r.spotify_uri and r.spotify_uri not in self.track_ids_by_uri}
        if wanted_uris:
            self._load_tracks_by_uri(conn, list(wanted_uris))
        wanted_names = {
            (self.artist_ids[name_key(r.artist_name)], name_key(r.track_name))
            for r in records
            if not r.spotify_uri
        } - self.track_ids_by_name.keys()
        if wanted_names:
            self._load_tracks_by_name(conn, wanted_names)

        new_rows: dict[object, dict] = {}
        for r in records:
            artist_id = self.artist_ids[name_key(r.artist_name)]
            key = r.spotify_uri or (artist_id, name_key(r.track_name))
            if key in new_rows or (r.spotify_uri and r.spotify_uri in self.track_ids_by_uri):
                continue
            if not r.spotify_uri and key in self.track_ids_by_name:
                continue
            new_rows[key] = {
                "artist_id": artist_id,
                "title": r.track_name,
                "title_key": name_key(r.track_name),
                "album_name": r.album_name,
                "spotify_uri": r.spotify_uri,
                "kind": r.kind,
            }
        if new_rows:
            with_uri = [row for row in new_rows.values() if row["spotify_uri"]]
            without_uri = [row for row in new_rows.values() if not row["spotify_uri"]]
            if with_uri:
                conn.execute(insert_ignoring_conflicts(conn, tracks), with_uri)
                self._load_tracks_by_uri(conn, [row["spotify_uri"] for row in with_uri])
            if without_uri:
                conn.execute(tracks.insert(), without_uri)
                self._load_tracks_by_name(conn, {(row["artist_id"], row["title_key"]) for row in without_uri})

        ids = []
        for r in records:
            if r.spotify_uri:
                ids.append(self.track_ids_by_uri[r.spotify_uri])
            else:
                ids.append(self.track_ids_by_name[(self.artist_ids[name_key(r.artist_name)], name_key(r.track_name))])
        return ids

    def _load_tracks_by_uri(self, conn: Connection, uris: Sequence[str]) -> None:
        for chunk in _chunks(uris):
            rows = conn.execute(
                sa.select(tracks.c.spotify_uri, tracks.c.id, tracks.c.artist_id, tracks.c.title_key).where(
                    tracks.c.spotify_uri.in_(chunk)
                )
            )
            for uri, track_id, artist_id, title_key in rows:
                self.track_ids_by_uri[uri] = track_id
                self.track_ids_by_name.setdefault((artist_id, title_key), track_id)

    def _load_tracks_by_name(self, conn: Connection, keys: set[tuple[int, str]]) -> None:
        # A URI-less play (account export) joins the first-stored track with that artist + title.
        by_artist: dict[int, list[str]] = {}
        for artist_id, title_key in keys:
            by_artist.setdefault(artist_id, []).append(title_key)
        for artist_id, titles in by_artist.items():
            for chunk in _chunks(titles):
                rows = conn.execute(
                    sa.select(tracks.c.title_key, sa.func.min(tracks.c.id))
                    .where(tracks.c.artist_id == artist_id, tracks.c.title_key.in_(chunk))
                    .group_by(tracks.c.title_key)
                )
                for title_key, track_id in rows:
                    self.track_ids_by_name.setdefault((artist_id, title_key), track_id)


@dataclass(frozen=True)
class StoreResult:
    """What `store_plays` did."""

    added: int
    duplicates: int


PERSONAL_FIELDS = ("conn_country", "ip_addr", "user_agent", "username")


def store_plays(
    conn: Connection,
    user_id: int,
    records: Sequence[PlayRecord],
    *,
    batch_id: int | None = None,
    catalogue: Catalogue | None = None,
) -> StoreResult:
    """Store `records` for `user_id`; plays the user already has (same second, same track) are skipped."""
    if not records:
        return StoreResult(0, 0)
    catalogue = catalogue or Catalogue()
    track_ids = catalogue.resolve(conn, records)
    rows = [
        {
            "user_id": user_id,
            "track_id": track_id,
            "ended_at": r.ended_at,
            "ms_played": r.ms_played,
            "source": r.source,
            "kind": r.kind,
            "skipped": r.skipped,
            "shuffle": r.shuffle,
            "offline": r.offline,
            "incognito": r.incognito,
            "reason_start": r.reason_start,
            "reason_end": r.reason_end,
            "platform": r.platform,
            "conn_country": r.conn_country,
            "ip_addr": r.ip_addr,
            "user_agent": r.user_agent,
            "username": r.username,
            "batch_id": batch_id,
        }
        for r, track_id in zip(records, track_ids, strict=True)
    ]
    insert = insert_ignoring_conflicts(conn, plays)
    if conn.dialect.name == "sqlite":  # sqlite3 counts the rows executemany inserted
        added = conn.execute(insert, rows).rowcount
    else:  # psycopg reports -1 for executemany: count the ids that come back instead
        added = len(conn.execute(insert.returning(plays.c.id), rows).all())
    return StoreResult(added=added, duplicates=len(rows) - added)
