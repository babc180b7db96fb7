"""Running one Spotify job for one user: the checks before it, what Spotify's refusals mean, a record.

Every run (from the worker, `mtm sync`/`mtm snapshot` or the settings page) goes through
`run_job`, so "blocked until" and "needs reconnect" are respected and recorded the same way
everywhere, and each run leaves a row in `job_runs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import db, users
from .clock import utcnow
from .schema import job_runs
from .playlists import refresh_due_playlists
from .rollups import local_date
from .snapshots import create_monthly_snapshot
from .sync import sync_recently_played
from .spotify.errors import AuthorizationError, RateLimited, SpotifyError
from .spotify.tokens import block_user, mark_needs_reconnect

log = logging.getLogger(__name__)

QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True)
class JobRun:
    """How one run ended: status ok | failed | skipped, and one sentence saying what happened."""

    job: str
    user_id: int
    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def block_reason(exc: RateLimited) -> str:
    return QUOTA_EXCEEDED if exc.quota_exceeded else RATE_LIMITED


def remember_refusal(engine: Engine, user_id: int, exc: SpotifyError, now: datetime) -> None:
    """What a failed Spotify call means for later ones: "blocked until" (a 429, a spent quota) or
    "needs reconnect" (a refused sign-in); other failures leave nothing behind."""
    if isinstance(exc, RateLimited):
        with db.transaction(engine) as conn:
            block_user(conn, user_id, exc.blocked_until(now), block_reason(exc))
    elif isinstance(exc, AuthorizationError) and exc.needs_reconnect:
        with db.transaction(engine) as conn:
            mark_needs_reconnect(conn, user_id)


def blocked_message(until: datetime, reason: str | None) -> str:
    """The sentence for a user Spotify told us to leave alone for a while."""
    why = "Spotify's quota for this app is used up" if reason == QUOTA_EXCEEDED else "Spotify asked us to slow down"
    return f"{why}: waiting until {until:%Y-%m-%d %H:%M} UTC."


def run_job(engine: Engine, job: str, user_id: int, work: Callable[[], str], *, now: datetime) -> JobRun:
    """Run `work` (which returns a one-line summary) for the user unless Spotify said to wait."""
    with engine.connect() as conn:
        user = users.get_user(conn, user_id)
    if user["blocked_until"] is not None and user["blocked_until"] > now:
        return _record(engine, job, user_id, now, "skipped", blocked_message(user["blocked_until"], user["blocked_reason"]))
    if user["needs_reconnect"]:
        return _record(engine, job, user_id, now, "skipped", "Spotify needs to be reconnected first.")

    with db.transaction(engine) as conn:
        run_id = conn.execute(
            job_runs.insert().values(job=job, user_id=user_id, status="running", started_at=now)
        ).inserted_primary_key[0]
    status, message = "failed", "The job stopped unexpectedly; the details are in the log."
    try:
        message = work()
        status = "ok"
    except RateLimited as exc:
        remember_refusal(engine, user_id, exc, now)
        message = blocked_message(exc.blocked_until(now), block_reason(exc))
    except SpotifyError as exc:
        remember_refusal(engine, user_id, exc, now)
        message = exc.message
    finally:
        with db.transaction(engine) as conn:
            conn.execute(
                job_runs.update().where(job_runs.c.id == run_id)
                .values(status=status, message=message, finished_at=utcnow())
            )  # fmt: skip
        log.info("%s for user %s: %s: %s", job, user_id, status, message)
    return JobRun(job, user_id, status, message)


def run_spotify_job(
    engine: Engine, job: str, user_id: int, client, *, now: datetime, scheduled: bool = False
) -> JobRun:
    """Run the `sync`, `snapshot` or `playlist_refresh` job for the user with `client` (a SpotifyClient or a stand-in)."""
    if job == "sync":
        return run_job(
            engine, job, user_id, lambda: sync_recently_played(engine, user_id, client, now=now).summary(), now=now
        )
    if job == "snapshot":
        return run_job(
            engine, job, user_id,
            lambda: create_monthly_snapshot(engine, user_id, client, today=now.date(), scheduled=scheduled).summary(),
            now=now,
        )  # fmt: skip
    if job == "playlist_refresh":
        with engine.connect() as conn:
            today = local_date(users.get_user(conn, user_id)["time_zone"], now)
        return run_job(
            engine, job, user_id,
            lambda: refresh_due_playlists(engine, user_id, client, today=today, now=now).summary(), now=now,
        )  # fmt: skip
    raise ValueError(f"unknown job {job!r}")


def _record(engine: Engine, job: str, user_id: int, now: datetime, status: str, message: str) -> JobRun:
    with db.transaction(engine) as conn:
        conn.execute(
            job_runs.insert().values(
                job=job, user_id=user_id, status=status, message=message, started_at=now, finished_at=now
            )
        )
    log.info("%s for user %s: %s: %s", job, user_id, status, message)
    return JobRun(job, user_id, status, message)


def last_started(conn, job: str, user_id: int) -> datetime | None:
    """When the user's latest run of `job` that actually ran (not skipped) started."""
    return conn.execute(
        sa.select(sa.func.max(job_runs.c.started_at)).where(
            job_runs.c.job == job, job_runs.c.user_id == user_id, job_runs.c.status != "skipped"
        )
    ).scalar()
