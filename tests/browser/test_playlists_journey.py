"""Playlists end to end against the fake Spotify: preview → save via AJAX → link → refresh; and the
same without JavaScript, through the plain form."""

from __future__ import annotations

from datetime import timedelta

from factories import add_plays, make_user, play
from music_time_machine import db, users
from music_time_machine.clock import utcnow
from spotify_stub import connect_to_fake


def listener(app, engine, fake, name):
    """A connected user with three tracks played yesterday; returns a one-time login token."""
    now = utcnow()
    with db.transaction(engine) as conn:
        user_id = make_user(conn, name)
        add_plays(conn, user_id, *[play("Björk", f"Song {n}", (now - timedelta(days=1, minutes=n)).isoformat(timespec="seconds"))
                                   for n in range(3)])  # fmt: skip
        token = users.create_login_token(conn, user_id, now=now, minutes=15)
    connect_to_fake(app, user_id, fake)
    return token


def test_preview_save_with_ajax_then_refresh(fake_spotify, page, app, engine):
    token = listener(app, engine, fake_spotify, "alice")
    page.goto(f"/login/{token}")
    page.click("#use-login-link")
    page.click("text=Playlists")
    page.check("input[value=current_rotation]")
    page.click("#preview")
    assert page.locator(".playlist-tracks tbody tr").count() == 3
    assert "1 listen in the last 28 days" in page.locator(".playlist-tracks").inner_text()

    page.fill("input[name=playlist_name]", "Jóga mix")
    page.click("#save")
    link = page.locator("#save-status #spotify-link")
    link.wait_for()
    assert "/playlists?source=current_rotation" in page.url  # updated in place, no navigation
    assert "Saved “Jóga mix” with 3 tracks" in page.locator("#save-status").inner_text()
    (spotify_id, remote), = fake_spotify.playlists.items()
    assert link.get_attribute("href") == f"https://open.spotify.com/playlist/{spotify_id}"
    assert (remote["name"], remote["public"], len(remote["items"])) == ("Jóga mix", False, 3)

    page.click("#playlist-page")
    page.click("#refresh")
    page.locator("body", has_text="Refreshed “Jóga mix”: 3 tracks.").wait_for()
    assert fake_spotify.requests[-1] == f"PUT /v1/playlists/{spotify_id}/items"
    page.click("text=All your playlists")
    assert "Jóga mix" in page.locator(".playlist-history").inner_text()


def test_the_same_without_javascript_through_the_form(fake_spotify, new_page, app, engine):
    token = listener(app, engine, fake_spotify, "bob")
    tab = new_page(java_script_enabled=False)
    tab.goto(f"/login/{token}")
    tab.click("#use-login-link")
    tab.goto("/playlists")
    tab.check("input[value=current_rotation]")
    tab.click("#preview")
    tab.click("#save")
    tab.locator("body", has_text="Saved “Current Rotation - ").wait_for()
    assert "/playlists/" in tab.url
    (spotify_id, remote), = fake_spotify.playlists.items()
    assert tab.locator("#spotify-link").get_attribute("href") == f"https://open.spotify.com/playlist/{spotify_id}"
    fake_spotify.fail_next(503, count=3, path_prefix="/v1/playlists/")
    tab.click("#refresh")
    tab.locator("body", has_text="was not refreshed: Spotify is having trouble right now.").wait_for()
    tab.click("#refresh")
    tab.locator("body", has_text="Refreshed “Current Rotation - ").wait_for()
    assert len(remote["items"]) == 3
