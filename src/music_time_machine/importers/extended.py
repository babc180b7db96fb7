"""Spotify's extended streaming history: `Streaming_History_Audio_*.json` and `endsong_*.json`.

One parser serves all three key sets (old `endsong` keys, `ip_addr`, and the newest with
`audiobook_*`): a key a file does not have reads as null. A file whose records all have the
types Spotify writes is decoded into TypedRecords and each made a play by `typed_play`; any
other file's records are judged field by field into TypedRecords first (`extended_play`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from music_time_machine.importers.fields import (
    ABSENT,
    MAX_MS_PLAYED,
    BadRecord,
    Entry,
    entry,
    Parsed,
    flag,
    milliseconds,
    moment_seconds,
    parse_entries,
    parse_time,
    text,
)
from music_time_machine.records import PlayRecord


class TypedRecord(msgspec.Struct):
    """An extended-history record whose every field has the type Spotify writes, checked by msgspec.

    A file is first decoded into these (`detect.decode_json`): when every record fits, far less
    is left to judge in Python per record (`typed_play`). A file with any record that does not
    fit (a number as text, a 0/1 flag, a `ts` missing or not in RFC 3339…) is decoded again into Entry and each
    record judged field by field (`extended_play`), so its bad records are skipped and counted
    by reason. A key whose presence tells the key set apart (`detect_format`) is UNSET
    when absent; the others read None.
    """

    ts: datetime  # RFC 3339, parsed by msgspec in C: a third of the time fromisoformat takes
    ms_played: Annotated[int, msgspec.Meta(ge=0, le=MAX_MS_PLAYED)]
    master_metadata_track_name: str | None = None
    master_metadata_album_artist_name: str | None = None
    master_metadata_album_album_name: str | None = None
    spotify_track_uri: str | None = None
    episode_name: str | None = None
    episode_show_name: str | None = None
    spotify_episode_uri: str | None = None
    audiobook_title: str | None | UnsetType = UNSET
    audiobook_uri: str | None | UnsetType = UNSET
    audiobook_chapter_uri: str | None | UnsetType = UNSET
    audiobook_chapter_title: str | None | UnsetType = UNSET
    reason_start: str | None = None
    reason_end: str | None = None
    shuffle: bool | None = None
    skipped: bool | None = None
    offline: bool | None = None
    incognito_mode: bool | None = None
    platform: str | None = None
    conn_country: str | None = None
    ip_addr: str | None = None
    ip_addr_decrypted: str | None | UnsetType = UNSET
    user_agent_decrypted: str | None | UnsetType = UNSET
    username: str | None | UnsetType = UNSET

    def keys(self) -> list[str]:
        """The keys the record has, as far as telling the key sets apart needs."""
        return [name for name in self.__struct_fields__ if getattr(self, name) is not UNSET]


def parse_extended(
    entries: Iterable[object], *, keep_personal: bool = False, keep_incognito: bool = False
) -> Parsed:
    """The plays of one extended-history file, and its skipped records counted by reason."""
    typed = type(entries) is list and entries and type(entries[0]) is TypedRecord  # all of them, then
    to_play = typed_play if typed else extended_play
    # A closure, not partial(…, keep_personal=…): a partial's keywords cost 0.2 µs a call (0.2 s per 1M).
    return parse_entries(entries, lambda record: to_play(record, keep_personal, keep_incognito))


def typed_play(e: TypedRecord, keep_personal: bool = False, keep_incognito: bool = False) -> PlayRecord:
    """One play from a record whose fields have Spotify's types; raises BadRecord when it cannot be used."""
    incognito = e.incognito_mode
    if incognito and not keep_incognito:
        raise BadRecord("incognito")
    ended_at = moment_seconds(e.ts)
    album = None
    # The kind is told by which names are filled: Spotify nulls the others.
    if (track := e.master_metadata_track_name) is not None:
        kind, artist, uri = "music", e.master_metadata_album_artist_name, e.spotify_track_uri
        album = e.master_metadata_album_album_name or None
    elif (track := e.episode_name) is not None:
        kind, artist, uri = "podcast", e.episode_show_name, e.spotify_episode_uri
    elif (track := e.audiobook_chapter_title) not in ABSENT:
        kind, artist, uri = "audiobook", e.audiobook_title, e.audiobook_chapter_uri
    else:
        raise BadRecord("no track, episode or chapter name")
    if not track.strip():
        raise BadRecord("no track, episode or chapter name")
    if not artist or not artist.strip():  # None, UNSET (falsy) or blank
        raise BadRecord("no artist, show or book name")
    if keep_personal:
        # ip_addr_decrypted: the older exports' name for ip_addr.
        personal = (e.conn_country or None, e.ip_addr or e.ip_addr_decrypted or None, e.user_agent_decrypted or None,
                    e.username or None)  # fmt: skip
    else:
        personal = (None, None, None, None)
    return PlayRecord(
        ended_at,
        e.ms_played,
        artist,
        track,
        "extended",
        kind,
        album,
        uri if uri and uri.startswith("spotify:") else None,
        e.skipped,
        e.shuffle,
        e.offline,
        incognito,
        e.reason_start or None,
        e.reason_end or None,
        e.platform or None,
        *personal,
    )


def extended_play(record: Entry | dict, keep_personal: bool = False, keep_incognito: bool = False) -> PlayRecord:
    """One play from a record of any types (a dict, an Entry): its fields judged one by one into
    a TypedRecord, then `typed_play`. Raises BadRecord when it cannot be used, for the first of
    these that fails: incognito, the time, ms_played, the names."""
    e = entry(record)
    incognito = flag(e.incognito_mode)
    if incognito and not keep_incognito:
        raise BadRecord("incognito")
    ts = parse_time(e.ts)
    moment_seconds(ts)  # judged before ms_played; typed_play reads it
    return typed_play(
        TypedRecord(
            ts=ts,
            ms_played=milliseconds(e.ms_played),
            master_metadata_track_name=_name(e.master_metadata_track_name),
            master_metadata_album_artist_name=_name(e.master_metadata_album_artist_name),
            master_metadata_album_album_name=text(e.master_metadata_album_album_name),
            spotify_track_uri=text(e.spotify_track_uri),
            episode_name=_name(e.episode_name),
            episode_show_name=_name(e.episode_show_name),
            spotify_episode_uri=text(e.spotify_episode_uri),
            audiobook_title=_name(e.audiobook_title),
            audiobook_chapter_uri=text(e.audiobook_chapter_uri),
            audiobook_chapter_title=_name(e.audiobook_chapter_title),
            reason_start=text(e.reason_start),
            reason_end=text(e.reason_end),
            shuffle=flag(e.shuffle),
            skipped=flag(e.skipped),
            offline=flag(e.offline),
            incognito_mode=incognito,
            platform=text(e.platform),
            conn_country=text(e.conn_country),
            ip_addr=text(e.ip_addr),
            ip_addr_decrypted=text(e.ip_addr_decrypted),
            user_agent_decrypted=text(e.user_agent_decrypted),
            username=text(e.username),
        ),
        keep_personal,
        keep_incognito,
    )


def _name(value: object) -> str | None:
    """A name field for typed_play: None when absent; a value that is not text becomes "", so the
    record still counts as that kind of play and is refused for its blank name."""
    if value in ABSENT:
        return None
    return value if isinstance(value, str) else ""
