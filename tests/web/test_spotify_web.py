"""Log in with Spotify, the settings page's Spotify actions, and the notices (Spotify mocked)."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import sqlalchemy as sa

from factories import add_plays, play
from music_time_machine import db
from music_time_machine.clock import utcnow
from music_time_machine.schema import plays, snapshots, spotify_tokens, users
from music_time_machine.web.auth import AUTH_SESSION_KEYS
from spotify_stub import connect_to_fake

ACCOUNTS, API = "https://accounts.test", "https://api.test"


@pytest.fixture
def config(config):
    config.update(SPOTIFY_CLIENT_ID="cid", SPOTIFY_ACCOUNTS_URL=ACCOUNTS, SPOTIFY_API_URL=API)
    return config


def start_login(client, next_url=None):
    response = client.get("/login", query_string={"next": next_url} if next_url else None)
    with client.session_transaction() as session:
        return response, dict(session)


def test_login_stores_state_and_verifier_and_sends_to_spotify_with_pkce(client):
    response, session = start_login(client)
    assert response.status_code == 302
    url = urlsplit(response.location)
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ACCOUNTS}/authorize"
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["scope"] == "user-top-read user-read-recently-played playlist-modify-private"
    assert query["redirect_uri"] == "http://127.0.0.1:5000/callback"
    assert query["client_id"] == "cid" and query["state"] == session["oauth_state"]
    assert session["pkce_verifier"] and session["pkce_verifier"] not in response.location


@pytest.mark.parametrize(("asked", "kept"), [("/settings", "/settings"), ("https://evil.example/", None),
                                             ("//evil.example", None)])  # fmt: skip
def test_login_remembers_next_only_for_local_paths(client, asked, kept):
    _, session = start_login(client, asked)
    assert session.get("next_url") == kept


def test_spotify_login_is_offered_only_when_configured(client, app):
    assert b'id="spotify-login"' in client.get("/").data
    app.config["SPOTIFY_CLIENT_ID"] = ""
    assert b'id="spotify-login"' not in client.get("/").data
    assert client.get("/login").status_code == 404


def test_callback_with_a_wrong_state_is_400_and_exchanges_nothing(client):
    start_login(client)
    with responses.RequestsMock() as spotify:  # any request to Spotify would fail the test
        response = client.get("/callback", query_string={"code": "c", "state": "forged"})
        assert len(spotify.calls) == 0
    assert response.status_code == 400
    assert b"does not match" in response.data


def test_callback_access_denied_goes_back_to_the_start_page_with_a_message(client):
    _, session = start_login(client)
    response = client.get("/callback", query_string={"error": "access_denied", "state": session["oauth_state"]},
                          follow_redirects=True)  # fmt: skip
    assert response.request.path == "/"
    assert b"You did not allow access on Spotify" in response.data


def mock_sign_in(spotify, spotify_id="sp-user-1"):
    spotify.post(f"{ACCOUNTS}/api/token", json={"access_token": "ACCESS-123", "refresh_token": "REFRESH-456",
                                                "expires_in": 3600, "scope": "user-top-read"})  # fmt: skip
    spotify.get(f"{API}/v1/me", json={"id": spotify_id, "display_name": "Sam"})


def finish_login(client, next_url=None):
    _, session = start_login(client, next_url)
    return client.get("/callback", query_string={"code": "the-code", "state": session["oauth_state"]})


def test_callback_creates_the_user_stores_tokens_encrypted_and_keeps_them_out_of_session_and_logs(
    client, engine, caplog
):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as spotify:
        mock_sign_in(spotify)
        response = finish_login(client, "/settings")
        assert "code_verifier=" in spotify.calls[0].request.body
    assert response.status_code == 302 and response.location == "/settings"
    with client.session_transaction() as session:
        assert set(session) <= {"user_id", "_fresh", "_flashes", "_permanent", "csrf_token"}
        assert "ACCESS-123" not in str(dict(session)) and "REFRESH-456" not in str(dict(session))
    with engine.connect() as conn:
        user = conn.execute(sa.select(users)).mappings().one()
        stored = str(conn.execute(sa.select(spotify_tokens)).mappings().one())
    assert (user["name"], user["spotify_id"], user["display_name"]) == ("sp-user-1", "sp-user-1", "Sam")
    assert "ACCESS-123" not in stored and "REFRESH-456" not in stored
    assert "ACCESS-123" not in caplog.text and "REFRESH-456" not in caplog.text
    page = client.get("/settings").data
    assert b"sp-user-1" in page and b"ACCESS-123" not in page


def test_a_logged_in_local_user_connecting_spotify_links_their_own_account(authenticated_client, engine, user):
    with responses.RequestsMock() as spotify:
        mock_sign_in(spotify, "alice-on-spotify")
        finish_login(authenticated_client)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.id, users.c.spotify_id)).all() == [(user, "alice-on-spotify")]


def test_a_spotify_id_equal_to_a_local_name_gets_its_own_user(client, engine, user):
    with responses.RequestsMock() as spotify:
        mock_sign_in(spotify, "alice")
        finish_login(client)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.name, users.c.spotify_id).order_by(users.c.id)).all() == [
            ("alice", None), ("alice-2", "alice")]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "shown"), [(503, {}, 503), (400, {"error": "invalid_grant"}, 502)])
def test_a_failed_token_exchange_is_a_clear_page(client, status, body, shown):
    with responses.RequestsMock() as spotify:
        spotify.post(f"{ACCOUNTS}/api/token", status=status, json=body)
        response = finish_login(client)
    assert response.status_code == shown and b"Spotify" in response.data
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_disconnect_removes_every_auth_key_and_the_tokens_but_keeps_the_history(app, engine, user, logged_in_as):
    client = logged_in_as(user)
    with client.session_transaction() as session:
        for key in AUTH_SESSION_KEYS:
            session.setdefault(key, "x")
    with db.transaction(engine) as conn:
        add_plays(conn, user, play("Björk", "Jóga"))
        conn.execute(spotify_tokens.insert().values(user_id=user, access_token="a", refresh_token="r",
                                                    expires_at=utcnow(), signed_in_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    response = client.post("/settings/disconnect", follow_redirects=True)
    assert b"Spotify is disconnected" in response.data
    with client.session_transaction() as session:
        assert not set(AUTH_SESSION_KEYS) & set(session)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(spotify_tokens)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar() == 1


def test_settings_offers_connect_when_not_connected(authenticated_client):
    page = authenticated_client.get("/settings").data
    assert b'id="connect-spotify"' in page and b"Disconnect" not in page


def test_snapshot_now_with_unreadable_tokens_is_one_sentence_not_a_500(app, user, authenticated_client):
    with db.transaction(app.extensions["mtm_engine"]) as conn:
        conn.execute(spotify_tokens.insert().values(user_id=user, access_token="", refresh_token="",
                                                    expires_at=utcnow() + timedelta(hours=1),
                                                    signed_in_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    # The stored (empty) tokens do not decrypt: the snapshot says so in one sentence, no 500.
    response = authenticated_client.post("/settings/snapshot", follow_redirects=True)
    assert response.status_code == 200 and b"not connected" in response.data


def test_snapshot_now_with_the_fake_spotify_and_a_quota_block(fake_spotify, app, engine, user, authenticated_client):
    connect_to_fake(app, user, fake_spotify)
    response = authenticated_client.post("/settings/snapshot", follow_redirects=True)
    assert b"6 lists, 300 entries" in response.data
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(snapshots)).scalar() == 300
    assert b'id="latest-snapshot"' in authenticated_client.get("/").data

    fake_spotify.fail_next(429, retry_after=86_400, quota_exceeded=True, path_prefix="/v1/me/top")
    with db.transaction(engine) as conn:
        conn.execute(snapshots.delete())
    response = authenticated_client.post("/settings/snapshot", follow_redirects=True)
    assert response.status_code == 200 and b"quota for this app is used up" in response.data
    assert b'id="notice-blocked"' in authenticated_client.get("/").data


def test_home_asks_to_reconnect_when_spotify_refused_the_sign_in(engine, user, authenticated_client):
    with db.transaction(engine) as conn:
        conn.execute(users.update().values(needs_reconnect=True))
    page = authenticated_client.get("/").data
    assert b'id="notice-reconnect"' in page and b'href="/login"' in page


def test_disconnect_without_a_csrf_token_changes_nothing(app, engine, user, authenticated_client):
    app.config["WTF_CSRF_ENABLED"] = True
    with db.transaction(engine) as conn:
        conn.execute(spotify_tokens.insert().values(user_id=user, access_token="a", refresh_token="r",
                                                    expires_at=utcnow(), signed_in_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    assert authenticated_client.post("/settings/disconnect").status_code == 400
    assert authenticated_client.post("/settings/snapshot").status_code == 400
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(spotify_tokens)).scalar() == 1
