"""The start page for visitors and the home page with a user's numbers."""

from __future__ import annotations

from flask import Blueprint, render_template, request, session

from .. import analytics, db
from .auth import current_user, safe_next_url

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
    return render_template("home.html", overview=analytics.overview(db.get_conn(), user["id"]))
