"""Exports and the backup download (SPEC §3.9): attachments, streamed, the user's own data only."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3

import sqlalchemy as sa

from factories import give_data, make_user
from music_time_machine import db, exports
from music_time_machine.schema import plays



def test_plays_csv_is_a_streamed_attachment_of_every_play(authenticated_client, seeded_db):
    response = authenticated_client.get("/export/plays.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="music-time-machine-alice-plays-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(seeded_db.records)
    first = min(seeded_db.records, key=lambda r: r.ended_at)
    assert min(row["ended_at"] for row in rows) == exports._iso(first.ended_at)
    assert set(rows[0]) == set(exports.PLAY_FIELDS)


def test_plays_jsonl_has_one_object_per_play(authenticated_client, seeded_db):
    response = authenticated_client.get("/export/plays.jsonl")
    assert response.headers["Content-Type"] == "application/jsonl; charset=utf-8"
    assert re.search(r'filename="[^"]+\.jsonl"', response.headers["Content-Disposition"])
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == len(seeded_db.records)
    assert {record["ms_played"] for record in map(json.loads, lines)} == {r.ms_played for r in seeded_db.records}


def test_snapshots_csv_and_only_the_users_own_rows(engine, user, logged_in_as):
    with db.transaction(engine) as conn:
        bob = make_user(conn, "bob")
        give_data(conn, user, "Alicetunes")
        give_data(conn, bob, "Bobsounds")
    client = logged_in_as(user)
    snapshot = client.get("/export/snapshots.csv")
    assert re.search(r'filename="[^"]+\.csv"', snapshot.headers["Content-Disposition"]) and "snapshots" in snapshot.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(snapshot.get_data(as_text=True))))
    assert [(r["taken_on"], r["rank"], r["artist"], r["track"]) for r in rows] == [
        ("2026-04-01", "1", "Alicetunes", "Alicetunes song")
    ]
    for name in ("plays.csv", "plays.jsonl", "snapshots.csv"):
        body = client.get(f"/export/{name}").get_data(as_text=True)
        assert "Alicetunes" in body and "Bobsounds" not in body


def test_an_export_reads_the_plays_a_chunk_at_a_time(seeded_db):
    """A 1M-play export must not load into memory: each query fetches at most `chunk` rows."""
    fetched: list[int] = []

    @sa.event.listens_for(seeded_db.engine, "after_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if "FROM plays" in statement:
            fetched.append(1)

    chunks = exports.plays_jsonl(seeded_db.engine, seeded_db.user_id, chunk=300)
    first = next(chunks)
    assert len(fetched) == 1  # a generator: only the first chunk is read before the first line goes out
    assert json.loads(first)["source"]
    lines = 1 + sum(1 for _ in chunks)
    assert lines == len(seeded_db.records)
    assert len(fetched) == len(seeded_db.records) // 300 + 1


def test_exports_need_a_login(client):
    assert client.get("/export/plays.csv").status_code == 302
    assert client.get("/export/backup").status_code == 302


def test_backup_download_is_a_consistent_sqlite_copy(authenticated_client, seeded_db, tmp_path):
    response = authenticated_client.get("/export/backup")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.sqlite3"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=music-time-machine-backup-")
    path = tmp_path / "downloaded.sqlite3"
    path.write_bytes(response.get_data())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM plays").fetchone()[0] == len(seeded_db.records)
    assert not list(tmp_path.glob("mtm-download-*"))


def test_backup_download_is_refused_on_a_shared_instance(authenticated_client, engine, user):
    with db.transaction(engine) as conn:
        make_user(conn, "bob")
    response = authenticated_client.get("/export/backup")
    assert response.status_code == 403
    assert "mtm backup" in response.get_data(as_text=True)


def test_backup_download_on_postgresql_says_to_use_pg_dump(app, authenticated_client):
    app.config["DATABASE_URL"] = "postgresql+psycopg://somewhere/mtm"
    response = authenticated_client.get("/export/backup", follow_redirects=True)
    assert "pg_dump -Fc" in response.get_data(as_text=True)


def test_the_plays_are_still_there_after_an_export(authenticated_client, seeded_db):
    authenticated_client.get("/export/plays.csv").get_data()
    with seeded_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar() == len(seeded_db.records)


def test_a_name_in_any_script_gives_a_header_the_server_can_send(engine, logged_in_as):
    with db.transaction(engine) as conn:
        dmitri = make_user(conn, "Дмитрий")
    response = logged_in_as(dmitri).get("/export/plays.csv")
    header = response.headers["Content-Disposition"]
    header.encode("latin-1")  # WSGI servers (waitress) send headers as Latin-1: a 500 otherwise
    assert "filename*=UTF-8''music-time-machine-%D0%94%D0%BC%D0%B8%D1%82%D1%80%D0%B8%D0%B9-plays-" in header
