"""Logging in and out: one-time login links (local mode) and the demo's one-click login.

The browser session holds only the user id (and, during a Spotify login, the transient OAuth
state); every other piece of a user's data stays on the server.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from .. import db, users
from ..clock import utcnow

bp = Blueprint("auth", __name__)

# Every session key that has to do with who is logged in; logout and disconnect remove them all.
AUTH_SESSION_KEYS = ("user_id", "oauth_state", "pkce_verifier", "next_url")
DEMO_USER = "demo"


def safe_next_url(value: str | None) -> str | None:
    """`value` if it is a path on this site, else None (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return None
    return value


def current_user():
    """The logged-in user's row, or None; looked up once per request."""
    if "current_user" not in g:
        user_id = session.get("user_id")
        g.current_user = users.get_user(db.get_conn(), user_id) if user_id is not None else None
    return g.current_user


def inject_current_user() -> dict:
    """Templates see `current_user` and whether the app runs as the demo."""
    return {"current_user": current_user(), "demo_mode": current_app.config["DEMO_MODE"]}


def login_required(view):
    """Send visitors who are not logged in to the start page, remembering where they wanted to go."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("dashboard.index", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def log_in(user_id: int) -> None:
    """Start a fresh session for the user (nothing from before the login survives)."""
    next_url = safe_next_url(session.get("next_url"))
    session.clear()
    session["user_id"] = user_id
    session.permanent = True
    g.pop("current_user", None)
    if next_url:
        session["next_url"] = next_url


def log_out() -> None:
    """Forget every auth-related key of the session."""
    for key in AUTH_SESSION_KEYS:
        session.pop(key, None)
    g.pop("current_user", None)


def _after_login():
    return redirect(safe_next_url(session.pop("next_url", None)) or url_for("dashboard.index"))


@bp.get("/login/<token>")
def login_link(token: str):
    """Show the 'log in as …' button for a login link (link previews must not use it up)."""
    user_id = users.login_token_user(db.get_conn(), token, now=utcnow())
    if user_id is None:
        return render_template(
            "error.html",
            title="Login link not valid",
            message="This login link was already used or has expired; ask for a new one with `mtm login-link NAME`.",
        ), 404
    user = users.get_user(db.get_conn(), user_id)
    return render_template("login_link.html", user=user, token=token)


@bp.post("/login/<token>")
def use_login_link(token: str):
    """Log in with a one-time link; the link cannot be used again."""
    with db.write() as conn:
        user_id = users.consume_login_token(conn, token, now=utcnow())
    if user_id is None:
        flash("This login link was already used or has expired.", "error")
        return redirect(url_for("dashboard.index"))
    log_in(user_id)
    return _after_login()


@bp.post("/demo-login")
def demo_login():
    """One click into the demo account (only while the app runs as the demo)."""
    if not current_app.config["DEMO_MODE"]:
        abort(404)
    user = users.find_user(db.get_conn(), DEMO_USER)
    if user is None:
        abort(404)
    log_in(user["id"])
    return _after_login()


@bp.post("/logout")
def logout():
    """Log out and go back to the start page."""
    log_out()
    flash("You are logged out.", "info")
    return redirect(url_for("dashboard.index"))
