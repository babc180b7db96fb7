"""Playlists from a user's own history: the sources (pure query builders), saving and refreshing
them on Spotify, and the export formats (CSV, M3U, JSPF).

Every source reads the summary tables of `rollups` (music only, by local day in the user's time
zone), so "N days ago" counts calendar days: with `today` the user's local date, *the last N
days* are the days D with D > today − N (today and the N − 1 days before it), and a window
"from A to B days ago" holds the days today − A ≤ D ≤ today − B, both ends included.
A builder is `(user_id, rules, today) -> Select`, run by `generate`; ties are broken by more
minutes, then by the lower track id, so the same history always gives the same list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import db
from .analytics import cache_state
from .records import name_key
from .rollups import month_of
from .schema import artists, daily_plays, monthly_charts, monthly_tracks, playlist_tracks, playlists, snapshots, track_totals, tracks

MAX_SIZE = 500
NAME_LIMIT = 100  # characters of a playlist name (SPEC §3.8)
MAX_EXCLUDED = 100
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")  # fmt: skip
NO_URIS = (
    "None of these tracks has a Spotify URI (they come from an account-data export, which has none): "
    "import your extended streaming history, or connect Spotify, to save them."
)


class RuleError(ValueError):
    """A rule the user set is not acceptable; the message says which and why."""


class NoCandidates(Exception):
    """The source found nothing to put in the playlist; the message says what data is missing."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PlaylistNotFound(LookupError):
    """No such playlist for this user."""


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A whole-number rule: its form field, label, default and allowed range (inclusive)."""

    name: str
    label: str
    default: int | Callable[[date], int]
    low: int
    high: int | Callable[[date], int]
    hint: str = ""

    def default_for(self, today: date) -> int:
        return self.default(today) if callable(self.default) else self.default

    def high_for(self, today: date) -> int:
        return self.high(today) if callable(self.high) else self.high


def _size() -> Rule:
    return Rule("size", "Size", 50, 1, MAX_SIZE, "tracks at most")


def _per_artist(default: int) -> Rule:
    return Rule("max_per_artist", "At most per artist", default, 1, MAX_SIZE, "tracks by one artist")


def _min_listens(default: int, hint: str = "") -> Rule:
    return Rule("min_listens", "Minimum listens", default, 1, 10_000, hint)


def _days(name: str, label: str, default: int, hint: str) -> Rule:
    return Rule(name, label, default, 1, 3650, hint)


@dataclass(frozen=True)
class Source:
    """A kind of playlist: what it is called, what it picks, which rules shape it."""

    key: str
    label: str
    description: str
    rules: tuple[Rule, ...]
    candidates: Callable[[int, dict, date], Any]  # (user_id, rules, today) -> a Select of candidates
    reason: Callable[[Mapping, dict], str]  # a chosen row -> why it was chosen
    missing: Callable[[dict], str]  # rules -> what data is missing when nothing was found
    check: Callable[[dict], None] = lambda rules: None  # rules that depend on each other

    def default_name(self, today: date) -> str:
        """'<label> - <Month YYYY>' (e.g. "Forgotten Gems - May 2026")."""
        return f"{self.label} - {MONTH_NAMES[today.month - 1]} {today.year}"

    def defaults(self, today: date) -> dict:
        """The rules as they are before the user changes anything."""
        return {**{rule.name: rule.default_for(today) for rule in self.rules}, "excluded_artists": []}


def parse_rules(source: Source, raw: Mapping[str, Any], today: date) -> dict:
    """The source's rules from form fields, query parameters or JSON; RuleError when one is bad.

    Missing or empty values take the default; `excluded_artists` is a list of names or text
    with one name per line; names of other sources' rules are ignored.
    """
    rules: dict[str, Any] = {}
    for rule in source.rules:
        value = raw.get(rule.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            rules[rule.name] = rule.default_for(today)
            continue
        high = rule.high_for(today)
        problem = f"{rule.label} must be a whole number from {rule.low} to {high}."
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise RuleError(problem)
        if isinstance(value, str):
            text = value.strip()
            if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 9:
                raise RuleError(problem)
            value = int(text)
        if not rule.low <= value <= high:
            raise RuleError(problem)
        rules[rule.name] = value
    rules["excluded_artists"] = _excluded(raw.get("excluded_artists"))
    source.check(rules)
    return rules


def _excluded(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise RuleError("Excluded artists must be names, one per line.")
    names: list[str] = []
    seen: set[str] = set()
    for name in (name.strip() for name in value):
        if name and (key := name_key(name)) not in seen:
            if len(names) == MAX_EXCLUDED:  # stop at once: the list comes from a request
                raise RuleError(f"At most {MAX_EXCLUDED} artists can be excluded.")
            seen.add(key)
            names.append(name[:200])
    return names


# --- the sources -------------------------------------------------------------------------------


def _month_span(first: date | str, last: date | str) -> str:
    """'Mar 2025', 'Mar–Jun 2025' or 'Nov 2024–Feb 2025'."""
    first, last = str(first)[:7], str(last)[:7]
    y1, m1, y2, m2 = first[:4], int(first[5:]), last[:4], int(last[5:])
    if first == last:
        return f"{MONTHS[m1 - 1]} {y1}"
    if y1 == y2:
        return f"{MONTHS[m1 - 1]}–{MONTHS[m2 - 1]} {y2}"
    return f"{MONTHS[m1 - 1]} {y1}–{MONTHS[m2 - 1]} {y2}"


def _listens(n: int) -> str:
    return f"{n} listen" if n == 1 else f"{n} listens"


def _month_label(month: str) -> str:
    return f"{MONTHS[int(month[5:]) - 1]} {month[:4]}"


def _whole_months(first: date, last: date) -> tuple[str, str]:
    """The first and last calendar month lying wholly inside [first, last] (may be empty: a > b)."""
    start = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    after = last + timedelta(days=1)
    end = last if after.day == 1 else last.replace(day=1) - timedelta(days=1)
    return month_of(start), month_of(end)


def forgotten_gems(user_id: int, rules: dict, today: date):
    """Tracks loved `loved_from_days`–`quiet_days` days ago and not played at all since."""
    d, mc = daily_plays.c, monthly_charts.c
    start = today - timedelta(days=rules["loved_from_days"])
    end = today - timedelta(days=rules["quiet_days"])
    listened_day = sa.case((d.listens > 0, d.day))
    loved = (
        sa.select(d.track_id, sa.func.sum(d.listens).label("listens"), sa.func.sum(d.ms_played).label("ms"),
                  sa.func.min(listened_day).label("first_day"), sa.func.max(listened_day).label("last_day"))
        .where(d.user_id == user_id, d.day >= start, d.day <= end)
        .group_by(d.track_id)
        .subquery("loved")
    )  # fmt: skip
    first_month, last_month = _whole_months(start, end)
    best = sa.func.row_number().over(partition_by=mc.item_id, order_by=(mc.rank, mc.month.desc())).label("n")
    chart_rows = (
        sa.select(mc.item_id, mc.rank, mc.month, best)
        .where(mc.user_id == user_id, mc.kind == "track", mc.month >= first_month, mc.month <= last_month)
        .subquery("chart_rows")
    )
    charted = sa.select(chart_rows.c.item_id, chart_rows.c.rank, chart_rows.c.month).where(chart_rows.c.n == 1).subquery("charted")
    played_since = sa.select(d.track_id).where(d.user_id == user_id, d.day > end)
    return (
        sa.select(
            loved.c.track_id, loved.c.listens.label("score"), loved.c.ms.label("tiebreak"), loved.c.listens,
            loved.c.first_day, loved.c.last_day, charted.c.rank.label("chart_rank"), charted.c.month.label("chart_month"),
        )
        .select_from(loved.outerjoin(charted, charted.c.item_id == loved.c.track_id))
        .where(
            loved.c.listens > 0,
            sa.or_(loved.c.listens >= rules["min_listens"], charted.c.item_id.is_not(None)),
            loved.c.track_id.not_in(played_since),
        )
    )  # fmt: skip


def _forgotten_reason(row: Mapping, rules: dict) -> str:
    if row["listens"] >= rules["min_listens"] or row["chart_rank"] is None:
        return f"{_listens(row['listens'])} in {_month_span(row['first_day'], row['last_day'])}, none since"
    return f"#{row['chart_rank']} in your chart of {_month_label(row['chart_month'])}, none since"


def _forgotten_check(rules: dict) -> None:
    if rules["quiet_days"] >= rules["loved_from_days"]:
        raise RuleError("Not played for must be fewer days than Loved from.")


def recent_discoveries(user_id: int, rules: dict, today: date):
    """Tracks first heard in the last `days` days, or new in the latest monthly chart."""
    t, mc = track_totals.c, monthly_charts.c
    earlier = monthly_charts.alias("earlier")
    latest_month = (
        sa.select(sa.func.max(mc.month)).where(mc.user_id == user_id, mc.kind == "track").scalar_subquery()
    )
    newcomers = (
        sa.select(mc.item_id, mc.rank, mc.month)
        .where(mc.user_id == user_id, mc.kind == "track", mc.month == latest_month)
        .where(
            ~sa.exists().where(earlier.c.user_id == user_id, earlier.c.kind == "track",
                               earlier.c.item_id == mc.item_id, earlier.c.month < mc.month)
        )  # fmt: skip
        .subquery("newcomers")
    )
    return (
        sa.select(
            t.track_id, t.listens.label("score"), t.ms_played.label("tiebreak"), t.listens, t.first_day,
            newcomers.c.rank.label("chart_rank"), newcomers.c.month.label("chart_month"),
        )
        .select_from(track_totals.outerjoin(newcomers, newcomers.c.item_id == t.track_id))
        .where(
            t.user_id == user_id,
            t.listens >= rules["min_listens"],
            sa.or_(t.first_day > today - timedelta(days=rules["days"]), newcomers.c.item_id.is_not(None)),
        )
    )  # fmt: skip


def _discovery_reason(row: Mapping, rules: dict) -> str:
    first = row["first_day"]
    first = first if isinstance(first, date) else date.fromisoformat(str(first))
    text = f"First heard {first.day} {MONTHS[first.month - 1]} {first.year}, {_listens(row['listens'])} since"
    if row["chart_rank"] is not None:
        text += f"; new in your chart of {_month_label(row['chart_month'])} at #{row['chart_rank']}"
    return text


def current_rotation(user_id: int, rules: dict, today: date):
    """The latest short-term snapshot's top tracks in rank order; without one, the last `days` days' listens."""
    s, d = snapshots.c, daily_plays.c
    short_term = (s.user_id == user_id, s.time_range == "short_term", s.kind == "track")
    latest = sa.select(sa.func.max(s.taken_on)).where(*short_term).scalar_subquery()
    from_snapshot = sa.select(
        s.track_id, (-s.rank).label("score"), sa.literal(0, sa.BigInteger).label("tiebreak"),
        sa.cast(sa.null(), sa.Integer).label("listens"), s.rank.label("snapshot_rank"), s.taken_on,
    ).where(*short_term, s.taken_on == latest, s.track_id.is_not(None))  # fmt: skip
    listens = sa.func.sum(d.listens)
    from_plays = (
        sa.select(
            d.track_id, listens.label("score"), sa.cast(sa.func.sum(d.ms_played), sa.BigInteger).label("tiebreak"),
            listens.label("listens"), sa.cast(sa.null(), sa.Integer).label("snapshot_rank"),
            sa.cast(sa.null(), sa.Date).label("taken_on"),
        )
        .where(d.user_id == user_id, d.day > today - timedelta(days=rules["days"]), ~sa.exists().where(*short_term))
        .group_by(d.track_id)
        .having(listens >= rules["min_listens"])
    )  # fmt: skip
    return sa.union_all(from_snapshot, from_plays)


def _rotation_reason(row: Mapping, rules: dict) -> str:
    if row["snapshot_rank"] is not None:
        return f"#{row['snapshot_rank']} in Spotify's top tracks of the last 4 weeks (snapshot of {row['taken_on']})"
    return f"{_listens(row['listens'])} in the last {rules['days']} days"


def this_month_years_ago(user_id: int, rules: dict, today: date):
    """Tracks played in this calendar month of earlier years."""
    m = monthly_tracks.c
    listens = sa.func.sum(m.listens)
    return (
        sa.select(
            m.track_id, listens.label("score"), sa.func.sum(m.ms_played).label("tiebreak"), listens.label("listens"),
            sa.func.min(m.month).label("first_month"), sa.func.max(m.month).label("last_month"),
            sa.func.count().label("years"),
        )
        .where(m.user_id == user_id, m.month.like(f"%-{today.month:02d}"), m.month < month_of(today), m.listens > 0)
        .group_by(m.track_id)
        .having(listens >= rules["min_listens"])
    )  # fmt: skip


def _years_ago_reason(row: Mapping, rules: dict) -> str:
    month = MONTH_NAMES[int(row["first_month"][5:]) - 1]
    first, last = row["first_month"][:4], row["last_month"][:4]
    when = f"{month} {first}" if first == last else f"{month} of {row['years']} years, {first}–{last}"
    return f"{_listens(row['listens'])} in {when}"


def top_of_year(user_id: int, rules: dict, today: date):
    """The most-listened tracks of one calendar year."""
    m = monthly_tracks.c
    listens = sa.func.sum(m.listens)
    year = rules["year"]
    return (
        sa.select(m.track_id, listens.label("score"), sa.func.sum(m.ms_played).label("tiebreak"), listens.label("listens"))
        .where(m.user_id == user_id, m.month >= f"{year:04d}-01", m.month <= f"{year:04d}-12")
        .group_by(m.track_id)
        .having(listens >= rules["min_listens"])
    )  # fmt: skip


SOURCES: dict[str, Source] = {
    source.key: source
    for source in (
        Source(
            "forgotten_gems", "Forgotten Gems",
            "Tracks you loved 90–365 days ago (enough listens then, or in a monthly chart) that you "
            "have not played at all in the last 90 days.",
            (_size(), _per_artist(3), _min_listens(5, "in the loved window, unless the track was in a monthly chart"),
             _days("loved_from_days", "Loved from", 365, "days ago"), _days("quiet_days", "Not played for", 90, "days")),
            forgotten_gems, _forgotten_reason,
            lambda r: f"No forgotten gems: this needs tracks with {r['min_listens']} or more listens (or in a monthly "
                      f"chart) {r['quiet_days']}–{r['loved_from_days']} days ago that you have not played in the last "
                      f"{r['quiet_days']} days. Import an older export (extended streaming history) to reach further back.",
            _forgotten_check,
        ),
        Source(
            "recent_discoveries", "Recent Discoveries",
            "Tracks you first heard in the last 30 days, or that are new in your latest monthly chart, "
            "with at least 2 listens.",
            (_size(), _per_artist(3), _min_listens(2), _days("days", "First heard within", 30, "days")),
            recent_discoveries, _discovery_reason,
            lambda r: f"No recent discoveries: this needs tracks first heard in the last {r['days']} days (or new in "
                      f"your latest monthly chart) with {r['min_listens']} or more listens. Sync with Spotify or import "
                      "a recent export.",
        ),
        Source(
            "current_rotation", "Current Rotation",
            "What you play most right now: Spotify's latest short-term top tracks in rank order, or, "
            "without a snapshot, your most-listened tracks of the last 28 days.",
            (_size(), _per_artist(50), _min_listens(1, "when built from plays"), _days("days", "Plays of the last", 28, "days")),
            current_rotation, _rotation_reason,
            lambda r: f"No current rotation: this needs a Spotify snapshot (Settings → Take a snapshot now) or plays "
                      f"with {r['min_listens']} or more listens in the last {r['days']} days.",
        ),
        Source(
            "this_month_years_ago", "This Month, Years Ago",
            "Tracks you played in this calendar month in earlier years.",
            (_size(), _per_artist(3), _min_listens(3, "over those months")),
            this_month_years_ago, _years_ago_reason,
            lambda r: f"Nothing from this month in earlier years: this needs plays from this calendar month of an "
                      f"earlier year with {r['min_listens']} or more listens. Import your older history to reach back.",
        ),
        Source(
            "top_of_year", "Top of a Year",
            "Your most-listened tracks of one calendar year.",
            (_size(), _per_artist(5), _min_listens(1),
             Rule("year", "Year", lambda today: today.year - 1, 1990, lambda today: today.year)),
            top_of_year, lambda row, r: f"{_listens(row['listens'])} in {r['year']}",
            lambda r: f"No listens in {r['year']}: import the history of that year, or pick another year.",
        ),
    )
}  # fmt: skip


def source_for(key: Any) -> Source | None:
    """The source named `key` (trimmed, lower-cased), or None."""
    return SOURCES.get(key.strip().lower()) if isinstance(key, str) else None


def statement(source: Source, user_id: int, rules: dict, today: date):
    """The whole query of a source: its candidates, excluded artists left out, at most
    `max_per_artist` per artist, best first, at most `size` tracks."""
    c = source.candidates(user_id, rules, today).subquery("candidates")
    order = (c.c.score.desc(), c.c.tiebreak.desc(), c.c.track_id)
    per_artist = sa.func.row_number().over(partition_by=tracks.c.artist_id, order_by=order).label("artist_n")
    ranked = (
        sa.select(*c.c, tracks.c.title, tracks.c.album_name.label("album"), tracks.c.spotify_uri.label("uri"),
                  artists.c.name.label("artist"), per_artist)
        .select_from(c.join(tracks, tracks.c.id == c.c.track_id).join(artists, artists.c.id == tracks.c.artist_id))
        .where(tracks.c.kind == "music")
    )  # fmt: skip
    excluded = [name_key(name) for name in rules["excluded_artists"]]
    if excluded:
        ranked = ranked.where(artists.c.name_key.not_in(excluded))
    ranked = ranked.subquery("ranked")
    r = ranked.c
    return (
        sa.select(ranked)
        .where(r.artist_n <= rules["max_per_artist"])
        .order_by(r.score.desc(), r.tiebreak.desc(), r.track_id)
        .limit(rules["size"])
    )


# --- generating, saving, refreshing ---------------------------------------------------------------


@dataclass(frozen=True)
class PlaylistTrack:
    """A track of a playlist and why it is there."""

    track_id: int
    title: str
    artist: str
    album: str | None
    uri: str | None
    reason: str

    @property
    def savable(self) -> bool:
        """Whether it can go to Spotify (it has a track URI)."""
        return bool(self.uri) and self.uri.startswith("spotify:track:")

    @property
    def url(self) -> str | None:
        """The track's open.spotify.com address."""
        return f"https://open.spotify.com/track/{self.uri.rsplit(':', 1)[1]}" if self.savable else None


def generate(conn: Connection, user_id: int, source: Source, rules: dict, today: date) -> list[PlaylistTrack]:
    """The tracks a source picks for the user under these rules, each with its reason."""
    rows = conn.execute(statement(source, user_id, rules, today)).mappings()
    return [
        PlaylistTrack(row["track_id"], row["title"], row["artist"], row["album"], row["uri"], source.reason(row, rules))
        for row in rows
    ]


def savable_uris(chosen: Sequence[PlaylistTrack]) -> list[str]:
    """The URIs to send to Spotify, in order (tracks without one are left out)."""
    return [track.uri for track in chosen if track.savable]


@dataclass(frozen=True)
class SavedPlaylist:
    """A playlist as saved on Spotify and recorded here."""

    id: int
    spotify_id: str
    url: str
    name: str
    track_count: int


def clean_name(value: Any, source: Source, today: date) -> str:
    """The playlist name: trimmed, cut to 100 characters, the default when empty."""
    name = value.strip()[:NAME_LIMIT].strip() if isinstance(value, str) else ""
    return name or source.default_name(today)


def _chosen_or_fail(engine: Engine, user_id: int, source: Source, rules: dict, today: date) -> tuple[list, list]:
    with engine.connect() as conn:
        cache_state(conn, user_id)  # summaries a dead import left stale are brought up to date first
        chosen = generate(conn, user_id, source, rules, today)
    if not chosen:
        raise NoCandidates(source.missing(rules))
    uris = savable_uris(chosen)
    if not uris:
        raise NoCandidates(NO_URIS)
    return chosen, uris


def _store_tracks(conn: Connection, playlist_id: int, chosen: Sequence[PlaylistTrack]) -> None:
    conn.execute(playlist_tracks.delete().where(playlist_tracks.c.playlist_id == playlist_id))
    rows = [
        {"playlist_id": playlist_id, "position": n, "track_id": track.track_id, "reason": track.reason}
        for n, track in enumerate((track for track in chosen if track.savable), 1)
    ]
    conn.execute(playlist_tracks.insert(), rows)


def save_playlist(
    engine: Engine, user_id: int, client, source: Source, rules: dict, *, name: str, auto_refresh: bool,
    today: date, now: datetime,
) -> SavedPlaylist:  # fmt: skip
    """Generate the list, create a private playlist on Spotify, add the tracks 100 at a time, record it.

    The playlist is recorded as soon as Spotify has created it, so when adding the tracks fails
    it shows in the history (with 0 tracks) and Refresh fills it.
    """
    chosen, uris = _chosen_or_fail(engine, user_id, source, rules, today)
    created = client.create_playlist(name, f"{source.label}, made by Music Time Machine from your listening history.")
    url = created.url or f"https://open.spotify.com/playlist/{created.id}"
    with db.transaction(engine) as conn:
        playlist_id = conn.execute(
            playlists.insert().values(
                user_id=user_id, source=source.key, name=name, rules=rules, spotify_id=created.id, spotify_url=url,
                track_count=0, auto_refresh=auto_refresh, created_at=now,
            )
        ).inserted_primary_key[0]  # fmt: skip
    client.add_items(created.id, uris)
    with db.transaction(engine) as conn:
        _store_tracks(conn, playlist_id, chosen)
        conn.execute(playlists.update().where(playlists.c.id == playlist_id).values(track_count=len(uris)))
    return SavedPlaylist(playlist_id, created.id, url, name, len(uris))


def get_playlist(conn: Connection, user_id: int, playlist_id: int):
    """The user's playlist row, or None (also for another user's playlist)."""
    return conn.execute(
        sa.select(playlists).where(playlists.c.id == playlist_id, playlists.c.user_id == user_id)
    ).mappings().first()


def list_playlists(conn: Connection, user_id: int) -> list:
    """The user's generated playlists, newest first."""
    return list(
        conn.execute(
            sa.select(playlists).where(playlists.c.user_id == user_id).order_by(playlists.c.created_at.desc(), playlists.c.id.desc())
        ).mappings()
    )


def stored_tracks(conn: Connection, user_id: int, playlist_id: int) -> list[PlaylistTrack]:
    """The tracks of the user's playlist as last saved, in order."""
    p = playlist_tracks.c
    rows = conn.execute(
        sa.select(p.track_id, tracks.c.title, artists.c.name, tracks.c.album_name, tracks.c.spotify_uri, p.reason)
        .select_from(
            playlist_tracks.join(playlists, playlists.c.id == p.playlist_id)
            .join(tracks, tracks.c.id == p.track_id).join(artists, artists.c.id == tracks.c.artist_id)
        )
        .where(p.playlist_id == playlist_id, playlists.c.user_id == user_id)
        .order_by(p.position)
    )  # fmt: skip
    return [PlaylistTrack(*row) for row in rows]


def refresh_playlist(engine: Engine, user_id: int, playlist_id: int, client, *, today: date, now: datetime) -> SavedPlaylist:
    """Regenerate the user's playlist with its stored rules and replace its items on Spotify."""
    with engine.connect() as conn:
        row = get_playlist(conn, user_id, playlist_id)
    source = SOURCES.get(row["source"]) if row is not None else None
    if source is None:
        raise PlaylistNotFound(playlist_id)
    rules = parse_rules(source, row["rules"] or {}, today)
    chosen, uris = _chosen_or_fail(engine, user_id, source, rules, today)
    client.replace_items(row["spotify_id"], uris)
    with db.transaction(engine) as conn:
        _store_tracks(conn, playlist_id, chosen)
        conn.execute(
            playlists.update().where(playlists.c.id == playlist_id).values(track_count=len(uris), refreshed_at=now)
        )
    return SavedPlaylist(playlist_id, row["spotify_id"], row["spotify_url"], row["name"], len(uris))


def due_for_refresh(conn: Connection, user_id: int, now: datetime) -> list[int]:
    """The user's auto-refresh playlists not refreshed (or made) since this month began (UTC)."""
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = sa.func.coalesce(playlists.c.refreshed_at, playlists.c.created_at)
    return list(
        conn.execute(
            sa.select(playlists.c.id)
            .where(playlists.c.user_id == user_id, playlists.c.auto_refresh.is_(True), last < month_start)
            .order_by(playlists.c.id)
        ).scalars()
    )


@dataclass(frozen=True)
class RefreshResult:
    """What the monthly refresh did for one user."""

    refreshed: int
    skipped: list[str]

    def summary(self) -> str:
        text = f"Refreshed {self.refreshed} playlist{'' if self.refreshed == 1 else 's'}."
        return " ".join([text, *self.skipped])


def refresh_due_playlists(engine: Engine, user_id: int, client, *, today: date, now: datetime) -> RefreshResult:
    """The monthly job: refresh every due playlist; Spotify's errors stop it (the job runner records them)."""
    from .spotify.errors import NotFound

    with engine.connect() as conn:
        due = due_for_refresh(conn, user_id, now)
    refreshed, skipped = 0, []
    for playlist_id in due:
        try:
            refresh_playlist(engine, user_id, playlist_id, client, today=today, now=now)
            refreshed += 1
        except NoCandidates:
            skipped.append(f"Playlist {playlist_id} kept as it was: its source found no tracks.")
            _mark_refreshed(engine, playlist_id, now)  # try again next month, not every tick
        except NotFound:
            skipped.append(f"Playlist {playlist_id} is gone from Spotify: monthly refresh turned off.")
            with db.transaction(engine) as conn:
                conn.execute(playlists.update().where(playlists.c.id == playlist_id).values(auto_refresh=False))
    return RefreshResult(refreshed, skipped)


def _mark_refreshed(engine: Engine, playlist_id: int, now: datetime) -> None:
    with db.transaction(engine) as conn:
        conn.execute(playlists.update().where(playlists.c.id == playlist_id).values(refreshed_at=now))


# --- exports -----------------------------------------------------------------------------------------

CSV_COLUMNS = ("position", "artist", "title", "album", "spotify_uri", "spotify_url", "reason")


def to_csv(chosen: Sequence[PlaylistTrack]) -> str:
    """The list as CSV with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, t in enumerate(chosen, 1):
        writer.writerow((n, t.artist, t.title, t.album or "", t.uri or "", t.url or "", t.reason))
    return out.getvalue()


def to_m3u(title: str, chosen: Sequence[PlaylistTrack]) -> str:
    """Extended M3U (UTF-8): an #EXTINF line and the open.spotify.com address of each track.

    A track without a Spotify URI has no address to give, so it is kept as a comment.
    """
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(title)}"]
    for t in chosen:
        label = f"{_one_line(t.artist)} - {_one_line(t.title)}"
        lines += [f"#EXTINF:-1,{label}", t.url] if t.url else [f"# not on Spotify: {label}"]
    return "\n".join(lines) + "\n"


def to_jspf(title: str, creator: str, made_at: datetime, chosen: Sequence[PlaylistTrack]) -> dict:
    """JSPF, the JSON form of XSPF that ListenBrainz reads and writes."""
    return {
        "playlist": {
            "title": title,
            "creator": creator,
            "date": made_at.replace(microsecond=0).isoformat() + "Z",
            "annotation": "Made by Music Time Machine from a listening history.",
            "track": [
                {"title": t.title, "creator": t.artist, **({"album": t.album} if t.album else {}),
                 "identifier": [t.url] if t.url else [], "annotation": t.reason}
                for t in chosen
            ],  # fmt: skip
        }
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())
