"""Clearing data, deleting an account, statistics and exports on both databases."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from factories import give_data, make_user
from music_time_machine import db, exports, userdata
from music_time_machine.schema import metadata, plays, playlist_tracks, playlists, users



def test_clear_and_delete_touch_only_their_user(any_engine):
    with db.transaction(any_engine) as conn:
        alice, bob = make_user(conn, "alice"), make_user(conn, "bob")
        give_data(conn, alice, "Alicetunes")
        give_data(conn, bob, "Bobsounds")
        playlist = conn.execute(sa.select(playlists.c.id).where(playlists.c.user_id == alice)).scalar()
        track = conn.execute(sa.select(plays.c.track_id).where(plays.c.user_id == alice)).scalar()
        conn.execute(playlist_tracks.insert().values(playlist_id=playlist, position=1, track_id=track, reason="r"))
    with db.transaction(any_engine) as conn:
        stats = userdata.statistics(conn, alice)
        assert (stats.plays, stats.tracks, stats.snapshots) == (2, 1, 1)
        assert stats.database_bytes and stats.database_bytes > 0
        assert userdata.clear_data(conn, alice) == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(playlist_tracks)).scalar() == 0
        assert userdata.statistics(conn, alice).plays == 0
        assert userdata.statistics(conn, bob).plays == 2
    with db.transaction(any_engine) as conn:
        assert userdata.delete_account(conn, alice) is True
        assert userdata.delete_account(conn, alice) is False
        for table in metadata.sorted_tables:
            if "user_id" in table.c:
                assert conn.execute(sa.select(sa.func.count()).select_from(table).where(
                    table.c.user_id == alice)).scalar() == 0, table.name  # fmt: skip
        assert conn.execute(sa.select(users.c.name)).scalars().all() == ["bob"]


def test_plays_export_pages_through_every_play_once(any_engine):
    with db.transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        give_data(conn, alice, "Alicetunes")
    rows = list(csv.DictReader(io.StringIO("".join(exports.plays_csv(any_engine, alice, chunk=1)))))
    assert [row["ended_at"] for row in rows] == ["2026-04-01T10:00:00Z", "2026-04-02T10:00:00Z"]
    assert {row["artist"] for row in rows} == {"Alicetunes"}
    snapshot_rows = list(csv.DictReader(io.StringIO("".join(exports.snapshots_csv(any_engine, alice)))))
    assert [(r["rank"], r["artist"], r["track"]) for r in snapshot_rows] == [("1", "Alicetunes", "Alicetunes song")]
