"""The time machine (SPEC §3.7): months, comparing two months, on this day, years, artists, tracks."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from .. import analytics as an
from .. import db
from . import charts
from .auth import current_user, login_required
from .views import cache_state, local_today, parse_by, parse_choice, q

bp = Blueprint("timemachine", __name__)


def _uid() -> int:
    return current_user()["id"]


def _month_or_404(month: str) -> str:
    try:
        return an.parse_month(month)
    except ValueError:
        abort(404, "Months look like 2025-04.")


@bp.get("/months")
@login_required
def months():
    """Every month with data, grouped by year, with links to month pages and years."""
    conn = db.get_conn()
    coverage = an.data_coverage(conn, _uid(), cache_state())
    years: dict[str, list] = {}
    for entry in coverage:
        years.setdefault(entry["month"][:4], []).append(entry)
    return render_template("months.html", years=years, today=local_today(current_user()))


@bp.get("/month/<month>")
@login_required
def month(month: str):
    """A month: its top tracks and artists (from plays or Spotify's snapshots), time, discoveries."""
    month = _month_or_404(month)
    conn, uid = db.get_conn(), _uid()
    by = parse_by(request.args.get("by"), strict=False)
    has_snapshot = month in an.snapshot_months(conn, uid)
    source = parse_choice(request.args.get("source"), ("plays", "snapshots"), "plays", strict=False, name="source")
    if not has_snapshot:
        source = "plays"
    page = q(an.month_page, month, by)
    snapshot = an.snapshot_chart(conn, uid, month) if source == "snapshots" else None
    return render_template("month.html", page=page, by=by, source=source, has_snapshot=has_snapshot, snapshot=snapshot,
                           months=q(an.data_months))  # fmt: skip


@bp.get("/compare")
@login_required
def compare():
    """Compare two months: new entries, dropped ones, risers and fallers."""
    conn, uid = db.get_conn(), _uid()
    months = an.data_months(conn, uid)
    kind = parse_choice(request.args.get("kind"), ("artists", "tracks"), "artists", strict=False, name="kind")
    a, b = request.args.get("a"), request.args.get("b")
    error = result = None
    if a or b:
        try:
            a, b = an.parse_month(a or ""), an.parse_month(b or "")
        except ValueError:
            error = "Pick two months (like 2025-04) to compare."
        else:
            result = q(an.compare_months, a, b, kind)
    elif len(months) >= 2:
        a, b = months[-2], months[-1]
    return render_template("compare.html", months=months, a=a, b=b, kind=kind, result=result, error=error), (
        400 if error else 200
    )


@bp.get("/on-this-day")
@login_required
def on_this_day():
    """What you played on today's date in earlier years."""
    today = local_today(current_user())
    return render_template("on_this_day.html", today=today, years=q(an.on_this_day, today))


@bp.get("/year/<int:year>")
@login_required
def year(year: int):
    """Year in review."""
    if not 1900 <= year <= 2999:
        abort(404)
    review = q(an.year_in_review, year)
    chart = charts.monthly([m["month"] for m in review["months"]], "Minutes", [m["minutes"] for m in review["months"]])
    return render_template("year.html", review=review, minutes_chart=chart)


@bp.get("/artist/<int:artist_id>")
@login_required
def artist(artist_id: int):
    """An artist in your history (404 for anyone else's or unknown)."""
    page = q(an.artist_page, artist_id)
    if page is None:
        abort(404, "This artist is not in your history.")
    return render_template("artist.html", page=page, months_chart=charts.item_months(page["months"]))


@bp.get("/track/<int:track_id>")
@login_required
def track(track_id: int):
    """A track in your history (404 for anyone else's or unknown)."""
    page = q(an.track_page, track_id)
    if page is None:
        abort(404, "This track is not in your history.")
    return render_template("track.html", page=page, months_chart=charts.item_months(page["months"]))
