"""Read-only questions about a user's history: (conn, user_id, …) -> plain data."""

from __future__ import annotations

import threading

from collections import Counter, OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import rollups
from .clock import utcnow
from .db import transaction
from .importers.pipeline import is_dead
from .rollups import month_of
from .schema import (
    artists,
    daily_plays,
    hourly_plays,
    import_batches,
    monthly_artists,
    monthly_charts,
    monthly_tracks,
    plays,
    rollup_state,
    snapshots,
    track_totals,
    tracks,
)


@dataclass(frozen=True)
class Overview:
    """The basic numbers of a user's music history."""

    plays: int
    listening_hours: float
    distinct_tracks: int
    distinct_artists: int
    first_play: datetime | None  # UTC
    last_play: datetime | None  # UTC
    podcast_plays: int


def overview(conn: Connection, user_id: int, state: CacheState | None = None) -> Overview:
    """The user's basic numbers (remembered until their plays change)."""
    return cached(conn, user_id, _overview, state=state)


def _overview(conn: Connection, user_id: int) -> Overview:
    """Plays, hours, distinct tracks and artists, first and last play (music only) and podcast plays.

    Music numbers come from the rollups (track_totals), not from a scan of every play."""
    t = track_totals.c
    totals = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(t.plays), 0), sa.func.coalesce(sa.func.sum(t.ms_played), 0),
                  sa.func.count(), sa.func.count(sa.distinct(t.artist_id)))
        .where(t.user_id == user_id)
    ).one()  # fmt: skip
    music = sa.and_(plays.c.user_id == user_id, plays.c.kind == "music")
    # First and last music play: walk the (user_id, ended_at, …) index from either end.
    first = conn.execute(sa.select(plays.c.ended_at).where(music).order_by(plays.c.ended_at).limit(1)).scalar()
    last = conn.execute(sa.select(plays.c.ended_at).where(music).order_by(plays.c.ended_at.desc()).limit(1)).scalar()
    everything = conn.execute(sa.select(sa.func.count()).where(plays.c.user_id == user_id)).scalar_one()
    row = (int(totals[0]), int(totals[1]), totals[2], first, last)
    artists = totals[3]
    podcasts = everything - row[0]

    def when(ts: int | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    return Overview(
        plays=row[0],
        listening_hours=round(int(row[1]) / 3_600_000, 1),
        distinct_tracks=row[2],
        distinct_artists=artists,
        first_play=when(row[3]),
        last_play=when(row[4]),
        podcast_plays=podcasts,
    )


def play_counts(conn: Connection, user_id: int, state: CacheState | None = None) -> tuple[int, int]:
    """(plays, distinct tracks) of all the user's plays, podcasts included (remembered until they change).

    Counting a million plays takes a quarter of a second; /settings and /status ask often."""
    return cached(conn, user_id, _play_counts, state=state)


def _play_counts(conn: Connection, user_id: int) -> tuple[int, int]:
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(plays.c.track_id))).where(plays.c.user_id == user_id)
    ).one()
    return row[0], row[1]


# --- a cache keyed by the rollups' version ----------------------------------------------------

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 1024
_CACHE_LOCK = threading.Lock()
_PENDING: dict = {}  # key -> (version, Future) of a view being computed
# Per user, at most this many views are computed again at once while their previous answer is
# served to whoever asks meanwhile (after an import or a sync every view is out of date at once).
_RECOMPUTE_SLOTS = 1
_recomputing: Counter = Counter()  # user id -> how many of those are running (under _CACHE_LOCK)


@dataclass(frozen=True)
class CacheState:
    """What decides whether a remembered answer may be served: the user's rollups version, and
    whether an import into the user is running (then the answers from before it are served)."""

    version: int
    importing: bool


def cache_state(conn: Connection, user_id: int) -> CacheState:
    """The user's CacheState (one query; one more while a batch is marked running).

    Summary tables left stale by an import that died (killed) are brought up to date first, in
    a write transaction of their own; `conn`'s read transaction then starts again to see them.
    """
    b, r = import_batches.c, rollup_state.c
    version, stale, running = conn.execute(
        sa.select(
            sa.select(r.version).where(r.user_id == user_id).scalar_subquery(),
            sa.select(r.stale_from).where(r.user_id == user_id).scalar_subquery(),
            sa.exists().where(b.user_id == user_id, b.status == "running"),
        )
    ).one()
    importing = bool(running) and import_running(conn, user_id)
    if stale is not None and not importing:
        if conn.get_execution_options().get("write"):  # already the writer
            rollups.refresh(conn, user_id)
        else:
            with transaction(conn.engine) as writer:
                rollups.refresh(writer, user_id)
            conn.rollback()
        return cache_state(conn, user_id)
    return CacheState(version or 0, importing)


def import_running(conn: Connection, user_id: int) -> bool:
    """Whether an import into the user is running (a batch marked running whose process is alive)."""
    b = import_batches.c
    batches = conn.execute(  # the runner only: a running report grows with every file
        sa.select(b.id, b.status, b.report["runner"].label("runner"), b.created_at)
        .where(b.user_id == user_id, b.status == "running")
    ).mappings()
    now = utcnow()
    return any(not is_dead({**batch, "report": {"runner": batch["runner"]}}, now=now) for batch in batches)


def cached(conn: Connection, user_id: int, fn, *args, state: CacheState | None = None):
    """`fn(conn, user_id, *args)`, remembered until the user's rollups change.

    Every view is a pure function of the rollups (and of its arguments, which include the
    period, so a new day is a new key); the version changes with every store, clear, time-zone
    or threshold change, so a hit is what a fresh query would answer. Except while an import
    into the user runs: every file it stores changes the version, and recomputing every view
    after every file would cost the pages more than the import; so the last answer is served
    until the import ends (or its process dies), and the pages say so (`import_running`).
    And when many views are out of date at once, at most _RECOMPUTE_SLOTS of those with a
    previous answer are computed at a time for a user; whoever asks for another meanwhile gets its
    previous answer (so figures can be a few computations late, never wrong for long).
    Per process, small. Only for functions that read nothing but the rollups, the catalogue
    and the plays (every change of a user's plays, podcasts included, changes the version).
    """
    state = state or cache_state(conn, user_id)
    key = (str(conn.engine.url), user_id, fn.__name__, args)
    with _CACHE_LOCK:  # waitress serves requests from several threads
        hit = _CACHE.get(key)
        if hit is not None and (hit[0] == state.version or state.importing):
            _CACHE.move_to_end(key)
            return hit[1]
        # One thread computes a view; others asking for it meanwhile wait for its answer (when
        # they would accept it) instead of computing it again: 50 visitors of a cold page. Those
        # that hold the answer of the version before (an import just ended) get that at once:
        # the figures are at most one computation late, and the end of an import is not a burst
        # of every visitor waiting for every view.
        pending = _PENDING.get(key)
        if pending is not None and (pending[0] == state.version or state.importing):
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit[1]
            waiting = pending[1]
        else:
            # When every view went out of date at once (the end of an import, a sync), the
            # requests that arrive while _RECOMPUTE_SLOTS views are being computed get the
            # previous answer rather than each computing another view: without a bound, 50
            # visitors computing 50 views at once on one core made every request wait seconds.
            recompute = hit is not None
            if recompute and _recomputing[user_id] >= _RECOMPUTE_SLOTS:
                _CACHE.move_to_end(key)
                return hit[1]
            _recomputing[user_id] += recompute
            waiting, mine = None, Future()
            if pending is None:
                _PENDING[key] = (state.version, mine)
    if waiting is not None:
        return waiting.result()
    try:
        value = fn(conn, user_id, *args)
    except BaseException as error:
        with _CACHE_LOCK:
            _recomputing[user_id] -= recompute
            if _PENDING.get(key, (None, None))[1] is mine:
                del _PENDING[key]
        mine.set_exception(error)
        raise
    with _CACHE_LOCK:
        _recomputing[user_id] -= recompute
        _CACHE[key] = (state.version, value)
        _CACHE.move_to_end(key)
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        if _PENDING.get(key, (None, None))[1] is mine:
            del _PENDING[key]
    mine.set_result(value)
    return value


def clear_cache() -> None:
    """Forget every remembered view (for tests, whose databases share one URL)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# =============================================================================================
# The analytics views (SPEC §3.5–3.7). Every function reads the rollups (see `rollups`), takes
# the connection and the user first, and returns plain dicts and lists ready for JSON.
# =============================================================================================

RANGES: dict[str, int | None] = {"6m": 180, "12m": 365, "24m": 730, "all": None}
DEFAULT_RANGE = "12m"
MEASURES = ("listens", "minutes")
CHART_SIZE = 50


@dataclass(frozen=True)
class Period:
    """The days an analytics view covers, both ends inclusive (None: open)."""

    key: str  # 6m | 12m | 24m | all | custom
    start: date | None
    end: date | None

    def as_dict(self) -> dict:
        return {"range": self.key, "from": _iso(self.start), "to": _iso(self.end)}


def resolve_period(range_key: str | None, start: str | None, end: str | None, today: date, *, strict: bool = False) -> Period:
    """The Period of a request's `range`, `from` and `to`.

    `from`/`to` (ISO dates; either may be left out) make a custom period and win over `range`.
    With `strict` (the API) an unknown range or a bad date raises ValueError; without it (the
    page) they fall back to 12m silently.
    """
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
        # The same years a month may have (parse_month); 9999-12-31 has no day after it.
        if any(day and not 1900 <= day.year <= 2999 for day in (first, last)):
            raise ValueError
    except ValueError:
        if strict:
            raise ValueError("from and to must be dates like 2025-01-31, in the years 1900 to 2999") from None
        first = last = None
    else:
        if first and last and first > last:
            if strict:
                raise ValueError("from must not be after to")
            first = last = None
    if first or last:
        return Period("custom", first, last)
    key = range_key or DEFAULT_RANGE
    if key not in RANGES:
        if strict:
            raise ValueError(f"range must be one of {', '.join(RANGES)}")
        key = DEFAULT_RANGE
    days = RANGES[key]  # the first day counted: today minus 180/365/730 days; none for `all`
    return Period(key, None if days is None else today - timedelta(days=days), None)


def parse_month(text: str) -> str:
    """'YYYY-MM' checked (ValueError otherwise)."""
    if not isinstance(text, str) or len(text) != 7 or text[4] != "-":
        raise ValueError("a month looks like 2025-04")
    year, month = int(text[:4]), int(text[5:])
    if not (1 <= month <= 12 and 1900 <= year <= 2999):
        raise ValueError("a month looks like 2025-04")
    return text


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _month_first(month: str) -> date:
    return date(int(month[:4]), int(month[5:]), 1)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)






def _months_between(first: str, last: str) -> list[str]:
    out, day = [], _month_first(first)
    while month_of(day) <= last:
        out.append(month_of(day))
        day = _next_month(day)
    return out


def _ordering(listens, ms, by: str) -> tuple:
    """Most first by the measure, the other measure breaking ties (then the id, by the caller)."""
    return (ms.desc(), listens.desc()) if by == "minutes" else (listens.desc(), ms.desc())


def _period_cells(user_id: int, period: Period) -> tuple:
    """The cells a period's totals are summed from, and the condition they need: all time
    reads track_totals (one row per track), any other period `_range_cells`."""
    if period.start is None and period.end is None:
        return track_totals, [track_totals.c.user_id == user_id]
    return _range_cells(user_id, period), []


def _range_cells(user_id: int, period: Period, *, artists_only: bool = False):
    """A subquery of (track_id, artist_id, plays, listens, ms_played, skips) rows covering the
    period exactly: whole months from monthly_tracks, the partial months at its ends from
    daily_plays (so a range with a cutoff on the 9th counts from the 9th). With `artists_only`,
    (artist_id, plays, listens, ms_played) rows, the whole months from monthly_artists (a
    month has about half as many artists as tracks)."""
    d = daily_plays.c
    if artists_only:
        m = monthly_artists.c
        cols_m = [m.artist_id, m.plays, m.listens, m.ms_played]
        cols_d = [d.artist_id, d.plays, d.listens, d.ms_played]
    else:
        m = monthly_tracks.c
        cols_m = [m.track_id, m.artist_id, m.plays, m.listens, m.ms_played, m.skips]
        cols_d = [d.track_id, d.artist_id, d.plays, d.listens, d.ms_played, d.skips]
    start, end = period.start, period.end
    full_from = None if start is None else (start if start.day == 1 else _next_month(start))
    after_end = None if end is None else end + timedelta(days=1)
    full_until = None if after_end is None else (after_end if after_end.day == 1 else after_end.replace(day=1))
    parts = []
    if full_from is not None and full_until is not None and full_from >= full_until:
        parts.append(sa.select(*cols_d).where(d.user_id == user_id, d.day >= start, d.day <= end))
    else:
        whole = sa.select(*cols_m).where(m.user_id == user_id)
        if full_from is not None:
            whole = whole.where(m.month >= month_of(full_from))
        if full_until is not None:
            whole = whole.where(m.month < month_of(full_until))
        parts.append(whole)
        if start is not None and full_from != start:
            parts.append(sa.select(*cols_d).where(d.user_id == user_id, d.day >= start, d.day < full_from))
        if end is not None and full_until <= end:
            parts.append(sa.select(*cols_d).where(d.user_id == user_id, d.day >= full_until, d.day <= end))
    return (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("cells")


def _names_of_tracks(conn: Connection, ids: list[int]) -> dict[int, dict]:
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(tracks.c.id, tracks.c.title, tracks.c.album_name, tracks.c.spotify_uri, artists.c.id, artists.c.name)
        .select_from(tracks.join(artists, artists.c.id == tracks.c.artist_id))
        .where(tracks.c.id.in_(ids))
    )
    return {
        r[0]: {"id": r[0], "title": r[1], "album": r[2], "uri": r[3], "artist_id": r[4], "artist": r[5]} for r in rows
    }


def _names_of_artists(conn: Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(conn.execute(sa.select(artists.c.id, artists.c.name).where(artists.c.id.in_(ids))).all())


def _entry(rank: int, listens: int, ms: int) -> dict:
    return {"rank": rank, "listens": int(listens or 0), "minutes": round(int(ms or 0) / 60_000, 1)}


def _nonzero(rows: list, column: int) -> list:
    """Rows whose measure is above zero (a track only ever skipped has no place in a chart by listens)."""
    return [row for row in rows if int(row[column] or 0) > 0]


def top_tracks(conn: Connection, user_id: int, period: Period, by: str = "listens", limit: int = CHART_SIZE) -> list[dict]:
    """The period's most played tracks, by listens or by minutes."""
    if period.start is None and period.end is None:
        t = track_totals.c
        rows = conn.execute(
            sa.select(t.track_id, t.listens, t.ms_played)
            .where(t.user_id == user_id)
            .order_by(*_ordering(t.listens, t.ms_played, by), t.track_id)
            .limit(limit)
        ).all()
    else:
        cells = _range_cells(user_id, period)
        listens, ms = sa.func.sum(cells.c.listens), sa.func.sum(cells.c.ms_played)
        rows = conn.execute(
            sa.select(cells.c.track_id, listens, ms)
            .group_by(cells.c.track_id)
            .order_by(*_ordering(listens, ms, by), cells.c.track_id)
            .limit(limit)
        ).all()
    rows = _nonzero(rows, 2 if by == "minutes" else 1)
    names = _names_of_tracks(conn, [r[0] for r in rows])
    return [{**_entry(i, r[1], r[2]), **names[r[0]]} for i, r in enumerate(rows, 1)]


def top_artists(conn: Connection, user_id: int, period: Period, by: str = "listens", limit: int = CHART_SIZE) -> list[dict]:
    """The period's most played artists, by listens or by minutes."""
    if period.start is None and period.end is None:
        cells, where = track_totals, [track_totals.c.user_id == user_id]
    else:
        cells, where = _range_cells(user_id, period, artists_only=True), []
    listens, ms = sa.func.sum(cells.c.listens), sa.func.sum(cells.c.ms_played)
    rows = conn.execute(
        sa.select(cells.c.artist_id, listens, ms)
        .where(*where)
        .group_by(cells.c.artist_id)
        .order_by(*_ordering(listens, ms, by), cells.c.artist_id)
        .limit(limit)
    ).all()
    rows = _nonzero(rows, 2 if by == "minutes" else 1)
    names = _names_of_artists(conn, [r[0] for r in rows])
    return [{**_entry(i, r[1], r[2]), "id": r[0], "name": names[r[0]]} for i, r in enumerate(rows, 1)]


def top_albums(conn: Connection, user_id: int, period: Period, by: str = "listens", limit: int = CHART_SIZE) -> list[dict]:
    """The period's most played albums (artist + album name), by listens or by minutes."""
    cells, where = _period_cells(user_id, period)
    listens, ms = sa.func.sum(cells.c.listens), sa.func.sum(cells.c.ms_played)
    rows = conn.execute(
        sa.select(cells.c.artist_id, tracks.c.album_name, listens, ms)
        .select_from(cells.join(tracks, tracks.c.id == cells.c.track_id))
        .where(*where, tracks.c.album_name.is_not(None))
        .group_by(cells.c.artist_id, tracks.c.album_name)
        .order_by(*_ordering(listens, ms, by), cells.c.artist_id, tracks.c.album_name)
        .limit(limit)
    ).all()
    rows = _nonzero(rows, 3 if by == "minutes" else 2)
    names = _names_of_artists(conn, [r[0] for r in rows])
    return [
        {**_entry(i, r[2], r[3]), "album": r[1], "artist_id": r[0], "artist": names[r[0]]}
        for i, r in enumerate(rows, 1)
    ]


def _month_bounds(period: Period) -> tuple[str | None, str | None]:
    """The first and last month a period touches (None: open)."""
    return (month_of(period.start) if period.start else None, month_of(period.end) if period.end else None)


def _where_month(column, period: Period) -> list:
    first, last = _month_bounds(period)
    return [c for c in (column >= first if first else None, column <= last if last else None) if c is not None]


def data_months(conn: Connection, user_id: int) -> list[str]:
    """Every month with music plays, oldest first."""
    return list(
        conn.execute(
            sa.select(monthly_charts.c.month).where(monthly_charts.c.user_id == user_id, monthly_charts.c.kind == "artist",
                                                    monthly_charts.c.rank == 1).order_by(monthly_charts.c.month)
        ).scalars()
    )  # fmt: skip


def _series_months(conn: Connection, user_id: int, period: Period) -> list[str]:
    """The months of a monthly series: from the period's first month (or the first month with
    data) to its last (or the last month with data), gaps included."""
    months = data_months(conn, user_id)
    if not months:
        return []
    first, last = _month_bounds(period)
    first = max(first or months[0], months[0])
    last = min(last or months[-1], months[-1])
    return _months_between(first, last) if first <= last else []


def catalogue_growth(conn: Connection, user_id: int, period: Period) -> list[dict]:
    """New distinct tracks per month (first ever play in that month) and the cumulative total."""
    t = track_totals.c
    per_day = conn.execute(
        sa.select(t.first_day, sa.func.count()).where(t.user_id == user_id).group_by(t.first_day)
    ).all()
    new: dict[str, int] = {}
    for day, count in per_day:
        new[month_of(day)] = new.get(month_of(day), 0) + count
    months = _series_months(conn, user_id, period)
    cumulative = sum(count for month, count in new.items() if months and month < months[0])
    out = []
    for month in months:
        cumulative += new.get(month, 0)
        out.append({"month": month, "new_tracks": new.get(month, 0), "total_tracks": cumulative})
    return out


def artist_diversity(conn: Connection, user_id: int, period: Period) -> list[dict]:
    """Distinct artists played per month."""
    a = monthly_artists.c
    counts = dict(
        conn.execute(
            sa.select(a.month, sa.func.count()).where(a.user_id == user_id, *_where_month(a.month, period)).group_by(a.month)
        ).all()
    )
    return [{"month": month, "artists": counts.get(month, 0)} for month in _series_months(conn, user_id, period)]


def consistent_artists(conn: Connection, user_id: int, period: Period, limit: int = 20) -> dict:
    """In how many of the period's monthly charts (top 50 artists by listens) each artist was."""
    c = monthly_charts.c
    months = _series_months(conn, user_id, period)
    rows = conn.execute(
        sa.select(c.item_id, sa.func.count(), sa.func.sum(c.listens))
        .where(c.user_id == user_id, c.kind == "artist", *_where_month(c.month, period))
        .group_by(c.item_id)
        .order_by(sa.func.count().desc(), sa.func.sum(c.listens).desc(), c.item_id)
        .limit(limit)
    ).all()
    names = _names_of_artists(conn, [r[0] for r in rows])
    return {
        "months": len(months),
        "artists": [{"id": r[0], "name": names[r[0]], "months_charted": r[1], "listens": int(r[2])} for r in rows],
    }


def most_consistent_artist(conn: Connection, user_id: int) -> dict | None:
    """The artist present in the most monthly charts (all time), or None."""
    artists_ = consistent_artists(conn, user_id, Period("all", None, None), limit=1)
    return artists_["artists"][0] if artists_["artists"] else None


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def listening_clock(conn: Connection, user_id: int, period: Period) -> dict:
    """Listens by local hour (0–23) and weekday (Monday first), in the user's time zone."""
    h = hourly_plays.c
    where = [h.user_id == user_id]
    if period.start:
        where.append(h.day >= period.start)
    if period.end:
        where.append(h.day <= period.end)
    grid = [[0] * 24 for _ in range(7)]
    for weekday, hour, listens in conn.execute(
        sa.select(h.weekday, h.hour, sa.func.sum(h.listens)).where(*where).group_by(h.weekday, h.hour)
    ):
        grid[weekday][hour] = int(listens)
    return {"weekdays": list(WEEKDAYS), "hours": list(range(24)), "listens": grid}


def _daily_totals(conn: Connection, user_id: int, period: Period):
    h = hourly_plays.c
    where = [h.user_id == user_id]
    first, last = _month_bounds(period)
    if first:
        where.append(h.day >= _month_first(first))
    if last:
        where.append(h.day < _next_month(_month_first(last)))
    return conn.execute(
        sa.select(h.day, sa.func.sum(h.plays), sa.func.sum(h.listens), sa.func.sum(h.ms_played), sa.func.sum(h.skips))
        .where(*where)
        .group_by(h.day)
    ).all()


def time_per_month(conn: Connection, user_id: int, period: Period) -> list[dict]:
    """Minutes listened, plays, listens and skip rate per month (the months the period touches)."""
    sums: dict[str, list[int]] = {}
    for day, plays_, listens, ms, skips in _daily_totals(conn, user_id, period):
        cell = sums.setdefault(month_of(day), [0, 0, 0, 0])
        cell[0] += int(plays_)
        cell[1] += int(listens)
        cell[2] += int(ms)
        cell[3] += int(skips)
    out = []
    for month in _series_months(conn, user_id, period):
        p, listens, ms, skips = sums.get(month, [0, 0, 0, 0])
        out.append({
            "month": month, "minutes": round(ms / 60_000, 1), "plays": p, "listens": listens, "skips": skips,
            "skip_rate": round(skips / p, 4) if p else 0.0,
        })  # fmt: skip
    return out


def skip_rate(conn: Connection, user_id: int, period: Period) -> dict:
    """Share of the period's plays that were skipped, overall and per month."""
    months = cached(conn, user_id, time_per_month, period)  # the same as /api/v1/time's
    plays_ = sum(m["plays"] for m in months)
    skips = sum(m["skips"] for m in months)
    return {
        "plays": plays_, "skips": skips, "skip_rate": round(skips / plays_, 4) if plays_ else 0.0,
        "months": [{"month": m["month"], "skip_rate": m["skip_rate"]} for m in months],
    }  # fmt: skip


def taste_shift(conn: Connection, user_id: int, period: Period, artists_count: int = 8) -> dict:
    """Monthly chart ranks (1–50, None when out of the chart) of the period's top artists."""
    months = _series_months(conn, user_id, period)
    top = cached(conn, user_id, top_artists, period, "listens", CHART_SIZE)[:artists_count]  # as /api/v1/top/artists
    ids = [a["id"] for a in top]
    c = monthly_charts.c
    ranks: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for month, item_id, rank in conn.execute(
            sa.select(c.month, c.item_id, c.rank).where(
                c.user_id == user_id, c.kind == "artist", c.item_id.in_(ids), *_where_month(c.month, period)
            )
        ):
            ranks[item_id][month] = rank
    return {
        "months": months,
        "artists": [{"id": a["id"], "name": a["name"], "ranks": [ranks[a["id"]].get(m) for m in months]} for a in top],
    }


# --- monthly charts ----------------------------------------------------------------------------


def monthly_chart(conn: Connection, user_id: int, month: str, by: str = "listens", limit: int = CHART_SIZE) -> dict:
    """A month's top tracks and artists from plays (local calendar month), by listens or minutes."""
    period = _month_period(month)
    return {
        "month": month, "source": "plays", "by": by,
        "tracks": top_tracks(conn, user_id, period, by, limit),
        "artists": top_artists(conn, user_id, period, by, limit),
    }  # fmt: skip


def snapshot_months(conn: Connection, user_id: int) -> list[str]:
    """Months with a Spotify top-list snapshot, oldest first."""
    days = conn.execute(sa.select(snapshots.c.taken_on).where(snapshots.c.user_id == user_id).distinct()).scalars()
    return sorted({month_of(day) for day in days})


def snapshot_chart(conn: Connection, user_id: int, month: str, time_range: str = "short_term") -> dict:
    """Spotify's own top lists from the month's first snapshot (short_term ≈ the last 4 weeks)."""
    first = _month_first(month)
    s = snapshots.c
    taken_on = conn.execute(
        sa.select(sa.func.min(s.taken_on)).where(
            s.user_id == user_id, s.time_range == time_range, s.taken_on >= first, s.taken_on < _next_month(first)
        )
    ).scalar()
    result = {"month": month, "source": "snapshots", "taken_on": _iso(taken_on), "time_range": time_range,
              "tracks": [], "artists": []}  # fmt: skip
    if taken_on is None:
        return result
    rows = conn.execute(
        sa.select(s.kind, s.rank, s.track_id, s.artist_id)
        .where(s.user_id == user_id, s.time_range == time_range, s.taken_on == taken_on)
        .order_by(s.kind, s.rank)
    ).all()
    track_names = _names_of_tracks(conn, [r.track_id for r in rows if r.kind == "track" and r.track_id])
    artist_names = _names_of_artists(conn, [r.artist_id for r in rows if r.kind == "artist" and r.artist_id])
    for r in rows:
        if r.kind == "track" and r.track_id in track_names:
            result["tracks"].append({"rank": r.rank, **track_names[r.track_id]})
        elif r.kind == "artist" and r.artist_id in artist_names:
            result["artists"].append({"rank": r.rank, "id": r.artist_id, "name": artist_names[r.artist_id]})
    return result


def _chart_ids(conn: Connection, user_id: int, month: str, kind: str) -> list[int]:
    c = monthly_charts.c
    return list(
        conn.execute(
            sa.select(c.item_id).where(c.user_id == user_id, c.month == month, c.kind == kind).order_by(c.rank)
        ).scalars()
    )


def track_turnover(conn: Connection, user_id: int) -> dict | None:
    """Share of the latest monthly track chart that was not in the previous month's chart."""
    months = data_months(conn, user_id)
    if len(months) < 2:
        return None
    latest, previous = months[-1], months[-2]
    now, before = _chart_ids(conn, user_id, latest, "track"), set(_chart_ids(conn, user_id, previous, "track"))
    if not now:
        return None
    new = sum(1 for track_id in now if track_id not in before)
    return {"month": latest, "previous": previous, "new": new, "size": len(now), "share": round(new / len(now), 4)}


def _play_sources(conn: Connection, user_id: int) -> dict[str, tuple[str, ...]]:
    h = hourly_plays.c
    coverage: dict[str, set[str]] = {}
    for day, source in conn.execute(sa.select(h.day, h.source).where(h.user_id == user_id).distinct()):
        coverage.setdefault(month_of(day), set()).add(source)
    return {month: tuple(sources) for month, sources in coverage.items()}


def data_coverage(conn: Connection, user_id: int, state: CacheState | None = None) -> list[dict]:
    """Every month with data and where it came from (extended/account/api plays, snapshots)."""
    sources = cached(conn, user_id, _play_sources, state=state)
    coverage = {month: set(kinds) for month, kinds in sources.items()}
    for month in snapshot_months(conn, user_id):
        coverage.setdefault(month, set()).add("snapshot")
    order = ["extended", "account", "api", "snapshot"]
    return [{"month": m, "sources": sorted(coverage[m], key=lambda s: order.index(s) if s in order else 9)}
            for m in sorted(coverage)]  # fmt: skip


# --- the time machine ------------------------------------------------------------------------


def _month_period(month: str) -> Period:
    first = _month_first(month)
    return Period("custom", first, _next_month(first) - timedelta(days=1))


def _discoveries(conn: Connection, user_id: int, first: date, last: date, limit: int = 20) -> dict:
    """Tracks first played between `first` and `last`: how many, and the most listened of them."""
    t = track_totals.c
    where = [t.user_id == user_id, t.first_day >= first, t.first_day <= last]
    count = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
    ids = conn.execute(
        sa.select(t.track_id).where(*where).order_by(t.listens.desc(), t.track_id).limit(limit)
    ).scalars().all()
    names = _names_of_tracks(conn, list(ids))
    return {"count": count, "tracks": [names[i] for i in ids]}


def month_page(conn: Connection, user_id: int, month: str, by: str = "listens") -> dict:
    """A month: top tracks and artists, listening time, discoveries; `has_data` False when empty."""
    period = _month_period(month)
    totals = [m for m in time_per_month(conn, user_id, period) if m["month"] == month]
    chart = monthly_chart(conn, user_id, month, by)
    months = data_months(conn, user_id)
    earlier = [m for m in months if m < month]
    later = [m for m in months if m > month]
    return {
        "month": month,
        "has_data": bool(totals and totals[0]["plays"]),
        "totals": totals[0] if totals else {"month": month, "minutes": 0.0, "plays": 0, "listens": 0, "skips": 0,
                                             "skip_rate": 0.0},
        "tracks": chart["tracks"],
        "artists": chart["artists"],
        "discoveries": _discoveries(conn, user_id, period.start, period.end),
        "previous_month": earlier[-1] if earlier else None,
        "next_month": later[0] if later else None,
    }  # fmt: skip


def _rank_map(entries: list[dict], key: str = "id") -> dict:
    return {e[key]: e for e in entries}


def compare_months(conn: Connection, user_id: int, a: str, b: str, kind: str = "artists", by: str = "listens") -> dict:
    """Month `b` against month `a` (top 50 each): new entries, dropped ones, risers and fallers."""
    fetch = top_artists if kind == "artists" else top_tracks
    first = fetch(conn, user_id, _month_period(a), by)
    second = fetch(conn, user_id, _month_period(b), by)
    label = "name" if kind == "artists" else "title"
    before, after = _rank_map(first), _rank_map(second)

    def item(e: dict, **more) -> dict:
        out = {"id": e["id"], "name": e[label], "listens": e["listens"], "minutes": e["minutes"], **more}
        if kind == "tracks":
            out["artist"] = e["artist"]
        return out

    new = [item(e, rank=e["rank"]) for e in second if e["id"] not in before]
    dropped = [item(e, rank=e["rank"]) for e in first if e["id"] not in after]
    moves = [
        item(e, rank=e["rank"], previous_rank=before[e["id"]]["rank"], change=before[e["id"]]["rank"] - e["rank"])
        for e in second
        if e["id"] in before
    ]
    risers = sorted((m for m in moves if m["change"] > 0), key=lambda m: (-m["change"], m["rank"]))
    fallers = sorted((m for m in moves if m["change"] < 0), key=lambda m: (m["change"], m["rank"]))
    return {"a": a, "b": b, "kind": kind, "by": by, "new": new, "dropped": dropped, "risers": risers,
            "fallers": fallers, "a_has_data": bool(first), "b_has_data": bool(second)}  # fmt: skip


def on_this_day(conn: Connection, user_id: int, today: date, limit: int = 10) -> list[dict]:
    """What you played on today's date (local) in earlier years, newest year first."""
    d, t = daily_plays.c, track_totals.c
    first, last = conn.execute(sa.select(sa.func.min(t.first_day), sa.func.max(t.last_day)).where(t.user_id == user_id)).one()
    if first is None:
        return []
    days = []
    for year in range(min(today.year - 1, last.year), first.year - 1, -1):  # only years with plays
        try:
            days.append(today.replace(year=year))
        except ValueError:  # 29 February in a year without one
            continue
    if not days:
        return []
    rows = conn.execute(
        sa.select(d.day, d.track_id, d.listens, d.ms_played, d.plays)
        .where(d.user_id == user_id, d.day.in_(days))
        .order_by(d.day.desc(), d.listens.desc(), d.ms_played.desc(), d.track_id)
    ).all()
    by_day: dict[date, list] = {}
    for row in rows:
        by_day.setdefault(row[0], []).append(row[1:])
    names = _names_of_tracks(conn, [r[0] for day_rows in by_day.values() for r in day_rows[:limit]])
    return [
        {
            "year": day.year, "date": day.isoformat(), "plays": sum(r[3] for r in day_rows),
            "minutes": round(sum(r[2] for r in day_rows) / 60_000, 1),
            "tracks": [{**_entry(i, r[1], r[2]), **names[r[0]]} for i, r in enumerate(day_rows[:limit], 1)],
        }  # fmt: skip
        for day, day_rows in by_day.items()
    ]


def year_in_review(conn: Connection, user_id: int, year: int, limit: int = 10) -> dict:
    """A year: top artists/tracks/albums, minutes, discoveries, the month listened most."""
    period = Period("custom", date(year, 1, 1), date(year, 12, 31))
    months = [m for m in time_per_month(conn, user_id, period) if m["month"].startswith(f"{year:04d}-")]
    minutes = round(sum(m["minutes"] for m in months), 1)
    busiest = max(months, key=lambda m: (m["minutes"], m["month"]), default=None)
    all_years = sorted({int(m[:4]) for m in data_months(conn, user_id)})
    return {
        "year": year,
        "has_data": any(m["plays"] for m in months),
        "minutes": minutes,
        "plays": sum(m["plays"] for m in months),
        "listens": sum(m["listens"] for m in months),
        "top_artists": top_artists(conn, user_id, period, limit=limit),
        "top_tracks": top_tracks(conn, user_id, period, limit=limit),
        "top_albums": top_albums(conn, user_id, period, limit=limit),
        "discoveries": _discoveries(conn, user_id, period.start, period.end, limit=limit),
        "busiest_month": busiest["month"] if busiest and busiest["plays"] else None,
        "months": [{"month": m["month"], "minutes": m["minutes"]} for m in months],
        "years": all_years,
    }


def artist_page(conn: Connection, user_id: int, artist_id: int) -> dict | None:
    """An artist the user has played: first/last listen, listens per month, chart rank over time.

    None when the user never played the artist (unknown id, or another user's artist)."""
    t = track_totals.c
    row = conn.execute(
        sa.select(sa.func.min(t.first_day), sa.func.max(t.last_day), sa.func.sum(t.plays), sa.func.sum(t.listens),
                  sa.func.sum(t.ms_played), sa.func.count())
        .where(t.user_id == user_id, t.artist_id == artist_id)
    ).one()  # fmt: skip
    if row[0] is None:
        return None
    top = conn.execute(
        sa.select(t.track_id, t.listens, t.ms_played).where(t.user_id == user_id, t.artist_id == artist_id)
        .order_by(t.listens.desc(), t.track_id).limit(20)
    ).all()  # fmt: skip
    names = _names_of_tracks(conn, [r[0] for r in top])
    return {
        "id": artist_id,
        "name": _names_of_artists(conn, [artist_id])[artist_id],
        "first_listen": row[0].isoformat(), "last_listen": row[1].isoformat(),
        "plays": int(row[2]), "listens": int(row[3]), "minutes": round(int(row[4]) / 60_000, 1), "tracks_count": row[5],
        "months": _item_months(conn, user_id, "artist", artist_id),
        "top_tracks": [{**_entry(i, r[1], r[2]), **names[r[0]]} for i, r in enumerate(top, 1)],
    }  # fmt: skip


def track_page(conn: Connection, user_id: int, track_id: int) -> dict | None:
    """A track the user has played: first/last listen, listens per month, chart rank over time."""
    t = track_totals.c
    row = conn.execute(sa.select(track_totals).where(t.user_id == user_id, t.track_id == track_id)).mappings().first()
    if row is None:
        return None
    return {
        **_names_of_tracks(conn, [track_id])[track_id],
        "first_listen": row["first_day"].isoformat(), "last_listen": row["last_day"].isoformat(),
        "plays": row["plays"], "listens": row["listens"], "minutes": round(row["ms_played"] / 60_000, 1),
        "months": _item_months(conn, user_id, "track", track_id),
    }  # fmt: skip


def _item_months(conn: Connection, user_id: int, kind: str, item_id: int) -> list[dict]:
    """An artist's or a track's listens and minutes per month, with its chart rank (None when out)."""
    table = monthly_artists if kind == "artist" else monthly_tracks
    m = table.c
    per_month = conn.execute(
        sa.select(m.month, m.listens, m.ms_played).where(m.user_id == user_id, m[f"{kind}_id"] == item_id).order_by(m.month)
    ).all()
    c = monthly_charts.c
    ranks = dict(conn.execute(sa.select(c.month, c.rank).where(c.user_id == user_id, c.kind == kind, c.item_id == item_id)).all())
    return [{"month": month, "listens": int(listens), "minutes": round(int(ms) / 60_000, 1), "rank": ranks.get(month)}
            for month, listens, ms in per_month]  # fmt: skip


def _latest_day(conn: Connection, user_id: int) -> date | None:
    return conn.execute(
        sa.select(sa.func.max(track_totals.c.last_day)).where(track_totals.c.user_id == user_id)
    ).scalar()  # no index on last_day: a scan of the user's tracks, 5 ms at 60,000 tracks


def dashboard(conn: Connection, user_id: int, state: CacheState | None = None) -> dict:
    """The home page's numbers beyond `overview`: turnover, consistency, coverage, discoveries."""
    state = state or cache_state(conn, user_id)
    growth = cached(conn, user_id, catalogue_growth, Period("all", None, None), state=state)
    latest = cached(conn, user_id, _latest_day, state=state)
    return {
        "track_turnover": cached(conn, user_id, track_turnover, state=state),
        "most_consistent_artist": cached(conn, user_id, most_consistent_artist, state=state),
        "coverage": data_coverage(conn, user_id, state),
        "new_tracks_per_month": [{"month": g["month"], "new_tracks": g["new_tracks"]} for g in growth],
        "latest_day": _iso(latest),
        "snapshot_months": snapshot_months(conn, user_id),
    }
