import sqlalchemy as sa

from factories import make_user, play
from music_time_machine import db
from music_time_machine.history import Catalogue, store_plays
from music_time_machine.schema import artists, plays, tracks


def count(conn, table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_storing_the_same_plays_twice_adds_them_once(any_engine):
    records = [play("Björk", "Jóga", "2024-01-01T10:00:00"), play("Björk", "Hunter", "2024-01-01T10:04:00")]
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        first = store_plays(conn, user, records)
        second = store_plays(conn, user, records + records)
        assert (first.added, first.duplicates) == (2, 0)
        assert (second.added, second.duplicates) == (0, 4)
        assert count(conn, plays) == 2
        assert count(conn, artists) == 1
        assert count(conn, tracks) == 2


def test_users_keep_their_own_copies_of_the_same_play(any_engine):
    record = play("坂本龍一", "Merry Christmas Mr. Lawrence")
    with db.transaction(any_engine) as conn:
        alice, bob = make_user(conn, "alice"), make_user(conn, "bob")
        assert store_plays(conn, alice, [record]).added == 1
        assert store_plays(conn, bob, [record]).added == 1
        assert count(conn, tracks) == 1


def test_uri_less_plays_join_the_track_known_by_artist_and_title(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [play("ABBA", "Dancing Queen", "2024-01-01T10:00:00", uri="spotify:track:dq")])
        # Account-data plays carry no URI; case and spacing differences are the same name.
        store_plays(conn, user, [play("abba ", "DANCING  queen", "2024-02-01T10:00:00", uri=None, source="account")])
        assert count(conn, tracks) == 1
        assert conn.execute(sa.select(sa.func.count(sa.distinct(plays.c.track_id)))).scalar_one() == 1


def test_unknown_uri_less_tracks_are_created_once_per_artist_and_title(any_engine):
    records = [play("Local Band", "Demo Tape", f"2024-01-0{d}T10:00:00", uri=None) for d in (1, 2, 3)]
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        assert store_plays(conn, user, records).added == 3
        assert count(conn, tracks) == 1


def test_a_catalogue_shared_across_calls_resolves_the_same_ids(any_engine):
    catalogue = Catalogue()
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [play("A", "x", "2024-01-01T00:00:00")], catalogue=catalogue)
        store_plays(conn, user, [play("A", "x", "2024-01-02T00:00:00")], catalogue=catalogue)
        assert count(conn, tracks) == 1
        assert len(catalogue.track_ids_by_uri) == 1


def test_every_field_of_a_play_is_stored(any_engine):
    record = play(
        "Sigur Rós", "Hoppípolla", "2024-03-04T05:06:07", ms=123_456, source="extended", skipped=True,
        shuffle=False, offline=True, incognito=False, reason_start="clickrow", reason_end="fwdbtn",
        platform="android", album_name="Takk...",
    )  # fmt: skip
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [record])
        row = conn.execute(sa.select(plays, tracks.c.title, tracks.c.album_name).join(tracks)).mappings().one()
    assert row["ended_at"] == record.ended_at
    assert (row["ms_played"], row["skipped"], row["shuffle"], row["offline"]) == (123_456, True, False, True)
    assert (row["reason_start"], row["reason_end"], row["platform"]) == ("clickrow", "fwdbtn", "android")
    assert (row["title"], row["album_name"], row["source"], row["kind"]) == ("Hoppípolla", "Takk...", "extended", "music")


def test_a_failed_transaction_leaves_nothing_behind(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
    try:
        with db.transaction(any_engine) as conn:
            store_plays(conn, user, [play("A", "x")])
            raise RuntimeError("killed mid-way")
    except RuntimeError:
        pass
    with any_engine.connect() as conn:
        assert count(conn, plays) == 0
        assert count(conn, tracks) == 0
