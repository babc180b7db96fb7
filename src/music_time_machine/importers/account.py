"""Spotify's account data: `StreamingHistory_music_<n>.json`, `_podcast_<n>`, `_audiobook_<n>`.

The older `StreamingHistory<n>.json` holds music and podcast episodes alike under `artistName`
and `trackName`, so its plays are read as music; `mark_podcasts` turns the ones that match a
known podcast episode (show and episode names) into podcast plays.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from music_time_machine.importers.fields import (
    ABSENT,
    BadRecord,
    Entry,
    entry,
    Parsed,
    milliseconds,
    parse_entries,
    required_name,
    utc_seconds,
)
from music_time_machine.records import PlayRecord, name_key


def parse_account(entries: Iterable[object]) -> Parsed:
    """The plays of one account-data file, and its skipped records counted by reason."""
    return parse_entries(entries, account_play)


def account_play(record: Entry | dict) -> PlayRecord:
    """One play from one account-data record; raises BadRecord when it cannot be used."""
    e = entry(record)
    ended_at = utc_seconds(e.endTime)
    ms_played = milliseconds(e.msPlayed)
    if (track := e.trackName) not in ABSENT:
        kind, artist = "music", e.artistName
    elif (track := e.episodeName) not in ABSENT:
        kind, artist = "podcast", e.podcastName
    elif (track := e.chapterName) not in ABSENT:
        kind, artist = "audiobook", e.audiobookName
    else:
        raise BadRecord("no track, episode or chapter name")
    track = required_name(track, "no track, episode or chapter name")
    artist = required_name(artist, "no artist, show or book name")
    return PlayRecord(ended_at, ms_played, artist, track, "account", kind)


def mark_podcasts(
    records: list[PlayRecord], episodes: Iterable[tuple[str, str]]
) -> tuple[list[PlayRecord], int]:
    """The music plays whose (artist, track) is one of the (show, episode) pairs made podcast plays.

    Returns the records and how many were changed.
    """
    known = {(name_key(show), name_key(episode)) for show, episode in episodes}
    if not known:
        return records, 0
    marked = 0
    result = []
    for record in records:
        key = (name_key(record.artist_name), name_key(record.track_name))
        if record.kind == "music" and key in known:
            record = msgspec.structs.replace(record, kind="podcast")
            marked += 1
        result.append(record)
    return result, marked
