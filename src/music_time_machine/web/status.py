"""`GET /status`: a health check for people and monitors (no secrets in it)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, session
from sqlalchemy.exc import SQLAlchemyError

from .. import __version__, analytics, db
from ..schema import job_runs, snapshots

bp = Blueprint("status", __name__)


@bp.get("/status")
def status():
    """Version, database reachability and schema revision, worker last run, the user's counts."""
    body: dict = {"ok": False, "version": __version__, "database": {"reachable": False}}
    try:
        with db.get_engine().connect() as conn:
            revision = db.current_revision(conn)
            head = db.head_revision()
            body["database"] = {"reachable": True, "revision": revision, "up_to_date": revision == head}
            last_run = conn.execute(sa.select(sa.func.max(job_runs.c.finished_at))).scalar()
            body["worker"] = {"last_run": last_run.isoformat() + "Z" if last_run else None}
            user_id = session.get("user_id")
            if user_id is not None:
                played = analytics.play_counts(conn, user_id)
                body["user"] = {
                    "plays": played[0],
                    "tracks": played[1],
                    "snapshots": conn.execute(
                        sa.select(sa.func.count(sa.distinct(snapshots.c.taken_on))).where(
                            snapshots.c.user_id == user_id
                        )
                    ).scalar_one(),
                }
    except SQLAlchemyError:
        current_app.logger.warning("status: the database is not reachable", exc_info=True)
        return body, 503
    body["ok"] = body["database"]["up_to_date"]
    return body, 200 if body["ok"] else 503
