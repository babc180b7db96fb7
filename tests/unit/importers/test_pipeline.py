"""The import pipeline: batches, reports, one transaction per file, bad files, kills and re-runs."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import examples, make_user
from music_time_machine import db
from music_time_machine.generator import to_extended_record
from music_time_machine.importers import pipeline
from music_time_machine.importers.pipeline import ImportOptions, import_paths
from music_time_machine.importers.sources import Limits
from music_time_machine.records import PlayRecord
from music_time_machine.schema import artists, import_batches, plays, tracks

SRC = Path(__file__).resolve().parents[3] / "src"
AUDIO_2024 = "Streaming_History_Audio_2024.json"
AUDIO_2021 = "Streaming_History_Audio_2021-2023_1.json"


def play_rows(engine, user_id) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(plays.c.ended_at, plays.c.ms_played, plays.c.source, plays.c.kind, tracks.c.title)
            .join(tracks)
            .where(plays.c.user_id == user_id)
            .order_by(plays.c.ended_at, tracks.c.title)
        ).all()


def batch(engine, batch_id) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(import_batches).where(import_batches.c.id == batch_id)).mappings().one())


def files_of(report) -> dict[str, dict]:
    return {entry["name"].rsplit("/", 1)[-1]: entry for entry in report["files"]}


@pytest.fixture
def alice(any_engine) -> int:
    with db.transaction(any_engine) as conn:
        return make_user(conn, "alice")


def test_a_whole_export_folder_is_imported_and_reported(any_engine, alice, exports):
    batch_id, report = import_paths(any_engine, alice, [exports])

    files = files_of(report)
    assert files["Streaming_History_Video_2022-2024.json"]["status"] == "skipped"
    assert files["Userdata.json"]["skip_reason"] == "not a listening history file"
    audio = files[AUDIO_2024]
    assert audio["status"] == "read" and audio["format"] == "extended-audiobook"
    assert audio["added"] == audio["plays_read"] > 0
    assert files["StreamingHistory_podcast_0.json"]["podcasts"] == 1
    assert files["StreamingHistory_podcast_0.json"]["skipped"] == {"no track, episode or chapter name": 1}
    assert files["StreamingHistory_audiobook_0.json"]["audiobooks"] == 1
    # The account file repeats a play: stored once, reported as a duplicate.
    assert files["StreamingHistory_music_0.json"]["duplicates"] >= 1

    row = batch(any_engine, batch_id)
    assert row["status"] == "done" and row["finished_at"] is not None
    assert row["files_done"] == row["files_total"] == len(report["files"])
    # Plays added, net of the account-data plays that extended plays of the same minute replaced.
    assert report["totals"]["replaced"] == 1
    net = report["totals"]["added"] - report["totals"]["replaced"]
    assert row["plays_added"] == net == len(play_rows(any_engine, alice))
    assert row["report"]["totals"] == report["totals"]
    assert row["options"] == {"keep_personal": False, "include_incognito": False}


def test_importing_the_same_export_again_adds_nothing(any_engine, alice, exports):
    import_paths(any_engine, alice, [exports])
    before = play_rows(any_engine, alice)
    _, report = import_paths(any_engine, alice, [exports])
    assert report["totals"]["added"] == 0
    assert {entry["skip_reason"] for entry in report["files"] if entry["format"] is None} >= {
        "already imported, unchanged, with the same options"}  # fmt: skip
    assert play_rows(any_engine, alice) == before


def test_a_changed_file_is_read_again_and_its_known_plays_are_duplicates(any_engine, alice, exports, tmp_path):
    original = exports / AUDIO_2024
    _, first = import_paths(any_engine, alice, [original])
    edited = tmp_path / AUDIO_2024
    edited.write_bytes(original.read_bytes() + b"\n")
    _, again = import_paths(any_engine, alice, [edited])
    assert again["files"][0]["status"] == "read"
    assert (again["totals"]["added"], again["totals"]["duplicates"]) == (0, first["totals"]["added"])


def test_a_known_file_is_read_again_with_other_options(engine, user, exports):
    path = exports / "endsong_0.json"
    _, first = import_paths(engine, user, [path])
    _, again = import_paths(engine, user, [path], options=ImportOptions(include_incognito=True))
    assert again["files"][0]["status"] == "read"
    assert again["totals"]["added"] == 1  # the incognito play, skipped the first time


def test_short_plays_are_stored_and_counted_under_the_threshold(engine, user, tmp_path):
    path = tmp_path / "history.json"
    records = [
        {"ts": "2024-01-01T10:00:00Z", "ms_played": 29_999, "master_metadata_track_name": "Short",
         "master_metadata_album_artist_name": "A"},
        {"ts": "2024-01-01T10:05:00Z", "ms_played": 30_000, "master_metadata_track_name": "Long",
         "master_metadata_album_artist_name": "A"},
    ]  # fmt: skip
    path.write_text(json.dumps(records))
    _, report = import_paths(engine, user, [path])
    assert report["totals"]["under_threshold"] == 1
    assert report["listen_threshold_s"] == 30
    assert len(play_rows(engine, user)) == 2


@pytest.mark.parametrize("include_incognito", [False, True])
def test_incognito_plays_are_skipped_unless_asked(engine, user, tmp_path, include_incognito):
    path = tmp_path / "history.json"
    path.write_text(json.dumps([
        {"ts": "2024-01-01T10:00:00Z", "ms_played": 60_000, "master_metadata_track_name": "Secret",
         "master_metadata_album_artist_name": "A", "incognito_mode": True},
    ]))  # fmt: skip
    _, report = import_paths(engine, user, [path], options=ImportOptions(include_incognito=include_incognito))
    assert len(play_rows(engine, user)) == (1 if include_incognito else 0)
    assert report["files"][0]["skipped"] == ({} if include_incognito else {"incognito": 1})


@pytest.mark.parametrize("keep_personal", [False, True])
def test_personal_fields_are_dropped_unless_asked(engine, user, exports, keep_personal):
    import_paths(engine, user, [exports / AUDIO_2021], options=ImportOptions(keep_personal=keep_personal))
    with engine.connect() as conn:
        kept = conn.execute(sa.select(plays.c.ip_addr, plays.c.conn_country).where(plays.c.ip_addr.isnot(None))).all()
    assert bool(kept) == keep_personal


# --- bad input: each file is one unit; the database keeps what it had ------------------------

GOOD = [{"ts": "2024-05-01T10:00:00Z", "ms_played": 200_000, "master_metadata_track_name": "Fine",
         "master_metadata_album_artist_name": "Band"}]  # fmt: skip
BAD_FILES = {
    "not JSON": (b"hello, this is text", "is not JSON"),
    "truncated": (json.dumps(GOOD).encode()[:-10], "is cut off"),
    "trailing comma": (b'[{"ts": "2024-05-01T10:00:00Z", "ms_played": 1},]', "is not valid JSON"),
    "single object": (json.dumps(GOOD[0]).encode(), "holds a single play"),
    "empty file": (b"", "is empty"),
    "not UTF-8": ('[{"ts": "2024-05-01T10:00:00Z", "master_metadata_track_name": "Caf\xe9"}]'.encode("latin-1"),
                  "is not UTF-8"),
    "a PDF renamed .json": (b"%PDF-1.4\n%\xe2\xe3", "is a PDF"),
    "a number": (b"42", "not a list of plays"),
}  # fmt: skip


@pytest.fixture
def earlier_import(any_engine, alice, exports) -> list[tuple]:
    """Alice's plays from an earlier import, which bad files must leave alone."""
    import_paths(any_engine, alice, [exports / AUDIO_2024])
    return play_rows(any_engine, alice)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_reported_and_the_others_still_import(any_engine, alice, earlier_import, tmp_path, case):
    content, problem = BAD_FILES[case]
    (tmp_path / "bad.json").write_bytes(content)
    (tmp_path / "good.json").write_text(json.dumps(GOOD))

    batch_id, report = import_paths(any_engine, alice, [tmp_path / "bad.json", tmp_path / "good.json"])

    bad = files_of(report)["bad.json"]
    assert bad["status"] == "failed" and bad["error"].startswith("bad.json ") and problem in bad["error"]
    assert files_of(report)["good.json"]["added"] == 1
    assert batch(any_engine, batch_id)["status"] == "failed"
    assert set(earlier_import) < set(play_rows(any_engine, alice))


@pytest.mark.parametrize(
    "content, counted",
    [
        ([], {}),
        ({"StreamingHistory2": GOOD}, {}),
        ([{**GOOD[0], "ms_played": "lots"}, {**GOOD[0], "ts": "yesterday"}, {"ms_played": 1}, "x"],
         {"ms_played not a number": 1, "bad time": 1, "missing time": 1, "not an object": 1}),
    ],
    ids=["empty list", "list wrapped in an object", "wrong types and missing fields"],
)  # fmt: skip
def test_odd_but_readable_files_import_what_they_can(engine, user, tmp_path, content, counted):
    (tmp_path / "odd.json").write_text(json.dumps(content))
    batch_id, report = import_paths(engine, user, [tmp_path / "odd.json"])
    entry = report["files"][0]
    assert entry["status"] == "read" and entry["skipped"] == counted
    assert entry["added"] == (1 if content and isinstance(content, dict) else 0)
    assert batch(engine, batch_id)["status"] == "done"


def test_a_zip_with_paths_outside_it_and_a_nested_zip(engine, user, make_zip, exports):
    archive = make_zip({
        "../../evil.json": json.dumps(GOOD),
        "inner.zip": b"PK\x03\x04nested",
        f"x/{AUDIO_2024}": (exports / AUDIO_2024).read_bytes(),
    })  # fmt: skip
    _, report = import_paths(engine, user, [archive])
    files = {entry["name"]: entry for entry in report["files"]}
    assert "leads outside the zip" in files["my_spotify_data.zip/../../evil.json"]["error"]
    assert files["my_spotify_data.zip/inner.zip"]["status"] == "skipped"
    assert files[f"my_spotify_data.zip/x/{AUDIO_2024}"]["added"] > 0


def test_a_file_over_the_size_limit_is_refused(engine, user, tmp_path):
    (tmp_path / "big.json").write_text(json.dumps(GOOD * 50))
    _, report = import_paths(engine, user, [tmp_path / "big.json"], limits=Limits(max_file_bytes=1000))
    assert "larger than the limit of 1000 bytes" in report["files"][0]["error"]
    assert play_rows(engine, user) == []


def test_a_file_that_fails_to_store_leaves_none_of_its_plays(engine, user, exports, monkeypatch):
    real = pipeline.store_plays
    calls = itertools.count()

    def failing_second_time(conn, *args, **kwargs):
        result = real(conn, *args, **kwargs)
        if next(calls) == 1:
            raise RuntimeError("disk full")
        return result

    monkeypatch.setattr(pipeline, "store_plays", failing_second_time)
    batch_id, report = import_paths(engine, user, [exports / AUDIO_2024, exports / AUDIO_2021])
    first, second = report["files"]
    assert first["added"] > 0 and second["status"] == "failed" and second["error"].startswith(f"{AUDIO_2021} could not be stored")
    assert len(play_rows(engine, user)) == first["added"]
    assert batch(engine, batch_id)["plays_added"] == first["added"]


def test_progress_is_committed_file_by_file(engine, user, exports):
    seen = []

    def look_from_another_connection(entry):
        with engine.connect() as conn:
            row = conn.execute(sa.select(import_batches.c.files_done, import_batches.c.plays_added)).one()
            stored = conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar_one()
        seen.append((tuple(row), stored))

    import_paths(engine, user, [exports / AUDIO_2024, exports / AUDIO_2021], progress=look_from_another_connection)
    (done1, added1), stored1 = seen[0]
    (done2, added2), stored2 = seen[1]
    assert (done1, done2) == (1, 2)
    assert 0 < added1 == stored1 < added2 == stored2


def test_a_batch_left_running_by_a_dead_process_is_marked_failed(engine, user, exports):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with db.transaction(engine) as conn:
        stale = pipeline.start_import(conn, user, origin="cli", label="x", options=ImportOptions(), files_total=3)
        conn.execute(
            import_batches.update().where(import_batches.c.id == stale)
            .values(report={"runner": {"host": os.uname().nodename, "pid": int(dead.stdout)}, "files": []})
        )  # fmt: skip
        assert pipeline.has_dead_batches(conn, user)
    import_paths(engine, user, [exports / AUDIO_2024])
    row = batch(engine, stale)
    assert row["status"] == "failed" and row["report"]["error"] == pipeline.INTERRUPTED


def test_a_batch_running_in_this_process_is_not_taken_for_dead(engine, user, exports):
    def check(_entry):
        with engine.connect() as conn:
            assert not pipeline.has_dead_batches(conn, user)

    import_paths(engine, user, [exports / AUDIO_2024], progress=check)


KILLED_IMPORT = """
import os, signal, sys
from music_time_machine import db
from music_time_machine.importers import pipeline, reader
reader.BACKGROUND_FROM_BYTES = int(os.environ["READER_FROM_BYTES"])
real, calls = pipeline.store_plays, []
def store_then_die(conn, *args, **kwargs):
    result = real(conn, *args, **kwargs)
    calls.append(1)
    if len(calls) == 2:  # the second file is stored but not committed
        os.kill(os.getpid(), signal.SIGKILL)
    return result
pipeline.store_plays = store_then_die
pipeline.import_paths(db.make_engine(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
"""


@pytest.mark.parametrize("reader_from_bytes", [2**40, 1], ids=["read in-process", "read by a second process"])
def test_a_killed_import_leaves_whole_files_and_a_rerun_completes_it(
    engine, database_url, exports, tmp_path, reader_from_bytes
):
    with db.transaction(engine) as conn:
        killed, clean = make_user(conn, "killed"), make_user(conn, "clean")
    paths = [str(exports / name) for name in (AUDIO_2024, AUDIO_2021, "endsong_0.json")]
    env = {**os.environ, "PYTHONPATH": str(SRC), "READER_FROM_BYTES": str(reader_from_bytes)}
    run = subprocess.run([sys.executable, "-c", KILLED_IMPORT, database_url, str(killed), *paths], env=env)
    assert run.returncode == -signal.SIGKILL

    with engine.connect() as conn:
        left = dict(conn.execute(sa.select(import_batches)).mappings().one())
    assert (left["status"], left["files_done"]) == ("running", 1)
    assert len(play_rows(engine, killed)) == left["plays_added"] == left["report"]["files"][0]["added"]

    _, rerun = import_paths(engine, killed, paths)
    import_paths(engine, clean, paths)
    # The file that went in is known by its fingerprint; the one being stored is read again.
    assert [entry["status"] for entry in rerun["files"]] == ["skipped", "read", "read"]
    assert rerun["totals"]["added"] == len(play_rows(engine, killed)) - left["plays_added"]
    assert play_rows(engine, killed) == play_rows(engine, clean)
    assert batch(engine, left["id"])["status"] == "failed"


# --- properties ------------------------------------------------------------------------------

NAMES = ["Björk", "宇多田ヒカル", "Кино", "ABBA", "Sigur Rós"]
TITLES = ["Jóga", "First Love", "Кукушка", "Waterloo", "Hoppípolla", "Intro"]
START = 1_600_000_000

a_play = st.builds(
    lambda artist, title, second, ms, skipped, shuffle, platform: PlayRecord(
        START + second, ms, artist, title, "extended", album_name=f"{artist} LP",
        spotify_uri=f"spotify:track:{NAMES.index(artist)}x{TITLES.index(title)}", skipped=skipped,
        shuffle=shuffle, offline=False, incognito=False, reason_start="clickrow", reason_end="trackdone",
        platform=platform,
    ),
    st.sampled_from(NAMES), st.sampled_from(TITLES), st.integers(0, 3 * 86_400), st.integers(0, 600_000),
    st.sampled_from([None, True, False]), st.sampled_from([None, True, False]), st.sampled_from(["ios", None]),
)  # fmt: skip
histories = st.lists(a_play, max_size=40, unique_by=lambda p: (p.ended_at, p.spotify_uri))
PROPERTY = settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
users_made = itertools.count()


def new_user(engine) -> int:
    with db.transaction(engine) as conn:
        return make_user(conn, f"u{next(users_made)}")


def export_file(folder: Path, name: str, records: list[PlayRecord]) -> Path:
    path = folder / f"{name}_{next(users_made)}.json"
    path.write_text(json.dumps([to_extended_record(r) for r in records]))
    return path


@PROPERTY
@given(history=histories)
def test_importing_a_history_twice_equals_importing_it_once(engine, tmp_path, history):
    once, twice = new_user(engine), new_user(engine)
    path = export_file(tmp_path, "h", history)
    import_paths(engine, once, [path])
    import_paths(engine, twice, [path])
    changed = tmp_path / f"changed_{path.name}"  # other bytes: read again, not skipped by its hash
    changed.write_bytes(path.read_bytes() + b"\n")
    _, again = import_paths(engine, twice, [changed])
    assert again["files"][0]["status"] == "read"
    assert again["totals"]["added"] == 0
    assert play_rows(engine, once) == play_rows(engine, twice)


@PROPERTY
@given(history=histories, split=st.integers(0, 40), overlap=st.integers(0, 5))
def test_splitting_a_history_across_two_imports_equals_one_import(engine, tmp_path, history, split, overlap):
    whole, parts = new_user(engine), new_user(engine)
    import_paths(engine, whole, [export_file(tmp_path, "whole", history)])
    import_paths(engine, parts, [export_file(tmp_path, "a", history[: split + overlap])])
    import_paths(engine, parts, [export_file(tmp_path, "b", history[split:])])
    assert play_rows(engine, whole) == play_rows(engine, parts)


@PROPERTY
@given(history=histories)
def test_every_stored_play_round_trips_its_fields(engine, tmp_path, history):
    user_id = new_user(engine)
    import_paths(engine, user_id, [export_file(tmp_path, "h", history)])
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(plays, tracks.c.title, tracks.c.album_name, tracks.c.spotify_uri, artists.c.name)
            .select_from(plays.join(tracks).join(artists))
            .where(plays.c.user_id == user_id)
        ).mappings()
        stored = {
            (r["ended_at"], r["spotify_uri"]): PlayRecord(
                r["ended_at"], r["ms_played"], r["name"], r["title"], r["source"], r["kind"], r["album_name"],
                r["spotify_uri"], r["skipped"], r["shuffle"], r["offline"], r["incognito"], r["reason_start"],
                r["reason_end"], r["platform"],
            )
            for r in rows
        }  # fmt: skip
    assert stored == {(p.ended_at, p.spotify_uri): p for p in history}


def test_a_zip_bomb_member_is_refused_and_the_rest_imports(engine, user, make_zip, exports):
    archive = make_zip({"bomb.json": b"[" + b" " * (6 * 2**20) + b"]", AUDIO_2024: (exports / AUDIO_2024).read_bytes()})
    batch_id, report = import_paths(engine, user, [archive])
    bomb, audio = report["files"]
    assert bomb["status"] == "failed" and "zip bomb" in bomb["error"]
    assert audio["added"] == len(play_rows(engine, user)) == 3
    assert batch(engine, batch_id)["status"] == "failed"


@pytest.mark.parametrize("stop, error", [(KeyboardInterrupt, pipeline.INTERRUPTED), (RuntimeError, pipeline.INTERNAL_ERROR)])
def test_an_import_that_stops_midway_ends_failed_not_running(engine, user, exports, stop, error):
    def stop_after_the_first_file(_entry):
        raise stop()

    with pytest.raises(stop):
        import_paths(engine, user, [exports / AUDIO_2024, exports / AUDIO_2021], progress=stop_after_the_first_file)
    with engine.connect() as conn:
        row = conn.execute(sa.select(import_batches)).mappings().one()
    assert (row["status"], row["report"]["error"], row["files_done"]) == ("failed", error, 1)
    assert len(play_rows(engine, user)) == row["plays_added"] == 3


def test_which_running_batches_are_taken_for_dead():
    from datetime import datetime, timedelta

    now = datetime(2026, 5, 8, 12, 0)
    here = os.uname().nodename
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True).stdout)  # fmt: skip

    def batch(host, pid, hours_ago=0, status="running", batch_id=-1):
        runner = {"host": host, "pid": pid}
        return {"id": batch_id, "status": status, "report": {"runner": runner},
                "created_at": now - timedelta(hours=hours_ago)}  # fmt: skip

    assert not pipeline.is_dead(batch(here, dead_pid, status="done"), now=now)
    assert pipeline.is_dead(batch(here, dead_pid), now=now)
    assert not pipeline.is_dead(batch(here, os.getppid()), now=now)  # a live process
    assert pipeline.is_dead(batch(here, os.getpid()), now=now)  # this process, but not running it
    assert not pipeline.is_dead(batch("elsewhere", 1, hours_ago=23), now=now)
    assert pipeline.is_dead(batch("elsewhere", 1, hours_ago=25), now=now)


# --- the summary tables: refreshed once at the end of an import -------------------------------


def summaries(engine, user_id) -> dict:
    """Every summary table of the user, as sorted rows."""
    from music_time_machine.rollups import _SUMMARIES

    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(sa.select(table).where(table.c.user_id == user_id)))
            for table in _SUMMARIES
        }


def rebuilt(engine, user_id) -> dict:
    from music_time_machine import rollups

    with db.transaction(engine) as conn:
        rollups.rebuild(conn, user_id)
    return summaries(engine, user_id)


def test_the_summaries_after_an_import_equal_a_rebuild_and_are_not_stale(any_engine, exports):
    from music_time_machine import rollups

    with db.transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
    import_paths(any_engine, alice, [exports])
    after_import = summaries(any_engine, alice)
    assert after_import["daily_plays"] and after_import["monthly_charts"]
    with any_engine.connect() as conn:
        assert not rollups.is_stale(conn, alice)
    assert rebuilt(any_engine, alice) == after_import


def test_the_summaries_a_killed_import_left_stale_are_refreshed_by_the_next_reader(engine, database_url, exports):
    from music_time_machine import analytics, rollups

    with db.transaction(engine) as conn:
        killed = make_user(conn, "killed")
    paths = [str(exports / name) for name in (AUDIO_2024, AUDIO_2021, "endsong_0.json")]
    env = {**os.environ, "PYTHONPATH": str(SRC), "READER_FROM_BYTES": str(2**40)}
    run = subprocess.run([sys.executable, "-c", KILLED_IMPORT, database_url, str(killed), *paths], env=env)
    assert run.returncode == -signal.SIGKILL
    with engine.connect() as conn:
        assert rollups.is_stale(conn, killed)  # the first file's plays are in, its summaries not
        assert summaries(engine, killed)["daily_plays"] == []
        overview = analytics.overview(conn, killed)  # a reader: the import is dead, so it refreshes
        assert not rollups.is_stale(conn, killed)
    stored = len([row for row in play_rows(engine, killed) if row.kind == "music"])
    assert overview.plays == stored > 0
    assert summaries(engine, killed) == rebuilt(engine, killed)


def test_a_user_deleted_while_their_import_runs_leaves_no_plays_behind(engine, user, exports):
    """The import stores plays without SQLite's foreign-key checks; the batch row, which goes
    with the user, is what stops the next file."""
    from music_time_machine import userdata

    def delete_the_user(_entry):
        with db.transaction(engine) as conn:
            userdata.delete_account(conn, user)

    with pytest.raises(Exception):
        import_paths(engine, user, [exports / AUDIO_2024, exports / AUDIO_2021], progress=delete_the_user)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(import_batches)).scalar_one() == 0


def test_an_import_connection_has_its_own_pragmas_and_gives_them_back(engine):
    names = ("cache_size", "wal_autocheckpoint", "foreign_keys", "page_size")
    with engine.connect() as conn:
        sqlite = conn.connection.dbapi_connection  # no transaction: foreign_keys changes only outside one

        def pragmas() -> dict[str, int]:
            return {name: sqlite.execute(f"PRAGMA {name}").fetchone()[0] for name in names}

        before = pragmas()
        with pipeline._import_pragmas(conn):
            during = pragmas()
        after = pragmas()
    # 16 MB of page cache, 64 MB of write-ahead log between checkpoints whatever the page size,
    # no foreign-key checks; then the connection's own settings again.
    assert during == {"cache_size": -16 * 1024, "wal_autocheckpoint": 64 * 2**20 // before["page_size"],
                      "foreign_keys": 0, "page_size": before["page_size"]}  # fmt: skip
    assert after == before and before["foreign_keys"] == 1
