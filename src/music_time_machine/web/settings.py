"""Settings: the Spotify connection (status, connect, snapshot now, disconnect).

Issue 7 adds the rest of SPEC §3.9 (statistics, preferences, clear, delete, exports) here.
Every action is a POST with a CSRF token that redirects with one flash sentence, never a 500.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, g, redirect, render_template, session, url_for

from .. import db, snapshots
from ..clock import utcnow
from ..jobs import run_spotify_job
from ..spotify.tokens import connection_status, delete_tokens
from .auth import AUTH_SESSION_KEYS, current_user, login_required
from .spotify_auth import spotify_app, spotify_configured

log = logging.getLogger(__name__)

bp = Blueprint("settings", __name__)


def spotify_status():
    """The logged-in user's Spotify connection and latest snapshot day, once per request (templates)."""
    if "spotify_status" not in g:
        user = current_user()
        if user is None:
            g.spotify_status = None
        else:
            conn = db.get_conn()
            g.spotify_status = {
                "connection": connection_status(conn, user["id"], utcnow()),
                "latest_snapshot": snapshots.latest_snapshot_day(conn, user["id"]),
            }
    return g.spotify_status


def inject_spotify() -> dict:
    """Templates get `spotify_status()` (computed only when a template asks) and `spotify_configured`."""
    return {"spotify_status": spotify_status, "spotify_configured": spotify_configured()}


@bp.get("/settings")
@login_required
def index():
    """The settings page."""
    return render_template("settings.html", status=spotify_status())


@bp.post("/settings/snapshot")
@login_required
def take_snapshot():
    """Take today's snapshot now (completing it if an earlier try today failed half-way)."""
    user_id = current_user()["id"]
    engine = db.get_engine()
    if not connection_status(db.get_conn(), user_id, utcnow()).connected:
        flash("Connect Spotify first: snapshots come from your Spotify account.", "error")
        return redirect(url_for("settings.index"))
    try:
        run = run_spotify_job(engine, "snapshot", user_id, spotify_app().client_for(engine, user_id), now=utcnow())
    except Exception:
        log.exception("Snapshot for user %s failed", user_id)
        flash("The snapshot failed on our side; the details are in the server log.", "error")
        return redirect(url_for("settings.index"))
    flash(run.message, "success" if run.ok else "error")
    return redirect(url_for("settings.index"))


@bp.post("/settings/disconnect")
@login_required
def disconnect():
    """Forget the Spotify tokens and every sign-in key of the session; the history stays."""
    user_id = current_user()["id"]
    with db.write() as conn:
        delete_tokens(conn, user_id)
    for key in AUTH_SESSION_KEYS:
        session.pop(key, None)
    g.pop("current_user", None)
    current_app.logger.info("User %s disconnected Spotify", user_id)
    flash("Spotify is disconnected and you are logged out. Your history stays here.", "success")
    return redirect(url_for("dashboard.index"))
