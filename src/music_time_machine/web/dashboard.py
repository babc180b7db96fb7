"""The start page for visitors and the home page with a user's numbers."""

from __future__ import annotations

from flask import Blueprint, render_template, request, session

from .. import analytics, db
from . import charts
from .auth import current_user, safe_next_url
from .views import cache_state

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """Home for a logged-in user, the start page for everyone else."""
    user = current_user()
    if user is None:
        next_url = safe_next_url(request.args.get("next"))
        if next_url:
            session["next_url"] = next_url
        return render_template("start.html")
    conn = db.get_conn()
    overview = analytics.overview(conn, user["id"], cache_state())
    summary = analytics.dashboard(conn, user["id"], cache_state()) if overview.plays else None
    chart = None
    if summary:
        growth = summary["new_tracks_per_month"]
        chart = charts.figure(
            "new-tracks", "New tracks discovered per month",
            charts.bar([g["month"] for g in growth], [("New tracks", [g["new_tracks"] for g in growth])]),
            ["Month", "New tracks"], [[g["month"], g["new_tracks"]] for g in growth],
        )  # fmt: skip
    return render_template("home.html", overview=overview, summary=summary, chart=chart)
