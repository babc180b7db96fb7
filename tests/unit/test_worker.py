"""The worker's schedule and its lease: on SQLite and PostgreSQL, with a stub Spotify."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from factories import make_user
from spotify_stub import StubSpotify
from music_time_machine import db
from music_time_machine.schema import job_runs, spotify_tokens, users
from music_time_machine.spotify import TransientError
from music_time_machine.leases import acquire_lease, release_lease
from music_time_machine.worker import LEASE, Worker, run_forever

NOW = datetime(2026, 5, 8, 12, 0, 0)


def connect(conn, user_id):
    conn.execute(spotify_tokens.insert().values(user_id=user_id, access_token="x", refresh_token="x",
                                                expires_at=NOW, signed_in_at=NOW, updated_at=NOW))  # fmt: skip


@pytest.fixture
def people(any_engine):
    """alice and bob connected, carol never connected, dave needs to reconnect."""
    with db.transaction(any_engine) as conn:
        ids = {name: make_user(conn, name) for name in ("alice", "bob", "carol", "dave")}
        for name in ("alice", "bob", "dave"):
            connect(conn, ids[name])
        conn.execute(users.update().where(users.c.id == ids["dave"]).values(needs_reconnect=True))
    return ids


def recorded(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(job_runs.c.job, job_runs.c.user_id, job_runs.c.status).order_by(job_runs.c.id)).all()


def test_a_lease_held_by_another_worker_is_refused_until_it_expires(any_engine):
    assert acquire_lease(any_engine, "sync:1", "a", NOW, LEASE)
    assert not acquire_lease(any_engine, "sync:1", "b", NOW + timedelta(minutes=14), LEASE)
    assert acquire_lease(any_engine, "sync:1", "b", NOW + timedelta(minutes=15), LEASE)
    release_lease(any_engine, "sync:1", "a")  # not a's any more: nothing happens
    assert not acquire_lease(any_engine, "sync:1", "a", NOW + timedelta(minutes=16), LEASE)


def test_one_tick_runs_sync_and_snapshot_for_connected_users_only_then_waits(any_engine, people):
    stubs = {}
    worker = Worker(any_engine, lambda user_id: stubs.setdefault(user_id, StubSpotify()))
    runs = worker.run_once(NOW)
    assert sorted((run.job, run.user_id, run.status) for run in runs) == sorted(
        (job, people[name], "ok") for job in ("sync", "snapshot") for name in ("alice", "bob")
    )
    assert worker.run_once(NOW + timedelta(minutes=29)) == []
    later = worker.run_once(NOW + timedelta(minutes=30))
    assert [(run.job, run.status) for run in later] == [("sync", "ok"), ("sync", "ok")]  # the snapshot is done this month
    # A new month: the snapshot is due again.
    june = worker.run_once(datetime(2026, 6, 1, 0, 1))
    assert sorted(run.job for run in june) == ["snapshot", "snapshot", "sync", "sync"]


def test_one_users_failure_does_not_stop_the_others(any_engine, people):
    def client_for(user_id):
        if user_id == people["alice"]:
            return StubSpotify(fail_on_call=1, error=RuntimeError("boom"))
        return StubSpotify()

    runs = Worker(any_engine, client_for).run_once(NOW)
    statuses = {(job, user, status) for job, user, status in recorded(any_engine)}
    assert ("sync", people["alice"], "failed") in statuses
    assert ("sync", people["bob"], "ok") in statuses and ("snapshot", people["bob"], "ok") in statuses
    assert {run.user_id for run in runs} >= {people["bob"]}


def test_a_failed_snapshot_is_retried_after_the_interval_and_completes(any_engine, people):
    failing = Worker(any_engine, lambda user_id: StubSpotify(fail_on_call=3, error=TransientError("down")))
    failing.run_once(NOW)
    assert Worker(any_engine, lambda user_id: StubSpotify()).run_once(NOW + timedelta(minutes=10)) == []
    retried = Worker(any_engine, lambda user_id: StubSpotify()).run_once(NOW + timedelta(minutes=30))
    assert sorted((run.job, run.status) for run in retried) == [("snapshot", "ok")] * 2 + [("sync", "ok")] * 2


def test_two_workers_started_at_once_run_each_job_once(any_engine, people, database_url):
    with db.transaction(any_engine) as conn:  # only alice, to keep the race readable
        conn.execute(spotify_tokens.delete().where(spotify_tokens.c.user_id != people["alice"]))
    second_engine = any_engine if any_engine.dialect.name == "postgresql" else db.make_engine(database_url)
    in_sync, let_go = threading.Event(), threading.Event()

    class SlowStub(StubSpotify):
        def recently_played(self, after_ms=None, limit=50):
            in_sync.set()
            assert let_go.wait(5)
            return super().recently_played(after_ms, limit)

    first = Worker(any_engine, lambda user_id: SlowStub(), owner="first")
    second = Worker(second_engine, lambda user_id: StubSpotify(), owner="second")
    results = {}
    thread = threading.Thread(target=lambda: results.setdefault("first", first.run_once(NOW)))
    thread.start()
    assert in_sync.wait(5)  # the first worker is inside the sync, holding its lease
    results["second"] = second.run_once(NOW)
    let_go.set()
    thread.join(5)

    assert [run.job for run in results["second"]] == ["snapshot"]  # the sync was leased; the snapshot free
    assert [run.job for run in results["first"]] == ["sync"]  # the snapshot was done by then
    assert sorted(job for job, _, _ in recorded(any_engine)) == ["snapshot", "sync"]
    if second_engine is not any_engine:
        second_engine.dispose()


def test_run_forever_ticks_with_the_injected_clock_and_sleep_until_interrupted(any_engine, people):
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) == 2:
            raise KeyboardInterrupt

    worker = Worker(any_engine, lambda user_id: StubSpotify())
    clock = iter([NOW, NOW + timedelta(minutes=1)])
    with pytest.raises(KeyboardInterrupt):
        run_forever(worker, clock=lambda: next(clock), sleep=sleep, tick_seconds=60)
    assert ticks == [60, 60]
    assert len(recorded(any_engine)) == 4
