"""The Spotify jobs (snapshot, sync) and the job runner, against a stub client: no HTTP at all."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from factories import add_plays, make_user, play
from spotify_stub import StubSpotify
from music_time_machine import db
from music_time_machine.jobs import run_job
from music_time_machine.schema import artists, job_runs, plays, snapshots, users
from music_time_machine.snapshots import create_monthly_snapshot
from music_time_machine.spotify import AuthorizationError, RateLimited, RecentPlay, TransientError
from music_time_machine.sync import sync_recently_played

NOW = datetime(2026, 5, 8, 12, 0, 0)


def snapshot_rows(engine, user):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(snapshots.c.taken_on, snapshots.c.kind, snapshots.c.time_range, snapshots.c.rank,
                      snapshots.c.track_id, snapshots.c.artist_id)
            .where(snapshots.c.user_id == user).order_by(*snapshots.c)
        ).all()  # fmt: skip


@pytest.fixture
def alice(any_engine) -> int:
    with db.transaction(any_engine) as conn:
        return make_user(conn, "alice")


def test_a_snapshot_run_twice_the_same_day_stores_the_same_rows(any_engine, alice):
    first = create_monthly_snapshot(any_engine, alice, StubSpotify(), today=date(2026, 5, 8))
    rows = snapshot_rows(any_engine, alice)
    again = StubSpotify()
    second = create_monthly_snapshot(any_engine, alice, again, today=date(2026, 5, 8))
    assert (first.lists_fetched, first.entries, len(rows)) == (6, 300, 300)
    assert second.lists_fetched == 0 and again.calls == []
    assert snapshot_rows(any_engine, alice) == rows


def test_a_snapshot_that_failed_mid_way_keeps_its_lists_and_the_next_run_completes_it(any_engine, alice):
    failing = StubSpotify(fail_on_call=4, error=TransientError("Spotify is having trouble right now."))
    with pytest.raises(TransientError):
        create_monthly_snapshot(any_engine, alice, failing, today=date(2026, 5, 1))
    assert len(snapshot_rows(any_engine, alice)) == 150  # three lists kept

    resumed = StubSpotify()
    result = create_monthly_snapshot(any_engine, alice, resumed, today=date(2026, 5, 1))
    assert [call[1:] for call in resumed.calls] == [("artists", "short_term"), ("artists", "medium_term"),
                                                    ("artists", "long_term")]  # fmt: skip
    assert result.lists_fetched == 3
    rows = snapshot_rows(any_engine, alice)
    assert len(rows) == len(set(rows)) == 300


def test_the_scheduled_run_completes_this_months_snapshot_instead_of_starting_another(any_engine, alice):
    create_monthly_snapshot(any_engine, alice, StubSpotify(), today=date(2026, 5, 1))
    stub = StubSpotify()
    result = create_monthly_snapshot(any_engine, alice, stub, today=date(2026, 5, 20), scheduled=True)
    assert (result.taken_on, result.lists_fetched, stub.calls) == (date(2026, 5, 1), 0, [])
    # A manual run is today's own snapshot.
    assert create_monthly_snapshot(any_engine, alice, StubSpotify(), today=date(2026, 5, 20)).lists_fetched == 6


def test_snapshot_artists_join_the_history_by_name_and_gain_their_uri(engine, user):
    with db.transaction(engine) as conn:
        add_plays(conn, user, play("artist 1", "Something"))
    create_monthly_snapshot(engine, user, StubSpotify(), today=date(2026, 5, 8))
    with engine.connect() as conn:
        found = conn.execute(sa.select(artists.c.name, artists.c.spotify_uri).where(artists.c.name_key == "artist 1"))
        assert found.all() == [("artist 1", "spotify:artist:a000000000000000000001")]


def recent(at: datetime, artist="Björk", track="Jóga") -> RecentPlay:
    return RecentPlay(played_at=at, uri=play(artist, track).spotify_uri, track_name=track, artist_name=artist,
                      album_name="Homogenic", duration_ms=305_000)  # fmt: skip


def test_sync_adds_nothing_for_a_play_already_imported_and_moves_the_cursor(any_engine, alice):
    with db.transaction(any_engine) as conn:
        add_plays(conn, alice, play("Björk", "Jóga", "2026-05-08T10:00:00", source="extended"))
    stub = StubSpotify(recent=[recent(datetime(2026, 5, 8, 11, 0, 0, 250_000)), recent(datetime(2026, 5, 8, 10, 0, 0, 500_000))])
    result = sync_recently_played(any_engine, alice, stub, now=NOW)
    assert (result.fetched, result.added, result.duplicates) == (2, 1, 1)
    with any_engine.connect() as conn:
        user_row = conn.execute(sa.select(users).where(users.c.id == alice)).mappings().one()
        stored = conn.execute(sa.select(plays.c.source, plays.c.ms_played).order_by(plays.c.ended_at)).all()
    assert stored == [("extended", 200_000), ("api", 305_000)]
    assert user_row["sync_cursor_ms"] == int(datetime(2026, 5, 8, 11, 0, 0, 250_000).timestamp() * 1000)
    assert user_row["last_sync_at"] == NOW
    # The next sync asks only for what came after the cursor.
    again = sync_recently_played(any_engine, alice, stub, now=NOW)
    assert stub.calls[-1] == ("recent", user_row["sync_cursor_ms"]) and again.fetched == 0


def runs(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(job_runs.c.job, job_runs.c.status, job_runs.c.message)).all()


def test_run_job_respects_blocked_until_and_records_the_skip(engine, user):
    with db.transaction(engine) as conn:
        conn.execute(users.update().values(blocked_until=NOW + timedelta(hours=3), blocked_reason="QUOTA_EXCEEDED"))
    stub = StubSpotify()
    outcome = run_job(engine, "sync", user, lambda: sync_recently_played(engine, user, stub, now=NOW).summary(), now=NOW)
    assert outcome.status == "skipped" and stub.calls == []
    assert "quota" in outcome.message and "2026-05-08 15:00 UTC" in outcome.message
    assert runs(engine) == [("sync", "skipped", outcome.message)]


@pytest.mark.parametrize("quota", [False, True])
def test_a_long_rate_limit_blocks_the_user_and_says_which(engine, user, quota):
    error = RateLimited("slow down", retry_after=86_400, quota_exceeded=quota)
    stub = StubSpotify(fail_on_call=1, error=error)
    outcome = run_job(engine, "snapshot", user, lambda: create_monthly_snapshot(engine, user, stub, today=NOW.date()).summary(), now=NOW)
    with engine.connect() as conn:
        row = conn.execute(sa.select(users.c.blocked_until, users.c.blocked_reason)).one()
    assert row == (NOW + timedelta(days=1), "QUOTA_EXCEEDED" if quota else "RATE_LIMITED")
    assert outcome.status == "failed" and runs(engine)[0][1] == "failed"


def test_a_dead_sign_in_marks_the_user_needs_reconnect(engine, user):
    stub = StubSpotify(fail_on_call=1, error=AuthorizationError("Please reconnect.", needs_reconnect=True))
    outcome = run_job(engine, "sync", user, lambda: sync_recently_played(engine, user, stub, now=NOW).summary(), now=NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.needs_reconnect)).scalar() is True
    assert (outcome.status, outcome.message) == ("failed", "Please reconnect.")
    # Later runs are skipped until the user reconnects.
    assert run_job(engine, "sync", user, lambda: "ran", now=NOW).status == "skipped"
