"""mtm stats, export, backup and restore: what a self-hoster runs on the server."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3

import pytest
import sqlalchemy as sa
from alembic import command

from factories import make_user
from music_time_machine import db
from music_time_machine.cli import cli


def plays_in(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM plays").fetchone()[0]


def test_stats_prints_the_top_artists_and_tracks(runner, seeded_db):
    from music_time_machine import analytics

    with seeded_db.engine.connect() as conn:
        everything = analytics.Period("all", None, None)
        artist = analytics.top_artists(conn, seeded_db.user_id, everything, limit=1)[0]
        track = analytics.top_tracks(conn, seeded_db.user_id, everything, limit=1)[0]
        plays = analytics.overview(conn, seeded_db.user_id).plays
    result = runner.invoke(cli, ["stats", "--range", "all", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"alice: {plays:,} plays")
    assert f"Top artists\n   1. {artist['name']}  ({artist['listens']:,} listens)" in result.output
    assert f"Top tracks\n   1. {track['artist']} – {track['title']}  ({track['listens']:,} listens)" in result.output


def test_stats_with_several_users_asks_which(runner, seeded_db):
    with db.transaction(seeded_db.engine) as conn:
        make_user(conn, "bob")
    result = runner.invoke(cli, ["stats"])
    assert result.exit_code == 1 and "--user NAME" in result.output
    assert runner.invoke(cli, ["stats", "--user", "bob"]).output.startswith("bob: 0 plays")


def test_export_writes_csv_to_stdout_and_jsonl_to_a_file(runner, seeded_db, tmp_path):
    result = runner.invoke(cli, ["export"])
    assert result.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == len(seeded_db.records)
    target = tmp_path / "plays.jsonl"
    result = runner.invoke(cli, ["export", "--format", "jsonl", "-o", str(target)])
    assert result.exit_code == 0, result.output
    lines = target.read_text().splitlines()
    assert len(lines) == len(seeded_db.records) and json.loads(lines[0])["artist"]


def test_backup_then_restore_brings_the_history_back(runner, seeded_db, database_url, tmp_path):
    backup = tmp_path / "backup.sqlite3"
    result = runner.invoke(cli, ["backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert plays_in(backup) == len(seeded_db.records)
    with db.transaction(seeded_db.engine) as conn:
        conn.exec_driver_sql("DELETE FROM plays")
    seeded_db.engine.dispose()
    result = runner.invoke(cli, ["restore", str(backup)])
    assert result.exit_code == 0, result.output
    assert f"revision {db.head_revision()}" in result.output
    assert plays_in(database_url.removeprefix("sqlite:///")) == len(seeded_db.records)


def test_restore_migrates_an_older_backup_up(runner, template_db, database_url, tmp_path):
    old = tmp_path / "old.sqlite3"
    shutil.copyfile(template_db, old)
    engine = db.make_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0001")
    engine.dispose()
    result = runner.invoke(cli, ["restore", str(old)])
    assert result.exit_code == 0, result.output
    assert f"migrated from revision 0001 to {db.head_revision()}" in result.output
    engine = db.make_engine(database_url)
    with engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
    engine.dispose()


def _not_sqlite(path):
    path.write_text("hello")


def _not_ours(path):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")


def _unknown_revision(path, template_db):
    shutil.copyfile(template_db, path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")


@pytest.mark.parametrize(
    "make, reason",
    [
        (_not_sqlite, "is not a SQLite database"),
        (_not_ours, "not a Music Time Machine one"),
        (_unknown_revision, "revision '9999_from_the_future', which this version does not know"),
        (None, "is not a file"),
    ],
)
def test_restore_refuses_anything_else_with_one_line_and_keeps_the_database(
    runner, seeded_db, database_url, tmp_path, template_db, make, reason
):
    path = tmp_path / "candidate.sqlite3"
    if make is _unknown_revision:
        make(path, template_db)
    elif make:
        make(path)
    result = runner.invoke(cli, ["restore", str(path)])
    assert result.exit_code == 1
    assert reason in result.output and len(result.output.strip().splitlines()) == 1
    assert plays_in(database_url.removeprefix("sqlite:///")) == len(seeded_db.records)
    assert not list(tmp_path.glob(".mtm-restore-*"))


def test_backup_and_restore_on_postgresql_point_to_pg_dump(runner, template_db, tmp_path):
    runner.env["DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/mtm"
    for args in (["backup", str(tmp_path / "b")], ["restore", template_db], ["restore", str(tmp_path / "b")]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1
        assert "pg_dump -Fc" in result.output


def test_a_backup_taken_while_a_writer_holds_a_transaction_has_only_committed_rows(seeded_db, database_url, tmp_path):
    from music_time_machine.backup import backup_to

    with db.transaction(seeded_db.engine) as conn:
        conn.execute(sa.text("DELETE FROM plays WHERE id <= 10"))
        backup_to(database_url, tmp_path / "mid.sqlite3")  # the delete is not committed yet
    assert plays_in(tmp_path / "mid.sqlite3") == len(seeded_db.records)
