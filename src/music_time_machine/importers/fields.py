"""Reading the single fields of Spotify's play records, and the loop every format's parser shares.

Real files hold nulls anywhere, hand edits and odd types: a field that cannot be used either
becomes None (optional fields) or makes its record skipped with a reason (required fields).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, NamedTuple

import msgspec
from msgspec import UNSET

from music_time_machine.records import PlayRecord


FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a play's time may have
MAX_MS_PLAYED = 2**31 - 1  # the column is a 32-bit integer; 24 days of one stream is already absurd


class Entry(msgspec.Struct):
    """One record of a history file, of any format: every key Spotify has used, UNSET when absent.

    msgspec decodes a file straight into these (`detect.decode_json`), leaving out the keys
    nobody reads, several times faster than building a dict per record. The values are as
    written (any JSON type): the parsers judge them field by field, as for dicts.
    """

    # Extended streaming history (all three key sets).
    ts: Any = UNSET
    ms_played: Any = UNSET
    master_metadata_track_name: Any = UNSET
    master_metadata_album_artist_name: Any = UNSET
    master_metadata_album_album_name: Any = UNSET
    spotify_track_uri: Any = UNSET
    episode_name: Any = UNSET
    episode_show_name: Any = UNSET
    spotify_episode_uri: Any = UNSET
    audiobook_title: Any = UNSET
    audiobook_uri: Any = UNSET
    audiobook_chapter_uri: Any = UNSET
    audiobook_chapter_title: Any = UNSET
    reason_start: Any = UNSET
    reason_end: Any = UNSET
    shuffle: Any = UNSET
    skipped: Any = UNSET
    offline: Any = UNSET
    incognito_mode: Any = UNSET
    platform: Any = UNSET
    conn_country: Any = UNSET
    ip_addr: Any = UNSET
    ip_addr_decrypted: Any = UNSET
    user_agent_decrypted: Any = UNSET
    username: Any = UNSET
    # Account data.
    endTime: Any = UNSET
    msPlayed: Any = UNSET
    artistName: Any = UNSET
    trackName: Any = UNSET
    episodeName: Any = UNSET
    podcastName: Any = UNSET
    chapterName: Any = UNSET
    audiobookName: Any = UNSET

    def keys(self) -> list[str]:
        """The keys the record has."""
        return [name for name in self.__struct_fields__ if getattr(self, name) is not UNSET]


ABSENT = (None, UNSET)  # a key a record lacks reads as null


def entry(value: dict | Entry) -> Entry:
    """An Entry of a record decoded some other way (a dict)."""
    return value if type(value) is Entry else msgspec.convert(value, Entry)


class BadRecord(Exception):
    """A record that cannot be used; `reason` is what the import report counts it under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Parsed(NamedTuple):
    """The plays read from one file, and how many of its records were skipped, by reason."""

    records: list[PlayRecord]
    skipped: Counter[str]


def parse_entries(entries: Iterable[object], to_play: Callable[[Entry], PlayRecord]) -> Parsed:
    """Each entry (an Entry or a dict) made a play by `to_play`; the ones that are not objects or
    fail are counted."""
    records: list[PlayRecord] = []
    skipped: Counter[str] = Counter()
    append = records.append
    for item in entries:
        if type(item) is dict:
            item = entry(item)
        elif not isinstance(item, msgspec.Struct):  # an Entry, or a record of a typed format's own
            skipped["not an object"] += 1
            continue
        try:
            append(to_play(item))
        except BadRecord as bad:
            skipped[bad.reason] += 1
    return Parsed(records, skipped)


def utc_seconds(value: object) -> int:
    """Unix seconds of an ISO time such as "2020-04-11T00:27:53Z" or "2024-08-02 22:44"."""
    return moment_seconds(parse_time(value))


def parse_time(value: object) -> datetime:
    """The datetime of an ISO time (see utc_seconds); its year is judged by moment_seconds."""
    if value is None or value is UNSET:
        raise BadRecord("missing time")
    # At least "YYYY-MM-DD HH:MM": fromisoformat would read a bare date as midnight.
    if not isinstance(value, str) or len(value) < 16:
        raise BadRecord("bad time")
    try:
        # RFC 3339 as msgspec reads it into a TypedRecord's `ts` (a lowercase "t", more than six
        # digits of a second, rounded), so that a file's records are read alike on both paths.
        return msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        pass
    try:
        return datetime.fromisoformat(value)  # the other ISO forms, such as "2024-08-02 22:44"
    except ValueError:
        raise BadRecord("bad time") from None


def moment_seconds(moment: datetime) -> int:
    """Unix seconds of a datetime, UTC when it names no zone (Spotify writes UTC; `endTime` says
    so only in the documentation)."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        # Spotify began in 2006; a year like 0001 or 9999 is a hand edit, and it would overflow
        # when the summary tables move it into the user's time zone.
        raise BadRecord("bad time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def milliseconds(value: object) -> int:
    """A play's length in ms: a whole number, also when written as digits in a string."""
    if type(value) is int:  # not bool
        if value < 0:
            raise BadRecord("negative ms_played")
        if value > MAX_MS_PLAYED:
            raise BadRecord("ms_played too large")
        return value
    if value is None or value is UNSET:
        raise BadRecord("missing ms_played")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return milliseconds(int(value))
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return milliseconds(int(value))
    raise BadRecord("ms_played not a number")


def text(value: object) -> str | None:
    """A non-empty string, or None for null, "" and anything that is not a string."""
    return value if isinstance(value, str) and value else None


def flag(value: object) -> bool | None:
    """True or False, or None for null and anything else (0 and 1 count as False and True)."""
    if value is True or value is False:
        return value
    if value == 0 or value == 1:
        return bool(value)
    return None


def required_name(value: object, reason: str) -> str:
    """A name the play cannot go without (artist, track, show, episode, book, chapter)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(reason)
    return value
