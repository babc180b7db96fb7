"""Spotify's extended streaming history: `Streaming_History_Audio_*.json` and `endsong_*.json`.

One parser serves all three key sets (old `endsong` keys, `ip_addr`, and the newest with
`audiobook_*`): a key a file does not have reads as null.
"""

from __future__ import annotations

from collections.abc import Iterable

from music_time_machine.importers.fields import (
    BadRecord,
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
    entry: dict, keep_personal: bool = False, keep_incognito: bool = False
) -> PlayRecord:
    """One play from one extended-history record; raises BadRecord when it cannot be used."""
    get = entry.get
    incognito = flag(get("incognito_mode"))
    if incognito and not keep_incognito:
        raise BadRecord("incognito")
    ended_at = utc_seconds(get("ts"))
    ms_played = milliseconds(get("ms_played"))
    album = None
    # The kind is told by which names are filled: Spotify nulls the others.
    if (track := get("master_metadata_track_name")) is not None:
        kind, artist = "music", get("master_metadata_album_artist_name")
        uri, album = get("spotify_track_uri"), text(get("master_metadata_album_album_name"))
    elif (track := get("episode_name")) is not None:
        kind, artist, uri = "podcast", get("episode_show_name"), get("spotify_episode_uri")
    elif (track := get("audiobook_chapter_title")) is not None:
        kind, artist, uri = "audiobook", get("audiobook_title"), get("audiobook_chapter_uri")
    else:
        raise BadRecord("no track, episode or chapter name")
    track = required_name(track, "no track, episode or chapter name")
    artist = required_name(artist, "no artist, show or book name")
    if keep_personal:
        personal = (
            text(get("conn_country")),
            text(get("ip_addr") or get("ip_addr_decrypted")),  # the older exports' name for it
            text(get("user_agent_decrypted")),
            text(get("username")),
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
        flag(get("skipped")),
        flag(get("shuffle")),
        flag(get("offline")),
        incognito,
        text(get("reason_start")),
        text(get("reason_end")),
        text(get("platform")),
        *personal,
    )
