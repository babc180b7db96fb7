import re

import pytest

from music_time_machine import create_app, db
from factories import make_user
from routes import urls


@pytest.fixture
def csrf_app(config):
    app = create_app({**config, "WTF_CSRF_ENABLED": True})
    yield app
    app.extensions["mtm_engine"].dispose()


@pytest.fixture
def csrf_client(csrf_app):
    """A client of the CSRF-protected app, logged in as alice."""
    with db.transaction(csrf_app.extensions["mtm_engine"]) as conn:
        user = make_user(conn)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user
    client.user_id = user
    return client


def test_post_without_a_csrf_token_is_refused(csrf_client):
    client, user = csrf_client, csrf_client.user_id
    response = client.post("/logout")
    assert response.status_code == 400
    assert b"The form expired" in response.data
    with client.session_transaction() as session:
        assert session["user_id"] == user  # still logged in: the request did nothing


def test_post_with_the_pages_csrf_token_works(csrf_client):
    client = csrf_client
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    with client.session_transaction() as session:
        assert "user_id" not in session


STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def test_every_state_changing_route_refuses_a_request_without_a_token(csrf_app, csrf_client):
    """Walks the URL map, so a new POST/PUT/PATCH/DELETE route cannot slip through unprotected."""
    checked = []
    for method in STATE_CHANGING:
        for rule, url in urls(csrf_app, method, {"*": "x", "*int": [1]}):
            response = csrf_client.open(url, method=method)
            assert response.status_code == 400, f"{method} {url} answered {response.status_code} without a CSRF token"
            checked.append(f"{method} {rule}")
    assert {"POST /logout", "POST /login/<token>", "POST /settings/clear", "POST /settings/delete-account"} <= set(checked)
