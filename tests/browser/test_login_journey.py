from factories import add_plays, make_user, play
from music_time_machine import db, users
from music_time_machine.clock import utcnow


def test_a_login_link_opens_the_home_page_with_the_users_numbers(page, engine):
    with db.transaction(engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(
            conn, alice,
            play("Björk", "Jóga", "2024-01-01T10:00:00"),
            play("宇多田ヒカル", "First Love", "2024-02-01T10:00:00"),
            play("Björk", "Hunter", "2025-03-01T10:00:00"),
        )  # fmt: skip
        token = users.create_login_token(conn, alice, now=utcnow(), minutes=15)

    page.goto(f"/login/{token}")
    page.click("#use-login-link")
    page.wait_for_url("**/")
    assert page.locator('[data-stat="plays"]').inner_text() == "3"
    assert page.locator('[data-stat="artists"]').inner_text() == "2"
    assert page.locator('[data-stat="first"]').inner_text() == "1 Jan 2024"
    assert page.locator(".who").inner_text() == "alice"

    # The link is used up: opening it again says so.
    page.goto(f"/login/{token}")
    page.locator("body", has_text="already used or has expired").wait_for()


def test_the_demo_button_logs_in_at_phone_width(new_page, app, engine):
    app.config["DEMO_MODE"] = True
    with db.transaction(engine) as conn:
        demo = make_user(conn, "demo")
        add_plays(conn, demo, play("Sade", "Kiss of Life", "2024-05-05T20:00:00"))
    tab = new_page(viewport={"width": 375, "height": 740})
    tab.goto("/")
    tab.click("#demo-login")
    assert tab.locator('[data-stat="plays"]').inner_text() == "1"
    # Nothing overflows sideways on a phone.
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
