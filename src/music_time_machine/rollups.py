"""Summary tables of a user's music plays, kept in step with `plays`.

Analytics read these instead of `plays`: a decade of plays is millions of rows, but a month
has only thousands of (month, track) cells. Everything is bucketed by the *local* day in the
user's time zone, computed here in Python with zoneinfo (so DST changes are right and the SQL
stays the same on SQLite and PostgreSQL).

- `rebuild(conn, user_id)` recreates them from the raw plays (after a clear, a time-zone or
  threshold change, or when in doubt);
- `refresh_days(conn, user_id, days)` recomputes the given local days (and the months and
  tracks they touch) from the raw plays, so it is correct whether the new plays were added,
  were duplicates, or were deleted;
- `apply_staged(conn, user_id, removed)` adds and subtracts exactly the plays
  `history.store_plays` inserted and replaced, which it staged in `play_stage` with their
  local day and hour (`LocalTimes`): one INSERT … SELECT … GROUP BY … ON CONFLICT per table
  (the usual path);
- `add_plays(conn, user_id, changed)` refreshes the days of changed plays from the raw plays,
  for when `store_plays` cannot know exactly what went in (another writer got there first);
- `start(conn, user_id)` records a new user's (empty) summary tables.

Definitions: a *listen* is a play with `ms_played >= users.listen_threshold_ms`; a *skip* is a
play Spotify flagged `skipped`, or, where that flag is unknown (account exports, the API), a
play shorter than the threshold. Podcasts and audiobooks are left out.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import chunks, dialect_insert, execute_many
from .schema import (
    daily_plays,
    hourly_plays,
    monthly_artists,
    monthly_charts,
    monthly_tracks,
    play_stage,
    plays,
    rollup_state,
    track_totals,
    tracks,
    users,
)

CHART_SIZE = 50
QUARTER_HOUR = 900  # every time zone's offset is a whole number of quarter hours



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


def _day_span_utc(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) of a local day in Unix seconds (23 or 25 hours long on DST days)."""
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    return int(start.timestamp()), int(end.timestamp())


def _aggregate(rows: Iterable[Sequence], tz_name: str, threshold: int):
    """Fold (track_id, artist_id, ended_at, ms_played, skipped, source) rows into day and hour cells."""
    days: dict[tuple[date, int], list] = {}
    hours: dict[tuple[date, int], list] = {}
    local = LocalTimes(tz_name, iso=False)
    for track_id, artist_id, ended_at, ms, skipped, source in rows:
        day, _, hour = local[ended_at - ended_at % QUARTER_HOUR][:3]
        listen = 1 if ms >= threshold else 0
        skip = 1 if (skipped if skipped is not None else ms < threshold) else 0
        cell = days.get((day, track_id))
        if cell is None:
            days[(day, track_id)] = [artist_id, 1, listen, ms, skip]
        else:
            cell[1] += 1
            cell[2] += listen
            cell[3] += ms
            cell[4] += skip
        hcell = hours.get((day, hour, source))
        if hcell is None:
            hours[(day, hour, source)] = [1, listen, ms, skip]
        else:
            hcell[0] += 1
            hcell[1] += listen
            hcell[2] += ms
            hcell[3] += skip
    return days, hours


def _play_rows(conn: Connection, user_id: int, start: int | None = None, end: int | None = None):
    query = (
        sa.select(
            plays.c.track_id, tracks.c.artist_id, plays.c.ended_at, plays.c.ms_played, plays.c.skipped, plays.c.source
        )
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(plays.c.user_id == user_id, plays.c.kind == "music")
    )
    if start is not None:
        query = query.where(plays.c.ended_at >= start, plays.c.ended_at < end)
    return conn.execute(query)


def _insert_cells(conn: Connection, user_id: int, days: Mapping, hours: Mapping) -> None:
    day_rows = [
        {"user_id": user_id, "day": day, "track_id": track_id, "artist_id": c[0], "plays": c[1],
         "listens": c[2], "ms_played": c[3], "skips": c[4]}
        for (day, track_id), c in days.items()
    ]  # fmt: skip
    hour_rows = [
        {"user_id": user_id, "day": day, "hour": hour, "source": source, "weekday": day.weekday(),
         "plays": c[0], "listens": c[1], "ms_played": c[2], "skips": c[3]}
        for (day, hour, source), c in hours.items()
    ]  # fmt: skip
    execute_many(conn, daily_plays.insert(), day_rows)
    execute_many(conn, hourly_plays.insert(), hour_rows)


def _refresh_months(conn: Connection, user_id: int, months: Iterable[str]) -> None:
    """Recompute monthly_tracks of these months from daily_plays."""
    for month in sorted(set(months)):
        year, mon = int(month[:4]), int(month[5:])
        first = date(year, mon, 1)
        after = date(year + (mon == 12), mon % 12 + 1, 1)
        conn.execute(monthly_tracks.delete().where(monthly_tracks.c.user_id == user_id, monthly_tracks.c.month == month))
        d = daily_plays.c
        conn.execute(
            monthly_tracks.insert().from_select(
                ["user_id", "month", "track_id", "artist_id", "plays", "listens", "ms_played", "skips"],
                sa.select(
                    d.user_id, sa.literal(month, sa.String(7)), d.track_id, sa.func.min(d.artist_id),
                    sa.func.sum(d.plays), sa.func.sum(d.listens), sa.func.sum(d.ms_played), sa.func.sum(d.skips),
                )
                .where(d.user_id == user_id, d.day >= first, d.day < after)
                .group_by(d.user_id, d.track_id),
            )
        )  # fmt: skip
        m = monthly_tracks.c
        conn.execute(monthly_artists.delete().where(monthly_artists.c.user_id == user_id, monthly_artists.c.month == month))
        conn.execute(
            monthly_artists.insert().from_select(
                ["user_id", "month", "artist_id", "plays", "listens", "ms_played"],
                sa.select(m.user_id, m.month, m.artist_id, sa.func.sum(m.plays), sa.func.sum(m.listens), sa.func.sum(m.ms_played))
                .where(m.user_id == user_id, m.month == month)
                .group_by(m.user_id, m.month, m.artist_id),
            )
        )  # fmt: skip
    _refresh_charts(conn, user_id, sorted(set(months)))


def _refresh_charts(conn: Connection, user_id: int, months: list[str] | None) -> None:
    """The top CHART_SIZE tracks and artists by listens (only items with a listen) of these months.

    `months`: 'YYYY-MM' strings, or None for the months of the staged plays.
    """
    params = {"user_id": user_id} if months is None else {"user_id": user_id, "months": months}
    for statement in _chart_statements(staged=months is None):
        conn.execute(statement, params)


@functools.cache
def _chart_statements(staged: bool) -> list:
    """Built once: SQLAlchemy spends longer building and caching a statement than SQLite running it."""
    user = sa.bindparam("user_id", type_=sa.Integer)
    if staged:
        months = sa.select(play_stage.c.month).where(play_stage.c.kind == "music").scalar_subquery()
    else:
        months = sa.bindparam("months", expanding=True, type_=sa.String(7))
    statements = [monthly_charts.delete().where(monthly_charts.c.user_id == user, monthly_charts.c.month.in_(months))]
    for kind, table, key in (("track", monthly_tracks, "track_id"), ("artist", monthly_artists, "artist_id")):
        t = table.c
        rank = sa.func.row_number().over(partition_by=t.month, order_by=(t.listens.desc(), t.ms_played.desc(), t[key]))
        ranked = (
            sa.select(t.month, rank.label("rank"), t[key].label("item_id"), t.listens)
            .where(t.user_id == user, t.month.in_(months), t.listens > 0)
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


def _refresh_tracks(conn: Connection, user_id: int, track_ids: Iterable[int] | None) -> None:
    """Recompute track_totals (all tracks when `track_ids` is None) from daily_plays."""
    d = daily_plays.c
    select = sa.select(
        d.user_id, d.track_id, sa.func.min(d.artist_id), sa.func.min(d.day), sa.func.max(d.day),
        sa.func.sum(d.plays), sa.func.sum(d.listens), sa.func.sum(d.ms_played),
    ).where(d.user_id == user_id).group_by(d.user_id, d.track_id)  # fmt: skip
    columns = ["user_id", "track_id", "artist_id", "first_day", "last_day", "plays", "listens", "ms_played"]
    if track_ids is None:
        conn.execute(track_totals.delete().where(track_totals.c.user_id == user_id))
        conn.execute(track_totals.insert().from_select(columns, select))
        return
    ids = sorted(set(track_ids))
    for chunk in chunks(ids):
        conn.execute(
            track_totals.delete().where(track_totals.c.user_id == user_id, track_totals.c.track_id.in_(chunk))
        )
        conn.execute(track_totals.insert().from_select(columns, select.where(d.track_id.in_(chunk))))


def _bump(conn: Connection, user_id: int, tz_name: str, threshold: int) -> None:
    # A random version rather than a counter: a cache keyed by it can never mistake a restored
    # backup or a recreated database (whose counter would start again) for data it has seen.
    new_version = secrets.randbits(31) or 1
    updated = conn.execute(
        rollup_state.update()
        .where(rollup_state.c.user_id == user_id)
        .values(time_zone=tz_name, listen_threshold_ms=threshold, version=new_version)
    ).rowcount
    if not updated:
        conn.execute(
            rollup_state.insert().values(user_id=user_id, time_zone=tz_name, listen_threshold_ms=threshold, version=new_version)
        )


def version(conn: Connection, user_id: int) -> int:
    """A number that changes whenever the user's rollups change (0 before the first build)."""
    return conn.execute(sa.select(rollup_state.c.version).where(rollup_state.c.user_id == user_id)).scalar() or 0


def start(conn: Connection, user_id: int) -> None:
    """A new user's rollups: empty, and built with the user's settings (so the first plays are
    added cell by cell rather than by a rebuild)."""
    _bump(conn, user_id, *settings(conn, user_id))


def rebuild(conn: Connection, user_id: int) -> None:
    """Recreate every rollup of the user from the raw plays."""
    tz_name, threshold = settings(conn, user_id)
    for table in (daily_plays, hourly_plays, monthly_tracks, monthly_artists, monthly_charts, track_totals):
        conn.execute(table.delete().where(table.c.user_id == user_id))
    days, hours = _aggregate(_play_rows(conn, user_id), tz_name, threshold)
    _insert_cells(conn, user_id, days, hours)
    _refresh_months(conn, user_id, {month_of(key[0]) for key in hours})
    _refresh_tracks(conn, user_id, None)
    _bump(conn, user_id, tz_name, threshold)


def _current_settings(conn: Connection, user_id: int) -> tuple[str, int] | None:
    """The user's (time zone, listen threshold) when the rollups were built with them; else the
    rollups are rebuilt from the raw plays (a partial update would mix settings) and None."""
    tz_name, threshold = settings(conn, user_id)
    state = conn.execute(sa.select(rollup_state).where(rollup_state.c.user_id == user_id)).mappings().first()
    if state is None or state["time_zone"] != tz_name or state["listen_threshold_ms"] != threshold:
        rebuild(conn, user_id)
        return None
    return tz_name, threshold


def refresh_days(conn: Connection, user_id: int, days: Iterable[date]) -> None:
    """Recompute the given local days, and the months and tracks they touch, from the raw plays."""
    current = _current_settings(conn, user_id)
    if current is None:
        return
    tz_name, threshold = current
    tz = zone(tz_name)
    days = sorted(set(days))
    if not days:
        return
    touched_tracks: set[int] = set()
    # Contiguous runs of days become one range query each.
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day - runs[-1][1] <= timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    for first, last in runs:
        touched_tracks.update(
            conn.execute(
                sa.select(daily_plays.c.track_id).where(
                    daily_plays.c.user_id == user_id, daily_plays.c.day >= first, daily_plays.c.day <= last
                )
            ).scalars()
        )
        for table in (daily_plays, hourly_plays):
            conn.execute(table.delete().where(table.c.user_id == user_id, table.c.day >= first, table.c.day <= last))
        start, _ = _day_span_utc(first, tz)
        _, end = _day_span_utc(last, tz)
        cells, hours = _aggregate(_play_rows(conn, user_id, start, end), tz_name, threshold)
        touched_tracks.update(track_id for _, track_id in cells)
        _insert_cells(conn, user_id, cells, hours)
    _refresh_months(conn, user_id, {month_of(day) for day in days})
    _refresh_tracks(conn, user_id, touched_tracks)
    _bump(conn, user_id, tz_name, threshold)


def add_plays(conn: Connection, user_id: int, changed: Sequence[tuple[int, str]]) -> None:
    """Bring the rollups up to date after plays were stored or removed: (ended_at, kind) of each."""
    ended = [ended_at for ended_at, kind in changed if kind == "music"]
    tz_name, threshold = settings(conn, user_id)
    if not ended:  # podcasts only: nothing to roll up, but cached numbers (podcast plays) change
        if changed:
            _bump(conn, user_id, tz_name, threshold)
        return
    local = LocalTimes(tz_name, iso=False)
    refresh_days(conn, user_id, {local[ts - ts % QUARTER_HOUR][0] for ts in ended})


class LocalTimes(dict):
    """(day, month, hour, weekday, day number, month number) in a time zone of Unix seconds
    rounded down to a quarter hour (the columns of schema.play_stage).

    A cache: converting with zoneinfo is slow and plays cluster in time. A quarter, not an hour:
    India, Nepal, Iran, Newfoundland and parts of Australia are 30 or 45 minutes off a whole-hour
    offset. Days are ISO strings when `iso` (what SQLite stores), else dates.
    """

    def __init__(self, tz_name: str, iso: bool) -> None:
        super().__init__()
        self.tz, self.iso = zone(tz_name), iso

    def __missing__(self, quarter: int) -> tuple:
        local = datetime.fromtimestamp(quarter, self.tz)
        day = local.date()
        value = self[quarter] = (
            day.isoformat() if self.iso else day, month_of(day), local.hour, day.weekday(), day.toordinal(),
            day.year * 12 + day.month,
        )  # fmt: skip
        return value


def apply_staged(conn: Connection, user_id: int, removed: bool) -> None:
    """Add the plays staged with sign 1 and subtract those staged with sign -1, cell by cell.

    The staged rows (`schema.play_stage`) must be exactly the plays just inserted and deleted,
    which only store_plays knows inside its write transaction; anything less certain goes
    through `refresh_days`, which recomputes from the raw plays. `removed`: whether any row has
    sign -1.
    """
    current = _current_settings(conn, user_id)
    if current is None:
        return
    tz_name, threshold = current
    params = {"user_id": user_id, "threshold": threshold}
    for statement in _staged_statements(conn.dialect.name):
        conn.execute(statement, params)
    if removed:
        s = play_stage.c
        # Cells whose plays all went drop out; only removals can empty a cell.
        for table, key in ((daily_plays, s.day), (hourly_plays, s.day), (monthly_tracks, s.month), (monthly_artists, s.month)):
            conn.execute(table.delete().where(
                table.c.user_id == user_id, table.c[key.name].in_(sa.select(key).where(s.sign < 0)), table.c.plays <= 0
            ))  # fmt: skip
        # A track's first or last day may have moved.
        _refresh_tracks(conn, user_id, conn.execute(sa.select(s.track_id).where(s.kind == "music", s.sign < 0)).scalars())
    _refresh_charts(conn, user_id, None)
    _bump(conn, user_id, tz_name, threshold)


@functools.cache
def _staged_statements(dialect: str) -> list:
    """The upserts that add play_stage to each summary table (parameters: user_id, threshold).

    Built once: SQLAlchemy spends longer building and caching a statement than SQLite running it.
    """
    s = play_stage.c
    user, threshold = sa.bindparam("user_id", type_=sa.Integer), sa.bindparam("threshold", type_=sa.Integer)
    music = s.kind == "music"
    listens = sa.case((s.ms_played >= threshold, s.sign), else_=0)
    skips = sa.case(
        (s.skipped.is_(None), sa.case((s.ms_played < threshold, s.sign), else_=0)), (s.skipped == sa.true(), s.sign),
        else_=0,
    )
    counts = {"plays": sa.func.sum(s.sign), "listens": sa.func.sum(listens), "ms_played": sa.func.sum(s.sign * s.ms_played)}
    sums = {**counts, "skips": sa.func.sum(skips)}
    day, month, artist = sa.func.min(s.day), sa.func.min(s.month), sa.func.min(s.artist_id)
    statements = []
    for table, group_by, values in (
        (daily_plays, (s.day_number, s.track_id), {"day": day, "track_id": s.track_id, "artist_id": artist, **sums}),
        (hourly_plays, (s.day_number, s.hour, s.source),
         {"day": day, "hour": s.hour, "source": s.source, "weekday": sa.func.min(s.weekday), **sums}),
        (monthly_tracks, (s.month_number, s.track_id), {"month": month, "track_id": s.track_id, "artist_id": artist, **sums}),
        (monthly_artists, (s.month_number, s.artist_id), {"month": month, "artist_id": s.artist_id, **counts}),
    ):  # fmt: skip
        insert = dialect_insert(dialect, table)
        statements.append(
            insert.from_select(
                ["user_id", *values], sa.select(user, *values.values()).where(music).group_by(*group_by)
            ).on_conflict_do_update(
                index_elements=[column.name for column in table.primary_key.columns],
                set_={name: table.c[name] + insert.excluded[name] for name in values if name in sums},
            )
        )
    # track_totals: sums grow, first/last day widen; replaced plays' tracks are recomputed after.
    insert = dialect_insert(dialect, track_totals)
    t, new = track_totals.c, insert.excluded
    select = (
        sa.select(
            user, s.track_id, sa.func.min(s.artist_id), sa.func.min(s.day), sa.func.max(s.day), sa.func.count(),
            sa.func.sum(sa.case((s.ms_played >= threshold, 1), else_=0)), sa.func.sum(s.ms_played),
        )
        .where(music, s.sign == 1)
        .group_by(s.track_id)
    )  # fmt: skip
    columns = ["user_id", "track_id", "artist_id", "first_day", "last_day", "plays", "listens", "ms_played"]
    statements.append(
        insert.from_select(columns, select).on_conflict_do_update(
            index_elements=["user_id", "track_id"],
            set_={
                # CASE rather than LEAST/GREATEST (PostgreSQL) or two-argument min/max (SQLite).
                "first_day": sa.case((new.first_day < t.first_day, new.first_day), else_=t.first_day),
                "last_day": sa.case((new.last_day > t.last_day, new.last_day), else_=t.last_day),
                "plays": t.plays + new.plays,
                "listens": t.listens + new.listens,
                "ms_played": t.ms_played + new.ms_played,
            },
        )
    )
    return statements
