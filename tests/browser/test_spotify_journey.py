"""Connect Spotify end to end against the fake Spotify: connect, snapshot, home, disconnect."""

from __future__ import annotations

import sqlalchemy as sa

from factories import make_user
from music_time_machine import db, users
from music_time_machine.clock import utcnow
from music_time_machine.schema import snapshots, spotify_tokens


def test_connect_snapshot_and_disconnect_leave_no_token_behind(fake_spotify, page, app, live_server, engine):
    app.config["SPOTIFY_REDIRECT_URI"] = f"{live_server}/callback"
    with db.transaction(engine) as conn:
        alice = make_user(conn, "alice")
        token = users.create_login_token(conn, alice, now=utcnow(), minutes=15)

    page.goto(f"/login/{token}")
    page.click("#use-login-link")
    page.click("text=Settings")
    page.click("#connect-spotify")  # the fake consents at once and sends the browser back
    page.wait_for_url("**/")
    page.locator("body", has_text="Connected to Spotify as Fake Listener").wait_for()

    page.goto("/settings")
    assert page.locator("#connected-as").inner_text() == "fake-listener"
    page.click("#take-snapshot")
    page.locator("body", has_text="6 lists, 300 entries").wait_for()
    page.goto("/")
    assert page.locator("#latest-snapshot").inner_text() == f"Latest snapshot: {utcnow().date().isoformat()}"

    page.goto("/settings")
    page.click("#disconnect")
    page.locator("body", has_text="Spotify is disconnected").wait_for()
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "mtm_session")
    session = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert not {"user_id", "oauth_state", "pkce_verifier"} & set(session)
    assert not any("fake-" in str(value) for value in session.values())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(spotify_tokens)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(snapshots)).scalar() == 300  # history stays
