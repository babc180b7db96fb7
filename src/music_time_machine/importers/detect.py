"""Recognising a history file by what it holds: decoding its JSON and reading its records' keys.

People rename files, so the name decides only what content cannot tell: video history has the
same keys as audio history and is skipped by its name.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from pathlib import PurePosixPath

import msgspec
import orjson

from music_time_machine.importers.extended import TypedRecord
from music_time_machine.importers.fields import Entry
from music_time_machine.importers.sources import UnreadableFile


class ExportFormat(StrEnum):
    """The kinds of listening-history file in Spotify's exports."""

    # Extended streaming history, older key set (`endsong_<n>.json`, also under newer names):
    # `username`, `ip_addr_decrypted`, `user_agent_decrypted`.
    EXTENDED_ENDSONG = "extended-endsong"
    EXTENDED = "extended"  # `ip_addr`, no user agent
    EXTENDED_AUDIOBOOK = "extended-audiobook"  # adds `audiobook_title`, `audiobook_uri`, …
    # Account data: `StreamingHistory_music_<n>.json`, and the older `StreamingHistory<n>.json`
    # that mixes podcast episodes in.
    ACCOUNT_MUSIC = "account-music"
    ACCOUNT_PODCAST = "account-podcast"  # `podcastName`, `episodeName`
    ACCOUNT_AUDIOBOOK = "account-audiobook"  # `audiobookName`, `chapterName`

    @property
    def source(self) -> str:
        """The PlayRecord source its plays get: 'extended' or 'account'."""
        return "extended" if self.value.startswith("extended") else "account"


@dataclass(frozen=True, slots=True)
class History:
    """The records a history file holds, what format they are in, and anything worth telling."""

    format: ExportFormat | None  # None only when the file holds no records at all
    entries: list[object]
    note: str | None = None


_ENDSONG_KEYS = {"username", "ip_addr_decrypted", "user_agent_decrypted"}
_AUDIOBOOK_KEYS = {
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
}
# Enough records to see a file's keys even when the first ones are damaged.
_SAMPLE = 20


def is_video_history(name: str) -> bool:
    """Whether the file is Spotify's video history, which is not imported."""
    return PurePosixPath(name.replace("\\", "/")).name.lower().startswith("streaming_history_video")


def detect_format(entries: list[object]) -> ExportFormat | None:
    """The format of a list of records, from the keys of its first objects; None if none fits."""
    keys: set[str] = set()
    for entry in islice((e for e in entries if type(e) in (dict, Entry, TypedRecord)), _SAMPLE):
        keys.update(entry.keys())
    if "ts" in keys or "ms_played" in keys:
        if keys & _AUDIOBOOK_KEYS:
            return ExportFormat.EXTENDED_AUDIOBOOK
        if keys & _ENDSONG_KEYS:
            return ExportFormat.EXTENDED_ENDSONG
        return ExportFormat.EXTENDED
    if "endTime" in keys or "msPlayed" in keys:
        if "episodeName" in keys or "podcastName" in keys:
            return ExportFormat.ACCOUNT_PODCAST
        if "chapterName" in keys or "audiobookName" in keys:
            return ExportFormat.ACCOUNT_AUDIOBOOK
        return ExportFormat.ACCOUNT_MUSIC
    return None


_TYPED = msgspec.json.Decoder(list[TypedRecord])
_ENTRIES = msgspec.json.Decoder(list[Entry])


def decode_json(name: str, data: bytes | bytearray) -> object:
    """The decoded JSON document of a file; raises UnreadableFile with what is wrong with it.

    An extended history whose every record has the types Spotify writes comes as a list of
    TypedRecord; another list of objects as a list of Entry; anything else as plain Python objects.
    """
    if data.startswith(b"%PDF-"):
        raise UnreadableFile(name, "is a PDF document, not JSON")
    # Files saved by some Windows editors start with a byte order mark.
    body = memoryview(data)[3:] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return _TYPED.decode(body)
    except (ValueError, RecursionError):  # msgspec's ValidationError and DecodeError, UnicodeDecodeError
        pass
    try:
        return _ENTRIES.decode(body)
    except (ValueError, RecursionError):  # msgspec's DecodeError, UnicodeDecodeError
        pass  # another shape, or not JSON: orjson tells which, and where
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise UnreadableFile(name, _json_problem(bytes(body), error)) from None


def _json_problem(data: bytes, error: orjson.JSONDecodeError) -> str:
    if not data.strip():
        return "is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        byte = data[bad.start]
        return f"is not UTF-8 text (byte {byte:#04x} at position {bad.start}); save it as UTF-8"
    start = text.lstrip()[:12]
    if start[:1] not in ("[", "{"):
        return f"is not JSON: it starts with {start!r} instead of a list of plays"
    if error.pos >= len(text.rstrip()):
        return f"is cut off: its JSON ends at line {error.lineno} before it is complete"
    return f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"


def find_history(name: str, document: object) -> History | None:
    """The listening history a decoded file holds; None when it is another kind of file.

    Raises UnreadableFile for a history in a shape Spotify never writes and we do not guess at.
    """
    if isinstance(document, list):
        found = detect_format(document)
        if found is None and document:
            return None
        return History(found, document, None if document else "holds no plays")
    if isinstance(document, dict):
        if detect_format([document]) is not None:
            raise UnreadableFile(name, "holds a single play where a list of plays was expected")
        if len(document) == 1:
            ((key, value),) = document.items()
            # A hand-edited file sometimes wraps the list: {"StreamingHistory2": [...]}.
            if isinstance(value, list) and (found := detect_format(value)) is not None:
                return History(found, value, f"read the plays from inside the object under {key!r}")
        return None
    kind = {str: "a string", bool: "true or false", type(None): "null"}.get(type(document))
    raise UnreadableFile(name, f"holds {kind or 'a number'}, not a list of plays")
