"""/analytics: the range views of SPEC §3.6 with charts (Chart.js) and a table for each."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .. import analytics as an
from . import charts
from .auth import current_user, login_required
from .views import local_today, parse_by, q

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
    # The views are asked for with the API's default sizes, so the page and the API share the cache.
    data = {
        "growth": q(an.catalogue_growth, period),
        "diversity": q(an.artist_diversity, period),
        "consistency": _first(q(an.consistent_artists, period, 20), 15),
        "top_artists": q(an.top_artists, period, by, an.CHART_SIZE)[:15],
        "top_tracks": q(an.top_tracks, period, by, an.CHART_SIZE)[:15],
        "top_albums": q(an.top_albums, period, by, an.CHART_SIZE)[:15],
        "clock": q(an.listening_clock, period),
        "time": q(an.time_per_month, period),
        "taste": q(an.taste_shift, period),
    }
    return render_template(
        "analytics.html", period=period, by=by, data=data, buttons=RANGE_BUTTONS, charts=charts.analytics_charts(data, by, user["time_zone"]),
        heat=charts.heat_levels(data["clock"]["listens"]), has_data=bool(data["time"]),
    )  # fmt: skip


def _first(consistency: dict, count: int) -> dict:
    return {**consistency, "artists": consistency["artists"][:count]}
