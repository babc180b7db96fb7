"""Reading a whole export: every file gets a result; bad files are reported, the rest go on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from music_time_machine.importers import ExportFormat, FileResult, Limits, read_export, sources
from music_time_machine.importers.export import ALREADY_IMPORTED

EXTENDED = "Spotify Extended Streaming History"
NESTED_ZIP = "nested zip files are not read; unzip it first"
ONE_PLAY = b'{"ts": "2020-04-11T00:27:53Z", "ms_played": 1000, "master_metadata_track_name": "T", '
ONE_PLAY += b'"master_metadata_album_artist_name": "A"}'


def by_name(results: list[FileResult]) -> dict[str, FileResult]:
    return {result.name.rsplit("/", 1)[-1]: result for result in results}


def test_an_extended_export_zip(exports: Path, make_zip: Callable[..., Path]) -> None:
    archive = make_zip(
        {
            f"{EXTENDED}/Streaming_History_Audio_2021-2023_1.json": (
                exports / "Streaming_History_Audio_2021-2023_1.json"
            ).read_bytes(),
            f"{EXTENDED}/Streaming_History_Audio_2024.json": (
                exports / "Streaming_History_Audio_2024.json"
            ).read_bytes(),
            f"{EXTENDED}/Streaming_History_Video_2022-2024.json": (
                exports / "Streaming_History_Video_2022-2024.json"
            ).read_bytes(),
            f"{EXTENDED}/ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF-1.4",
        }
    )

    results = by_name(list(read_export([archive])))

    assert {name: r.status for name, r in results.items()} == {
        "Streaming_History_Audio_2021-2023_1.json": "read",
        "Streaming_History_Audio_2024.json": "read",
        "Streaming_History_Video_2022-2024.json": "skipped",
        "ReadMeFirst_ExtendedStreamingHistory.pdf": "skipped",
    }
    assert results["Streaming_History_Audio_2021-2023_1.json"].format is ExportFormat.EXTENDED
    assert len(results["Streaming_History_Audio_2024.json"].records) == 3
    video = results["Streaming_History_Video_2022-2024.json"]
    assert video.skip_reason == "video history is not imported"
    assert results["ReadMeFirst_ExtendedStreamingHistory.pdf"].skip_reason == "not a JSON file"
    assert results["Streaming_History_Audio_2024.json"].name == (
        f"my_spotify_data.zip/{EXTENDED}/Streaming_History_Audio_2024.json"
    )


def test_an_account_data_folder(exports: Path, tmp_path: Path) -> None:
    folder = tmp_path / "Spotify Account Data"
    folder.mkdir()
    for name in ("StreamingHistory_music_0.json", "StreamingHistory_podcast_0.json"):
        (folder / name).write_bytes((exports / name).read_bytes())
    (folder / "Userdata.json").write_bytes((exports / "Userdata.json").read_bytes())

    results = by_name(list(read_export([folder])))

    assert results["StreamingHistory_music_0.json"].format is ExportFormat.ACCOUNT_MUSIC
    assert len(results["StreamingHistory_music_0.json"].records) == 4
    assert results["StreamingHistory_podcast_0.json"].skipped_records == {
        "no track, episode or chapter name": 1
    }
    assert results["Userdata.json"].skip_reason == "not a listening history file"


def test_a_renamed_file_is_recognised_by_its_content(exports: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "my old history.json"
    renamed.write_bytes((exports / "endsong_0.json").read_bytes())

    (result,) = read_export([renamed], keep_personal=True, keep_incognito=True)

    assert result.format is ExportFormat.EXTENDED_ENDSONG
    assert len(result.records) == 5
    assert result.records[0].username == "example_user"


def test_podcasts_in_the_older_account_file_are_marked_by_the_extended_history(
    exports: Path,
) -> None:
    older_account_data = exports / "StreamingHistory0.json"
    extended = exports / "Streaming_History_Audio_2021-2023_1.json"

    results = list(read_export([older_account_data, extended]))

    older = results[-1]
    assert older.name == "StreamingHistory0.json"
    assert [r.kind for r in older.records] == ["podcast", "music"]
    assert older.notes == ["1 plays are podcast episodes seen elsewhere in the import"]


def test_records_of_wrong_types_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "Streaming_History_Audio_2020.json"
    path.write_bytes(
        b"[" + ONE_PLAY + b', {"ts": "last tuesday", "ms_played": 1}, '
        b'{"ts": "2020-04-11T00:27:53Z", "ms_played": "a lot", "master_metadata_track_name": "T"}, '
        b'{"ms_played": 5}]'
    )

    (result,) = read_export([path])

    assert (result.status, len(result.records)) == ("read", 1)
    assert result.skipped_records == {"bad time": 1, "ms_played not a number": 1, "missing time": 1}


def test_an_empty_list_is_read_as_no_plays(tmp_path: Path) -> None:
    (tmp_path / "StreamingHistory_podcast_0.json").write_bytes(b"[]\n")

    (result,) = read_export([tmp_path / "StreamingHistory_podcast_0.json"])

    assert (result.status, result.format, result.records, result.error) == ("read", None, [], None)
    assert result.notes == ["holds no plays"]


def test_a_list_wrapped_in_an_object_is_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "StreamingHistory2.json"
    path.write_bytes(b'{"StreamingHistory2": [' + ONE_PLAY + b"]}")

    (result,) = read_export([path])

    assert (result.status, len(result.records)) == ("read", 1)
    assert result.notes == ["read the plays from inside the object under 'StreamingHistory2'"]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "endsong.json"
    path.write_bytes(b"\xef\xbb\xbf[" + ONE_PLAY + b"]")

    (result,) = read_export([path])

    assert (result.status, len(result.records)) == ("read", 1)


BAD_FILES = [
    (
        "not JSON",
        b"ts,ms_played\n2020-04-11T00:27:53Z,1000\n",
        "is not JSON: it starts with 'ts,ms_played' instead of a list of plays",
    ),
    (
        "not valid JSON",
        b"[" + ONE_PLAY + b" " + ONE_PLAY + b"]",
        "is not valid JSON (unexpected character",
    ),
    ("truncated JSON", b"[" + ONE_PLAY + b", " + ONE_PLAY[:40], "is cut off: its JSON ends"),
    ("trailing comma", b"[" + ONE_PLAY + b",]", "is not valid JSON (trailing comma is not allowed"),
    ("a single object", ONE_PLAY, "holds a single play where a list of plays was expected"),
    ("an empty file", b"", "is empty"),
    ("only whitespace", b"\n  \n", "is empty"),
    ("not UTF-8", '[{"artistName": "Björk"}]'.encode("latin-1"), "is not UTF-8 text"),
    ("a PDF renamed .json", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "is a PDF document, not JSON"),
    ("a bare number", b"42", "holds a number, not a list of plays"),
    ("null", b"null", "holds null, not a list of plays"),
]


@pytest.mark.parametrize(
    ("content", "problem"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_a_bad_file_is_reported_in_one_sentence_and_the_others_go_on(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    (tmp_path / "Streaming_History_Audio_2020_0.json").write_bytes(content)
    (tmp_path / "Streaming_History_Audio_2020_1.json").write_bytes(b"[" + ONE_PLAY + b"]")

    bad, good = read_export(sorted(tmp_path.iterdir()))

    assert bad.status == "failed"
    assert bad.error is not None
    assert bad.error.startswith(f"Streaming_History_Audio_2020_0.json {problem}")
    assert bad.error.endswith(".") and "\n" not in bad.error and "Traceback" not in bad.error
    assert (bad.records, bad.format) == ([], None)
    assert (good.status, len(good.records)) == ("read", 1)


BAD_ZIP_MEMBERS = [
    (
        "a path outside the zip",
        "../../Streaming_History_Audio_2020.json",
        b"[]",
        "failed: has a path that leads outside the zip; it was not read.",
    ),
    (
        "a zip bomb",
        "Streaming_History_Audio_2020.json",
        b"[" + b" " * (8 << 20) + b"]",
        "failed: unpacks to far more than it takes in the zip (a zip bomb?); it was not read.",
    ),
    (
        "a file over the size limit",
        "Streaming_History_Audio_2020.json",
        b"[" + b" " * (17 << 20) + b"]",
        "failed: is larger than the limit of 16 MB per file.",
    ),
    ("a nested zip", "MyData.zip", b"PK\3\4", f"skipped: {NESTED_ZIP}"),
    ("a nested zip renamed", "StreamingHistory0.json", b"PK\3\4\0\0", f"skipped: {NESTED_ZIP}"),
]


@pytest.mark.parametrize(
    ("member", "content", "outcome"),
    [case[1:] for case in BAD_ZIP_MEMBERS],
    ids=[case[0] for case in BAD_ZIP_MEMBERS],
)
def test_a_bad_zip_member_is_reported_and_the_others_go_on(
    make_zip: Callable[..., Path], member: str, content: bytes, outcome: str
) -> None:
    archive = make_zip({member: content, "MyData/endsong_0.json": b"[" + ONE_PLAY + b"]"})

    bad, good = read_export([archive], limits=Limits(max_file_bytes=16 << 20))

    name = f"my_spotify_data.zip/{member}"
    assert bad.name == name
    if bad.error:
        assert f"failed: {bad.error}" == outcome.replace("failed: ", f"failed: {name} ")
    else:
        assert f"{bad.status}: {bad.skip_reason}" == outcome
    assert (good.status, len(good.records)) == ("read", 1)


def test_a_known_zip_member_is_skipped_without_being_unpacked(make_zip: Callable[..., Path], monkeypatch) -> None:
    name = f"{EXTENDED}/Streaming_History_Audio_2020.json"
    first = by_name(read_export([make_zip({name: b"[" + ONE_PLAY + b"]"})]))["Streaming_History_Audio_2020.json"]
    assert first.status == "read" and first.fingerprint

    # The same member in another zip, after another file, is known by its packed bytes: it is
    # not unpacked at all; a member that unpacks to other bytes is read.
    other = make_zip({"StreamingHistory_music_0.json": b"[]", name: b"[" + ONE_PLAY + b"]"}, name="other.zip")
    changed = make_zip({name: b"[" + ONE_PLAY + b", " + ONE_PLAY + b"]"}, name="changed.zip")
    unpacked = []
    real_inflated = sources._inflated
    monkeypatch.setattr(sources, "_inflated", lambda *args: unpacked.append(args[0].filename) or real_inflated(*args))
    again = {r.name: r for r in read_export([other, changed], known={first.fingerprint})}

    assert again[f"other.zip/{name}"].skip_reason == ALREADY_IMPORTED
    assert again[f"other.zip/{name}"].fingerprint == first.fingerprint
    assert again[f"changed.zip/{name}"].status == "read"
    assert unpacked == ["StreamingHistory_music_0.json", name]  # the other file, and the changed one


def test_a_zip_member_without_a_fingerprint_is_reported_as_reading_it_fails(make_zip: Callable[..., Path]) -> None:
    # Its packed bytes over the file limit, or a damaged local header: no fingerprint; reading says why.
    big = make_zip({"Streaming_History_Audio_2020.json": b"[" + b" " * 5000 + b"]"}, name="big.zip")
    damaged = make_zip({"Streaming_History_Audio_2021.json": b"[" + ONE_PLAY + b"]"}, name="damaged.zip")
    raw = bytearray(damaged.read_bytes())
    raw[0:2] = b"XX"
    damaged.write_bytes(raw)

    (too_big,) = read_export([big], limits=Limits(max_file_bytes=10))
    (unreadable,) = read_export([damaged])

    assert (too_big.fingerprint, too_big.error) == (
        None, "big.zip/Streaming_History_Audio_2020.json is larger than the limit of 10 bytes per file.")
    assert (unreadable.fingerprint, unreadable.error) == (
        None, "damaged.zip/Streaming_History_Audio_2021.json cannot be read from the zip (its local file header is damaged).")


def test_a_zip_member_s_packed_bytes_are_read_once_for_its_fingerprint_and_its_plays(
    make_zip: Callable[..., Path], monkeypatch
) -> None:
    archive = make_zip({f"{EXTENDED}/Streaming_History_Audio_2020.json": b"[" + ONE_PLAY + b"]"})
    reads = []
    real_packed = sources._packed
    monkeypatch.setattr(sources, "_packed", lambda *args: reads.append(args[1].filename) or real_packed(*args))

    (result,) = read_export([archive])

    assert result.status == "read" and result.fingerprint and len(result.records) == 1
    assert reads == [f"{EXTENDED}/Streaming_History_Audio_2020.json"]
