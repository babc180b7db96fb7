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
  once at its end (so a big import computes each summary row once, not once per file), on
  SQLite with a second connection that computes the later months on another core
  (`side_connection`).
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
import logging
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import BUSY_TIMEOUT_MS, CHUNK, PAGE_SIZE, chunks
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

log = logging.getLogger(__name__)

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


def _next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=1) + timedelta(days=31)).replace(day=1)


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

    `side`: for a big refresh (an import's end), a second connection from `side_connection`,
    which computes part of the summaries on another core (see there).
    """
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
    every track's totals are computed. `side` (`side_connection`): it computes the cells of the
    later months, about SIDE_SHARE of the plays, while `conn` computes the earlier ones; the
    range then grows to whole months, so that each connection's database holds every day of
    the months it computes.
    """
    dialect = conn.dialect.name
    tz = zone(tz_name)
    if side is not None:  # whole months, which the side's database then holds all the days of
        first, last = first.replace(day=1), _next_month(last) - timedelta(days=1)
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

    spans = utc_offsets(tz, start, end)

    def cells(since: int, until: int):
        return _hour_and_day_cells(user_id, threshold, dialect, spans, since, until)

    if side is None:
        _cells(conn, user_id, *cells(start, end), first, last)
    else:  # the side computes the months from `split` on, this connection the ones before
        split_day = _split_day(conn, user_id, tz, first, last, start, end)
        split = _midnight_utc(split_day, tz)
        with ThreadPoolExecutor(1) as pool:  # waited for also when this connection fails
            done = pool.submit(_on_side, side, user_id, *cells(split, end), split_day, last)
            _cells(conn, user_id, *cells(start, split), first, split_day - timedelta(days=1))
        try:
            done.result()
        except _SIDE_FAILURES:  # a full temporary folder, say: this connection does it
            log.warning("the side connection failed; its part of the summaries is computed again", exc_info=True)
            _cells(conn, user_id, *cells(split, end), split_day, last)
        else:
            for table in _SIDE_TABLES:
                conn.exec_driver_sql(f"INSERT INTO main.{table.name} SELECT * FROM side.{table.name}")

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
    _bump(conn, user_id, tz_name, threshold)


def _hour_and_day_cells(user_id: int, threshold: int, dialect: str, spans: list[tuple[int, int]], since: int,
                        until: int) -> tuple:  # fmt: skip
    """The SELECTs of the hour cells (in _HOUR_COLUMNS order) and the day cells (`daily_plays`'
    columns) of the music plays that end between these Unix seconds; `spans`: `utc_offsets`."""
    p = plays.c
    local = _local_seconds(p.ended_at, spans)
    music = (
        sa.select((local // _DAY).label("day_number"), ((local % _DAY) // 3600).label("hour"), p.track_id, p.source,
                  p.ms_played, p.skipped)
        .where(p.user_id == user_id, p.kind == "music", p.ended_at >= since, p.ended_at < until)
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
    return hours, days


def _cells(conn: Connection, user_id: int, hours, days, first: date, last: date) -> None:
    """The hour and day cells (the SELECTs `hours` and `days`) of the days first..last, then their
    months from all the day cells of those months in `conn`'s database, and the months' charts."""
    if first > last:
        return
    dialect = conn.dialect.name
    d = daily_plays.c
    conn.execute(hourly_plays.insert().from_select(_HOUR_COLUMNS, hours))
    conn.execute(daily_plays.insert().from_select(["user_id", "day", "track_id", "artist_id", *_COUNTS], days))
    first_month, after_months = first.replace(day=1), _next_month(last)
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
    months = {"user_id": user_id, "first_month": month_of(first), "last_month": month_of(last)}
    for statement in _month_statements():
        conn.execute(statement, months)


# --- the side connection ----------------------------------------------------------------------

# What a side connection may fail with (a full or unwritable temporary folder, say), after which
# the importing connection does the work alone: not a programming error.
_SIDE_FAILURES = (OSError, sqlite3.OperationalError, sa.exc.OperationalError)
# The summaries the side connection computes (in its own database) and `_recompute` copies.
_SIDE_TABLES = (hourly_plays, daily_plays, monthly_tracks, monthly_artists, monthly_charts)
# The share of the plays whose cells the side computes: a little under half, as the importing
# connection then has the side's rows to copy.
SIDE_SHARE = 0.45


@contextmanager
def side_connection(conn: Connection) -> Iterator[Connection | None]:
    """A second connection for `refresh`'s big refresh at an import's end, or None where there is
    none (PostgreSQL, an in-memory SQLite database). Call it outside a transaction of `conn`.

    SQLite has one writer, and a refresh of 1M plays takes seconds on one core. The side is a
    connection to a scratch database of its own (a temporary file) with the user's database
    attached as `app`: it computes some of the summaries there on another core while `conn`
    computes the others, then `conn` copies its rows (the scratch database is attached to
    `conn` as `side` until the block ends). The scratch database has tables named as the
    summary tables, so the same SQL reads the plays from `app` and writes the cells into the
    scratch.

    `conn`'s transaction must begin deferred (BEGIN, not BEGIN IMMEDIATE, which would lock the
    scratch database too, and the side could not write it) and write first, so that it holds
    the write lock before anything is read, as BEGIN IMMEDIATE would: the side then reads the
    same plays as `conn`.
    """
    database = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not database or database == ":memory:":
        yield None
        return
    with ExitStack() as stack:
        try:
            side = stack.enter_context(_scratch_side(conn, database))
        except _SIDE_FAILURES:  # a full or unwritable temporary folder, say
            log.warning("summaries without a side connection", exc_info=True)
            side = None
        yield side


@contextmanager
def _scratch_side(conn: Connection, database: str) -> Iterator[Connection]:
    """`side_connection`'s side: a connection to a new scratch database in a temporary folder,
    with `database` attached as `app` and the scratch attached to `conn` as `side`."""
    with tempfile.TemporaryDirectory(prefix="mtm-refresh-", ignore_cleanup_errors=True) as folder:
        path = os.path.join(folder, "summaries.sqlite3")
        engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool,
                                  connect_args={"check_same_thread": False, "isolation_level": None})  # fmt: skip
        try:
            writer = conn.connection.dbapi_connection  # straight to sqlite3: no transaction is begun
            # Half conn's page cache (beyond it, the GROUP BYs' sorts spill to temporary files): at
            # an import's end 8 MB, as fast as 16 MB in turns, for 8 MB less peak RSS (2 MB: slower).
            cache_size = writer.execute("PRAGMA cache_size").fetchone()[0] // 2
            with engine.connect() as side:
                # A scratch: nothing to recover after a crash, so no journal.
                # No foreign keys: the summary tables' DDL names `users`, which is in `app`.
                for pragma in (f"page_size = {PAGE_SIZE}", "journal_mode = OFF", "synchronous = OFF", "foreign_keys = OFF",
                               f"busy_timeout = {BUSY_TIMEOUT_MS}", f"cache_size = {cache_size}"):  # fmt: skip
                    side.exec_driver_sql(f"PRAGMA {pragma}")
                side.exec_driver_sql("ATTACH DATABASE ? AS app", (database,))  # read (and checkpointed) only
                for (ddl,) in side.exec_driver_sql(
                    "SELECT sql FROM app.sqlite_master WHERE type = 'table' AND name IN "
                    f"({', '.join('?' * len(_SIDE_TABLES))})", tuple(table.name for table in _SIDE_TABLES)
                ).all():  # fmt: skip
                    side.exec_driver_sql(ddl)  # (without their second indexes: `conn` keeps those)
                writer.execute("ATTACH DATABASE ? AS side", (path,))
                try:
                    yield side
                finally:
                    try:
                        writer.execute("DETACH DATABASE side")
                    except sqlite3.Error:  # (conn's transaction still open): the pool drops the connection
                        conn.invalidate()
        finally:
            engine.dispose()


def _split_day(conn: Connection, user_id: int, tz: ZoneInfo, first: date, last: date, start: int, end: int) -> date:
    """The first day of a month in first..last from which about SIDE_SHARE of the plays between
    `start` and `end` (Unix seconds of first and the day after last) lie; the day after last when
    the range is within one month."""
    p = plays.c
    in_range = sa.and_(p.user_id == user_id, p.ended_at >= start, p.ended_at < end)
    count = conn.execute(sa.select(sa.func.count()).where(in_range)).scalar_one()
    after = last + timedelta(days=1)
    at = conn.execute(
        sa.select(p.ended_at).where(in_range).order_by(p.ended_at.desc()).offset(int(count * SIDE_SHARE)).limit(1)
    ).scalar()  # from the end: the shorter scan of the index
    if at is None:
        return after
    split = datetime.fromtimestamp(at, tz).date().replace(day=1)
    if split <= first:
        split = _next_month(first)
    return min(split, after)


def _on_side(side: Connection, user_id: int, hours, days, first: date, last: date) -> None:
    """The side connection's part of `_recompute`, into its own database: the cells of the days
    first..last, with their months and charts (`_cells`). Then it copies the pages the import
    committed (its plays) from the write-ahead log into the user's database, with a PASSIVE
    checkpoint, which never waits for or blocks the writer: the refresh's own commit then
    copies only the summaries' pages."""
    side.exec_driver_sql("BEGIN")  # one snapshot of the plays
    _cells(side, user_id, hours, days, first, last)
    side.exec_driver_sql("COMMIT")
    side.exec_driver_sql("PRAGMA app.wal_checkpoint(PASSIVE)")


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
