"""Spotify's extended streaming history: `Streaming_History_Audio_*.json` and `endsong_*.json`.

One parser serves all three key sets (old `endsong` keys, `ip_addr`, and the newest with
`audiobook_*`): a key a file does not have reads as null.
"""

from __future__ import annotations

from collections.abc import Iterable

from music_time_machine.importers.fields import (
    ABSENT,
    BadRecord,
    Entry,
    entry,
    Parsed,
    flag,
    milliseconds,
    parse_entries,
    required_name,
    spotify_uri,
    text,
    utc_seconds,
)
from music_time_machine.records import PlayRecord


def parse_extended(
    entries: Iterable[object], *, keep_personal: bool = False, keep_incognito: bool = False
) -> Parsed:
    """The plays of one extended-history file, and its skipped records counted by reason."""
    return parse_entries(entries, lambda entry: extended_play(entry, keep_personal, keep_incognito))


def extended_play(
    record: Entry | dict, keep_personal: bool = False, keep_incognito: bool = False
) -> PlayRecord:
    """One play from one extended-history record; raises BadRecord when it cannot be used."""
    e = entry(record)
    incognito = flag(e.incognito_mode)
    if incognito and not keep_incognito:
        raise BadRecord("incognito")
    ended_at = utc_seconds(e.ts)
    ms_played = milliseconds(e.ms_played)
    album = None
    # The kind is told by which names are filled: Spotify nulls the others.
    if (track := e.master_metadata_track_name) not in ABSENT:
        kind, artist = "music", e.master_metadata_album_artist_name
        uri, album = e.spotify_track_uri, text(e.master_metadata_album_album_name)
    elif (track := e.episode_name) not in ABSENT:
        kind, artist, uri = "podcast", e.episode_show_name, e.spotify_episode_uri
    elif (track := e.audiobook_chapter_title) not in ABSENT:
        kind, artist, uri = "audiobook", e.audiobook_title, e.audiobook_chapter_uri
    else:
        raise BadRecord("no track, episode or chapter name")
    track = required_name(track, "no track, episode or chapter name")
    artist = required_name(artist, "no artist, show or book name")
    if keep_personal:
        personal = (
            text(e.conn_country),
            text(e.ip_addr or e.ip_addr_decrypted),  # the older exports' name for it
            text(e.user_agent_decrypted),
            text(e.username),
        )
    else:
        personal = (None, None, None, None)
    return PlayRecord(
        ended_at,
        ms_played,
        artist,
        track,
        "extended",
        kind,
        album,
        spotify_uri(uri),
        flag(e.skipped),
        flag(e.shuffle),
        flag(e.offline),
        incognito,
        text(e.reason_start),
        text(e.reason_end),
        text(e.platform),
        *personal,
    )
