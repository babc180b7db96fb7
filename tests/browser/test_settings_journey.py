"""Settings end to end in Chromium (no JavaScript needed): preferences, an export download,
clear my data after ticking the box, delete my account after typing the name."""

from __future__ import annotations

import sqlalchemy as sa

from factories import give_data, make_user
from music_time_machine import db, users
from music_time_machine.clock import utcnow
from music_time_machine.schema import plays
from music_time_machine.schema import users as users_table


def test_preferences_export_clear_and_delete(page, engine):
    with db.transaction(engine) as conn:
        alice = make_user(conn, "alice")
        give_data(conn, alice, "Alicetunes")
        token = users.create_login_token(conn, alice, now=utcnow(), minutes=15)
    page.goto(f"/login/{token}")
    page.click("#use-login-link")
    page.goto("/settings")
    assert page.locator("#stat-plays").inner_text() == "2"

    page.fill("#time-zone", "Europe/Lisbon")
    page.fill("#listen-threshold", "40")
    page.click("#save-preferences")
    page.locator("body", has_text="Saved: time zone Europe/Lisbon").wait_for()

    with page.expect_download() as download:
        page.click("text=Plays (CSV)")
    assert download.value.suggested_filename.startswith("music-time-machine-alice-plays-")
    assert "Alicetunes" in open(download.value.path(), encoding="utf-8").read()

    page.click("#clear-data")  # the box is not ticked: the browser does not send the form
    assert page.locator("#stat-plays").inner_text() == "2"
    page.check("input[name=confirm]")
    page.click("#clear-data")
    page.locator("body", has_text="Your data is cleared: 2 plays").wait_for()
    assert page.locator("#stat-plays").inner_text() == "0"

    page.fill("#confirm-name", "alice")
    page.click("#delete-account")
    page.locator("body", has_text="Your account and all its data are deleted.").wait_for()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users_table)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar() == 0
