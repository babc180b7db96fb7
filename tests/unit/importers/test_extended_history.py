"""Parsing Spotify's extended streaming history (all three key sets) into PlayRecords."""

from __future__ import annotations

import calendar
import json
import time
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from music_time_machine.importers.detect import decode_json
from music_time_machine.importers.extended import TypedRecord, extended_play, parse_extended
from music_time_machine.records import PlayRecord


def utc(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def parse_file(path: Path, **options: bool):
    return parse_extended(orjson.loads(path.read_bytes()), **options)


def test_old_endsong_keys(exports: Path) -> None:
    records, skipped = parse_file(exports / "endsong_0.json")

    # The duplicate stays (storage dedups); incognito and the nameless record are skipped.
    assert len(records) == 4
    assert skipped == {"incognito": 1, "no track, episode or chapter name": 1}
    assert records[0] == PlayRecord(
        ended_at=utc("2019-03-02T21:14:05Z"),
        ms_played=233013,
        artist_name="Кино",
        track_name="Группа крови",
        source="extended",
        kind="music",
        album_name="Группа крови",
        spotify_uri="spotify:track:0ScmsHnVgCFzzDRkdeZVpQ",
        skipped=None,
        shuffle=False,
        offline=False,
        incognito=False,
        reason_start="trackdone",
        reason_end="trackdone",
        platform="Android OS 9 API 28 (samsung, SM-G960F)",
    )
    assert records[2] == records[0]
    evangelion = records[1]
    assert evangelion.track_name == "残酷な天使のテーゼ"
    assert (evangelion.skipped, evangelion.shuffle) == (True, True)


def test_podcast_episode_is_kept_as_show_and_episode(exports: Path) -> None:
    records, _ = parse_file(exports / "endsong_0.json")

    episode = records[3]
    assert (episode.kind, episode.artist_name, episode.track_name) == (
        "podcast",
        "Lage der Nation",
        "LdN 123 Sondersendung",
    )
    assert episode.spotify_uri == "spotify:episode:5QxZoGqiuHIBj4LsZbbTUG"
    assert episode.album_name is None
    assert episode.offline is True


def test_personal_fields_only_when_asked(exports: Path) -> None:
    dropped, _ = parse_file(exports / "endsong_0.json")
    kept, _ = parse_file(exports / "endsong_0.json", keep_personal=True)

    assert {(r.conn_country, r.ip_addr, r.user_agent, r.username) for r in dropped} == {(None,) * 4}
    assert (kept[0].conn_country, kept[0].ip_addr, kept[0].user_agent, kept[0].username) == (
        "DE",
        "192.0.2.17",
        "unknown",
        "example_user",
    )


def test_new_keys_with_ip_addr_and_nulls(exports: Path) -> None:
    path = exports / "Streaming_History_Audio_2021-2023_1.json"
    records, skipped = parse_file(path, keep_personal=True)

    assert not skipped
    assert [r.artist_name for r in records] == [
        "Μελίνα Μερκούρη",
        "فيروز",
        "아이유",
        "Lage der Nation",
        "Arijit Singh",
    ]
    fairuz, iu = records[1], records[2]
    assert (fairuz.shuffle, fairuz.skipped, fairuz.offline, fairuz.incognito) == (None,) * 4
    assert (iu.album_name, iu.spotify_uri, iu.platform, iu.ip_addr, iu.reason_start) == (None,) * 5
    assert records[0].ip_addr == "203.0.113.0"
    assert records[0].user_agent is None


def test_newest_keys_with_audiobooks(exports: Path) -> None:
    records, skipped = parse_file(exports / "Streaming_History_Audio_2024.json")

    assert not skipped
    assert [r.kind for r in records] == ["music", "audiobook", "podcast"]
    book = records[1]
    assert (book.artist_name, book.track_name, book.spotify_uri) == (
        "Der Process",
        "Kapitel 1: Verhaftung",
        "spotify:chapter:0kpdsCQbDD3OvKNM4pivM4",
    )
    assert book.ended_at == utc("2024-03-10T06:30:12Z")


def test_incognito_plays_are_kept_when_asked(exports: Path) -> None:
    records, skipped = parse_file(exports / "endsong_0.json", keep_incognito=True)

    assert "incognito" not in skipped
    assert [r.track_name for r in records if r.incognito] == ["Secret Song"]


RECORD = {
    "ts": "2020-04-11T00:27:53Z",
    "ms_played": 215000,
    "master_metadata_track_name": "Song",
    "master_metadata_album_artist_name": "Artist",
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": None}, "missing time"),
        ({"ts": "yesterday"}, "bad time"),
        ({"ts": "2020-02-30T10:00:00Z"}, "bad time"),
        ({"ts": "2020-04-11"}, "bad time"),
        ({"ts": 1586564873}, "bad time"),
        ({"ts": "0001-01-01T00:30:00Z"}, "bad time"),  # would overflow in a time zone west of UTC
        ({"ts": "9999-12-31T23:30:00Z"}, "bad time"),
        ({"ms_played": None}, "missing ms_played"),
        ({"ms_played": "about three minutes"}, "ms_played not a number"),
        ({"ms_played": "²"}, "ms_played not a number"),
        ({"ms_played": 1.5}, "ms_played not a number"),
        ({"ms_played": True}, "ms_played not a number"),
        ({"ms_played": -1}, "negative ms_played"),
        ({"ms_played": 10**20}, "ms_played too large"),  # would not fit the column: the file would fail
        ({"ms_played": "99999999999"}, "ms_played too large"),
        ({"master_metadata_track_name": None}, "no track, episode or chapter name"),
        ({"master_metadata_track_name": "  "}, "no track, episode or chapter name"),
        ({"master_metadata_track_name": 7}, "no track, episode or chapter name"),
        ({"master_metadata_album_artist_name": None}, "no artist, show or book name"),
    ],
)
@pytest.mark.parametrize("decode", [json.loads, lambda text: decode_json("file.json", text.encode())], ids=["dicts", "file"])
def test_unusable_records_are_skipped_with_a_reason(change: dict, reason: str, decode) -> None:
    records, skipped = parse_extended(decode(json.dumps([{**RECORD, **change}, RECORD])))

    assert len(records) == 1
    assert skipped == {reason: 1}


def test_entries_that_are_not_objects_are_counted() -> None:
    records, skipped = parse_extended([RECORD, None, "x", [RECORD]])

    assert len(records) == 1
    assert skipped == {"not an object": 3}


@pytest.mark.parametrize(
    ("ms_played", "expected"), [("215000", 215000), (215000.0, 215000), (0, 0)]
)
def test_ms_played_written_as_a_whole_number_is_read(ms_played: object, expected: int) -> None:
    assert extended_play({**RECORD, "ms_played": ms_played}).ms_played == expected


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2020-04-11T00:27:53Z", utc("2020-04-11T00:27:53Z")),
        ("2020-04-11T00:27:53", utc("2020-04-11T00:27:53Z")),
        ("2020-04-11T02:27:53+02:00", utc("2020-04-11T00:27:53Z")),
        ("2020-04-11T00:27:53.900Z", utc("2020-04-11T00:27:53Z")),
    ],
)
def test_time_is_read_as_utc(ts: str, expected: int) -> None:
    assert extended_play({**RECORD, "ts": ts}).ended_at == expected
    typed = decode_json("file.json", json.dumps([{**RECORD, "ts": ts}]).encode())  # msgspec reads the time
    assert type(typed[0]) is TypedRecord
    assert parse_extended(typed).records[0].ended_at == expected


def test_odd_optional_values_become_null() -> None:
    play = extended_play(
        {
            **RECORD,
            "spotify_track_uri": "https://open.spotify.com/track/x",
            "shuffle": "yes",
            "skipped": 1,
            "platform": 12,
            "reason_end": "",
        }
    )

    assert (play.spotify_uri, play.shuffle, play.skipped, play.platform, play.reason_end) == (
        None,
        None,
        True,
        None,
        None,
    )


names = st.text(st.characters(codec="utf-8"), min_size=1).filter(str.strip)
optional_text = st.none() | st.text(st.characters(codec="utf-8"), min_size=1)
optional_flag = st.sampled_from([None, True, False])
moments = st.datetimes(min_value=datetime(2006, 1, 1), max_value=datetime(2035, 12, 31))


@st.composite
def extended_records(draw: st.DrawFn) -> dict:
    """A valid extended-history record in one of the three key sets, of any kind."""
    key_set = draw(st.sampled_from(["endsong", "ip_addr", "audiobook"]))
    kinds = ["music", "podcast", "audiobook"] if key_set == "audiobook" else ["music", "podcast"]
    kind = draw(st.sampled_from(kinds))
    record = {
        "ts": draw(moments).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": draw(optional_text),
        "ms_played": draw(st.integers(0, 10**9)),
        "conn_country": draw(optional_text),
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": draw(optional_text),
        "reason_end": draw(optional_text),
        "shuffle": draw(optional_flag),
        "skipped": draw(optional_flag),
        "offline": draw(optional_flag),
        "offline_timestamp": draw(st.sampled_from([None, 0, 1586564873, 1586564873123])),
        "incognito_mode": draw(st.sampled_from([None, False])),
    }
    if key_set == "endsong":
        record |= {
            "username": draw(optional_text),
            "ip_addr_decrypted": draw(optional_text),
            "user_agent_decrypted": draw(optional_text),
        }
    else:
        record["ip_addr"] = draw(optional_text)
    if key_set == "audiobook":
        record |= dict.fromkeys(
            ["audiobook_title", "audiobook_uri", "audiobook_chapter_uri", "audiobook_chapter_title"]
        )
    uri = draw(st.none() | st.from_regex(r"[0-9A-Za-z]{22}", fullmatch=True))
    if kind == "music":
        record |= {
            "master_metadata_track_name": draw(names),
            "master_metadata_album_artist_name": draw(names),
            "master_metadata_album_album_name": draw(optional_text),
            "spotify_track_uri": uri and f"spotify:track:{uri}",
        }
    elif kind == "podcast":
        record |= {
            "episode_name": draw(names),
            "episode_show_name": draw(names),
            "spotify_episode_uri": uri and f"spotify:episode:{uri}",
        }
    else:
        record |= {
            "audiobook_chapter_title": draw(names),
            "audiobook_title": draw(names),
            "audiobook_chapter_uri": uri and f"spotify:chapter:{uri}",
        }
    return record


@given(extended_records(), st.booleans())
def test_any_valid_record_round_trips_into_a_play(record: dict, keep_personal: bool) -> None:
    entries = orjson.loads(orjson.dumps([record]))

    (play,), skipped = parse_extended(entries, keep_personal=keep_personal)

    assert not skipped
    name_keys = {
        "music": (
            "master_metadata_album_artist_name",
            "master_metadata_track_name",
            "spotify_track_uri",
        ),
        "podcast": ("episode_show_name", "episode_name", "spotify_episode_uri"),
        "audiobook": ("audiobook_title", "audiobook_chapter_title", "audiobook_chapter_uri"),
    }[play.kind]
    names = (play.artist_name, play.track_name, play.spotify_uri)
    assert names == tuple(record[key] for key in name_keys)
    assert play.ended_at == utc(record["ts"])
    assert play.ms_played == record["ms_played"]
    assert play.source == "extended"
    assert play.album_name == record["master_metadata_album_album_name"]
    flags = ("shuffle", "skipped", "offline", "incognito_mode")
    assert (play.shuffle, play.skipped, play.offline, play.incognito) == tuple(
        map(record.get, flags)
    )
    details = ("platform", "reason_start", "reason_end")
    assert (play.platform, play.reason_start, play.reason_end) == tuple(map(record.get, details))
    ip_addr = record.get("ip_addr") or record.get("ip_addr_decrypted")
    personal = (
        record["conn_country"],
        ip_addr,
        record.get("user_agent_decrypted"),
        record.get("username"),
    )
    assert (play.conn_country, play.ip_addr, play.user_agent, play.username) == (
        personal if keep_personal else (None,) * 4
    )


awkward_text = st.sampled_from([None, "", " ", "x", "spotify:track:abc", "local:track:x"]) | optional_text


@st.composite
def typed_records(draw: st.DrawFn) -> dict:
    """A record with the types Spotify writes, its values valid or not (blank names, odd times…)."""
    record = draw(extended_records())
    for key in ("master_metadata_track_name", "master_metadata_album_artist_name", "episode_name",
                "spotify_track_uri", "master_metadata_album_album_name", "ip_addr", "platform"):  # fmt: skip
        if key in record and draw(st.booleans()):
            record[key] = draw(awkward_text)
    for key in ("audiobook_chapter_title", "audiobook_title", "username", "user_agent_decrypted"):
        if draw(st.booleans()):
            record.pop(key, None)
    record["incognito_mode"] = draw(optional_flag)
    # Times in RFC 3339 (what a TypedRecord holds), odd ones too: naive, an offset, a year out of
    # range, lowercase, more digits of a second than a datetime holds (msgspec rounds them).
    record["ts"] = draw(st.sampled_from([record["ts"], "2020-04-11T00:27:53", "2020-04-11T02:27:53+02:00",
                                         "0001-01-01T00:30:00Z", "2020-04-11t00:27:53z",
                                         "2020-04-11T00:27:53.9999999Z"]))  # fmt: skip
    return record


ODD = [
    {**RECORD, "spotify_track_uri": "local:track:x", "master_metadata_album_album_name": "", "platform": ""},
    {**RECORD, "master_metadata_album_artist_name": " "},
    {**RECORD, "master_metadata_track_name": None, "episode_name": "E", "episode_show_name": None},
    {**RECORD, "master_metadata_track_name": None, "audiobook_chapter_title": "C", "audiobook_title": "B",
     "audiobook_chapter_uri": "spotify:chapter:c"},
    {**RECORD, "incognito_mode": True, "ip_addr": "", "ip_addr_decrypted": "1.2.3.4", "username": "u"},
]  # fmt: skip


@given(st.lists(typed_records(), max_size=5), st.booleans(), st.booleans())
@example(ODD, True, True)
@example(ODD, False, False)
def test_a_file_of_typed_records_parses_as_record_by_record(records: list, keep_personal: bool, keep_incognito: bool) -> None:
    data = orjson.dumps(records)
    typed = decode_json("file.json", data)
    options = {"keep_personal": keep_personal, "keep_incognito": keep_incognito}

    assert all(type(entry) is TypedRecord for entry in typed)
    assert parse_extended(typed, **options) == parse_extended(orjson.loads(data), **options)
