"""Reading the single fields of Spotify's play records, and the loop every format's parser shares.

Real files hold nulls anywhere, hand edits and odd types: a field that cannot be used either
becomes None (optional fields) or makes its record skipped with a reason (required fields).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import NamedTuple

from music_time_machine.records import PlayRecord


FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a play's time may have
MAX_MS_PLAYED = 2**31 - 1  # the column is a 32-bit integer; 24 days of one stream is already absurd


class BadRecord(Exception):
    """A record that cannot be used; `reason` is what the import report counts it under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Parsed(NamedTuple):
    """The plays read from one file, and how many of its records were skipped, by reason."""

    records: list[PlayRecord]
    skipped: Counter[str]


def parse_entries(entries: Iterable[object], to_play: Callable[[dict], PlayRecord]) -> Parsed:
    """Each entry made a play by `to_play`; the ones that are not objects or fail are counted."""
    records: list[PlayRecord] = []
    skipped: Counter[str] = Counter()
    append = records.append
    for entry in entries:
        if type(entry) is not dict:
            skipped["not an object"] += 1
            continue
        try:
            append(to_play(entry))
        except BadRecord as bad:
            skipped[bad.reason] += 1
    return Parsed(records, skipped)


def utc_seconds(value: object) -> int:
    """Unix seconds of an ISO time such as "2020-04-11T00:27:53Z" or "2024-08-02 22:44"."""
    if value is None:
        raise BadRecord("missing time")
    # At least "YYYY-MM-DD HH:MM": fromisoformat would read a bare date as midnight.
    if not isinstance(value, str) or len(value) < 16:
        raise BadRecord("bad time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRecord("bad time") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        # Spotify began in 2006; a year like 0001 or 9999 is a hand edit, and it would overflow
        # when the summary tables move it into the user's time zone.
        raise BadRecord("bad time")
    if moment.tzinfo is None:
        # Spotify writes UTC; `endTime` says so only in the documentation.
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
    if value is None:
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


def spotify_uri(value: object) -> str | None:
    """A `spotify:…` URI, or None."""
    return value if isinstance(value, str) and value.startswith("spotify:") else None


def required_name(value: object, reason: str) -> str:
    """A name the play cannot go without (artist, track, show, episode, book, chapter)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(reason)
    return value
