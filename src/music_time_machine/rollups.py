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
- `apply_changes(conn, user_id, added, removed)` adds and subtracts exactly the plays
  `history.store_plays` inserted and replaced, cell by cell (the usual path);
- `add_plays(conn, user_id, changed)` refreshes the days of changed plays from the raw plays,
  for when `store_plays` cannot know exactly what went in (another writer got there first);
- `start(conn, user_id)` records a new user's (empty) summary tables.

Definitions: a *listen* is a play with `ms_played >= users.listen_threshold_ms`; a *skip* is a
play Spotify flagged `skipped`, or, where that flag is unknown (account exports, the API), a
play shorter than the threshold. Podcasts and audiobooks are left out.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import dialect_insert, execute_many
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
QUARTER_HOUR = 900  # every time zone's offset is a whole number of quarter hours

_CHUNK = 500


def zone(name: str | None) -> ZoneInfo:
    """The ZoneInfo for a stored time-zone name (UTC when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def month_of(day: date) -> str:
    """'YYYY-MM' of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def _settings(conn: Connection, user_id: int) -> tuple[str, int]:
    row = conn.execute(
        sa.select(users.c.time_zone, users.c.listen_threshold_ms).where(users.c.id == user_id)
    ).one()
    return row[0] or "UTC", int(row[1])


def _day_span_utc(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) of a local day in Unix seconds (23 or 25 hours long on DST days)."""
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    return int(start.timestamp()), int(end.timestamp())


def _aggregate(rows: Iterable[Sequence], tz: ZoneInfo, threshold: int):
    """Fold (track_id, artist_id, ended_at, ms_played, skipped, source) rows into day and hour cells."""
    days: dict[tuple[date, int], list] = {}
    hours: dict[tuple[date, int], list] = {}
    # Converting each timestamp with zoneinfo is the slow part; plays cluster in time, so cache
    # the local time of every quarter hour seen. A quarter, not an hour: India, Nepal, Iran,
    # Newfoundland and parts of Australia are 30 or 45 minutes off a whole-hour offset.
    cache: dict[int, datetime] = {}
    for track_id, artist_id, ended_at, ms, skipped, source in rows:
        quarter = ended_at - ended_at % QUARTER_HOUR
        local = cache.get(quarter)
        if local is None:
            local = cache[quarter] = datetime.fromtimestamp(quarter, tz)
        day = local.date()
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
        hcell = hours.get((day, local.hour, source))
        if hcell is None:
            hours[(day, local.hour, source)] = [1, listen, ms, skip]
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
        _refresh_chart(conn, user_id, month)


def _refresh_chart(conn: Connection, user_id: int, month: str) -> None:
    """The month's top CHART_SIZE tracks and artists by listens (only items with a listen)."""
    conn.execute(monthly_charts.delete().where(monthly_charts.c.user_id == user_id, monthly_charts.c.month == month))
    rows = []
    for kind, table, key in (("track", monthly_tracks, "track_id"), ("artist", monthly_artists, "artist_id")):
        t = table.c
        top = conn.execute(
            sa.select(t[key], t.listens)
            .where(t.user_id == user_id, t.month == month, t.listens > 0)
            .order_by(t.listens.desc(), t.ms_played.desc(), t[key])
            .limit(CHART_SIZE)
        ).all()
        rows += [
            {"user_id": user_id, "month": month, "kind": kind, "rank": rank, "item_id": item_id, "listens": listens}
            for rank, (item_id, listens) in enumerate(top, 1)
        ]
    if rows:
        conn.execute(monthly_charts.insert(), rows)


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
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
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
    _bump(conn, user_id, *_settings(conn, user_id))


def rebuild(conn: Connection, user_id: int) -> None:
    """Recreate every rollup of the user from the raw plays."""
    tz_name, threshold = _settings(conn, user_id)
    for table in (daily_plays, hourly_plays, monthly_tracks, monthly_artists, monthly_charts, track_totals):
        conn.execute(table.delete().where(table.c.user_id == user_id))
    days, hours = _aggregate(_play_rows(conn, user_id), zone(tz_name), threshold)
    _insert_cells(conn, user_id, days, hours)
    _refresh_months(conn, user_id, {month_of(key[0]) for key in hours})
    _refresh_tracks(conn, user_id, None)
    _bump(conn, user_id, tz_name, threshold)


def refresh_days(conn: Connection, user_id: int, days: Iterable[date]) -> None:
    """Recompute the given local days, and the months and tracks they touch, from the raw plays."""
    tz_name, threshold = _settings(conn, user_id)
    state = conn.execute(sa.select(rollup_state).where(rollup_state.c.user_id == user_id)).mappings().first()
    if state is None or state["time_zone"] != tz_name or state["listen_threshold_ms"] != threshold:
        rebuild(conn, user_id)  # built with other settings (or never): a partial refresh would mix them
        return
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
        cells, hours = _aggregate(_play_rows(conn, user_id, start, end), tz, threshold)
        touched_tracks.update(track_id for _, track_id in cells)
        _insert_cells(conn, user_id, cells, hours)
    _refresh_months(conn, user_id, {month_of(day) for day in days})
    _refresh_tracks(conn, user_id, touched_tracks)
    _bump(conn, user_id, tz_name, threshold)


def add_plays(conn: Connection, user_id: int, changed: Sequence[tuple[int, str]]) -> None:
    """Bring the rollups up to date after plays were stored or removed: (ended_at, kind) of each."""
    ended = [ended_at for ended_at, kind in changed if kind == "music"]
    tz_name, threshold = _settings(conn, user_id)
    if not ended:  # podcasts only: nothing to roll up, but cached numbers (podcast plays) change
        if changed:
            _bump(conn, user_id, tz_name, threshold)
        return
    tz = zone(tz_name)
    quarter_days: dict[int, date] = {}
    days = set()
    for ts in ended:
        quarter = ts - ts % QUARTER_HOUR
        if quarter not in quarter_days:
            quarter_days[quarter] = datetime.fromtimestamp(quarter, tz).date()
        days.add(quarter_days[quarter])
    refresh_days(conn, user_id, days)


def apply_changes(
    conn: Connection, user_id: int, added: Sequence[Sequence], removed: Sequence[Sequence] = ()
) -> None:
    """Add the plays just inserted and subtract the plays just deleted, cell by cell.

    Rows are (track_id, artist_id, ended_at, ms_played, skipped, source) of music plays. Only
    for changes the caller knows exactly (store_plays inside its write transaction); anything
    less certain goes through `refresh_days`, which recomputes from the raw plays.
    """
    tz_name, threshold = _settings(conn, user_id)
    state = conn.execute(sa.select(rollup_state).where(rollup_state.c.user_id == user_id)).mappings().first()
    if state is None or state["time_zone"] != tz_name or state["listen_threshold_ms"] != threshold:
        rebuild(conn, user_id)  # built with other settings (or never): start from the raw plays
        return
    tz = zone(tz_name)
    days, hours = _aggregate(added, tz, threshold)
    if removed:
        minus_days, minus_hours = _aggregate(removed, tz, threshold)
        for cells, minus, first in ((days, minus_days, 1), (hours, minus_hours, 0)):
            for key, cell in minus.items():
                target = cells.setdefault(key, [cell[0], 0, 0, 0, 0] if first else [0, 0, 0, 0])
                for i in range(first, len(cell)):
                    target[i] -= cell[i]
    months: dict[tuple[str, int], list] = {}
    artists_by_month: dict[tuple[str, int], list] = {}
    totals: dict[int, list] = {}
    for (day, track_id), (artist_id, n, listens, ms, skips) in days.items():
        month = month_of(day)
        cell = months.setdefault((month, track_id), [artist_id, 0, 0, 0, 0])
        cell[1] += n
        cell[2] += listens
        cell[3] += ms
        cell[4] += skips
        cell = artists_by_month.setdefault((month, artist_id), [0, 0, 0])
        cell[0] += n
        cell[1] += listens
        cell[2] += ms
        cell = totals.setdefault(track_id, [artist_id, day, day, 0, 0, 0])
        cell[1], cell[2] = min(cell[1], day), max(cell[2], day)
        cell[3] += n
        cell[4] += listens
        cell[5] += ms

    _upsert_sums(conn, daily_plays, ["day", "track_id"], ["plays", "listens", "ms_played", "skips"], [
        {"user_id": user_id, "day": day, "track_id": track_id, "artist_id": c[0], "plays": c[1],
         "listens": c[2], "ms_played": c[3], "skips": c[4]}
        for (day, track_id), c in days.items()
    ])  # fmt: skip
    _upsert_sums(conn, hourly_plays, ["day", "hour", "source"], ["plays", "listens", "ms_played", "skips"], [
        {"user_id": user_id, "day": day, "hour": hour, "source": source, "weekday": day.weekday(),
         "plays": c[0], "listens": c[1], "ms_played": c[2], "skips": c[3]}
        for (day, hour, source), c in hours.items()
    ])  # fmt: skip
    _upsert_sums(conn, monthly_tracks, ["month", "track_id"], ["plays", "listens", "ms_played", "skips"], [
        {"user_id": user_id, "month": month, "track_id": track_id, "artist_id": c[0], "plays": c[1],
         "listens": c[2], "ms_played": c[3], "skips": c[4]}
        for (month, track_id), c in months.items()
    ])  # fmt: skip
    _upsert_sums(conn, monthly_artists, ["month", "artist_id"], ["plays", "listens", "ms_played"], [
        {"user_id": user_id, "month": month, "artist_id": artist_id, "plays": c[0], "listens": c[1],
         "ms_played": c[2]}
        for (month, artist_id), c in artists_by_month.items()
    ])  # fmt: skip
    if removed:
        # Cells whose plays all went drop out; only removals can empty a cell.
        touched_days = sorted({day for day, _ in days})
        touched_months = sorted({month for month, _ in months})
        for table, column, values in ((daily_plays, "day", touched_days), (hourly_plays, "day", touched_days),
                                      (monthly_tracks, "month", touched_months),
                                      (monthly_artists, "month", touched_months)):  # fmt: skip
            for start in range(0, len(values), _CHUNK):
                conn.execute(table.delete().where(
                    table.c.user_id == user_id, table.c[column].in_(values[start : start + _CHUNK]), table.c.plays <= 0
                ))  # fmt: skip
        _refresh_tracks(conn, user_id, totals.keys())  # a track's first or last day may have moved
    else:
        _upsert_totals(conn, user_id, totals)
    for month in sorted({month for month, _ in months}):
        _refresh_chart(conn, user_id, month)
    _bump(conn, user_id, tz_name, threshold)


def _upsert_sums(conn: Connection, table: sa.Table, keys: list[str], sums: list[str], rows: list[dict]) -> None:
    """Insert the cells, or add their numbers to the cells already there."""
    if not rows:
        return
    insert = dialect_insert(conn, table)
    statement = insert.on_conflict_do_update(
        index_elements=["user_id", *keys],
        set_={name: table.c[name] + insert.excluded[name] for name in sums},
    )
    execute_many(conn, statement, rows)


def _upsert_totals(conn: Connection, user_id: int, totals: Mapping[int, list]) -> None:
    """Add new plays to track_totals: sums grow, first/last day widen."""
    if not totals:
        return
    insert = dialect_insert(conn, track_totals)
    t, new = track_totals.c, insert.excluded
    statement = insert.on_conflict_do_update(
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
    rows = [
        {"user_id": user_id, "track_id": track_id, "artist_id": c[0], "first_day": c[1], "last_day": c[2],
         "plays": c[3], "listens": c[4], "ms_played": c[5]}
        for track_id, c in totals.items()
    ]  # fmt: skip
    execute_many(conn, statement, rows)

