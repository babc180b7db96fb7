"""The JSON API under /api/v1/: every analytics view, scoped to the logged-in user.

Logged out → 401, bad parameters → 400, unknown or someone else's ids → 404, always with a JSON
`error`. The OpenAPI document at /api/v1/openapi.json describes every answer (see openapi.py).
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, request

from .. import analytics as an
from .. import db
from .auth import current_user
from .openapi import document
from .views import cache_state, local_today, parse_by, parse_choice, q

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _require_login():
    if request.endpoint == "api.openapi":
        return None
    if current_user() is None:
        abort(401, "Log in first.")
    return None


def _uid() -> int:
    return current_user()["id"]


def _checked(fn):
    """Run `fn`; a ValueError from parsing parameters becomes 400."""
    try:
        return fn()
    except ValueError as error:
        abort(400, str(error))


def _period() -> an.Period:
    args = request.args
    return _checked(
        lambda: an.resolve_period(args.get("range"), args.get("from"), args.get("to"), local_today(current_user()), strict=True)
    )


def _by() -> str:
    return _checked(lambda: parse_by(request.args.get("by"), strict=True))


def _limit(default: int = an.CHART_SIZE) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= an.CHART_SIZE:
        abort(400, f"limit must be a whole number from 1 to {an.CHART_SIZE}")
    return int(raw)


def _month(value: str) -> str:
    return _checked(lambda: an.parse_month(value))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    return document()


@bp.get("/overview")
def overview():
    """The home page's numbers."""
    conn, uid = db.get_conn(), _uid()
    basic = an.overview(conn, uid, cache_state())
    user = current_user()
    return {
        "plays": basic.plays, "listening_hours": basic.listening_hours, "distinct_tracks": basic.distinct_tracks,
        "distinct_artists": basic.distinct_artists, "podcast_plays": basic.podcast_plays,
        "first_play": basic.first_play.isoformat() if basic.first_play else None,
        "last_play": basic.last_play.isoformat() if basic.last_play else None,
        "needs_reconnect": bool(user["needs_reconnect"]),
        "blocked_until": user["blocked_until"].isoformat() if user["blocked_until"] else None,
        **an.dashboard(conn, uid, cache_state()),
    }  # fmt: skip


_TOP = {"artists": an.top_artists, "tracks": an.top_tracks, "albums": an.top_albums}


@bp.get("/top/<kind>")
def top(kind: str):
    """Top artists, tracks or albums of a range, by listens or minutes."""
    if kind not in _TOP:
        abort(404, "top lists exist for artists, tracks and albums")
    period, by, limit = _period(), _by(), _limit()
    return {**period.as_dict(), "by": by, "items": q(_TOP[kind], period, by, limit)}


_SERIES = {
    "growth": an.catalogue_growth,
    "diversity": an.artist_diversity,
    "time": an.time_per_month,
}


@bp.get("/<any(growth, diversity, time):name>")
def series(name: str):
    """Monthly series: catalogue growth, artist diversity, listening time per month."""
    period = _period()
    return {**period.as_dict(), "months": q(_SERIES[name], period)}


@bp.get("/consistency")
def consistency():
    """In how many of the range's monthly charts each artist was."""
    period = _period()
    return {**period.as_dict(), **q(an.consistent_artists, period, _limit(20))}


@bp.get("/clock")
def clock():
    """Listens by hour × weekday in the user's time zone."""
    period = _period()
    return {**period.as_dict(), "time_zone": current_user()["time_zone"], **q(an.listening_clock, period)}


@bp.get("/skips")
def skips():
    """Skip rate of the range, overall and per month."""
    period = _period()
    return {**period.as_dict(), **q(an.skip_rate, period)}


@bp.get("/taste-shift")
def taste_shift():
    """Monthly chart ranks of the range's top artists."""
    period = _period()
    return {**period.as_dict(), **q(an.taste_shift, period)}


@bp.get("/months")
def months():
    """Months with plays and months with Spotify snapshots."""
    conn, uid = db.get_conn(), _uid()
    return {"plays": an.data_months(conn, uid), "snapshots": an.snapshot_months(conn, uid),
            "coverage": an.data_coverage(conn, uid, cache_state())}  # fmt: skip


@bp.get("/charts/<month>")
def chart(month: str):
    """A month's top 50 tracks and artists, from plays or from Spotify's snapshots."""
    month = _month(month)
    source = _checked(lambda: parse_choice(request.args.get("source"), ("plays", "snapshots"), "plays", strict=True, name="source"))
    if source == "snapshots":
        return an.snapshot_chart(db.get_conn(), _uid(), month)
    return q(an.monthly_chart, month, _by())


@bp.get("/month/<month>")
def month(month: str):
    """The time machine's month page."""
    return q(an.month_page, _month(month), _by())


@bp.get("/compare")
def compare():
    """Month b against month a: new, dropped, risers, fallers."""
    if not request.args.get("a") or not request.args.get("b"):
        abort(400, "a and b (months like 2025-04) are required")
    a, b = _month(request.args["a"]), _month(request.args["b"])
    kind = _checked(lambda: parse_choice(request.args.get("kind"), ("artists", "tracks"), "artists", strict=True, name="kind"))
    return q(an.compare_months, a, b, kind, _by())


@bp.get("/on-this-day")
def on_this_day():
    """What was played on this date in earlier years (default: today)."""
    raw = request.args.get("date")
    day = _checked(lambda: date.fromisoformat(raw)) if raw else local_today(current_user())
    return {"date": day.isoformat(), "years": q(an.on_this_day, day)}


@bp.get("/year/<int:year>")
def year(year: int):
    """Year in review."""
    if not 1900 <= year <= 2999:
        abort(400, "year out of range")
    return q(an.year_in_review, year)


@bp.get("/artist/<int:artist_id>")
def artist(artist_id: int):
    """An artist page; 404 unless the user played the artist."""
    page = q(an.artist_page, artist_id)
    if page is None:
        abort(404, "No such artist in your history.")
    return page


@bp.get("/track/<int:track_id>")
def track(track_id: int):
    """A track page; 404 unless the user played the track."""
    page = q(an.track_page, track_id)
    if page is None:
        abort(404, "No such track in your history.")
    return page
