"""Recognising history files by their content, whatever their names."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from music_time_machine.importers.detect import (
    ExportFormat,
    decode_json,
    detect_format,
    find_history,
    is_video_history,
)
from music_time_machine.importers.sources import UnreadableFile


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("endsong_0.json", ExportFormat.EXTENDED_ENDSONG),
        ("Streaming_History_Audio_2021-2023_1.json", ExportFormat.EXTENDED),
        ("Streaming_History_Audio_2024.json", ExportFormat.EXTENDED_AUDIOBOOK),
        ("StreamingHistory_music_0.json", ExportFormat.ACCOUNT_MUSIC),
        ("StreamingHistory0.json", ExportFormat.ACCOUNT_MUSIC),
        ("StreamingHistory_podcast_0.json", ExportFormat.ACCOUNT_PODCAST),
        ("StreamingHistory_audiobook_0.json", ExportFormat.ACCOUNT_AUDIOBOOK),
    ],
)
def test_each_format_is_recognised_by_its_keys(
    exports: Path, file: str, expected: ExportFormat
) -> None:
    assert detect_format(orjson.loads((exports / file).read_bytes())) is expected


def test_format_survives_damaged_first_records(exports: Path) -> None:
    entries = orjson.loads((exports / "Streaming_History_Audio_2024.json").read_bytes())

    assert detect_format([None, "x", {}, *entries]) is ExportFormat.EXTENDED_AUDIOBOOK


def test_source_of_each_format() -> None:
    assert {f.source for f in ExportFormat if f.value.startswith("extended")} == {"extended"}
    assert {f.source for f in ExportFormat if f.value.startswith("account")} == {"account"}


@pytest.mark.parametrize(
    "name",
    [
        "Spotify Extended Streaming History/Streaming_History_Video_2019-2024.json",
        "streaming_history_video_2023.json",
        "my_spotify_data.zip/Spotify Extended Streaming History\\Streaming_History_Video_2023.json",
    ],
)
def test_video_history_is_told_by_its_name(name: str) -> None:
    assert is_video_history(name)
    assert not is_video_history("Streaming_History_Audio_2023.json")


def test_other_spotify_files_are_not_history(exports: Path) -> None:
    userdata = decode_json("Userdata.json", (exports / "Userdata.json").read_bytes())

    assert find_history("Userdata.json", userdata) is None
    assert find_history("SearchQueries.json", [{"platform": "IPHONE", "searchTime": "x"}]) is None
    assert find_history("Playlist1.json", {"playlists": [{"name": "Mix", "items": []}]}) is None


def test_a_wrapped_list_is_unwrapped_with_a_note() -> None:
    plays = [{"endTime": "2024-08-02 22:44", "artistName": "A", "trackName": "T", "msPlayed": 1}]

    history = find_history("StreamingHistory2.json", {"StreamingHistory2": plays})

    assert history is not None
    assert history.format is ExportFormat.ACCOUNT_MUSIC
    assert history.entries == plays
    assert history.note == "read the plays from inside the object under 'StreamingHistory2'"


def test_an_empty_list_is_a_history_with_no_plays() -> None:
    history = find_history("StreamingHistory_podcast_0.json", [])

    assert history is not None
    assert (history.format, history.entries, history.note) == (None, [], "holds no plays")


def test_a_byte_order_mark_is_accepted() -> None:
    assert decode_json("x.json", b"\xef\xbb\xbf[1]") == [1]


def test_problems_name_the_file_in_one_sentence() -> None:
    with pytest.raises(UnreadableFile) as raised:
        decode_json("MyData/endsong_3.json", b"[1, 2,]")

    assert str(raised.value) == (
        "MyData/endsong_3.json is not valid JSON "
        "(trailing comma is not allowed at line 1, column 6)."
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [({}, ExportFormat.EXTENDED), ({"username": None}, ExportFormat.EXTENDED_ENDSONG),
     ({"audiobook_title": None}, ExportFormat.EXTENDED_AUDIOBOOK)],
)  # fmt: skip
def test_typed_records_keep_the_keys_that_tell_the_key_sets_apart(extra: dict, expected: ExportFormat) -> None:
    from music_time_machine.importers.extended import TypedRecord

    record = {"ts": "2024-01-01T10:00:00Z", "ms_played": 1, "master_metadata_track_name": "x", "ip_addr": None}
    entries = decode_json("Streaming_History_Audio_2024.json", orjson.dumps([{**record, **extra}]))

    assert type(entries[0]) is TypedRecord
    assert detect_format(entries) is expected


def test_a_list_of_objects_decodes_into_entries_that_keep_which_keys_they_had() -> None:
    from music_time_machine.importers.fields import Entry

    # The newest key set: audiobook keys present but null on a music play; ms_played as text
    # (not the type Spotify writes, so not a TypedRecord).
    record = {"ts": "2024-01-01T10:00:00Z", "ms_played": "1", "master_metadata_track_name": "x",
              "audiobook_title": None, "audiobook_chapter_title": None, "unknown_key": [1, {"a": 2}]}  # fmt: skip
    entries = decode_json("Streaming_History_Audio_2024.json", orjson.dumps([record]))

    assert type(entries[0]) is Entry
    assert set(entries[0].keys()) == set(record) - {"unknown_key"}
    assert detect_format(entries) is ExportFormat.EXTENDED_AUDIOBOOK
    assert detect_format([{k: v for k, v in record.items() if not k.startswith("audiobook")}]) is ExportFormat.EXTENDED
