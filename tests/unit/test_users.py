from datetime import datetime, timedelta

from factories import make_user
from music_time_machine import db, users

NOW = datetime(2026, 5, 8, 12, 0)


def test_a_login_token_works_once(engine):
    with db.transaction(engine) as conn:
        user = make_user(conn)
        token = users.create_login_token(conn, user, now=NOW, minutes=15)
        assert users.consume_login_token(conn, token, now=NOW) == user
        assert users.consume_login_token(conn, token, now=NOW) is None


def test_a_login_token_expires_after_its_minutes(engine):
    with db.transaction(engine) as conn:
        user = make_user(conn)
        token = users.create_login_token(conn, user, now=NOW, minutes=15)
        assert users.login_token_user(conn, token, now=NOW + timedelta(minutes=14, seconds=59)) == user
        assert users.consume_login_token(conn, token, now=NOW + timedelta(minutes=15)) is None


def test_only_a_hash_of_the_token_is_stored(engine):
    with db.transaction(engine) as conn:
        token = users.create_login_token(conn, make_user(conn), now=NOW, minutes=15)
        stored = conn.exec_driver_sql("SELECT token_hash FROM login_tokens").scalar_one()
    assert len(token) >= 40 and token not in stored


def test_unknown_tokens_log_nobody_in(engine):
    with db.transaction(engine) as conn:
        make_user(conn)
        assert users.consume_login_token(conn, "made-up", now=NOW) is None
