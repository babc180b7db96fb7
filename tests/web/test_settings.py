"""Settings (SPEC §3.9): statistics, preferences, clear my data, delete my account."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
import sqlalchemy as sa

from factories import give_data, make_user
from music_time_machine import db, rollups
from music_time_machine.schema import (
    import_batches, metadata, monthly_tracks, playlists, plays, snapshots, spotify_tokens, users,
)


@pytest.fixture
def two_users(engine, user):
    """Alice (the logged-in user) and Bob, both with data."""
    with db.transaction(engine) as conn:
        bob = make_user(conn, "bob")
        give_data(conn, user, "Alicetunes")
        give_data(conn, bob, "Bobsounds")
    return user, bob


def count(engine, table, user_id) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.user_id == user_id)).scalar()


def test_settings_shows_the_statistics_and_the_actions(authenticated_client, two_users):
    page = authenticated_client.get("/settings").get_data(as_text=True)
    assert '<dd id="stat-plays">2</dd>' in page and '<dd id="stat-tracks">1</dd>' in page
    assert '<dd id="stat-snapshots">1</dd>' in page and "2026-04-01" in page
    assert 'id="stat-size">unknown' not in page  # the SQLite file's size is shown
    for action in ("/settings/preferences", "/settings/clear", "/settings/delete-account", "/export/plays.csv"):
        assert action in page
    assert '<option value="Europe/Berlin">' in page


def test_preferences_change_the_time_zone_and_threshold_and_rebuild_the_rollups(authenticated_client, engine, two_users):
    alice, _ = two_users
    with engine.connect() as conn:
        before = rollups.version(conn, alice)
    response = authenticated_client.post("/settings/preferences", data={"time_zone": "Asia/Tokyo", "listen_threshold_s": "45"})
    assert response.status_code == 302
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == alice)).mappings().one()
        assert (row["time_zone"], row["listen_threshold_ms"]) == ("Asia/Tokyo", 45_000)
        assert rollups.version(conn, alice) != before
    assert "Saved: time zone Asia/Tokyo" in authenticated_client.get("/settings").get_data(as_text=True)


@pytest.mark.parametrize(
    "form",
    [
        {"time_zone": "Mars/Olympus", "listen_threshold_s": "30"},
        {"time_zone": "../../etc/passwd", "listen_threshold_s": "30"},
        {"time_zone": "UTC", "listen_threshold_s": "601"},
        {"time_zone": "UTC", "listen_threshold_s": "-1"},
        {"time_zone": "UTC", "listen_threshold_s": "thirty"},
        {"time_zone": "UTC", "listen_threshold_s": "²"},
        {"time_zone": "x" * 5000, "listen_threshold_s": "30"},
        {},
    ],
)
def test_bad_preferences_change_nothing_and_say_why(authenticated_client, engine, user, form):
    response = authenticated_client.post("/settings/preferences", data=form, follow_redirects=True)
    assert response.status_code == 200
    assert "flash-error" in response.get_data(as_text=True)
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == user)).mappings().one()
    assert (row["time_zone"], row["listen_threshold_ms"]) == ("UTC", 30_000)


def test_clear_without_the_ticked_box_deletes_nothing(authenticated_client, engine, two_users):
    alice, _ = two_users
    response = authenticated_client.post("/settings/clear", follow_redirects=True)
    assert "tick the box" in response.get_data(as_text=True)
    assert count(engine, plays, alice) == 2


def test_clear_deletes_only_this_users_history_snapshots_playlists_and_imports(authenticated_client, engine, two_users):
    alice, bob = two_users
    response = authenticated_client.post("/settings/clear", data={"confirm": "yes"}, follow_redirects=True)
    assert "Your data is cleared: 2 plays" in response.get_data(as_text=True)
    for table in (plays, snapshots, playlists, import_batches):
        assert count(engine, table, alice) == 0, table.name
        assert count(engine, table, bob) > 0, table.name
    assert count(engine, monthly_tracks, alice) == 0  # the analytics follow
    assert count(engine, monthly_tracks, bob) > 0
    assert count(engine, spotify_tokens, alice) == 1  # the connection and the account stay
    with authenticated_client.session_transaction() as session:
        assert session["user_id"] == alice


def test_delete_account_needs_the_user_name_typed(authenticated_client, engine, two_users):
    alice, _ = two_users
    response = authenticated_client.post("/settings/delete-account", data={"confirm_name": "bob"}, follow_redirects=True)
    assert "type your user name (alice)" in response.get_data(as_text=True)
    assert count(engine, plays, alice) == 2


def test_delete_account_removes_everything_of_the_user_and_logs_out(authenticated_client, engine, two_users):
    alice, bob = two_users
    response = authenticated_client.post("/settings/delete-account", data={"confirm_name": "alice"})
    assert response.status_code == 302
    with authenticated_client.session_transaction() as session:
        assert "user_id" not in session
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.name)).scalars().all() == ["bob"]
        # Every table that holds someone's rows (including ones added later) has none of alice's left.
        for table in metadata.sorted_tables:
            if "user_id" in table.c:
                assert conn.execute(sa.select(sa.func.count()).select_from(table).where(
                    table.c.user_id == alice)).scalar() == 0, table.name  # fmt: skip
    assert count(engine, plays, bob) == 2 and count(engine, spotify_tokens, bob) == 1
    assert authenticated_client.get("/settings").status_code == 302  # logged out


def test_settings_actions_need_a_login(client):
    for path in ("/settings/preferences", "/settings/clear", "/settings/delete-account"):
        response = client.post(path)
        assert response.status_code == 302 and "/?next=" in response.headers["Location"]


def test_a_write_that_waits_too_long_for_another_writer_is_a_503_that_changes_nothing(
    config, template_db, tmp_path, monkeypatch, request
):
    """SQLite's busy timeout running out (the end of a big import holds the write lock for
    seconds) is a 503 with one sentence and Retry-After, for pages and the API, never a 500."""
    path = tmp_path / "busy.sqlite3"
    shutil.copyfile(template_db, path)
    config["DATABASE_URL"] = f"sqlite:///{path}"
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1)  # the app's connections give up after 1 ms
    engine = request.getfixturevalue("engine")
    with db.transaction(engine) as conn:
        alice = make_user(conn, "alice")
        give_data(conn, alice, "Alicetunes")
        rollups.mark_changed(conn, alice, 0, 1)  # stale: the next request refreshes (writes) first
    client = request.getfixturevalue("logged_in_as")(alice)
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        page = client.post("/settings/preferences", data={"time_zone": "Asia/Tokyo", "listen_threshold_s": "45"})
        api = client.get("/api/v1/overview")
    finally:
        other_writer.rollback()
        other_writer.close()
    for response in (page, api):
        assert response.status_code == 503 and response.headers["Retry-After"] == "60"
        assert "The database is busy (an import is probably finishing); nothing was changed." in response.get_data(as_text=True)
    assert api.is_json
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == alice)).mappings().one()
        assert (row["time_zone"], row["listen_threshold_ms"]) == ("UTC", 30_000)
    assert client.get("/api/v1/overview").status_code == 200  # the writer gone, the refresh goes through
