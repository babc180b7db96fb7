"""The normalised play record that every source (exports, the API, the generator) produces.

Every importer turns what it reads into `PlayRecord`s; `history.store_plays` is the one place
that turns them into rows. Keeping this a plain record means parsers stay pure functions that
can be tested (and fuzzed) without a database.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, get_args

import msgspec

Source = Literal["extended", "account", "api"]
Kind = Literal["music", "podcast", "audiobook"]
SOURCES: tuple[str, ...] = get_args(Source)
KINDS: tuple[str, ...] = get_args(Kind)


class PlayRecord(msgspec.Struct, array_like=True, gc=False):
    """One play as read from a source, before it is matched to stored tracks and artists.

    A msgspec Struct: importers build millions of these, and a Struct is built about twice as
    fast as a slotted dataclass and travels between processes as msgpack (importers.reader).
    array_like: encoded as a list, without the field names; gc=False: it holds no containers,
    so the garbage collector need not track it. Not frozen on purpose (a frozen one costs
    more to build); treat it as read-only all the same. `source` and `kind` are Literals:
    decoded records then share those strings instead of holding a copy each, which made
    decoding and counting 1M of them in the importing process a quarter faster.
    """

    ended_at: int  # UTC, Unix seconds, when the stream ended (Spotify's `ts` / `endTime`)
    ms_played: int
    artist_name: str  # podcast: the show; audiobook: the book
    track_name: str  # podcast: the episode; audiobook: the chapter
    source: Source
    kind: Kind = "music"
    album_name: str | None = None
    spotify_uri: str | None = None  # spotify:track:…, spotify:episode:…, …; None when unknown
    skipped: bool | None = None
    shuffle: bool | None = None
    offline: bool | None = None
    incognito: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    platform: str | None = None
    # Personal fields: kept only when the user opts in (SPEC §3.2).
    conn_country: str | None = None
    ip_addr: str | None = None
    user_agent: str | None = None
    username: str | None = None


_SPACES = re.compile(r"\s+")


def name_key(name: str) -> str:
    """The identity key of an artist or track name: Unicode-normalised, case-folded, spaces folded.

    Two spellings that differ only in case, width or spacing ("ＡＢＢＡ", "abba ") are one
    artist; anything else (accents, punctuation, "feat." parts) is kept, because folding it
    merges different songs more often than it joins the same one.
    """
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()
