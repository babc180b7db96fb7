import pytest
import sqlalchemy as sa

from factories import make_user, play, ts
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


def test_a_uri_less_play_joins_the_first_stored_of_two_tracks_with_its_artist_and_title(any_engine):
    # Two releases of one song (two URIs) arrive in one call; an account play then names only
    # artist and title, and joins the track stored first.
    first = play("ABBA", "Waterloo", "2024-01-01T10:00:00", uri="spotify:track:w1")
    second = play("ABBA", "Waterloo", "2024-01-02T10:00:00", uri="spotify:track:w2")
    account = play("ABBA", "Waterloo", "2024-03-01T10:00:00", uri=None, source="account")
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [first, second])
        store_plays(conn, user, [account])
        ids = dict(conn.execute(sa.select(tracks.c.spotify_uri, tracks.c.id)).all())
        stored = conn.execute(sa.select(plays.c.track_id).where(plays.c.source == "account")).scalar_one()
        assert ids["spotify:track:w1"] < ids["spotify:track:w2"]
        assert stored == ids["spotify:track:w1"]


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


# --- the dedup rules across sources (SPEC §3.2) ------------------------------------------------


def stored(conn) -> list[tuple]:
    rows = conn.execute(
        sa.select(plays.c.ended_at, plays.c.source, tracks.c.title).join(tracks).order_by(plays.c.ended_at)
    )
    return [tuple(row) for row in rows]


def account(artist, track, minute, **kw):
    return play(artist, track, minute + ":00", uri=None, source="account", **kw)


def test_a_play_repeated_within_one_call_is_stored_once_for_a_new_user(any_engine):
    jóga = play("Björk", "Jóga", "2024-01-01T10:00:00")
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        result = store_plays(conn, user, [jóga, play("Björk", "Hunter", "2024-01-01T10:04:00"), jóga])
        assert (result.added, result.duplicates) == (2, 1)
        assert count(conn, plays) == 2


def test_an_account_play_that_the_extended_history_holds_is_a_duplicate(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [play("Björk", "Jóga", "2024-01-01T10:00:42")])
        # endTime is cut to the minute; names match whatever their case and spacing.
        result = store_plays(conn, user, [account("björk", "JÓGA ", "2024-01-01T10:00")])
        assert (result.added, result.duplicates) == (0, 1)
        assert stored(conn) == [(ts("2024-01-01T10:00:42"), "extended", "Jóga")]


def test_an_extended_play_replaces_the_account_play_of_the_same_minute(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [account("Björk", "Jóga", "2024-01-01T10:00")])
        result = store_plays(conn, user, [play("Björk", "Jóga", "2024-01-01T10:00:42")])
        assert (result.added, result.duplicates, result.replaced) == (1, 0, 1)
        assert stored(conn) == [(ts("2024-01-01T10:00:42"), "extended", "Jóga")]


@pytest.mark.parametrize(
    "extended_at, same",
    [
        ("2024-01-01T10:00:00", True),
        ("2024-01-01T10:00:59", True),
        ("2024-01-01T09:59:01", True),  # were endTime rounded instead of cut
        ("2024-01-01T10:01:00", False),
        ("2024-01-01T09:59:00", False),
    ],
)
def test_account_and_extended_plays_match_within_the_minute(any_engine, extended_at, same):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [play("A", "x", extended_at)])
        added = store_plays(conn, user, [account("A", "x", "2024-01-01T10:00")]).added
    assert added == (0 if same else 1)


def test_a_different_song_in_the_same_minute_is_not_a_duplicate(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [play("A", "x", "2024-01-01T10:00:10")])
        assert store_plays(conn, user, [account("A", "y", "2024-01-01T10:00")]).added == 1
        assert store_plays(conn, user, [account("B", "x", "2024-01-01T10:00")]).added == 1


@pytest.mark.parametrize("delta, same", [(0, True), (10, True), (-10, True), (11, False), (-11, False)])
def test_api_and_extended_plays_of_a_track_match_within_ten_seconds(any_engine, delta, same):
    extended = play("A", "x", "2024-01-01T10:00:30")
    api = play("A", "x", "2024-01-01T10:00:30", source="api")
    api.ended_at += delta
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [api])
        result = store_plays(conn, user, [extended])
        assert result.added == 1 and result.replaced == (1 if same else 0)
        assert store_plays(conn, user, [api]).added == 0
        assert count(conn, plays) == (1 if same else 2)


def test_an_api_play_replaces_an_account_play_and_yields_to_an_extended_one(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        store_plays(conn, user, [account("A", "x", "2024-01-01T10:00")])
        assert store_plays(conn, user, [play("A", "x", "2024-01-01T10:00:20", source="api")]).replaced == 1
        assert store_plays(conn, user, [play("A", "x", "2024-01-01T10:00:25")]).replaced == 1
        assert stored(conn) == [(ts("2024-01-01T10:00:25"), "extended", "x")]


def test_account_then_extended_equals_extended_then_account(any_engine):
    account_plays = [account("A", "x", "2024-01-01T10:00"), account("A", "y", "2024-01-01T10:04")]
    extended_plays = [play("A", "x", "2024-01-01T10:00:31"), play("B", "z", "2024-01-01T10:04:10")]
    results = []
    for name, order in (("u1", (account_plays, extended_plays)), ("u2", (extended_plays, account_plays))):
        with db.transaction(any_engine) as conn:
            user = make_user(conn, name)
            for batch in order:
                store_plays(conn, user, batch)
            results.append(
                conn.execute(
                    sa.select(plays.c.ended_at, plays.c.source).where(plays.c.user_id == user).order_by(plays.c.ended_at)
                ).all()
            )
    assert results[0] == results[1] and len(results[0]) == 3


def test_both_sources_in_one_call_keep_the_extended_play(any_engine):
    with db.transaction(any_engine) as conn:
        user = make_user(conn)
        result = store_plays(conn, user, [account("A", "x", "2024-01-01T10:00"), play("A", "x", "2024-01-01T10:00:05")])
        assert (result.added, result.duplicates) == (1, 1)
        assert stored(conn) == [(ts("2024-01-01T10:00:05"), "extended", "x")]
