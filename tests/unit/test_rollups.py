"""The rollups equal a straightforward computation over the raw plays, whatever happened."""

import os
import sqlite3
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from factories import add_plays, make_user, play
from music_time_machine import db, rollups, schema, users
from music_time_machine.db import transaction
from music_time_machine.generator import generate_history
from music_time_machine.history import store_plays
from music_time_machine.schema import daily_plays, hourly_plays, monthly_tracks, plays, track_totals


def expected(conn, user_id, tz="UTC", threshold=30_000):
    """(day, track) -> (plays, listens, ms, skips), computed naively from the plays table."""
    rows = conn.execute(
        sa.select(plays.c.track_id, plays.c.ended_at, plays.c.ms_played, plays.c.skipped).where(
            plays.c.user_id == user_id, plays.c.kind == "music"
        )
    )
    cells = Counter()
    for track_id, ended_at, ms, skipped in rows:
        day = datetime.fromtimestamp(ended_at, ZoneInfo(tz)).date()
        skip = skipped if skipped is not None else ms < threshold
        cells[(day, track_id, "plays")] += 1
        cells[(day, track_id, "listens")] += ms >= threshold
        cells[(day, track_id, "ms")] += ms
        cells[(day, track_id, "skips")] += bool(skip)
    return {
        (day, t): (cells[(day, t, "plays")], cells[(day, t, "listens")], cells[(day, t, "ms")], cells[(day, t, "skips")])
        for (day, t, k) in cells if k == "plays"
    }


def actual(conn, user_id):
    d = daily_plays.c
    return {
        (day, t): (p, listens, ms, skips)
        for day, t, p, listens, ms, skips in conn.execute(
            sa.select(d.day, d.track_id, d.plays, d.listens, d.ms_played, d.skips).where(d.user_id == user_id)
        )
    }


def assert_consistent(conn, user_id, tz="UTC", threshold=30_000):
    want = expected(conn, user_id, tz, threshold)
    assert actual(conn, user_id) == want
    months = Counter()
    for (day, t), (p, listens, ms, skips) in want.items():
        months[(rollups.month_of(day), t)] += listens
    got_months = {
        (m, t): listens
        for m, t, listens in conn.execute(
            sa.select(monthly_tracks.c.month, monthly_tracks.c.track_id, monthly_tracks.c.listens).where(
                monthly_tracks.c.user_id == user_id
            )
        )
    }
    assert got_months == dict(months)
    hour_total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(hourly_plays.c.plays), 0)).where(hourly_plays.c.user_id == user_id)
    ).scalar_one()
    assert hour_total == sum(v[0] for v in want.values())
    hours = Counter()
    for ended_at, source in conn.execute(
        sa.select(plays.c.ended_at, plays.c.source).where(plays.c.user_id == user_id, plays.c.kind == "music")
    ):
        local = datetime.fromtimestamp(ended_at, ZoneInfo(tz))
        hours[(local.date(), local.hour, source, local.weekday())] += 1
    h = hourly_plays.c
    got_hours = {(day, hour, source, weekday): n for day, hour, source, weekday, n in conn.execute(
        sa.select(h.day, h.hour, h.source, h.weekday, h.plays).where(h.user_id == user_id))}  # fmt: skip
    assert got_hours == dict(hours)
    firsts = {}
    for (day, t) in want:
        firsts[t] = min(firsts.get(t, day), day)
    got_firsts = dict(
        conn.execute(sa.select(track_totals.c.track_id, track_totals.c.first_day).where(track_totals.c.user_id == user_id)).all()
    )
    assert got_firsts == firsts


def test_rollups_follow_store_plays_including_duplicates_and_late_additions(any_engine):
    records = list(generate_history(400, start=date(2025, 3, 1), end=date(2025, 5, 1), seed=3))
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
        bob = make_user(conn, "bob")
        store_plays(conn, alice, records[:250])
        store_plays(conn, alice, records[200:])  # overlaps: duplicates must not double-count
        store_plays(conn, bob, records[:10])
        add_plays(conn, alice, play("Late", "Arrival", at="2025-03-30T22:30:00", ms=10_000, skipped=None))
        assert_consistent(conn, alice, "Europe/Berlin")
        assert_consistent(conn, bob)


def test_rollups_after_a_clear_and_a_time_zone_and_threshold_change(any_engine):
    records = list(generate_history(300, start=date(2025, 10, 20), end=date(2025, 11, 10), seed=5))
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records)
        assert_consistent(conn, alice)
        users.update_preferences(conn, alice, time_zone="America/New_York", listen_threshold_ms=60_000)
        assert_consistent(conn, alice, "America/New_York", 60_000)
        conn.execute(plays.delete().where(plays.c.user_id == alice))  # a clear
        rollups.rebuild(conn, alice)
        assert actual(conn, alice) == {}
        assert conn.execute(sa.select(sa.func.count()).select_from(track_totals)).scalar_one() == 0


def test_a_play_just_after_local_midnight_lands_on_the_local_day(engine):
    with transaction(engine) as conn:
        alice = make_user(conn, "alice", time_zone="Asia/Tokyo")
        add_plays(conn, alice, play(at="2025-06-30T15:30:00"))  # 00:30 on 1 July in Tokyo
        (day,) = actual(conn, alice)
        assert day[0] == date(2025, 7, 1)
        assert conn.execute(sa.select(monthly_tracks.c.month)).scalar_one() == "2025-07"


def test_the_view_cache_follows_every_change_of_the_rollups(engine):
    from music_time_machine import analytics as an

    everything = an.Period("all", None, None)
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(conn, alice, play("A", "One", at="2025-01-01T10:00:00"))
    with engine.connect() as conn:
        assert [t["title"] for t in an.cached(conn, alice, an.top_tracks, everything)] == ["One"]
    with transaction(engine) as conn:
        add_plays(conn, alice, play("A", "Two", at="2025-01-02T10:00:00"), play("A", "Two", at="2025-01-03T10:00:00"))
    with engine.connect() as conn:
        assert [t["title"] for t in an.cached(conn, alice, an.top_tracks, everything)] == ["Two", "One"]
        assert an.overview(conn, alice).plays == 3
    with transaction(engine) as conn:
        add_plays(conn, alice, play("Show", "Episode", at="2025-01-04T10:00:00", kind="podcast"))
        conn.execute(plays.delete().where(plays.c.user_id == alice, plays.c.kind == "music"))
        rollups.rebuild(conn, alice)
    with engine.connect() as conn:
        assert an.cached(conn, alice, an.top_tracks, everything) == []
        assert (an.overview(conn, alice).plays, an.overview(conn, alice).podcast_plays) == (0, 1)


def every_rollup(conn, user_id) -> dict:
    """All summary tables of a user, as sorted rows (what a rebuild must reproduce)."""
    from music_time_machine.schema import monthly_artists, monthly_charts

    tables = (daily_plays, hourly_plays, monthly_tracks, monthly_artists, monthly_charts, track_totals)
    return {
        table.name: sorted(tuple(row) for row in conn.execute(sa.select(table).where(table.c.user_id == user_id)))
        for table in tables
    }


def test_cell_by_cell_updates_equal_a_rebuild_even_when_plays_are_replaced(any_engine):
    records = list(generate_history(300, start=date(2025, 1, 20), end=date(2025, 3, 10), seed=11))
    account = [
        play(r.artist_name, r.track_name, datetime.fromtimestamp(r.ended_at - r.ended_at % 60, UTC).isoformat()[:19],
             ms=r.ms_played, source="account", uri=None)
        for r in records[:120] if r.kind == "music"
    ]  # fmt: skip
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="America/Sao_Paulo")
        store_plays(conn, alice, account)  # account data first: minute precision, no URIs
        replaced = store_plays(conn, alice, records[:200]).replaced  # the extended history takes their place
        store_plays(conn, alice, records[150:])  # overlapping: duplicates add nothing
        assert replaced > 0
        incremental = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == incremental
        assert_consistent(conn, alice, "America/Sao_Paulo")


def test_half_hour_time_zones_put_plays_on_their_local_day_and_hour(engine):
    with transaction(engine) as conn:
        asha = make_user(conn, "asha", time_zone="Asia/Kolkata")  # UTC+5:30
        add_plays(conn, asha, play(at="2026-04-30T18:45:00"))  # 00:15 on 1 May in Kolkata
        (day,) = actual(conn, asha)
        assert day[0] == date(2026, 5, 1)
        assert conn.execute(sa.select(hourly_plays.c.day, hourly_plays.c.hour)).one() == (date(2026, 5, 1), 0)
        at = int(datetime(2026, 4, 30, 18, 45, tzinfo=UTC).timestamp())
        rollups.mark_changed(conn, asha, at, at)
        rollups.refresh(conn, asha)  # recomputing the day finds the same play
        assert_consistent(conn, asha, "Asia/Kolkata")


def test_batches_of_an_import_keep_every_summary_table_equal_to_a_rebuild(any_engine):
    """Enough plays that charts are cut at CHART_SIZE, stored file by file as an import does, over
    account data they replace, across a DST change; with a podcast-only batch and a repeat."""
    from music_time_machine.history import Catalogue
    from music_time_machine.schema import monthly_charts

    records = list(generate_history(3_000, start=date(2025, 3, 1), end=date(2025, 5, 1), seed=7))
    account = [
        play(r.artist_name, r.track_name, datetime.fromtimestamp(r.ended_at - r.ended_at % 60, UTC).isoformat()[:19],
             ms=r.ms_played, source="account", uri=None)
        for r in records[1000:1400] if r.kind == "music"
    ]  # fmt: skip
    catalogue = Catalogue()
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
        store_plays(conn, alice, account, catalogue=catalogue)
        replaced = 0
        for start in range(0, len(records), 700):
            replaced += store_plays(conn, alice, records[start : start + 700], catalogue=catalogue).replaced
        store_plays(conn, alice, [play("Show", "Episode", at="2025-04-02T10:00:00", kind="podcast")])
        assert store_plays(conn, alice, records[:100], catalogue=catalogue).added == 0
        assert replaced > 0
        incremental = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == incremental
        assert_consistent(conn, alice, "Europe/Berlin")
        tracks_charted = conn.execute(
            sa.select(sa.func.count()).where(monthly_charts.c.user_id == alice, monthly_charts.c.kind == "track",
                                             monthly_charts.c.month == "2025-03")  # fmt: skip
        ).scalar_one()
        assert tracks_charted == rollups.CHART_SIZE


def test_plays_another_writer_stored_first_leave_the_rollups_right(engine, monkeypatch):
    """When the insert adds fewer plays than store_plays meant to (another writer got there
    between the dedup and the insert), the summaries still count each play once."""
    from music_time_machine import history

    real_insert = history._insert

    def insert_after_another_writer(conn, columns, rows):
        first = rows[0]  # the same play, stored by "someone else" just before our insert
        conn.execute(plays.insert().values(user_id=alice, track_id=first[2], ended_at=first[3],
                                           ms_played=first[4], source=first[5], kind=first[6]))  # fmt: skip
        rollups.rebuild(conn, alice)  # its rollups are in step with its play
        return real_insert(conn, columns, rows)

    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(conn, alice, play("A", "A1", "2025-01-05T09:00:00"))
        monkeypatch.setattr(history, "_insert", insert_after_another_writer)
        result = store_plays(conn, alice, [play("A", "A1", "2025-01-06T09:00:00"), play("B", "B1", "2025-01-07T09:00:00")])
        assert (result.added, result.duplicates) == (1, 1)
        assert_consistent(conn, alice)
        cells = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == cells


def test_plays_either_side_of_a_dst_change_get_their_local_hours(any_engine):
    """Europe/Berlin goes from UTC+1 to UTC+2 at 01:00 UTC on 30 March 2025 and back at 01:00 UTC
    on 26 October: the refresh's SQL finds those changes to the second."""
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
        add_plays(conn, alice, play("A", "1", at="2025-03-30T00:59:59"), play("A", "2", at="2025-03-30T01:00:00"),
                  play("A", "3", at="2025-10-26T00:59:59"), play("A", "4", at="2025-10-26T01:00:00"),
                  play("A", "5", at="2025-12-31T23:30:00"))  # fmt: skip
        h = hourly_plays.c
        hours = conn.execute(sa.select(h.day, h.hour, h.plays).order_by(h.day, h.hour)).all()
        # 02:59:59 summer time, then 02:00:00 winter time: the same local hour, twice.
        assert hours == [(date(2025, 3, 30), 1, 1), (date(2025, 3, 30), 3, 1), (date(2025, 10, 26), 2, 2),
                         (date(2026, 1, 1), 0, 1)]  # fmt: skip
        assert_consistent(conn, alice, "Europe/Berlin")


@pytest.mark.postgres
def test_two_refreshes_of_one_user_at_once_take_turns(postgres_engine):
    """On PostgreSQL (SQLite's writers take turns anyway, BEGIN IMMEDIATE): a second refresh
    waits for the first and then finds nothing stale, instead of inserting the same summary rows
    again."""
    import threading

    records = list(generate_history(200, start=date(2025, 3, 1), end=date(2025, 4, 1), seed=4))
    with transaction(postgres_engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records, refresh=False)
    first = postgres_engine.connect()
    first_transaction = first.begin()
    rollups.refresh(first, alice)  # not committed yet
    errors = []

    def second() -> None:
        try:
            with transaction(postgres_engine) as conn:
                rollups.refresh(conn, alice)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    with postgres_engine.connect() as watcher:  # until the second one waits for a lock (a bounded poll)
        for _ in range(20_000):
            waiting = watcher.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND datname = current_database()")).scalar_one()  # fmt: skip
            watcher.rollback()  # pg_stat_activity is read once per transaction
            if waiting:
                break
    first_transaction.commit()
    first.close()
    thread.join(timeout=60)
    assert waiting and errors == []
    with transaction(postgres_engine) as conn:
        cells = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == cells


def test_a_track_that_loses_its_first_days_plays_gets_its_later_first_day(any_engine):
    """An account play replaced by the extended history's (another track: it has a URI) leaves
    the account track with only a later play: its first day moves out of the refreshed days."""
    early = play("Sade", "Kiss of Life", "2025-01-10T10:00:30", source="account", uri=None)
    later = play("Sade", "Kiss of Life", "2025-03-01T10:00:00", source="account", uri=None)
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, [early, later])
        result = store_plays(conn, alice, [play("Sade", "Kiss of Life", "2025-01-10T10:00:10", source="extended")])
        assert result.replaced == 1
        firsts = sorted(conn.execute(sa.select(track_totals.c.first_day, track_totals.c.plays)).all())
        assert firsts == [(date(2025, 1, 10), 1), (date(2025, 3, 1), 1)]
        cells = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == cells


def _refresh_with_side(engine, user_id):
    """A refresh as an import's end runs it (pipeline._finish): a side connection, and a transaction
    begun deferred that writes first."""
    with engine.connect() as conn, rollups.side_connection(conn) as side, conn.begin():
        conn.execute(schema.users.update().where(schema.users.c.id == user_id).values(display_name="writer"))
        rollups.refresh(conn, user_id, side)
    return side


def test_a_refresh_with_a_side_connection_equals_a_rebuild(any_engine):
    """An import's end refreshes with a side connection computing the hour cells and the later
    months' cells (on another core): the same summaries as a rebuild, when everything is new,
    when a few days are, and when the stale days are within months whose other days are not."""
    records = list(generate_history(2_000, start=date(2025, 3, 1), end=date(2025, 7, 1), seed=13))
    middle = [r for r in records if date(2025, 4, 10) <= datetime.fromtimestamp(r.ended_at, UTC).date() <= date(2025, 5, 20)]
    first = [r for r in records if r not in middle]
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
        store_plays(conn, alice, first[:1_000], refresh=False)
    for later in (None, first[1_000:], middle):
        if later:
            with transaction(any_engine) as conn:
                store_plays(conn, alice, later, refresh=False)
        with transaction(any_engine) as conn:
            assert rollups.is_stale(conn, alice)
        side = _refresh_with_side(any_engine, alice)
        assert (side is None) == (any_engine.dialect.name != "sqlite")
        with transaction(any_engine) as conn:
            assert not rollups.is_stale(conn, alice)
            refreshed = every_rollup(conn, alice)
            assert refreshed["hourly_plays"]
            rollups.rebuild(conn, alice)
            assert every_rollup(conn, alice) == refreshed
            assert_consistent(conn, alice, "Europe/Berlin")


def test_the_side_connection_takes_the_later_months_and_leaves_nothing_behind(engine):
    """The side computes the days of the months that hold about SIDE_SHARE of the plays, the
    last ones; its scratch database is gone afterwards and the import's connection, back in the
    pool, no longer has it attached."""
    records = list(generate_history(3_000, start=date(2025, 1, 1), end=date(2025, 7, 1), seed=5))
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records, refresh=False)
    with engine.connect() as conn, rollups.side_connection(conn) as side:
        scratch = side.exec_driver_sql("PRAGMA main.database_list").all()[0][2]
        with conn.begin():
            conn.execute(schema.users.update().where(schema.users.c.id == alice).values(display_name="writer"))
            rollups.refresh(conn, alice, side)
        side_days = side.execute(sa.select(daily_plays.c.day, daily_plays.c.plays)).all()
        attached = [row[1] for row in conn.exec_driver_sql("PRAGMA database_list")]
        assert attached == ["main", "side"]
    split = min(day for day, _ in side_days)
    assert split.day == 1 and date(2025, 2, 1) <= split <= date(2025, 6, 1)
    assert sum(count for _, count in side_days) == pytest.approx(rollups.SIDE_SHARE * len(records), rel=0.5)
    assert not os.path.exists(scratch) and not os.path.exists(os.path.dirname(scratch))
    with engine.connect() as conn:
        assert [row[1] for row in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]
        assert_consistent(conn, alice)


def test_no_side_connection_for_an_in_memory_database():
    """An in-memory SQLite database has no file a second connection could open (and gives one
    connection per thread): the refresh is done by the import's connection alone."""
    engine = db.make_engine("sqlite://")
    db.upgrade(engine)
    records = list(generate_history(300, start=date(2025, 3, 1), end=date(2025, 4, 1), seed=13))
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records, refresh=False)
    assert _refresh_with_side(engine, alice) is None
    with transaction(engine) as conn:
        assert not rollups.is_stale(conn, alice)
        assert_consistent(conn, alice)
    engine.dispose()


def test_a_side_connection_that_cannot_start_leaves_the_refresh_to_the_import(engine, monkeypatch, caplog):
    """No room for the scratch database (a full temporary folder): no side connection, a warning
    in the log, and the same summaries."""
    records = list(generate_history(500, start=date(2025, 1, 1), end=date(2025, 4, 1), seed=5))
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records, refresh=False)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rollups.tempfile, "TemporaryDirectory", full)
    assert _refresh_with_side(engine, alice) is None
    assert "summaries without a side connection" in caplog.text
    with transaction(engine) as conn:
        assert not rollups.is_stale(conn, alice)
        assert_consistent(conn, alice)


def test_a_side_connection_that_fails_midway_leaves_its_part_to_the_import(engine, monkeypatch, caplog):
    """The side's database fills up while it computes: the import's connection computes the
    side's months itself, and the summaries are complete."""
    records = list(generate_history(1_500, start=date(2025, 1, 1), end=date(2025, 7, 1), seed=5))
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records, refresh=False)
    on_side = rollups._on_side

    def fails_midway(side, *args):
        on_side(side, *args)  # its rows are in the scratch database, and must not be copied as well
        raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(rollups, "_on_side", fails_midway)
    assert _refresh_with_side(engine, alice) is not None
    assert "the side connection failed" in caplog.text
    with transaction(engine) as conn:
        assert not rollups.is_stale(conn, alice)
        assert_consistent(conn, alice)
        refreshed = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == refreshed


def test_a_partial_refresh_of_many_tracks_computes_every_tracks_totals_again(engine, monkeypatch):
    """Stale days with more tracks than an IN list holds (CHUNK, here 5): every track's totals are
    computed again from all the day cells instead of track by track; the same as a rebuild."""
    monkeypatch.setattr(rollups, "CHUNK", 5)
    records = list(generate_history(600, start=date(2025, 1, 1), end=date(2025, 4, 1), seed=3))
    later = [r for r in records if datetime.fromtimestamp(r.ended_at, UTC).date() >= date(2025, 2, 10)]
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, [r for r in records if r not in later])
        store_plays(conn, alice, later, refresh=False)
        assert len({r.spotify_uri for r in later}) > 5
        rollups.refresh(conn, alice)
        refreshed = every_rollup(conn, alice)
        rollups.rebuild(conn, alice)
        assert every_rollup(conn, alice) == refreshed
        assert_consistent(conn, alice)


def test_a_side_connection_that_cannot_be_attached_leaves_the_refresh_to_the_import(engine, caplog):
    """The import's connection already has a database attached as `side` (SQLite refuses a
    second): no side connection, a warning in the log, and the same summaries."""
    records = list(generate_history(500, start=date(2025, 1, 1), end=date(2025, 4, 1), seed=5))
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, records, refresh=False)
    with engine.connect() as conn:
        conn.connection.dbapi_connection.execute("ATTACH DATABASE ':memory:' AS side")
        with rollups.side_connection(conn) as side, conn.begin():
            assert side is None
            rollups.refresh(conn, alice, side)
        conn.connection.dbapi_connection.execute("DETACH DATABASE side")
    assert "summaries without a side connection" in caplog.text
    with transaction(engine) as conn:
        assert not rollups.is_stale(conn, alice)
        assert_consistent(conn, alice)
