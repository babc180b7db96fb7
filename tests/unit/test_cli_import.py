"""`mtm import`: the progress bar, the report table, exit codes and one-line errors."""

from __future__ import annotations

import json

import sqlalchemy as sa

from factories import EXPORTS, make_user
from music_time_machine import db
from music_time_machine.cli import cli
from music_time_machine.schema import import_batches, plays

AUDIO = EXPORTS / "Streaming_History_Audio_2024.json"


def count_plays(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar_one()


def test_import_shows_a_report_table_and_stores_the_plays(runner, engine, user):
    result = runner.invoke(cli, ["import", str(EXPORTS)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("File "))
    assert header.split() == ["File", "Status", "Added", "Duplicates", "Replaced", "Under", "30", "s", "Podcasts",
                              "Skipped"]  # fmt: skip
    total = next(line for line in lines if line.startswith("Total"))
    assert total.split()[1:4] == ["9", "files", "15"]
    assert "skipped: exports/Streaming_History_Video_2022-2024.json: video history is not imported" in lines
    assert count_plays(engine) == 14  # one account play was replaced by its extended twin
    with engine.connect() as conn:
        assert conn.execute(sa.select(import_batches.c.origin, import_batches.c.status)).one() == ("cli", "done")


def test_the_import_runs_at_low_cpu_priority(runner, engine, user, niceness):
    assert runner.invoke(cli, ["import", str(AUDIO)]).exit_code == 0
    assert niceness.value == 10  # os.nice is counted, not called, in the tests (conftest)


def test_a_failed_file_makes_the_exit_status_non_zero(runner, engine, user, tmp_path):
    (tmp_path / "broken.json").write_text('[{"ts": "2024-01-01T00:00:00Z",')
    result = runner.invoke(cli, ["import", str(tmp_path / "broken.json"), str(AUDIO)])
    assert result.exit_code == 1
    assert "failed:  broken.json is cut off" in result.output
    assert result.output.rstrip().endswith("Error: 1 of 2 files could not be read.")
    assert "Traceback" not in result.output
    assert count_plays(engine) == 3


def test_options_reach_the_import(runner, engine, user):
    result = runner.invoke(cli, ["import", "--keep-personal", "--include-incognito", str(EXPORTS / "endsong_0.json")])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        assert conn.execute(sa.select(import_batches.c.options)).scalar_one() == {
            "keep_personal": True, "include_incognito": True}  # fmt: skip
        assert conn.execute(sa.select(sa.func.count()).where(plays.c.incognito.is_(True))).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).where(plays.c.username.isnot(None))).scalar_one() > 0


def test_a_missing_path_is_one_line(runner, user, tmp_path):
    result = runner.invoke(cli, ["import", str(tmp_path / "nope.zip")])
    assert (result.exit_code, result.output) == (1, f"Error: {tmp_path / 'nope.zip'} does not exist.\n")


def test_the_user_must_be_named_when_there_are_several(runner, engine, user):
    with db.transaction(engine) as conn:
        make_user(conn, "bob")
    result = runner.invoke(cli, ["import", str(AUDIO)])
    assert (result.exit_code, result.output) == (
        1, "Error: There are several users: say whose history it is with --user NAME.\n")  # fmt: skip
    assert runner.invoke(cli, ["import", "--user", "bob", str(AUDIO)]).exit_code == 0


def test_an_unknown_user_is_one_line(runner, user):
    result = runner.invoke(cli, ["import", "--user", "zed", str(AUDIO)])
    assert (result.exit_code, result.output) == (1, "Error: There is no user 'zed'; `mtm users` lists them.\n")


def test_the_file_size_limit_comes_from_the_environment(runner, engine, user, tmp_path):
    (tmp_path / "big.json").write_text(json.dumps([{"ts": "2024-01-01T00:00:00Z", "pad": "x" * 1_100_000}]))
    result = runner.invoke(cli, ["import", str(tmp_path / "big.json")], env={"MTM_IMPORT_MAX_FILE_MB": "1"})
    assert result.exit_code == 1
    assert "big.json is larger than the limit of 1 MB per file." in result.output


def test_lowering_the_priority_never_raises_it(niceness):
    from music_time_machine.niceness import lower_priority

    niceness.value = 15
    lower_priority()
    assert niceness.value == 15
