"""Reading a big export in a second process gives what reading it in-process gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from factories import make_user
from music_time_machine import db
from music_time_machine.generator import generate_history, to_extended_record
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


def test_a_reader_process_that_fails_is_an_error_in_the_importer(exports, monkeypatch):
    monkeypatch.setattr(reader.sys, "executable", shutil.which("false"))  # ends at once, status 1
    with pytest.raises(RuntimeError, match="reader process failed"):
        list(reader.read_in_background([exports]))
    # A request bigger than a pipe holds: the child is gone before it is written (EPIPE).
    with pytest.raises(RuntimeError, match="reader process failed"):
        list(reader.read_in_background([exports], known={f"{n:064x}" for n in range(5_000)}))


def test_a_reader_process_ends_when_the_importer_stops_reading(tmp_path):
    """Its frames are written by a thread, up to two waiting: the first write that fails ends it."""
    history = generate_history(2_000, start=date(2024, 1, 1), end=date(2025, 1, 1), seed=1)
    big = tmp_path / "Streaming_History_Audio_2024.json"  # a frame of about 200 kB: more than a pipe holds
    big.write_bytes(orjson.dumps([to_extended_record(r) for r in history]))
    request = reader.msgspec.msgpack.encode(([str(big)] * 6, False, False, reader.Limits(), []))
    env = {**os.environ, "PYTHONPATH": str(Path(reader.__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-m", "music_time_machine.importers.reader"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env)  # fmt: skip
    child.stdin.write(request)
    child.stdin.close()
    assert child.stdout.read(8)  # the first frame is there
    child.stdout.close()
    assert child.wait(timeout=60) != 0


def test_the_reader_process_runs_the_module_whatever_the_main_script(exports, tmp_path):
    # multiprocessing's spawn would run the parent's __main__ again: here a script on stdin.
    script = f"""
from music_time_machine.importers.reader import read_in_background
print(sum(len(r.records) for r in read_in_background([{str(exports)!r}])))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(reader.__file__).resolve().parents[2])}
    run = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, env=env, check=True)
    assert int(run.stdout) == sum(len(r.records) for r in read_export([exports]))


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


def test_the_reader_process_loads_neither_flask_nor_package_metadata():
    # What the reader's start costs the import before its first file: Flask comes only with an
    # app, and the package's version only when asked for.
    env = {**os.environ, "PYTHONPATH": str(Path(reader.__file__).resolve().parents[2])}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, music_time_machine.importers.reader; print(*sorted(sys.modules))"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "music_time_machine.importers.reader" in loaded
    assert not {"flask", "importlib.metadata"} & set(loaded)


def test_the_package_version_comes_from_its_metadata():
    import importlib.metadata

    import music_time_machine

    assert music_time_machine.__version__ == importlib.metadata.version("music-time-machine")
    with pytest.raises(AttributeError):
        music_time_machine.no_such_name  # noqa: B018
