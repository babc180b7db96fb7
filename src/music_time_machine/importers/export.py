"""Reading a whole export: every file, recognised, parsed into plays, or skipped, or reported.

Each file is one unit: its readable records become plays and the rest are counted by reason; a
file that cannot be read gets one sentence saying why, and the other files go on.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field

from music_time_machine.importers.account import mark_podcasts, parse_account
from music_time_machine.importers.detect import (
    ExportFormat,
    History,
    decode_json,
    find_history,
    is_video_history,
)
from music_time_machine.importers.extended import parse_extended
from music_time_machine.importers.sources import (
    NESTED_ZIP,
    ExportFile,
    Limits,
    SkippedFile,
    UnreadableFile,
    export_files,
)
from music_time_machine.records import PlayRecord

ALREADY_IMPORTED = "already imported, unchanged, with the same options"


@dataclass(slots=True)
class FileResult:
    """What reading one file of an export gave."""

    name: str  # as in ExportFile.name
    format: ExportFormat | None = None
    records: list[PlayRecord] = field(default_factory=list)
    skipped_records: Counter[str] = field(default_factory=Counter)  # reason -> count
    error: str | None = None  # the file could not be read: one sentence naming it and the problem
    skip_reason: str | None = None  # the file was not read, on purpose (video history, PDF, …)
    notes: list[str] = field(default_factory=list)
    fingerprint: str | None = None  # a hash of the file's bytes, to know it again

    @property
    def status(self) -> str:
        """'failed', 'skipped' or 'read'."""
        return "failed" if self.error else "skipped" if self.skip_reason else "read"


def read_export(
    paths: Iterable[str | os.PathLike[str]],
    *,
    keep_personal: bool = False,
    keep_incognito: bool = False,
    limits: Limits = Limits(),
    known: Container[str] = frozenset(),
) -> Iterator[FileResult]:
    """One FileResult for every file in the given zips, folders and JSON files, one at a time.

    Files whose fingerprint is in `known` are skipped unparsed (see read_file).
    """
    podcast_episodes: set[tuple[str, str]] = set()
    account_music: list[FileResult] = []
    for file in export_files(paths, limits):
        result = read_file(file, keep_personal=keep_personal, keep_incognito=keep_incognito, known=known)
        podcast_episodes.update(
            (play.artist_name, play.track_name) for play in result.records if play.kind == "podcast"
        )
        if result.format is ExportFormat.ACCOUNT_MUSIC:
            account_music.append(result)  # last, so that every podcast file can mark its plays
        else:
            yield result
    for result in account_music:
        result.records, marked = mark_podcasts(result.records, podcast_episodes)
        if marked:
            result.notes.append(f"{marked} plays are podcast episodes seen elsewhere in the import")
        yield result


def read_file(
    file: ExportFile | SkippedFile,
    *,
    keep_personal: bool = False,
    keep_incognito: bool = False,
    known: Container[str] = frozenset(),
) -> FileResult:
    """Read, recognise and parse one file of an export.

    A file whose fingerprint is in `known` (one already imported whole, with the same options) is
    skipped without parsing it: re-importing an export then costs a hash per file (of a zip
    member's packed bytes, without unpacking it).
    """
    if isinstance(file, SkippedFile):
        return FileResult(file.name, skip_reason=file.reason)
    if is_video_history(file.name):
        return FileResult(file.name, skip_reason="video history is not imported")
    fingerprint = file.fingerprint() if file.fingerprint else None  # a zip member's: before unpacking it
    if fingerprint in known:
        return FileResult(file.name, skip_reason=ALREADY_IMPORTED, fingerprint=fingerprint)
    try:
        data = file.read()
    except UnreadableFile as error:
        return FileResult(file.name, error=str(error))
    if fingerprint is None:  # any other file: a hash of its bytes (sha256: 2.5 times blake2b's speed here)
        fingerprint = hashlib.sha256(data).hexdigest()[:32]
        if fingerprint in known:
            return FileResult(file.name, skip_reason=ALREADY_IMPORTED, fingerprint=fingerprint)
    try:
        history = _load(file.name, data)
    except UnreadableFile as error:
        return FileResult(file.name, error=str(error))
    del data  # the decoded entries are all that is needed now
    if isinstance(history, str):
        return FileResult(file.name, skip_reason=history)
    result = FileResult(
        file.name, history.format, notes=[history.note] if history.note else [], fingerprint=fingerprint
    )
    if history.format is None:
        return result
    if history.format.source == "extended":
        parsed = parse_extended(
            history.entries, keep_personal=keep_personal, keep_incognito=keep_incognito
        )
    else:
        parsed = parse_account(history.entries)
    result.records, result.skipped_records = parsed
    return result


def _load(name: str, data: bytes | bytearray) -> History | str:
    """The history a file holds, or why it is skipped."""
    if data.startswith(b"PK\x03\x04"):
        return NESTED_ZIP
    return find_history(name, decode_json(name, data)) or "not a listening history file"

