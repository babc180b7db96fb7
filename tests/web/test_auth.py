import pytest

from factories import make_user
from music_time_machine import db, users
from music_time_machine.clock import utcnow
from music_time_machine.web.auth import AUTH_SESSION_KEYS, safe_next_url


def login_token(engine, user_id: int) -> str:
    with db.transaction(engine) as conn:
        return users.create_login_token(conn, user_id, now=utcnow(), minutes=15)


def test_a_login_link_shows_a_button_and_logs_in_once(client, engine, user):
    token = login_token(engine, user)
    page = client.get(f"/login/{token}")
    assert page.status_code == 200 and b"Log in as alice" in page.data
    response = client.post(f"/login/{token}")
    assert response.status_code == 302 and response.location == "/"
    with client.session_transaction() as session:
        assert session["user_id"] == user
    # Used up: neither the page nor the POST work again, even for another browser.
    other = client.application.test_client()
    assert other.get(f"/login/{token}").status_code == 404
    other.post(f"/login/{token}")
    with other.session_transaction() as session:
        assert "user_id" not in session


def test_viewing_the_link_does_not_use_it_up(client, engine, user):
    token = login_token(engine, user)
    client.get(f"/login/{token}")
    client.get(f"/login/{token}")
    assert client.post(f"/login/{token}").status_code == 302
    with client.session_transaction() as session:
        assert session["user_id"] == user


def test_logout_removes_every_auth_key(authenticated_client):
    with authenticated_client.session_transaction() as session:
        for key in AUTH_SESSION_KEYS:
            session.setdefault(key, "x")
    response = authenticated_client.post("/logout")
    assert response.status_code == 302
    with authenticated_client.session_transaction() as session:
        assert not set(AUTH_SESSION_KEYS) & set(session.keys())


def test_pages_need_a_login_and_remember_where_you_were_going(client, engine, user):
    response = client.get("/", query_string={"next": "/year/2024"})
    assert b"Log in" in response.data
    token = login_token(engine, user)
    assert client.post(f"/login/{token}").location == "/year/2024"


@pytest.mark.parametrize(
    "value", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "evil", "/\x00x"]
)
def test_next_url_to_another_site_is_ignored(value):
    assert safe_next_url(value) is None


@pytest.mark.parametrize("value", ["/", "/year/2024", "/analytics?range=6m"])
def test_next_url_on_this_site_is_kept(value):
    assert safe_next_url(value) == value


def test_the_home_page_shows_only_the_logged_in_users_numbers(app, engine, logged_in_as):
    from factories import add_plays, play

    with db.transaction(engine) as conn:
        alice, bob = make_user(conn, "alice"), make_user(conn, "bob")
        add_plays(conn, alice, play("A", "one", "2024-01-01T10:00:00"), play("A", "two", "2024-01-02T10:00:00"))
        add_plays(conn, bob, *[play("B", f"t{i}", f"2024-01-{i + 1:02d}T10:00:00") for i in range(5)])
    page = logged_in_as(alice).get("/").get_data(as_text=True)
    assert 'data-stat="plays">2<' in page
    page = logged_in_as(bob).get("/").get_data(as_text=True)
    assert 'data-stat="plays">5<' in page


def test_demo_login_exists_only_in_demo_mode(client, engine):
    with db.transaction(engine) as conn:
        make_user(conn, "demo")
    assert client.post("/demo-login").status_code == 404


def test_demo_login_logs_in_the_demo_user(config):
    from music_time_machine import create_app

    app = create_app({**config, "DEMO_MODE": True})
    with db.transaction(app.extensions["mtm_engine"]) as conn:
        demo = make_user(conn, "demo")
    client = app.test_client()
    assert b"Enter the demo" in client.get("/").data
    assert client.post("/demo-login").status_code == 302
    with client.session_transaction() as session:
        assert session["user_id"] == demo
    app.extensions["mtm_engine"].dispose()
