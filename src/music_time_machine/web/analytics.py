"""/analytics: the range views of SPEC §3.6 with charts (Chart.js) and a table for each."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .. import analytics as an
from .. import db
from . import charts
from .auth import current_user, login_required
from .views import local_today, parse_by

bp = Blueprint("analytics", __name__)

RANGE_BUTTONS = [("6m", "6 months"), ("12m", "12 months"), ("24m", "24 months"), ("all", "All time")]


@bp.get("/analytics")
@login_required
def index():
    """Every range chart for the chosen range (unknown range → 12m, silently)."""
    user = current_user()
    args = request.args
    period = an.resolve_period(args.get("range"), args.get("from"), args.get("to"), local_today(user))
    by = parse_by(args.get("by"), strict=False)
    conn, uid = db.get_conn(), user["id"]
    data = {
        "growth": an.catalogue_growth(conn, uid, period),
        "diversity": an.artist_diversity(conn, uid, period),
        "consistency": an.consistent_artists(conn, uid, period, limit=15),
        "top_artists": an.top_artists(conn, uid, period, by, limit=15),
        "top_tracks": an.top_tracks(conn, uid, period, by, limit=15),
        "top_albums": an.top_albums(conn, uid, period, by, limit=15),
        "clock": an.listening_clock(conn, uid, period),
        "time": an.time_per_month(conn, uid, period),
        "taste": an.taste_shift(conn, uid, period),
    }
    return render_template(
        "analytics.html", period=period, by=by, data=data, buttons=RANGE_BUTTONS, charts=charts.analytics_charts(data, by, user["time_zone"]),
        heat=charts.heat_levels(data["clock"]["listens"]), has_data=bool(data["time"]),
    )  # fmt: skip
