"""Settings: the Spotify connection, the data's statistics, preferences, and the account's life cycle.

Every action is a POST with a CSRF token that redirects with one flash sentence, never a 500;
the destructive ones (clear my data, delete my account) also need a confirmation the server checks.
"""

from __future__ import annotations

import logging
from functools import cache
from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from .. import db, snapshots, userdata, users
from ..clock import utcnow
from ..jobs import run_spotify_job
from ..spotify.tokens import connection_status, delete_tokens
from .auth import current_user, log_out, login_required
from .spotify_auth import spotify_app, spotify_configured

log = logging.getLogger(__name__)

bp = Blueprint("settings", __name__)

MAX_LISTEN_THRESHOLD_S = 600


@cache
def time_zones() -> list[str]:
    """Every IANA time zone name this Python knows, sorted."""
    return sorted(available_timezones())


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
    user = current_user()
    return render_template(
        "settings.html", status=spotify_status(), stats=userdata.statistics(db.get_conn(), user["id"]),
        time_zones=time_zones(), max_threshold_s=MAX_LISTEN_THRESHOLD_S, single_user=_single_user(),
    )  # fmt: skip


def _single_user() -> bool:
    """Whether the logged-in user is the instance's only user (the database backup is all of it)."""
    return len(users.list_users(db.get_conn())) == 1


def _back(message: str, category: str = "success", anchor: str | None = None):
    flash(message, category)
    return redirect(url_for("settings.index", _anchor=anchor))


@bp.post("/settings/preferences")
@login_required
def preferences():
    """Change the time zone and listen threshold; the analytics are recomputed with them."""
    time_zone = request.form.get("time_zone", "").strip()
    raw_threshold = request.form.get("listen_threshold_s", "").strip()
    if time_zone not in time_zones():
        shown = time_zone[:64]  # the flash message travels in the session cookie
        return _back(f"{shown!r} is not a time zone; pick one from the list, like Europe/Berlin.", "error", "preferences")
    if not (raw_threshold.isascii() and raw_threshold.isdigit()) or int(raw_threshold) > MAX_LISTEN_THRESHOLD_S:
        return _back(f"The listen threshold is a whole number of seconds from 0 to {MAX_LISTEN_THRESHOLD_S}.", "error", "preferences")
    with db.write() as conn:
        users.update_preferences(conn, current_user()["id"], time_zone=time_zone, listen_threshold_ms=int(raw_threshold) * 1000)
    return _back(f"Saved: time zone {time_zone}, a play counts as a listen from {int(raw_threshold)} s.", anchor="preferences")


@bp.post("/settings/clear")
@login_required
def clear():
    """Delete the user's history, imports, snapshots and playlists (after a ticked confirmation)."""
    if request.form.get("confirm") != "yes":
        return _back("Nothing was deleted: tick the box to confirm clearing your data.", "error", "danger")
    user_id = current_user()["id"]
    with db.write() as conn:
        deleted = userdata.clear_data(conn, user_id)
    current_app.logger.info("User %s cleared their data (%s plays)", user_id, deleted)
    return _back(f"Your data is cleared: {deleted:,} plays, your imports, snapshots and playlists are gone.")


@bp.post("/settings/delete-account")
@login_required
def delete_account():
    """Delete the account and everything of it, tokens included, then log out (after typing the name)."""
    user = current_user()
    if request.form.get("confirm_name", "").strip() != user["name"]:
        return _back(f"The account was not deleted: type your user name ({user['name']}) to confirm.", "error", "danger")
    with db.write() as conn:
        userdata.delete_account(conn, user["id"])
    log_out()
    current_app.logger.info("User %s deleted their account", user["id"])
    flash("Your account and all its data are deleted.", "success")
    return redirect(url_for("dashboard.index"))


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
    log_out()
    current_app.logger.info("User %s disconnected Spotify", user_id)
    flash("Spotify is disconnected and you are logged out. Your history stays here.", "success")
    return redirect(url_for("dashboard.index"))
