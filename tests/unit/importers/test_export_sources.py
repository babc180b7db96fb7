"""Listing and reading the files of an export safely: zips in memory, folders, single files."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from music_time_machine.importers.sources import (
    ExportFile,
    Limits,
    SkippedFile,
    UnreadableFile,
    export_files,
)

PLAYS = b'[{"endTime": "2024-08-02 22:44", "artistName": "A", "trackName": "T", "msPlayed": 1}]'


def listing(paths: list[Path], limits: Limits = Limits()) -> dict[str, str]:
    """{name: "read", "skipped: reason" or "error: sentence"} for every file, read in turn."""
    seen = {}
    for file in export_files(paths, limits):
        if isinstance(file, SkippedFile):
            seen[file.name] = f"skipped: {file.reason}"
            continue
        try:
            file.read()
            seen[file.name] = "read"
        except UnreadableFile as error:
            seen[file.name] = f"error: {error}"
    return seen


def test_a_zip_as_spotify_mails_it(make_zip: Callable[..., Path]) -> None:
    folder = "Spotify Extended Streaming History"
    archive = make_zip(
        {
            f"{folder}/Streaming_History_Audio_2019-2021_0.json": PLAYS,
            f"{folder}/ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF-1.4",
            "__MACOSX/._my_spotify_data": b"\0\5\x16\7",
            f"{folder}/._Streaming_History_Audio_2019-2021_0.json": b"\0\5\x16\7",
        }
    )

    macos = "skipped: macOS metadata, not part of the export"
    assert listing([archive]) == {
        f"my_spotify_data.zip/{folder}/Streaming_History_Audio_2019-2021_0.json": "read",
        f"my_spotify_data.zip/{folder}/ReadMeFirst_ExtendedStreamingHistory.pdf": (
            "skipped: not a JSON file"
        ),
        "my_spotify_data.zip/__MACOSX/._my_spotify_data": macos,
        f"my_spotify_data.zip/{folder}/._Streaming_History_Audio_2019-2021_0.json": macos,
    }


def test_zip_members_are_read_into_memory_never_extracted(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"MyData/StreamingHistory0.json": PLAYS})

    for file in export_files([archive]):
        assert isinstance(file, ExportFile)
        assert bytes(file.read()) == PLAYS
    assert sorted(p.name for p in archive.parent.iterdir()) == ["my_spotify_data.zip"]


@pytest.mark.parametrize(
    "member",
    [
        "../../.bashrc.json",
        "/etc/evil.json",
        "MyData/../../evil.json",
        "..\\..\\evil.json",
        "C:/evil.json",
    ],
)
def test_members_outside_the_zip_are_refused(make_zip: Callable[..., Path], member: str) -> None:
    archive = make_zip({member: PLAYS, "MyData/StreamingHistory0.json": PLAYS})

    seen = listing([archive])

    assert seen[f"my_spotify_data.zip/{member}"] == (
        f"error: my_spotify_data.zip/{member} has a path that leads outside the zip; "
        "it was not read."
    )
    assert seen["my_spotify_data.zip/MyData/StreamingHistory0.json"] == "read"
    assert not (archive.parent.parent / "evil.json").exists()


def test_a_nested_zip_is_skipped(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"my_spotify_data.zip": b"PK\3\4", "MyData/StreamingHistory0.json": PLAYS})

    assert listing([archive])["my_spotify_data.zip/my_spotify_data.zip"] == (
        "skipped: nested zip files are not read; unzip it first"
    )


def test_a_member_over_the_file_limit_is_refused(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"big.json": b"[" + b" " * 2000 + b"]", "small.json": PLAYS})

    seen = listing([archive], Limits(max_file_bytes=1000))

    assert seen["my_spotify_data.zip/big.json"] == (
        "error: my_spotify_data.zip/big.json is larger than the limit of 1000 bytes per file."
    )
    assert seen["my_spotify_data.zip/small.json"] == "read"


def test_a_zip_header_that_lies_about_the_size_does_not_get_past_the_limit(
    make_zip: Callable[..., Path],
) -> None:
    archive = make_zip({"big.json": b"[" + b" " * 5000 + b"]"})
    raw = bytearray(archive.read_bytes())
    central = raw.index(b"PK\1\2")
    struct.pack_into("<I", raw, central + 24, 10)  # the uncompressed size it claims
    archive.write_bytes(raw)

    seen = listing([archive], Limits(max_file_bytes=1000))

    assert seen["my_spotify_data.zip/big.json"].startswith(
        "error: my_spotify_data.zip/big.json cannot be read from the zip"
    )


def test_a_zip_bomb_is_refused(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"Streaming_History_Audio_2020.json": b"[" + b" " * (8 << 20) + b"]"})

    seen = listing([archive])

    assert seen == {
        "my_spotify_data.zip/Streaming_History_Audio_2020.json": (
            "error: my_spotify_data.zip/Streaming_History_Audio_2020.json unpacks to far more than "
            "it takes in the zip (a zip bomb?); it was not read."
        )
    }


def test_the_total_limit_counts_the_bytes_really_read(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"a.json": PLAYS, "b.json": PLAYS, "c.json": PLAYS})

    seen = listing([archive], Limits(max_total_bytes=2 * len(PLAYS) + 10))

    assert list(seen.values())[:2] == ["read", "read"]
    assert seen["my_spotify_data.zip/c.json"] == (
        "error: my_spotify_data.zip/c.json was not read: the import is over its "
        f"{2 * len(PLAYS) + 10} bytes limit."
    )


def test_a_folder_is_walked_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "MyData"
    (folder / "deeper").mkdir(parents=True)
    for name in ("StreamingHistory1.json", "StreamingHistory0.json", "deeper/endsong_0.json"):
        (folder / name).write_bytes(PLAYS)
    (folder / "Read Me.txt").write_text("How to read your data")

    assert listing([folder]) == {
        "MyData/deeper/endsong_0.json": "read",
        "MyData/Read Me.txt": "skipped: not a JSON file",
        "MyData/StreamingHistory0.json": "read",
        "MyData/StreamingHistory1.json": "read",
    }


def test_single_files_are_named_by_their_file_name(tmp_path: Path) -> None:
    (tmp_path / "endsong.json").write_bytes(PLAYS)
    (tmp_path / "big.json").write_bytes(PLAYS * 100)

    paths = [tmp_path / "endsong.json", tmp_path / "missing.json", tmp_path / "big.json"]

    assert listing(paths, Limits(max_file_bytes=1000)) == {
        "endsong.json": "read",
        "missing.json": "error: missing.json does not exist.",
        "big.json": "error: big.json is larger than the limit of 1000 bytes per file.",
    }


def test_a_broken_zip_is_reported(tmp_path: Path) -> None:
    (tmp_path / "my_spotify_data.zip").write_bytes(b"PK\3\4 this download was cut off")

    assert listing([tmp_path / "my_spotify_data.zip"]) == {
        "my_spotify_data.zip": "error: my_spotify_data.zip is not a readable zip file."
    }


def test_an_encrypted_member_is_refused(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"endsong_0.json": PLAYS})
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"PK\1\2") + 8] |= 0x1  # the "encrypted" flag of the central directory entry
    archive.write_bytes(raw)

    assert listing([archive]) == {
        "my_spotify_data.zip/endsong_0.json": (
            "error: my_spotify_data.zip/endsong_0.json is encrypted; unzip it first."
        )
    }


def test_a_member_with_no_file_name_is_skipped_and_the_rest_is_read(make_zip) -> None:
    archive = make_zip({".": b"x", "StreamingHistory_music_0.json": PLAYS})
    seen = listing([archive])
    assert seen["my_spotify_data.zip/StreamingHistory_music_0.json"] == "read"
    assert list(seen.values()).count("skipped: not a JSON file") == 1


def contents(paths: list[Path]) -> dict[str, bytes]:
    """{name: the bytes read} of every file that reads."""
    return {file.name: bytes(file.read()) for file in export_files(paths) if isinstance(file, ExportFile)}


def test_a_big_member_is_read_whole(make_zip: Callable[..., Path]) -> None:
    # Several MB, unpacked in one piece.
    records = (b'{"ts": "2020-01-%02dT00:00:%02dZ", "n": %d}' % (i % 28 + 1, i % 60, i) for i in range(150_000))
    body = b"[" + b",".join(records) + b"]"
    archive = make_zip({"Streaming_History_Audio_2020.json": body, "small.json": PLAYS})

    assert contents([archive]) == {
        "my_spotify_data.zip/Streaming_History_Audio_2020.json": body,
        "my_spotify_data.zip/small.json": PLAYS,
    }


def test_a_stored_member_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr("StreamingHistory_music_0.json", PLAYS)

    assert contents([archive]) == {"my_spotify_data.zip/StreamingHistory_music_0.json": PLAYS}


def _damage(archive: Path, at: Callable[[bytearray], int], value: bytes) -> None:
    raw = bytearray(archive.read_bytes())
    where = at(raw)
    raw[where : where + len(value)] = value
    archive.write_bytes(raw)


@pytest.mark.parametrize(
    "at, value",
    [
        (lambda raw: raw.index(b"PK\1\2") + 16, b"\0\0\0\0"),  # the CRC-32 the central directory says
        (lambda raw: 30 + len("endsong_0.json") + 40, b"\xff" * 8),  # the middle of the deflated data
        (lambda raw: 0, b"XX\3\4"),  # the local header's signature
    ],
    ids=["crc", "data", "local header"],
)
def test_a_damaged_member_is_reported_and_the_rest_is_read(make_zip: Callable[..., Path], at, value) -> None:
    archive = make_zip({"endsong_0.json": PLAYS * 20, "StreamingHistory_music_0.json": PLAYS})
    _damage(archive, at, value)

    seen = listing([archive])

    assert seen["my_spotify_data.zip/endsong_0.json"].startswith(
        "error: my_spotify_data.zip/endsong_0.json cannot be read from the zip ("
    )
    assert seen["my_spotify_data.zip/StreamingHistory_music_0.json"] == "read"


def test_a_member_cut_short_is_reported(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"endsong_0.json": PLAYS * 20})
    raw = bytearray(archive.read_bytes())
    central = raw.index(b"PK\1\2")
    struct.pack_into("<I", raw, central + 20, 10)  # the compressed size it claims: 10 bytes

    archive.write_bytes(raw)

    assert listing([archive])["my_spotify_data.zip/endsong_0.json"] == (
        "error: my_spotify_data.zip/endsong_0.json cannot be read from the zip "
        "(its data ends before the end of its deflate stream)."
    )


def test_a_member_said_to_run_past_the_end_of_the_zip_is_reported(make_zip: Callable[..., Path]) -> None:
    archive = make_zip({"endsong_0.json": PLAYS})
    raw = bytearray(archive.read_bytes())
    struct.pack_into("<I", raw, raw.index(b"PK\1\2") + 20, 1 << 20)  # a compressed size of 1 MB
    archive.write_bytes(raw)

    assert listing([archive])["my_spotify_data.zip/endsong_0.json"] == (
        "error: my_spotify_data.zip/endsong_0.json cannot be read from the zip (the zip ends in the middle of its data)."
    )
