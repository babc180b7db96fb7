"""A deterministic generator of realistic listening history, for the demo, tests and benchmarks.

Same arguments, same history, on every machine: everything is drawn from one seeded
`random.Random`. The shape imitates a real account: a Zipf-like catalogue (a few artists get
most plays), artists whose popularity rises and fades over the years, listening sessions at
the times of day people listen, skips under 30 s, some podcast sessions, and a share of tracks
without a Spotify URI (local files, account-data-only plays).
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .records import PlayRecord

_SYLLABLES = {
    "latin": "ka lo mi ra ne so ta vi lu be da ro sa el an or in ys que fa ge",
    "accented": "ché lú ñá ör ße ål ça vè ño ïn",
    "japanese": "カ ナ ミ ソ ラ ル ト ヒ ロ ユ キ",
    "cyrillic": "ка ли мо ра не зо ве ду ша",
    "greek": "λα μα νο σι το ρε",
}
_SCRIPT_WEIGHTS = [("latin", 80), ("accented", 8), ("japanese", 5), ("cyrillic", 5), ("greek", 2)]
_WORDS = (
    "night summer heart fire light ocean city dream river gold echo shadow neon glass "
    "rain signal velvet static paper wild silver north"
).split()
# Share of listening that starts in each hour of the day (sums to 1 after normalising).
_HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1.5, 3, 4, 3, 2.5, 2.5, 3, 3, 2.5, 2.5, 3, 4, 4.5, 5, 5, 4.5, 3.5, 2]
_PLATFORMS = ["android", "ios", "windows", "osx", "web_player", "cast_to_device"]


@dataclass(frozen=True)
class _Track:
    title: str
    album: str
    uri: str | None
    duration_ms: int


@dataclass(frozen=True)
class _Artist:
    name: str
    weight: float  # Zipf-like base popularity
    peak: float  # 0..1 position in the history where the artist is at their height
    width: float  # how long the artist stays in rotation, as a share of the history
    tracks: tuple[_Track, ...]
    track_cum_weights: tuple[float, ...]


def _name(rng: random.Random, words: int) -> str:
    script = rng.choices([s for s, _ in _SCRIPT_WEIGHTS], weights=[w for _, w in _SCRIPT_WEIGHTS])[0]
    sylls = _SYLLABLES[script].split()
    parts = ["".join(rng.choice(sylls) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(words)]
    if script == "latin" and rng.random() < 0.4:
        parts.append(rng.choice(_WORDS).capitalize())
    return " ".join(parts)


def _uri(rng: random.Random, kind: str) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return f"spotify:{kind}:" + "".join(rng.choice(alphabet) for _ in range(22))


def _catalogue(rng: random.Random, n_artists: int, uri_share: float) -> list[_Artist]:
    artists = []
    seen: set[str] = set()
    for rank in range(1, n_artists + 1):
        name = _name(rng, rng.choice([1, 1, 2]))
        while name.casefold() in seen:
            name = _name(rng, 2)
        seen.add(name.casefold())
        n_tracks = min(40, 1 + int(rng.expovariate(1 / 6)))
        album = _name(rng, 2)
        track_list = []
        for t in range(n_tracks):
            if t and rng.random() < 0.15:
                album = _name(rng, 2)
            title = f"{rng.choice(_WORDS).capitalize()} {_name(rng, 1)}"
            uri = _uri(rng, "track") if rng.random() < uri_share else None
            track_list.append(_Track(title, album, uri, rng.randint(120_000, 330_000)))
        track_weights = list(itertools.accumulate(1 / (i + 1) ** 0.9 for i in range(n_tracks)))
        artists.append(
            _Artist(
                name=name,
                weight=1 / rank**1.07,
                peak=rng.random() * 1.2 - 0.1,
                width=rng.uniform(0.08, 0.6),
                tracks=tuple(track_list),
                track_cum_weights=tuple(track_weights),
            )
        )
    return artists


def _podcasts(rng: random.Random) -> list[tuple[str, list[tuple[str, str, int]]]]:
    shows = []
    for _ in range(6):
        show = f"The {rng.choice(_WORDS).capitalize()} Hour"
        episodes = [
            (f"Episode {n}: {_name(rng, 2)}", _uri(rng, "episode"), rng.randint(900_000, 4_200_000))
            for n in range(1, 80)
        ]
        shows.append((show, episodes))
    return shows


def generate_history(
    plays: int = 60_000,
    *,
    start: date = date(2022, 11, 1),
    end: date = date(2026, 11, 1),
    seed: int = 1,
    podcast_share: float = 0.03,
    uri_share: float = 0.92,
) -> Iterator[PlayRecord]:
    """Yield exactly `plays` music and podcast plays between `start` and `end`, day by day.

    Importers must not rely on the order: real exports are not sorted either.
    """
    if plays < 0 or end <= start:
        raise ValueError("need plays >= 0 and start < end")
    rng = random.Random(seed)
    days = (end - start).days
    artists = _catalogue(rng, max(20, min(20_000, plays // 35)), uri_share)
    shows = _podcasts(rng)
    hour_cum = list(itertools.accumulate(_HOUR_WEIGHTS))

    # Plays per day: busier weekends, quiet spells and binges, normalised to exactly `plays`.
    day_weights = []
    mood = 1.0
    for d in range(days):
        mood = min(2.0, max(0.1, mood * math.exp(rng.gauss(0, 0.15))))
        weekend = 1.3 if (start + timedelta(days=d)).weekday() >= 5 else 1.0
        day_weights.append(mood * weekend * rng.uniform(0.5, 1.5))
    scale = plays / sum(day_weights)
    budgets = [int(w * scale) for w in day_weights]
    for d in rng.sample(range(days), k=min(days, plays - sum(budgets))) if plays > sum(budgets) else ():
        budgets[d] += 1
    while sum(budgets) < plays:  # only for tiny histories with fewer days than leftovers
        budgets[rng.randrange(days)] += 1

    month_cum: dict[int, list[float]] = {}
    emitted = 0
    last_t = 0
    for d, budget in enumerate(budgets):
        if budget == 0:
            continue
        day = start + timedelta(days=d)
        position = d / days
        month = int(position * 96)  # artist popularity moves every half month
        if month not in month_cum:
            month_cum[month] = list(
                itertools.accumulate(
                    a.weight * (0.03 + math.exp(-(((position - a.peak) / a.width) ** 2))) for a in artists
                )
            )
        cum = month_cum[month]
        day_start = calendar.timegm(day.timetuple())
        sizes = []
        left = budget
        while left > 0:
            sizes.append(min(left, max(1, int(rng.expovariate(1 / 12)))))
            left -= sizes[-1]
        starts = sorted(
            day_start + bisect.bisect(hour_cum, rng.random() * hour_cum[-1]) * 3600 + rng.randrange(3600)
            for _ in sizes
        )
        for size, session_start in zip(sizes, starts):
            # Sessions do not overlap (a late one starts after the previous one ended) unless a
            # day holds more listening than it has hours, as very large benchmark histories do.
            t = max(session_start, last_t + 60) if last_t < day_start + 30 * 3600 else session_start
            shuffle = rng.random() < 0.5
            platform = rng.choice(_PLATFORMS)
            if rng.random() < podcast_share:
                show, episodes = rng.choice(shows)
                for _ in range(size):
                    title, uri, duration = rng.choice(episodes)
                    played = rng.randint(60_000, duration)
                    t += played // 1000
                    last_t = t
                    yield PlayRecord(
                        ended_at=t, ms_played=played, artist_name=show, track_name=title, source="extended",
                        kind="podcast", spotify_uri=uri, platform=platform, reason_start="clickrow",
                        reason_end="endplay", skipped=False, shuffle=False,
                    )  # fmt: skip
                emitted += size
                continue
            artist = artists[min(len(artists) - 1, bisect.bisect(cum, rng.random() * cum[-1]))]
            for _ in range(size):
                if rng.random() < 0.3:  # people stay with an artist for a while
                    artist = artists[min(len(artists) - 1, bisect.bisect(cum, rng.random() * cum[-1]))]
                tw = artist.track_cum_weights
                track = artist.tracks[min(len(tw) - 1, bisect.bisect(tw, rng.random() * tw[-1]))]
                skipped = rng.random() < 0.14
                played = rng.randint(1_500, 29_000) if skipped else track.duration_ms - rng.randrange(0, 2_000)
                t += played // 1000 + rng.randint(0, 3)
                last_t = t
                yield PlayRecord(
                    ended_at=t, ms_played=played, artist_name=artist.name, track_name=track.title,
                    album_name=track.album, spotify_uri=track.uri, source="extended", kind="music",
                    skipped=skipped, shuffle=shuffle, offline=False, incognito=False, platform=platform,
                    reason_start="trackdone" if not skipped else "fwdbtn",
                    reason_end="fwdbtn" if skipped else "trackdone",
                )  # fmt: skip
            emitted += size
    assert emitted == plays


def to_extended_record(play: PlayRecord) -> dict:
    """The play as a record of Spotify's extended streaming history export (newest key set)."""
    is_music = play.kind == "music"
    return {
        "ts": datetime.fromtimestamp(play.ended_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": play.platform,
        "ms_played": play.ms_played,
        "conn_country": play.conn_country or "ZZ",
        "ip_addr": play.ip_addr or "192.0.2.1",
        "master_metadata_track_name": play.track_name if is_music else None,
        "master_metadata_album_artist_name": play.artist_name if is_music else None,
        "master_metadata_album_album_name": play.album_name if is_music else None,
        "spotify_track_uri": play.spotify_uri if is_music else None,
        "episode_name": None if is_music else play.track_name,
        "episode_show_name": None if is_music else play.artist_name,
        "spotify_episode_uri": None if is_music else play.spotify_uri,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        "skipped": play.skipped,
        "offline": play.offline,
        "offline_timestamp": None,
        "incognito_mode": play.incognito,
    }
