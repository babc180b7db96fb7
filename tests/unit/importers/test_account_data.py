"""Parsing Spotify's account data (music, podcast, audiobook, and the older mixed file)."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import orjson

from music_time_machine.importers.account import mark_podcasts, parse_account
from music_time_machine.records import PlayRecord


def utc(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


def parse_file(path: Path):
    return parse_account(orjson.loads(path.read_bytes()))


def test_music_plays_with_minute_times_in_utc(exports: Path) -> None:
    records, skipped = parse_file(exports / "StreamingHistory_music_0.json")

    assert not skipped
    assert records[0] == PlayRecord(
        ended_at=utc("2024-08-02 22:44"),
        ms_played=201000,
        artist_name="ZAZ",
        track_name="Je veux",
        source="account",
        kind="music",
    )
    # The exact duplicate stays: storage dedups.
    assert records[1] == records[2]
    assert records[3].artist_name == "宇多田ヒカル"
    assert records[3].ms_played == 0


def test_podcast_plays_are_show_and_episode(exports: Path) -> None:
    records, skipped = parse_file(exports / "StreamingHistory_podcast_0.json")

    assert [(r.kind, r.artist_name, r.track_name) for r in records] == [
        ("podcast", "Les Pieds sur terre", "Épisode 12 : la nuit")
    ]
    assert skipped == {"no track, episode or chapter name": 1}


def test_audiobook_plays_are_book_and_chapter(exports: Path) -> None:
    (book,), _ = parse_file(exports / "StreamingHistory_audiobook_0.json")

    assert (book.kind, book.artist_name, book.track_name) == (
        "audiobook",
        "Der Process",
        "Kapitel 1: Verhaftung",
    )
    assert book.ended_at == utc("2024-03-10 06:30")


def test_older_mixed_file_reads_everything_as_music(exports: Path) -> None:
    records, _ = parse_file(exports / "StreamingHistory0.json")

    assert [r.kind for r in records] == ["music", "music"]


def test_known_podcast_episodes_are_marked_in_the_older_file(exports: Path) -> None:
    records, _ = parse_file(exports / "StreamingHistory0.json")

    # Names match as name_key does: case and spacing do not count.
    known = {("LAGE DER NATION", "LdN 270 Ukraine, Corona,  Wahlrecht")}

    marked, count = mark_podcasts(records, known)

    assert count == 1
    assert [r.kind for r in marked] == ["podcast", "music"]
    assert marked[0].track_name == "LdN 270 Ukraine, Corona, Wahlrecht"


def test_bad_account_records_are_counted() -> None:
    good = {"endTime": "2024-08-02 22:44", "artistName": "A", "trackName": "T", "msPlayed": 1}
    entries = [
        good,
        {**good, "endTime": "2024-13-02 22:44"},
        {**good, "endTime": None},
        {**good, "msPlayed": "1 minute"},
        {**good, "artistName": None},
        {"endTime": "2024-08-02 22:44", "msPlayed": 5},
        42,
    ]

    records, skipped = parse_account(entries)

    assert len(records) == 1
    assert skipped == {
        "bad time": 1,
        "missing time": 1,
        "ms_played not a number": 1,
        "no artist, show or book name": 1,
        "no track, episode or chapter name": 1,
        "not an object": 1,
    }
