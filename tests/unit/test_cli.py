import re

import sqlalchemy as sa

from music_time_machine import db
from music_time_machine.cli import cli
from music_time_machine.schema import plays, users

COMMANDS = {"demo", "serve", "login-link", "users", "db"}


def test_help_lists_every_command_with_a_description(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = dict(re.findall(r"^  (\S+)\s+(\S.*)$", result.output.split("Commands:")[1], re.MULTILINE))
    assert COMMANDS <= listed.keys()
    assert all(len(text) > 10 for text in listed.values())


def test_login_link_creates_the_user_and_prints_a_working_link(runner, database_url, app):
    result = runner.invoke(cli, ["login-link", "carol"])
    assert result.exit_code == 0, result.output
    link = re.search(r"http://127\.0\.0\.1:5000/login/(\S+)", result.output)
    assert link
    client = app.test_client()
    assert client.post(f"/login/{link.group(1)}").status_code == 302
    with client.session_transaction() as session:
        assert session["user_id"] is not None
    assert "carol" in runner.invoke(cli, ["users"]).output


def test_login_link_refuses_odd_names(runner):
    result = runner.invoke(cli, ["login-link", "no spaces please"])
    assert result.exit_code == 2 and "NAME" in result.output


def test_missing_secret_key_is_one_line_not_a_traceback(runner):
    result = runner.invoke(cli, ["users"], env={"SECRET_KEY": ""})
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: SECRET_KEY is missing")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_unreachable_database_is_one_line(runner):
    result = runner.invoke(cli, ["users"], env={"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot use the database at postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert len(result.output.strip().splitlines()) == 1


def test_db_upgrade_brings_a_new_database_to_the_newest_revision(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = runner.invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": url})
    assert result.exit_code == 0 and f"migrated to revision {db.head_revision()}" in result.output
    assert "already at" in runner.invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": url}).output


def test_demo_user_gets_a_multi_year_history(engine):
    from datetime import date

    from music_time_machine.demo import ensure_demo_user

    user_id = ensure_demo_user(engine, plays=3_000, end=date(2026, 11, 1))
    assert ensure_demo_user(engine, plays=3_000) == user_id  # the second run reuses it
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.name).where(users.c.id == user_id)).scalar_one() == "demo"
        first, last, count = conn.execute(
            sa.select(sa.func.min(plays.c.ended_at), sa.func.max(plays.c.ended_at), sa.func.count())
        ).one()
    assert count >= 2_990  # generated overlaps of one track at one second are the only duplicates
    assert (last - first) > 3.5 * 365 * 86_400
