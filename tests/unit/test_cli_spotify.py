"""`mtm snapshot`, `mtm sync`, `mtm worker` and the demo's fake Spotify, against the fake on 127.0.0.1."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from factories import make_user
from music_time_machine import cli as cli_module
from music_time_machine import db
from music_time_machine.cli import cli
from music_time_machine.schema import job_runs, plays, snapshots
from spotify_stub import connect_to_fake


@pytest.fixture
def alice(fake_spotify, app, engine):
    with db.transaction(engine) as conn:
        user_id = make_user(conn, "alice")
    connect_to_fake(app, user_id, fake_spotify)
    return user_id


def invoke(runner, fake, *args):
    env = {"SPOTIFY_CLIENT_ID": "fake-client", "SPOTIFY_ACCOUNTS_URL": fake.base_url, "SPOTIFY_API_URL": fake.base_url}
    return runner.invoke(cli, list(args), env=env)


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_snapshot_and_sync_run_once_for_a_user(runner, fake_spotify, alice, engine):
    result = invoke(runner, fake_spotify, "snapshot", "--user", "alice")
    assert result.exit_code == 0, result.output
    assert "alice: Snapshot of" in result.output and count(engine, snapshots) == 300
    result = invoke(runner, fake_spotify, "sync")
    assert result.exit_code == 0, result.output
    assert "alice: 50 new plays" in result.output and count(engine, plays) == 50


def test_a_rate_limited_run_exits_non_zero_with_one_line(runner, fake_spotify, alice):
    fake_spotify.fail_next(429, retry_after=86_400, path_prefix="/v1/me/player")
    result = invoke(runner, fake_spotify, "sync", "--user", "alice")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: sync did not run for 1 user(s)")
    assert "slow down" in result.output


@pytest.mark.parametrize(("name", "reason"), [("nobody", "No user named"), ("bob", "has not connected Spotify")])
def test_an_unknown_or_unconnected_user_is_one_line(runner, fake_spotify, engine, name, reason):
    with db.transaction(engine) as conn:
        make_user(conn, "bob")
    result = invoke(runner, fake_spotify, "snapshot", "--user", name)
    assert result.exit_code == 1 and reason in result.output and "Traceback" not in result.output


def test_the_worker_runs_a_tick_and_stops_cleanly_on_ctrl_c(runner, fake_spotify, alice, engine, monkeypatch):
    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "worker_sleep", interrupt)
    result = invoke(runner, fake_spotify, "worker")
    assert result.exit_code == 0, result.output
    assert "Worker stopped." in result.output
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(job_runs.c.job, job_runs.c.status)).all()) == [
            ("snapshot", "ok"), ("sync", "ok")]  # fmt: skip


def test_logs_of_a_sync_that_refreshes_hold_no_token(runner, fake_spotify, app, engine, caplog):
    import logging

    from music_time_machine.clock import utcnow

    caplog.set_level(logging.DEBUG)
    with db.transaction(engine) as conn:
        user_id = make_user(conn, "alice")
    connect_to_fake(app, user_id, fake_spotify, expires_at=utcnow())  # expired: the guard refreshes
    before = set(fake_spotify.refresh_tokens) | set(fake_spotify.access_tokens)
    result = invoke(runner, fake_spotify, "sync", "--user", "alice")
    assert result.exit_code == 0, result.output
    assert "Refreshed the Spotify access token" in caplog.text
    issued = set(fake_spotify.refresh_tokens) | set(fake_spotify.access_tokens)
    assert len(issued) > len(before)  # a refresh happened, with rotation
    assert not any(token in caplog.text or token in result.output for token in issued)


def test_the_demo_points_spotify_at_a_local_fake(app):
    app.config["SPOTIFY_CLIENT_ID"] = ""
    cli_module._use_fake_spotify(app)
    assert app.config["SPOTIFY_API_URL"].startswith("http://127.0.0.1:")
    login = app.test_client().get("/login")
    consent = requests.get(login.location, allow_redirects=False, timeout=5)
    assert consent.headers["Location"].startswith("http://127.0.0.1:5000/callback?code=")
