"""Security (SPEC §3.1, issue 7): CSP with nothing inline, headers, cookies, size limits, open
redirects, and logs that never hold a secret."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from freezegun import freeze_time

from factories import add_plays, make_user, play
from music_time_machine import create_app, db, users
from music_time_machine.clock import utcnow
from music_time_machine.jobs import run_spotify_job
from music_time_machine.spotify.service import SpotifyApp
from routes import urls

TEMPLATES = Path(__file__).parents[2] / "src" / "music_time_machine" / "web" / "templates"
# Anything the CSP (script-src/style-src 'self') would block: inline styles, handlers, scripts.
INLINE = re.compile(r"""\sstyle\s*=|<style[\s>]|\son[a-z]+\s*=|<script(?![^>]*\ssrc=)[^>]*>|javascript:""", re.I)


def test_no_template_has_an_inline_style_script_or_handler():
    offenders = [f"{path.name}: {match.group(0)!r}" for path in sorted(TEMPLATES.rglob("*.html"))
                 for match in INLINE.finditer(path.read_text())]  # fmt: skip
    assert offenders == []


def test_every_page_renders_without_inline_code_and_with_the_security_headers(logged_in_as, engine, user):
    with db.transaction(engine) as conn:
        add_plays(conn, user, play("Headers Band", "Song", "2026-04-01T10:00:00"))
    client = logged_in_as(user)
    values = {"month": "2026-04", "year": 2026, "*": "x", "*int": [1]}
    checked = 0
    for rule, url in urls(client.application, "GET", values):
        response = client.get(url)
        response.get_data()  # streamed downloads run to the end
        assert response.status_code < 500, f"GET {url} answered {response.status_code}"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        if response.mimetype == "text/html":
            body = response.get_data(as_text=True)
            assert not INLINE.search(body), f"GET {url}: {INLINE.search(body).group(0)!r}"
            checked += 1
    assert checked >= 10


# --- cookies -------------------------------------------------------------------------------------


@pytest.fixture
def proxied_app(config):
    app = create_app({**config, "TRUST_PROXY": True})
    yield app
    app.extensions["mtm_engine"].dispose()


def session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("mtm_session="))


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(client, engine, user):
    with db.transaction(engine) as conn:
        token = users.create_login_token(conn, user, now=utcnow(), minutes=15)
    cookie = session_cookie(client.post(f"/login/{token}"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_behind_a_trusted_https_proxy_the_session_cookie_is_secure(proxied_app):
    with db.transaction(proxied_app.extensions["mtm_engine"]) as conn:
        user = make_user(conn)
        token = users.create_login_token(conn, user, now=utcnow(), minutes=15)
    response = proxied_app.test_client().post(f"/login/{token}", headers={"X-Forwarded-Proto": "https"})
    cookie = session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_an_untrusted_forwarded_proto_does_not_count(client, engine, user):
    with db.transaction(engine) as conn:
        token = users.create_login_token(conn, user, now=utcnow(), minutes=15)
    response = client.post(f"/login/{token}", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in session_cookie(response)


def test_the_session_cookie_is_renewed_hourly_and_a_session_lasts_31_days_from_the_last_visit(client, engine, user):
    """Signing the cookie again on every request cost a tenth of a cached page; once an hour keeps
    the sliding 31 days (to the hour)."""
    with db.transaction(engine) as conn:
        token = users.create_login_token(conn, user, now=utcnow(), minutes=15)
    with freeze_time("2026-05-08 12:00:00") as clock:
        assert session_cookie(client.post(f"/login/{token}"))
        assert session_cookie(client.get("/settings"))  # the session gets its CSRF token
        clock.tick(timedelta(minutes=59))
        assert "mtm_session=" not in str(client.get("/settings").headers.getlist("Set-Cookie"))
        clock.tick(timedelta(minutes=2))
        assert "Expires=Mon, 08 Jun 2026 13:01:00" in session_cookie(client.get("/settings"))
        clock.tick(timedelta(days=30))
        assert client.get("/settings").status_code == 200  # 31 days after the renewal, not after the login
        clock.tick(timedelta(days=32))
        assert client.get("/settings").status_code == 302  # gone after 31 days without a visit


# --- request size ---------------------------------------------------------------------------------


def test_a_too_large_request_is_a_friendly_413(app, authenticated_client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = authenticated_client.post("/settings/preferences", data={"time_zone": "x" * 4096})
    assert response.status_code == 413 and b"Back to the start" in response.data
    api = authenticated_client.post("/api/v1/overview", data="x" * 4096)
    assert api.status_code in (405, 413) and api.is_json


# --- open redirects ---------------------------------------------------------------------------------

EVIL = ["https://evil.example/", "//evil.example", "/\\evil.example", "/\\/evil.example", "\\\\evil.example"]


@pytest.mark.parametrize("evil", EVIL)
def test_a_login_link_never_sends_the_browser_to_another_site(client, engine, user, evil):
    with db.transaction(engine) as conn:
        token = users.create_login_token(conn, user, now=utcnow(), minutes=15)
    client.get("/", query_string={"next": evil})
    response = client.post(f"/login/{token}")
    assert response.status_code == 302 and response.location == "/"


def spotify_sign_in(client, fake, next_url: str | None = None):
    """The whole Spotify login against the fake: /login → fake consent → /callback; the callback's answer."""
    start = client.get("/login", query_string={"next": next_url} if next_url else None)
    consent = requests.get(start.location, allow_redirects=False, timeout=5)
    back = urlsplit(consent.headers["Location"])
    return client.get(f"{back.path}?{back.query}"), back.query


@pytest.mark.parametrize("evil", EVIL)
def test_a_spotify_login_never_sends_the_browser_to_another_site(fake_spotify, client, evil):
    response, _ = spotify_sign_in(client, fake_spotify, evil)
    assert response.status_code == 302 and response.location == "/"


def test_a_spotify_login_keeps_a_local_next(fake_spotify, client):
    response, _ = spotify_sign_in(client, fake_spotify, "/settings#data")
    assert response.location == "/settings#data"


# --- logs --------------------------------------------------------------------------------------------


def test_no_secret_reaches_the_logs_across_login_spotify_refresh_and_sync(fake_spotify, app, engine, client, caplog):
    caplog.set_level(logging.DEBUG)
    secrets_seen: set[str] = {app.config["SECRET_KEY"]}
    with db.transaction(engine) as conn:
        alice = make_user(conn)
        token = users.create_login_token(conn, alice, now=utcnow(), minutes=15)
    secrets_seen.add(token)
    client.get(f"/login/{token}")
    client.post(f"/login/{token}")
    client.get("/login")
    with client.session_transaction() as session:
        secrets_seen.update({session["pkce_verifier"], session["oauth_state"]})
    response, query = spotify_sign_in(client, fake_spotify)  # a fresh sign-in: new state and verifier
    assert response.status_code == 302
    secrets_seen.add(dict(part.split("=", 1) for part in query.split("&"))["code"])
    # Make the stored access token stale, so the next calls refresh (with rotation) first.
    with db.transaction(engine) as conn:
        conn.exec_driver_sql("UPDATE spotify_tokens SET expires_at = '2000-01-01 00:00:00'")
        user_id = conn.exec_driver_sql("SELECT user_id FROM spotify_tokens").scalar()
    spotify = SpotifyApp.from_config(app.config)
    for job in ("sync", "snapshot"):
        run = run_spotify_job(engine, job, user_id, spotify.client_for(engine, user_id), now=utcnow())
        assert run.ok, run.message
    assert "Refreshed the Spotify access token" in caplog.text
    secrets_seen |= set(fake_spotify.access_tokens) | set(fake_spotify.refresh_tokens)
    secrets_seen |= {cookie.value for cookie in client._cookies.values()}
    ours = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if not r.name.startswith("werkzeug"))  # werkzeug here is the fake Spotify's own server  # fmt: skip
    leaked = [secret[:8] + "…" for secret in secrets_seen if secret and secret in ours]
    assert leaked == []
    assert len(caplog.records) > 3  # the flows did log something
