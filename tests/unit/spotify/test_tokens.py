"""Tokens at rest and the token guard, through the stored-token path (Spotify mocked with responses)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
import responses
import sqlalchemy as sa

from music_time_machine import db
from music_time_machine.schema import spotify_tokens, users
from music_time_machine.spotify import AuthorizationError, TokenSet
from music_time_machine.spotify.service import SpotifyApp
from music_time_machine.spotify.tokens import connection_status, load_tokens, make_fernet, store_tokens

NOW = datetime(2026, 5, 8, 12, 0, 0)
ACCOUNTS = "https://accounts.test"
TOKEN_URL = f"{ACCOUNTS}/api/token"


@pytest.fixture
def spotify(app) -> SpotifyApp:
    app.config.update(SPOTIFY_CLIENT_ID="cid", SPOTIFY_ACCOUNTS_URL=ACCOUNTS, SPOTIFY_API_URL="https://api.test")
    return SpotifyApp.from_config(app.config, sleep=lambda s: None)


def save(engine, spotify, user, *, expires_in: int, signed_in_at: datetime = NOW, access="old-access",
         refresh="old-refresh"):  # fmt: skip
    tokens = TokenSet(access, refresh, NOW + timedelta(seconds=expires_in), "user-top-read")
    with db.transaction(engine) as conn:
        store_tokens(conn, spotify.fernet, user, tokens, signed_in_at=signed_in_at, now=NOW)


def guard_token(spotify, engine, user) -> str:
    client = spotify.client_for(engine, user, clock=lambda: NOW)
    return client._access_token_provider()  # the guard, as the client calls it before each request


def test_tokens_are_encrypted_at_rest(engine, spotify, user):
    save(engine, spotify, user, expires_in=3600, access="secret-access-value", refresh="secret-refresh-value")
    with engine.connect() as conn:
        row = conn.execute(sa.select(spotify_tokens)).mappings().one()
        assert "secret-access-value" not in str(dict(row))
        assert "secret-refresh-value" not in str(dict(row))
        assert load_tokens(conn, spotify.fernet, user).tokens.refresh_token == "secret-refresh-value"
        # Another key cannot read them: the user reconnects instead of the app crashing.
        assert load_tokens(conn, make_fernet("", "another-secret-key-entirely"), user) is None


def test_token_key_setting_is_a_fernet_key_used_as_is():
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    box = make_fernet(key, "ignored")
    assert Fernet(key.encode()).decrypt(box.encrypt(b"x")) == b"x"


@responses.activate
def test_301_seconds_left_uses_the_stored_token(engine, spotify, user):
    save(engine, spotify, user, expires_in=301)
    assert guard_token(spotify, engine, user) == "old-access"
    assert len(responses.calls) == 0


@responses.activate
def test_300_seconds_left_refreshes_and_stores_the_rotated_refresh_token(engine, spotify, user, caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(TOKEN_URL, json={"access_token": "new-access", "expires_in": 3600,
                                    "refresh_token": "new-refresh", "scope": "user-top-read"})  # fmt: skip
    save(engine, spotify, user, expires_in=300)
    assert guard_token(spotify, engine, user) == "new-access"
    assert "refresh_token=old-refresh" in responses.calls[0].request.body
    with engine.connect() as conn:
        stored = load_tokens(conn, spotify.fernet, user)
    assert stored.tokens.refresh_token == "new-refresh"
    assert stored.tokens.expires_at == NOW + timedelta(hours=1)
    assert stored.signed_in_at == NOW  # refreshing does not extend the 6-month life
    assert not any(word in caplog.text for word in ("old-access", "old-refresh", "new-access", "new-refresh"))


@responses.activate
def test_invalid_grant_marks_the_user_needs_reconnect(engine, spotify, user):
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "expired"})
    save(engine, spotify, user, expires_in=10)
    with pytest.raises(AuthorizationError) as caught:
        guard_token(spotify, engine, user)
    assert caught.value.needs_reconnect
    assert "old-refresh" not in str(caught.value)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.needs_reconnect).where(users.c.id == user)).scalar() is True
        assert connection_status(conn, user, NOW).needs_reconnect


@pytest.mark.parametrize(("days_ago", "days_left", "warn"), [(0, 180, False), (166, 14, True), (180, 0, True)])
def test_connection_status_counts_the_refresh_tokens_days(engine, spotify, user, days_ago, days_left, warn):
    save(engine, spotify, user, expires_in=3600, signed_in_at=NOW - timedelta(days=days_ago))
    with engine.connect() as conn:
        status = connection_status(conn, user, NOW)
    assert (status.connected, status.days_left, status.reconnect_soon) == (True, days_left, warn)


def guard(spotify, engine, user, refresh, sleep=lambda seconds: None):
    from music_time_machine.spotify.tokens import TokenGuard

    return TokenGuard(engine, spotify.fernet, user, refresh, lambda: NOW, sleep)


def test_the_database_stays_writable_while_spotify_answers_a_refresh(engine, spotify, user):
    import sqlite3

    save(engine, spotify, user, expires_in=10)

    def slow_spotify(refresh_token, now):
        # Another writer (an import, a settings change) while the refresh call is under way.
        other = sqlite3.connect(engine.url.database, timeout=0.1)
        other.execute("UPDATE users SET display_name = 'still writable'")
        other.commit()
        other.close()
        return TokenSet("new-access", "new-refresh", now + timedelta(hours=1), "user-top-read")

    assert guard(spotify, engine, user, slow_spotify).access_token() == "new-access"
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.display_name)).scalar() == "still writable"


def test_a_refresh_waits_its_turn_and_uses_the_tokens_the_other_refresh_stored(engine, spotify, user):
    from music_time_machine.leases import acquire_lease, release_lease

    save(engine, spotify, user, expires_in=10)
    lease = f"token-refresh:{user}"
    assert acquire_lease(engine, lease, "another-process", NOW, timedelta(seconds=60))
    calls, waits = [], []

    def other_process_finishes(seconds):
        waits.append(seconds)
        save(engine, spotify, user, expires_in=3600, access="their-access", refresh="their-refresh")
        release_lease(engine, lease, "another-process")

    token = guard(spotify, engine, user, lambda *args: calls.append(args), other_process_finishes).refresh(
        stale="old-access"
    )
    assert token == "their-access"
    assert calls == []  # their refresh token was not spent a second time
    assert len(waits) == 1


def test_a_refresh_that_never_gets_its_turn_is_a_transient_error(engine, spotify, user):
    from music_time_machine.leases import acquire_lease
    from music_time_machine.spotify import TransientError
    from music_time_machine.spotify.tokens import REFRESH_WAITS

    save(engine, spotify, user, expires_in=10)
    assert acquire_lease(engine, f"token-refresh:{user}", "stuck-process", NOW, timedelta(seconds=60))
    calls, waits = [], []
    with pytest.raises(TransientError):
        guard(spotify, engine, user, lambda *args: calls.append(args), waits.append).refresh(stale="old-access")
    assert calls == [] and len(waits) == REFRESH_WAITS
