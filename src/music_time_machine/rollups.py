"""Summary tables of a user's music plays, brought up to date from `plays` in bulk.

Analytics read these instead of `plays`: a decade of plays is millions of rows, but a month
has only thousands of (month, track) cells. Everything is bucketed by the *local* day in the
user's time zone: the SQL adds the zone's UTC offset to each play's time (a CASE over the
offset changes in the range, found in Python with zoneinfo, so DST changes are right and the
SQL stays the same on SQLite and PostgreSQL).

- `mark_changed(conn, user_id, first, last)`: plays between these times (Unix seconds) were
  added or removed; the summaries of those days are *stale* until the next `refresh`. Every
  writer of plays calls it in the transaction that changes them (`history.store_plays`).
- `refresh(conn, user_id)` recomputes the stale days from the plays, with INSERT … SELECT …
  GROUP BY, and the months and tracks they touch; `store_plays` calls it at once, an import
  once at its end (so a big import computes each summary row once, not once per file).
  While a summary is stale its rows are those from before the change: consistent, only older.
  A stale range whose import died (killed) is refreshed by the next reader (`analytics
  .cache_state`) or import.
- `rebuild(conn, user_id)` recreates everything (after a clear, a time-zone or threshold
  change, or when in doubt); `start(conn, user_id)` records a new user's (empty) summaries.

Definitions: a *listen* is a play with `ms_played >= users.listen_threshold_ms`; a *skip* is a
play Spotify flagged `skipped`, or, where that flag is unknown (account exports, the API), a
play shorter than the threshold. Podcasts and audiobooks are left out.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import CHUNK, chunks, insert_rows
from .schema import (
    daily_plays,
    hourly_plays,
    monthly_artists,
    monthly_charts,
    monthly_tracks,
    plays,
    rollup_state,
    track_totals,
    tracks,
    users,
)

CHART_SIZE = 50
_DAY = 86_400
_EPOCH_WEEKDAY = 3  # 1 January 1970 was a Thursday (Monday = 0)
_SUMMARIES = (daily_plays, hourly_plays, monthly_tracks, monthly_artists, monthly_charts, track_totals)


def zone(name: str | None) -> ZoneInfo:
    """The ZoneInfo for a stored time-zone name (UTC when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(time_zone: str | None, now: datetime) -> date:
    """The date in a stored time zone at `now` (naive UTC, as the app keeps times)."""
    return now.replace(tzinfo=UTC).astimezone(zone(time_zone)).date()


def month_of(day: date) -> str:
    """'YYYY-MM' of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def settings(conn: Connection, user_id: int) -> tuple[str, int]:
    row = conn.execute(
        sa.select(users.c.time_zone, users.c.listen_threshold_ms).where(users.c.id == user_id)
    ).one()
    return row[0] or "UTC", int(row[1])


def _midnight_utc(day: date, tz: ZoneInfo) -> int:
    """Unix seconds of the local midnight that starts `day`."""
    return int(datetime.combine(day, time(), tz).timestamp())


def utc_offsets(tz: ZoneInfo, start: int, end: int) -> list[tuple[int, int]]:
    """(from second, UTC offset in seconds) of each stretch of `tz`'s time between two Unix times.

    zoneinfo does not list a zone's transitions: it is asked every 6 hours (no zone changes its
    offset twice in 6 hours), and a change is then pinned to the second by bisection.
    """

    def offset(t: int) -> int:
        return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())

    spans = [(start, offset(start))]
    t = start
    while t < end:
        step = min(t + 6 * 3600, end)
        if offset(step) != spans[-1][1]:
            before, after = t, step
            while after - before > 1:
                middle = (before + after) // 2
                before, after = (middle, after) if offset(middle) == spans[-1][1] else (before, middle)
            spans.append((after, offset(after)))
        t = step
    return spans


def _local_seconds(ended_at, spans: list[tuple[int, int]]):
    """SQL: `ended_at` (Unix seconds) in local time, as seconds since the local 1970-01-01."""

    def offset(spans):  # a balanced tree of CASEs: a few comparisons a play, however many changes
        if len(spans) == 1:
            return sa.literal(spans[0][1], sa.Integer)
        middle = len(spans) // 2
        return sa.case((ended_at < spans[middle][0], offset(spans[:middle])), else_=offset(spans[middle:]))

    return ended_at + offset(spans)


def _day_of_number(number, dialect: str):
    """SQL: the date of a day number (days since 1970-01-01), as the dialect stores dates."""
    if dialect == "sqlite":
        return sa.func.date(number * _DAY, "unixepoch")  # 'YYYY-MM-DD', as SQLAlchemy stores a Date
    return sa.cast(sa.literal("1970-01-01"), sa.Date) + sa.cast(number, sa.Integer)  # date + int (not bigint)


def _month_of_day(day, dialect: str):
    """SQL: 'YYYY-MM' of a date column."""
    if dialect == "sqlite":
        return sa.func.substr(day, 1, 7)
    return sa.func.to_char(day, "YYYY-MM")


def _bump(conn: Connection, user_id: int, tz_name: str, threshold: int) -> None:
    """A new version (nothing stale) of summaries built with these settings."""
    # A random version rather than a counter: a cache keyed by it can never mistake a restored
    # backup or a recreated database (whose counter would start again) for data it has seen.
    values = dict(time_zone=tz_name, listen_threshold_ms=threshold, version=secrets.randbits(31) or 1,
                  stale_from=None, stale_until=None)  # fmt: skip
    if not conn.execute(rollup_state.update().where(rollup_state.c.user_id == user_id).values(values)).rowcount:
        conn.execute(rollup_state.insert().values(user_id=user_id, **values))


def version(conn: Connection, user_id: int) -> int:
    """A number that changes whenever the user's plays or rollups change (0 before the first build)."""
    return conn.execute(sa.select(rollup_state.c.version).where(rollup_state.c.user_id == user_id)).scalar() or 0


def start(conn: Connection, user_id: int) -> None:
    """A new user's rollups: empty, and built with the user's settings."""
    _bump(conn, user_id, *settings(conn, user_id))


def mark_changed(conn: Connection, user_id: int, first: int, last: int) -> None:
    """Plays of the user that end between `first` and `last` (Unix seconds) were added or removed:
    those days' summaries are stale until `refresh`. Changes the version (the plays changed)."""
    s = rollup_state.c
    conn.execute(
        rollup_state.update()
        .where(s.user_id == user_id)
        .values(
            stale_from=sa.case((s.stale_from.is_(None) | (s.stale_from > first), first), else_=s.stale_from),
            stale_until=sa.case((s.stale_until.is_(None) | (s.stale_until < last), last), else_=s.stale_until),
            version=secrets.randbits(31) or 1,
        )
    )  # no row: never built, and `refresh` builds everything


def is_stale(conn: Connection, user_id: int) -> bool:
    """Whether plays changed since the user's summaries were last brought up to date."""
    state = conn.execute(sa.select(rollup_state.c.stale_from).where(rollup_state.c.user_id == user_id)).first()
    return state is None or state[0] is not None


def refresh(conn: Connection, user_id: int, side: Connection | None = None) -> None:
    """Bring the user's summaries up to date: recompute the stale days (`mark_changed`), or
    everything when they were built with other settings (time zone, threshold) or never.

    `side`: a second connection to the database, for a big refresh (an import's end). It
    computes the hour cells in a thread while `conn` computes the others (both databases run a
    statement without Python's lock, so on another core), and on SQLite it then copies the
    import's committed pages from the write-ahead log into the database (`_on_side`). It must
    not have begun a transaction before `conn` did: then it reads the plays as `conn` does,
    because no writer can change them while `conn` holds SQLite's write lock, or, on
    PostgreSQL, the user's rollup_state row (which every writer of plays updates). A side that
    is `conn`'s own database connection (an in-memory SQLite database has one per thread) is
    not used: its rollback would undo `conn`'s work.
    """
    if side is not None and side.connection.dbapi_connection is conn.connection.dbapi_connection:
        side = None
    tz_name, threshold = settings(conn, user_id)
    # FOR UPDATE: on PostgreSQL a second refresh of the user (a sync, a page after a dead
    # import) waits for this one and then finds nothing stale, instead of inserting the same
    # cells again. (SQLite's writers take turns anyway; it has no FOR UPDATE.)
    state = conn.execute(
        sa.select(rollup_state).where(rollup_state.c.user_id == user_id).with_for_update()
    ).mappings().first()
    if state is None or (state["time_zone"], state["listen_threshold_ms"]) != (tz_name, threshold):
        rebuild(conn, user_id, side)
    elif state["stale_from"] is not None:
        tz = zone(tz_name)
        first = datetime.fromtimestamp(state["stale_from"], tz).date()
        last = datetime.fromtimestamp(state["stale_until"], tz).date()
        _recompute(conn, user_id, tz_name, threshold, first, last, side=side)


def rebuild(conn: Connection, user_id: int, side: Connection | None = None) -> None:
    """Recreate every rollup of the user from the raw plays (`side`: see `refresh`)."""
    tz_name, threshold = settings(conn, user_id)
    conn.execute(sa.select(rollup_state.c.user_id).where(rollup_state.c.user_id == user_id).with_for_update())
    for table in _SUMMARIES:
        conn.execute(table.delete().where(table.c.user_id == user_id))
    span = conn.execute(
        sa.select(sa.func.min(plays.c.ended_at), sa.func.max(plays.c.ended_at)).where(plays.c.user_id == user_id)
    ).one()
    if span[0] is None:
        _bump(conn, user_id, tz_name, threshold)
        return
    tz = zone(tz_name)
    first, last = (datetime.fromtimestamp(t, tz).date() for t in span)
    _recompute(conn, user_id, tz_name, threshold, first, last, everything=True, side=side)


_COUNTS = ["plays", "listens", "ms_played", "skips"]
_HOUR_COLUMNS = ["user_id", "day", "hour", "source", "weekday", *_COUNTS]


def _recompute(
    conn: Connection,
    user_id: int,
    tz_name: str,
    threshold: int,
    first: date,
    last: date,
    everything: bool = False,
    side: Connection | None = None,
) -> None:
    """Recompute the local days first..last from the plays, then their months and tracks.

    `everything`: the user has no summary rows (rebuild), so there is nothing to delete and
    every track's totals are computed. `side`: see `refresh`.
    """
    dialect = conn.dialect.name
    tz = zone(tz_name)
    start, end = _midnight_utc(first, tz), _midnight_utc(last + timedelta(days=1), tz)
    months = {"user_id": user_id, "first_month": month_of(first), "last_month": month_of(last)}
    d = daily_plays.c
    in_days = sa.and_(d.user_id == user_id, d.day >= first, d.day <= last)
    before = {} if everything else _track_cells(conn, in_days)
    if not everything:
        for table in (daily_plays, hourly_plays):
            conn.execute(table.delete().where(table.c.user_id == user_id, table.c.day >= first, table.c.day <= last))
        for table in (monthly_tracks, monthly_artists, monthly_charts):
            t = table.c
            conn.execute(
                table.delete().where(t.user_id == user_id, t.month >= months["first_month"], t.month <= months["last_month"])
            )

    # Days and hours from the plays.
    p = plays.c
    local = _local_seconds(p.ended_at, utc_offsets(tz, start, end))
    music = (
        sa.select((local // _DAY).label("day_number"), ((local % _DAY) // 3600).label("hour"), p.track_id, p.source,
                  p.ms_played, p.skipped)
        .where(p.user_id == user_id, p.kind == "music", p.ended_at >= start, p.ended_at < end)
        .subquery()
    )  # fmt: skip
    m = music.c
    sums = [
        sa.func.count(),
        sa.func.sum(sa.case((m.ms_played >= threshold, 1), else_=0)),
        sa.func.sum(m.ms_played),
        sa.func.sum(sa.case((m.skipped.is_(None), sa.case((m.ms_played < threshold, 1), else_=0)),
                            (m.skipped == sa.true(), 1), else_=0)),
    ]  # fmt: skip
    user = sa.literal(user_id, sa.Integer)
    hours = sa.select(
        user, _day_of_number(m.day_number, dialect), m.hour, m.source, (m.day_number + _EPOCH_WEEKDAY) % 7, *sums
    ).group_by(m.day_number, m.hour, m.source)
    days = sa.select(
        user, _day_of_number(m.day_number, dialect), m.track_id,
        sa.select(tracks.c.artist_id).where(tracks.c.id == m.track_id).scalar_subquery(), *sums,
    ).group_by(m.day_number, m.track_id)  # fmt: skip
    if side is None:
        conn.execute(hourly_plays.insert().from_select(_HOUR_COLUMNS, hours))
        _days_months_tracks(conn, user_id, days, months, first, last, before, everything)
    else:
        with ThreadPoolExecutor(1) as pool:  # waited for also when this connection fails
            hour_cells = pool.submit(_on_side, side, hours)
            _days_months_tracks(conn, user_id, days, months, first, last, before, everything)
        insert_rows(conn, hourly_plays, _HOUR_COLUMNS, hour_cells.result())
    _bump(conn, user_id, tz_name, threshold)


def _days_months_tracks(conn: Connection, user_id: int, days, months: dict, first: date, last: date, before: dict,
                        everything: bool) -> None:  # fmt: skip
    """The day cells (the SELECT `days`), the months from the days, the charts from the months, and
    the tracks' totals, of the days first..last (`_recompute`)."""
    dialect = conn.dialect.name
    d = daily_plays.c
    in_days = sa.and_(d.user_id == user_id, d.day >= first, d.day <= last)
    conn.execute(daily_plays.insert().from_select(["user_id", "day", "track_id", "artist_id", *_COUNTS], days))

    # Months from the days; charts from the months.
    first_month, after_months = first.replace(day=1), (last.replace(day=1) + timedelta(days=31)).replace(day=1)
    cells = (
        sa.select(_month_of_day(d.day, dialect).label("month"), d.track_id, d.artist_id, d.plays, d.listens,
                  d.ms_played, d.skips)
        .where(d.user_id == user_id, d.day >= first_month, d.day < after_months)
        .subquery()
    )  # fmt: skip
    c = cells.c
    conn.execute(monthly_tracks.insert().from_select(
        ["user_id", "month", "track_id", "artist_id", *_COUNTS],
        sa.select(sa.literal(user_id, sa.Integer), c.month, c.track_id, sa.func.min(c.artist_id), sa.func.sum(c.plays),
                  sa.func.sum(c.listens), sa.func.sum(c.ms_played), sa.func.sum(c.skips))
        .group_by(c.month, c.track_id),
    ))  # fmt: skip
    for statement in _month_statements():
        conn.execute(statement, months)

    # Tracks: those with cells in the days before or after. A track's totals from all its days
    # read every day of the user (no index by track): for a few tracks, their totals are updated
    # from the days' cells before and after instead; for many, every track is computed once.
    if everything:
        conn.execute(track_totals.insert().from_select(_TOTALS_COLUMNS, _track_totals(user_id)))
    elif len(before) > CHUNK or len(conn.execute(sa.select(d.track_id).distinct().where(in_days).limit(CHUNK + 1)).all()) > CHUNK:
        conn.execute(track_totals.delete().where(track_totals.c.user_id == user_id))
        conn.execute(track_totals.insert().from_select(_TOTALS_COLUMNS, _track_totals(user_id)))
    else:
        _update_track_totals(conn, user_id, first, last, before, _track_cells(conn, in_days))


def _on_side(side: Connection, hours) -> list:
    """The side connection's part of `_recompute`: the rows of the hour cells. Then, on SQLite,
    it copies the pages committed so far (an import's plays) from the write-ahead log into the
    database, with a PASSIVE checkpoint, which never waits for or blocks the writer: the
    refresh's own commit then copies only the summaries' pages."""
    rows = side.execute(hours).all()
    if side.dialect.name == "sqlite":
        side.rollback()  # SQLite checkpoints only outside a transaction
        side.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return rows


_TOTALS_COLUMNS = ["user_id", "track_id", "artist_id", "first_day", "last_day", "plays", "listens", "ms_played"]


def _track_totals(user_id: int, track_ids: Sequence[int] | None = None):
    """SELECT: track_totals rows (in _TOTALS_COLUMNS order) from all the user's day cells."""
    d = daily_plays.c
    select = sa.select(
        d.user_id, d.track_id, sa.func.min(d.artist_id), sa.func.min(d.day), sa.func.max(d.day),
        sa.func.sum(d.plays), sa.func.sum(d.listens), sa.func.sum(d.ms_played),
    ).where(d.user_id == user_id).group_by(d.user_id, d.track_id)  # fmt: skip
    return select if track_ids is None else select.where(d.track_id.in_(track_ids))


def _track_cells(conn: Connection, in_days) -> dict[int, tuple]:
    """track id -> (artist id, first day, last day, plays, listens, ms played) of the day cells `in_days`."""
    d = daily_plays.c
    rows = conn.execute(
        sa.select(d.track_id, sa.func.min(d.artist_id), sa.func.min(d.day), sa.func.max(d.day), sa.func.sum(d.plays),
                  sa.func.sum(d.listens), sa.func.sum(d.ms_played))
        .where(in_days).group_by(d.track_id)
    )  # fmt: skip
    return {row[0]: tuple(row[1:]) for row in rows}


def _update_track_totals(conn: Connection, user_id: int, first: date, last: date, before: dict, after: dict) -> None:
    """Bring the totals of the tracks with cells in the days first..last up to date: what they
    had, less those days' cells `before`, plus their cells `after` (both from `_track_cells`).

    The days outside first..last did not change, so a first day before them (or a last day
    after them) stays; one inside them moves to the track's first (last) cell in them. A track
    with its first or last day inside them and no cell left there is computed from all its days.
    """
    t = track_totals.c
    touched = sorted(before.keys() | after.keys())
    current = {}
    for chunk in chunks(touched):
        current.update((row.track_id, row) for row in conn.execute(
            sa.select(track_totals).where(t.user_id == user_id, t.track_id.in_(chunk))
        ))  # fmt: skip
    rows, recompute = [], []
    for track_id in touched:
        had, old, new = current.get(track_id), before.get(track_id), after.get(track_id)
        if had is None:  # new to the user (or never summarised): its cells are all in these days
            if new is not None:
                rows.append((track_id, *new))
            continue
        if new is None and (first <= had.first_day <= last or first <= had.last_day <= last):
            recompute.append(track_id)
            continue
        sums = [had_sum - (old[i] if old else 0) + (new[i] if new else 0)
                for i, had_sum in zip((3, 4, 5), (had.plays, had.listens, had.ms_played))]  # fmt: skip
        if sums[0] <= 0:
            continue  # no cell left anywhere
        first_day = had.first_day if had.first_day < first else new[1] if had.first_day <= last else min(new[1], had.first_day)
        last_day = had.last_day if had.last_day > last else new[2] if had.last_day >= first else max(new[2], had.last_day)
        rows.append((track_id, had.artist_id, first_day, last_day, *sums))
    for chunk in chunks(touched):
        conn.execute(track_totals.delete().where(t.user_id == user_id, t.track_id.in_(chunk)))
    if rows:
        conn.execute(track_totals.insert(), [dict(zip(_TOTALS_COLUMNS, (user_id, *row))) for row in rows])
    for chunk in chunks(recompute):
        conn.execute(track_totals.insert().from_select(_TOTALS_COLUMNS, _track_totals(user_id, chunk)))


@functools.cache
def _month_statements() -> list:
    """monthly_artists from monthly_tracks, then the top CHART_SIZE tracks and artists by listens
    (only items with a listen) of the months first_month..last_month (parameters: user_id,
    first_month, last_month).

    Built once: SQLAlchemy spends longer building and caching a statement than the database
    running it.
    """
    user = sa.bindparam("user_id", type_=sa.Integer)

    def in_months(t):
        return sa.and_(t.user_id == user, t.month >= sa.bindparam("first_month"), t.month <= sa.bindparam("last_month"))

    m = monthly_tracks.c
    statements = [
        monthly_artists.insert().from_select(
            ["user_id", "month", "artist_id", "plays", "listens", "ms_played"],
            sa.select(m.user_id, m.month, m.artist_id, sa.func.sum(m.plays), sa.func.sum(m.listens), sa.func.sum(m.ms_played))
            .where(in_months(m))
            .group_by(m.user_id, m.month, m.artist_id),
        )
    ]  # fmt: skip
    for kind, table, key in (("track", monthly_tracks, "track_id"), ("artist", monthly_artists, "artist_id")):
        t = table.c
        rank = sa.func.row_number().over(partition_by=t.month, order_by=(t.listens.desc(), t.ms_played.desc(), t[key]))
        ranked = (
            sa.select(t.month, rank.label("rank"), t[key].label("item_id"), t.listens)
            .where(in_months(t), t.listens > 0)
            .subquery()
        )
        r = ranked.c
        statements.append(
            monthly_charts.insert().from_select(
                ["user_id", "month", "kind", "rank", "item_id", "listens"],
                sa.select(user, r.month, sa.literal(kind, sa.String(8)), r.rank, r.item_id, r.listens).where(
                    r.rank <= CHART_SIZE
                ),
            )
        )
    return statements
