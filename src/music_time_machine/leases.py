"""Leases in `job_locks`: whoever holds an unexpired lease on a name does the work; the others
skip it (the worker's jobs) or wait for it (a token refresh). Works across processes and hosts,
on SQLite and PostgreSQL, and a crashed holder's lease simply expires."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import db
from .db import insert_ignoring_conflicts
from .schema import job_locks


def acquire_lease(engine: Engine, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take the lease `name` for `owner` until now + ttl, unless someone else holds it unexpired."""
    with db.transaction(engine) as conn:
        # Taking over an expired lease (or renewing our own) is an UPDATE guarded by the expiry, so
        # of two workers only one changes the row; a new lease is an INSERT that only one can make.
        # (RETURNING, because psycopg does not report the rowcount of INSERT … ON CONFLICT.)
        taken = conn.execute(
            job_locks.update()
            .where(job_locks.c.name == name, sa.or_(job_locks.c.expires_at <= now, job_locks.c.owner == owner))
            .values(owner=owner, expires_at=now + ttl)
            .returning(job_locks.c.name)
        ).first()
        if taken is None:
            taken = conn.execute(
                insert_ignoring_conflicts(conn, job_locks)
                .values(name=name, owner=owner, expires_at=now + ttl)
                .returning(job_locks.c.name)
            ).first()
    return taken is not None


def release_lease(engine: Engine, name: str, owner: str) -> None:
    """Give the lease back (only if it is still ours)."""
    with db.transaction(engine) as conn:
        conn.execute(job_locks.delete().where(job_locks.c.name == name, job_locks.c.owner == owner))
