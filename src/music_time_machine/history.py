"""Storing plays, tracks and artists: identity resolution and the dedup rules (SPEC §3.2).

`store_plays` is the one way plays get into the database, whatever their source. It resolves
each record's artist and track (Spotify URI when known, else the normalised artist + title) and
inserts the plays, skipping any the user already has at the same second for the same track.

The same play can also arrive from two sources at slightly different times. Sources rank
extended > api > account by how much they tell; a play is a duplicate of a higher-ranked play of
the same song (artist + title, by name_key) whose end time is within the pair's window
(`MATCH_WINDOW`), and a lower-ranked stored play that a new play matches is replaced by it. So
importing account data and the extended history gives the same plays in either order.

Identity and dedup are worked out in Python with sets and dicts; the plays to insert then go
in (on SQLite through `db.sqlite_insert_rows`, 500 rows a statement), and the span of time they
(and the plays they replace) cover is marked changed for the summary tables
(`rollups.mark_changed`), which are refreshed from the plays at once or, for an import, once at
its end (`rollups.refresh`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import rollups
from .db import chunks, dialect_insert, insert_ignoring_conflicts, sqlite_insert_new, sqlite_insert_rows
from .records import PlayRecord, name_key
from .schema import artists, plays, tracks

@dataclass
class Catalogue:
    """Ids of artists and tracks already resolved, so a long import asks the database once each.

    The ids are only valid while the transactions that created them are committed: after a
    rollback, start a new Catalogue.
    """

    artist_ids: dict[str, int] = field(default_factory=dict)  # name_key -> id
    track_ids_by_uri: dict[str, int] = field(default_factory=dict)
    track_ids_by_name: dict[tuple[int, str], int] = field(default_factory=dict)  # (artist_id, title_key)
    songs: dict[int, tuple[int, str]] = field(default_factory=dict)  # track id -> (artist_id, title_key)

    def resolve(self, conn: Connection, records: Sequence[PlayRecord]) -> list[int]:
        """The track id of every record, creating missing artists and tracks."""
        by_uri = self.track_ids_by_uri
        uris = list(map(_SPOTIFY_URI, records))  # map, set: loops in C over every record
        # (A comprehension over the distinct URIs: `set - dict.keys()` would walk the whole catalogue.)
        wanted_uris = {uri for uri in set(uris) if uri not in by_uri}
        wanted_uris.discard(None)
        if wanted_uris:
            self._load_tracks_by_uri(conn, sorted(wanted_uris))
        track_ids = list(map(by_uri.get, uris))
        if None not in track_ids:
            return track_ids
        # The rest, without a URI or with one not stored yet, go by one record per track: by
        # its URI, or else by its artist and title (which name_key then folds).
        missing = [i for i, track_id in enumerate(track_ids) if track_id is None]
        songs = {}
        for i in missing:
            r = records[i]
            songs.setdefault(r.spotify_uri or (r.artist_name, r.track_name), r)
        keys: dict[str, str] = {}  # name -> name_key, each distinct name keyed once per call

        def key(name: str) -> str:
            found = keys.get(name)
            if found is None:
                found = keys[name] = name_key(name)
            return found

        # A new artist is named as its first record spells it (reversed: the first one wins).
        self._resolve_artists(conn, {key(r.artist_name): r.artist_name for r in reversed(songs.values())})
        self._resolve_tracks(conn, list(songs.values()), key)
        by_name, artist_ids = self.track_ids_by_name, self.artist_ids
        ids = {song: by_uri.get(r.spotify_uri) or by_name[(artist_ids[key(r.artist_name)], key(r.track_name))]
               for song, r in songs.items()}  # fmt: skip
        for i in missing:
            r = records[i]
            track_ids[i] = ids[r.spotify_uri or (r.artist_name, r.track_name)]
        return track_ids

    def _resolve_artists(self, conn: Connection, names: dict[str, str]) -> None:
        missing = [key for key in names if key not in self.artist_ids]
        if not missing:
            return
        self._load_artists(conn, missing)
        new = [key for key in missing if key not in self.artist_ids]
        if not new:
            return
        if conn.dialect.name == "sqlite":
            added = sqlite_insert_new(conn, artists, ("name", "name_key"), [(names[key], key) for key in new], ("name_key", "id"))
            self.artist_ids.update(added)
            new = [key for key in new if key not in self.artist_ids]  # stored meanwhile by another writer
        else:
            conn.execute(insert_ignoring_conflicts(conn, artists), [{"name": names[key], "name_key": key} for key in new])
        self._load_artists(conn, new)

    def _load_artists(self, conn: Connection, keys: Sequence[str]) -> None:
        for chunk in chunks(keys):
            rows = conn.execute(sa.select(artists.c.name_key, artists.c.id).where(artists.c.name_key.in_(chunk)))
            self.artist_ids.update((key, artist_id) for key, artist_id in rows)

    def _resolve_tracks(self, conn: Connection, records: Sequence[PlayRecord], key) -> None:
        """Create the tracks of these records (not found by URI) that are not known by name either."""
        by_name, by_uri, artist_ids = self.track_ids_by_name, self.track_ids_by_uri, self.artist_ids
        wanted_names = {(artist_ids[key(r.artist_name)], key(r.track_name)) for r in records if not r.spotify_uri}
        wanted_names = {song for song in wanted_names if song not in by_name}
        if wanted_names:
            self._load_tracks_by_name(conn, wanted_names)
        new_rows: dict[object, tuple] = {}  # _TRACK_COLUMNS
        for r in records:
            uri = r.spotify_uri
            artist_id = artist_ids[key(r.artist_name)]
            title_key = key(r.track_name)
            track = uri or (artist_id, title_key)
            if track in new_rows or (not uri and track in by_name):
                continue
            new_rows[track] = (artist_id, r.track_name, title_key, r.album_name, uri, r.kind)
        with_uri = [row for row in new_rows.values() if row[4]]
        without_uri = [row for row in new_rows.values() if not row[4]]
        if conn.dialect.name == "sqlite":
            self._insert_tracks_sqlite(conn, with_uri + without_uri)
            return
        t = tracks.c
        if with_uri:
            self._learn(conn.execute(insert_ignoring_conflicts(conn, tracks).returning(t.id, t.artist_id, t.title_key,
                                                                                       t.spotify_uri),
                                     [dict(zip(_TRACK_COLUMNS, row)) for row in with_uri]))  # fmt: skip
            # Any stored meanwhile by another writer (skipped by the insert) are loaded.
            self._load_tracks_by_uri(conn, [row[4] for row in with_uri if row[4] not in by_uri])
        if without_uri:
            self._learn(conn.execute(tracks.insert().returning(t.id, t.artist_id, t.title_key, t.spotify_uri),
                                     [dict(zip(_TRACK_COLUMNS, row)) for row in without_uri]))  # fmt: skip

    def _insert_tracks_sqlite(self, conn: Connection, rows: list[tuple]) -> None:
        """Insert tracks (tuples in _TRACK_COLUMNS order) straight through sqlite3
        (`db.sqlite_insert_new`), then learn them."""
        if not rows:
            return
        self._learn(sqlite_insert_new(conn, tracks, _TRACK_COLUMNS, rows, ("id", "artist_id", "title_key", "spotify_uri")))
        # Any stored meanwhile by another writer (skipped by the insert) are loaded.
        self._load_tracks_by_uri(conn, [row[4] for row in rows if row[4] and row[4] not in self.track_ids_by_uri])

    def _learn(self, rows) -> None:
        """Remember tracks: (id, artist_id, title_key, spotify_uri) rows, in the order they were stored."""
        by_uri, by_name, songs = self.track_ids_by_uri, self.track_ids_by_name, self.songs
        for track_id, artist_id, title_key, uri in rows:
            if uri:
                by_uri[uri] = track_id
            songs[track_id] = (artist_id, title_key)
            # A URI-less play (account export) joins the first-stored track with that artist + title.
            by_name.setdefault((artist_id, title_key), track_id)

    def _load_tracks_by_uri(self, conn: Connection, uris: Sequence[str]) -> None:
        t = tracks.c
        for chunk in chunks(uris):
            self._learn(conn.execute(sa.select(t.id, t.artist_id, t.title_key, t.spotify_uri).where(t.spotify_uri.in_(chunk))))

    def _load_tracks_by_name(self, conn: Connection, keys: set[tuple[int, str]]) -> None:
        """Remember every track of the artists in these (artist_id, title_key) keys.

        By artist, not by (artist, title) pair: SQLite scans the whole index for a list of pairs
        but seeks each artist in ix_tracks_artist_title; an artist has a handful of tracks.
        """
        t = tracks.c
        for chunk in chunks(sorted({artist_id for artist_id, _ in keys})):
            self._learn(conn.execute(
                sa.select(t.id, t.artist_id, t.title_key, t.spotify_uri).where(t.artist_id.in_(chunk)).order_by(t.id)
            ))  # fmt: skip


@dataclass(frozen=True)
class StoreResult:
    """What `store_plays` did."""

    added: int
    duplicates: int  # records not stored: the user already had the play (from any source)
    replaced: int = 0  # stored plays of a lower-ranked source that the new plays took the place of


# How much a source tells about a play; the richer one is kept when two hold the same play.
SOURCE_RANK = {"extended": 3, "api": 2, "account": 1}
# Seconds by which two sources' end times of one play may differ. The account data's endTime
# is cut to the minute, so its play ends up to 59 s after it says (or before, were it rounded):
# |difference| < 60 takes both. The API's played_at and the extended export's ts are both the
# end of the stream to the second, give or take clock skew between Spotify's services.
MATCH_WINDOW = {
    frozenset(("account", "extended")): 59,
    frozenset(("account", "api")): 59,
    frozenset(("api", "extended")): 10,
}
_WIDEST = max(MATCH_WINDOW.values())
_ENDED_AT = itemgetter(0)
_SPOTIFY_URI = attrgetter("spotify_uri")
_RECORD_ENDED_AT = attrgetter("ended_at")
_SOURCE = attrgetter("source")
_TRACK_COLUMNS = ("artist_id", "title", "title_key", "album_name", "spotify_uri", "kind")

# The columns of a play as store_plays binds them, in this order.
_COLUMNS = ("user_id", "batch_id", "track_id", "ended_at", "ms_played", "source", "kind", "skipped", "shuffle",
            "offline", "incognito", "reason_start", "reason_end", "platform", "conn_country", "ip_addr",
            "user_agent", "username")  # fmt: skip
_PERSONAL = ("conn_country", "ip_addr", "user_agent", "username")  # the last of _COLUMNS
_NULLABLE = {name for name in _COLUMNS if plays.c[name].nullable}
# Python's sqlite3 binds None and bools about ten times slower than ints: flags go in as 0/1.
_FLAG = {None: None, False: 0, True: 1}


def store_plays(
    conn: Connection,
    user_id: int,
    records: Sequence[PlayRecord],
    *,
    batch_id: int | None = None,
    catalogue: Catalogue | None = None,
    refresh: bool = True,
) -> StoreResult:
    """Store `records` for `user_id`, skipping plays the user already has (see the module doc).

    `refresh`: bring the summary tables up to date now; an import passes False and refreshes
    them once at its end (`rollups.refresh`), until when they show the plays from before it.
    """
    if not records:
        return StoreResult(0, 0)
    catalogue = catalogue or Catalogue()
    track_ids = catalogue.resolve(conn, records)
    keep, replaced_ids = _plays_to_insert(conn, user_id, records, track_ids, catalogue)
    if not any(keep) and not replaced_ids:
        return StoreResult(added=0, duplicates=len(records))
    for chunk in chunks(sorted(replaced_ids)):
        conn.execute(plays.delete().where(plays.c.id.in_(chunk)))
    flag = _FLAG
    # The personal fields are left out when no record has them (unless the user asks, none has).
    personal = any(r.conn_country is not None or r.ip_addr is not None or r.user_agent is not None
                   or r.username is not None for r in records)  # fmt: skip
    columns = _COLUMNS if personal else _COLUMNS[: -len(_PERSONAL)]
    rows = [
        (
            user_id, batch_id, track_id, r.ended_at, r.ms_played, r.source, r.kind, flag[r.skipped], flag[r.shuffle],
            flag[r.offline], flag[r.incognito], r.reason_start, r.reason_end, r.platform,
        ) + ((r.conn_country, r.ip_addr, r.user_agent, r.username) if personal else ())
        for r, track_id, kept in zip(records, track_ids, keep)
        if kept
    ]  # fmt: skip
    added = _insert(conn, columns, rows)
    changed = [row[3] for row in rows] + list(replaced_ids.values())
    rollups.mark_changed(conn, user_id, min(changed), max(changed))
    if refresh:
        rollups.refresh(conn, user_id)
    return StoreResult(added=added, duplicates=len(records) - added, replaced=len(replaced_ids))


def _insert(conn: Connection, columns: Sequence[str], rows: list[tuple]) -> int:
    """Insert plays (tuples of these columns), skipping any the user has at that second; how many went in."""
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        statement = dialect_insert(conn, plays).on_conflict_do_nothing().returning(plays.c.id)
        return len(conn.execute(statement, [dict(zip(columns, row)) for row in rows]).all())
    # Straight to sqlite3 with tuples (building a dict per row costs more than the insert),
    # leaving out the columns that are null in every row (flags of account exports, say).
    present = [i for i, name in enumerate(columns) if name not in _NULLABLE or any(row[i] is not None for row in rows)]
    if len(present) < len(columns):
        rows = list(map(itemgetter(*present), rows))
    names = [columns[i] for i in present]
    return sqlite_insert_rows(conn, plays, names, rows)


def _plays_to_insert(
    conn: Connection,
    user_id: int,
    records: Sequence[PlayRecord],
    track_ids: Sequence[int],
    catalogue: Catalogue,
) -> tuple[list[bool], dict[int, int]]:
    """Which records to insert, and which stored plays they replace (id -> end time)."""
    ends = list(map(_RECORD_ENDED_AT, records))
    earliest, latest = min(ends) - _WIDEST, max(ends) + _WIDEST
    # One range query per call: the user's plays around these records, for set lookups.
    stored = conn.execute(
        sa.select(plays.c.id, plays.c.ended_at, plays.c.track_id, plays.c.source).where(
            plays.c.user_id == user_id, plays.c.ended_at.between(earliest, latest)
        )
    ).all()
    sources = set(map(_SOURCE, records))
    others = [row for row in stored if row.source not in sources] if len(sources) == 1 else stored
    if len(sources) == 1 and not others:
        # One source, and only its own plays stored around: a record is a duplicate when its play
        # (end second, track) is stored; its repeats within the call the INSERT skips (unique
        # user, end second and track).
        stored_plays = {(row.ended_at, row.track_id) for row in stored}
        if not stored_plays:
            return [True] * len(records), {}
        return [play not in stored_plays for play in zip(ends, track_ids)], {}
    rank = SOURCE_RANK
    # (end second, track) -> the best rank stored there; an equal or better one makes a duplicate.
    seen: dict[tuple[int, int], int] = {}
    for _, ended_at, track_id, source in stored:
        if seen.get((ended_at, track_id), 0) < rank[source]:
            seen[(ended_at, track_id)] = rank[source]
    keep = []
    for r, track_id in zip(records, track_ids):
        play, r_rank = (r.ended_at, track_id), rank[r.source]
        if seen.get(play, 0) >= r_rank:
            keep.append(False)
        else:
            seen[play] = r_rank
            keep.append(True)
    return _cross_source(conn, records, track_ids, keep, others, catalogue)


def _cross_source(conn, records, track_ids, keep, stored, catalogue) -> tuple[list[bool], dict[int, int]]:
    """Apply the cross-source rule (module doc) to the kept records against `stored` plays."""
    unknown = {row.track_id for row in stored} - catalogue.songs.keys()
    for chunk in chunks(sorted(unknown)):
        rows = conn.execute(sa.select(tracks.c.id, tracks.c.artist_id, tracks.c.title_key).where(tracks.c.id.in_(chunk)))
        catalogue.songs.update((track_id, (artist_id, title_key)) for track_id, artist_id, title_key in rows)

    # song -> [(ended_at, source, stored play id or None for a record of this call)]
    by_song: dict[tuple[int, str], list[tuple[int, str, int | None]]] = {}
    for play_id, ended_at, track_id, source in stored:
        by_song.setdefault(catalogue.songs[track_id], []).append((ended_at, source, play_id))
    songs = [catalogue.songs[track_id] for track_id in track_ids]
    for r, song, kept in zip(records, songs, keep):
        if kept:
            by_song.setdefault(song, []).append((r.ended_at, r.source, None))

    for entries in by_song.values():  # by time, so each record looks only at its own window
        entries.sort(key=_ENDED_AT)

    replaced: dict[int, int] = {}
    for i, (r, song) in enumerate(zip(records, songs)):
        if not keep[i]:
            continue
        rank = SOURCE_RANK[r.source]
        entries = by_song[song]
        near = entries[
            bisect_left(entries, r.ended_at - _WIDEST, key=_ENDED_AT) : bisect_right(entries, r.ended_at + _WIDEST, key=_ENDED_AT)
        ]
        matches = [
            (source, play_id, ended_at)
            for ended_at, source, play_id in near
            if source != r.source and abs(ended_at - r.ended_at) <= MATCH_WINDOW[frozenset((source, r.source))]
        ]
        if any(SOURCE_RANK[source] > rank for source, _, _ in matches):
            keep[i] = False
        else:
            replaced.update((play_id, ended_at) for source, play_id, ended_at in matches if play_id is not None)
    return keep, replaced
