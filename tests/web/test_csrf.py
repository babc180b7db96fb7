import re

import pytest

from music_time_machine import create_app, db
from factories import make_user


@pytest.fixture
def csrf_app(config):
    app = create_app({**config, "WTF_CSRF_ENABLED": True})
    yield app
    app.extensions["mtm_engine"].dispose()


def test_post_without_a_csrf_token_is_refused(csrf_app):
    with db.transaction(csrf_app.extensions["mtm_engine"]) as conn:
        user = make_user(conn)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user
    response = client.post("/logout")
    assert response.status_code == 400
    assert b"The form expired" in response.data
    with client.session_transaction() as session:
        assert session["user_id"] == user  # still logged in: the request did nothing


def test_post_with_the_pages_csrf_token_works(csrf_app):
    with db.transaction(csrf_app.extensions["mtm_engine"]) as conn:
        user = make_user(conn)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    with client.session_transaction() as session:
        assert "user_id" not in session


def _example_value(converter) -> str:
    return "1" if type(converter).__name__ in {"IntegerConverter", "NumberConverter"} else "x"


def test_every_state_changing_route_refuses_a_post_without_a_token(csrf_app):
    """Walks the URL map, so a new POST/PUT/PATCH/DELETE route cannot slip through unprotected."""
    with db.transaction(csrf_app.extensions["mtm_engine"]) as conn:
        user = make_user(conn)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user
    checked = []
    for rule in csrf_app.url_map.iter_rules():
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            url = "/" + "/".join(
                _example_value(rule._converters[part[1:-1].split(":")[-1]]) if part.startswith("<") else part
                for part in rule.rule.strip("/").split("/")
            )
            response = client.open(url, method=method)
            assert response.status_code == 400, f"{method} {rule.rule} answered {response.status_code} without a CSRF token"
            checked.append(f"{method} {rule.rule}")
    assert "POST /logout" in checked and "POST /login/<token>" in checked
