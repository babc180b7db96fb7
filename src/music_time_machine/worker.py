"""The schedule: sync recently played, take the monthly snapshot and refresh the playlists the
user asked to refresh monthly, for every connected user.

`Worker.run_once(now)` is one tick (what tests call); `run_forever` ticks until Ctrl+C, with
the clock and the sleep injected. Several workers (on one host or many) can run at once: a job
for a user runs only under a lease in `job_locks`, and whether it is due is decided after the
lease is taken, from the runs recorded in `job_runs`, so a job never runs twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .clock import utcnow
from .jobs import JobRun, last_started, run_spotify_job
from .leases import acquire_lease, release_lease
from .playlists import due_for_refresh
from .schema import job_runs, spotify_tokens, users

log = logging.getLogger(__name__)

JOBS = ("sync", "snapshot", "playlist_refresh")  # the refresh after the snapshot: current rotation reads it
LEASE = timedelta(minutes=15)  # far longer than a job takes; a crashed worker's lease just expires
TICK_SECONDS = 60


def connected_users(conn: Connection, now: datetime) -> list[int]:
    """Users with stored tokens who do not need to reconnect and are not blocked by Spotify."""
    return list(
        conn.execute(
            sa.select(users.c.id)
            .join(spotify_tokens, spotify_tokens.c.user_id == users.c.id)
            .where(
                users.c.needs_reconnect.is_(False),
                sa.or_(users.c.blocked_until.is_(None), users.c.blocked_until <= now),
            )
            .order_by(users.c.id)
        ).scalars()
    )


def is_due(conn: Connection, job: str, user_id: int, now: datetime, interval: timedelta) -> bool:
    """Sync: every `interval`. Snapshot: until one succeeded this month (UTC), tried at most every
    `interval`. Playlist refresh: while an auto-refresh playlist was not refreshed this month, as often."""
    last = last_started(conn, job, user_id)
    if last is not None and now - last < interval:
        return False
    if job == "sync":
        return True
    if job == "playlist_refresh":
        return bool(due_for_refresh(conn, user_id, now))
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    done = conn.execute(
        sa.select(sa.func.count()).where(
            job_runs.c.job == "snapshot", job_runs.c.user_id == user_id, job_runs.c.status == "ok",
            job_runs.c.started_at >= month_start,
        )
    ).scalar_one()  # fmt: skip
    return done == 0


class Worker:
    """Runs the due jobs of every connected user, each under a lease, one user's failure isolated."""

    def __init__(
        self,
        engine: Engine,
        client_for: Callable[[int], object],
        *,
        sync_interval: timedelta = timedelta(minutes=30),
        owner: str | None = None,
    ):
        """`client_for(user_id)` gives the Spotify client for that user."""
        self.engine = engine
        self.client_for = client_for
        self.sync_interval = sync_interval
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def run_once(self, now: datetime) -> list[JobRun]:
        """One tick: every due job of every connected user; returns the runs made."""
        with self.engine.connect() as conn:
            user_ids = connected_users(conn, now)
        runs = []
        for user_id in user_ids:
            for job in JOBS:
                try:
                    run = self._run_if_due(job, user_id, now)
                except Exception:
                    # Recorded as failed in job_runs by the runner; the other users go on.
                    log.exception("%s for user %s failed unexpectedly", job, user_id)
                    continue
                if run is not None:
                    runs.append(run)
        return runs

    def _run_if_due(self, job: str, user_id: int, now: datetime) -> JobRun | None:
        lease = f"{job}:{user_id}"
        if not acquire_lease(self.engine, lease, self.owner, now, LEASE):
            log.debug("%s for user %s is running elsewhere", job, user_id)
            return None
        try:
            with self.engine.connect() as conn:
                if not is_due(conn, job, user_id, now, self.sync_interval):
                    return None
            return run_spotify_job(self.engine, job, user_id, self.client_for(user_id), now=now, scheduled=True)
        finally:
            release_lease(self.engine, lease, self.owner)


def run_forever(
    worker: Worker,
    *,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    tick_seconds: float = TICK_SECONDS,
) -> None:
    """Tick every `tick_seconds` until interrupted (Ctrl+C raises KeyboardInterrupt out of here)."""
    log.info("Worker %s started", worker.owner)
    while True:
        try:
            worker.run_once(clock())
        except Exception:  # e.g. the database is down for a moment: try again next tick
            log.exception("Worker tick failed")
        sleep(tick_seconds)
