"""Reading a big export in a second process gives what reading it in-process gives."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from factories import make_user
from music_time_machine import db
from music_time_machine.importers import reader
from music_time_machine.importers.export import read_export
from music_time_machine.importers.pipeline import import_paths
from music_time_machine.schema import plays


def test_the_reader_process_yields_what_read_export_yields(exports):
    here = list(read_export([exports], keep_personal=True))
    there = list(reader.read_in_background([exports], keep_personal=True))

    assert [r.name for r in there] == [r.name for r in here]
    for mine, theirs in zip(here, there):
        assert (theirs.format, theirs.records, theirs.skipped_records, theirs.status) == (
            mine.format, mine.records, mine.skipped_records, mine.status,
        )  # fmt: skip
        assert (theirs.error, theirs.skip_reason, theirs.notes, theirs.fingerprint) == (
            mine.error, mine.skip_reason, mine.notes, mine.fingerprint,
        )  # fmt: skip
    assert sum(len(r.records) for r in there) > 0


def test_a_failure_in_the_reader_process_is_raised_in_the_importer(exports):
    with pytest.raises(RuntimeError, match="(?s)reader process failed.*unexpected keyword"):
        list(reader.read_in_background([exports], no_such_option=True))


def test_only_exports_of_some_size_are_worth_a_process(exports, monkeypatch):
    assert not reader.worth_a_process([exports])
    monkeypatch.setattr(reader, "BACKGROUND_FROM_BYTES", 1)
    assert reader.worth_a_process([exports])
    assert reader.worth_a_process([exports / "endsong_0.json"])


def test_an_import_read_in_a_second_process_stores_the_same_plays(engine, exports, monkeypatch):
    with db.transaction(engine) as conn:
        here, there = make_user(conn, "here"), make_user(conn, "there")
    _, report_here = import_paths(engine, here, [exports])
    monkeypatch.setattr(reader, "BACKGROUND_FROM_BYTES", 1)
    _, report_there = import_paths(engine, there, [exports])

    assert report_there["totals"] == report_here["totals"] and report_here["totals"]["added"] > 0
    with engine.connect() as conn:
        rows = [
            conn.execute(
                sa.select(plays.c.ended_at, plays.c.track_id, plays.c.ms_played, plays.c.kind)
                .where(plays.c.user_id == user)
                .order_by(plays.c.ended_at, plays.c.track_id)
            ).all()
            for user in (here, there)
        ]
    assert rows[0] == rows[1]
