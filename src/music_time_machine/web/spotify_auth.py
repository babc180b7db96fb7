"""Log in with Spotify (Authorization Code with PKCE): `/login` → Spotify's consent → `/callback`.

The session holds the sign-in's `oauth_state` and `pkce_verifier` only until the callback;
the tokens go straight into the database, encrypted, and never into the session or a page.
A user who is already logged in (a local-mode user) links Spotify to their own account.
"""

from __future__ import annotations

import hmac
import logging
import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from sqlalchemy.engine import Connection

from .. import db, users
from ..clock import utcnow
from ..schema import users as users_table
from ..spotify import AuthorizationError, RateLimited, SpotifyError, TransientError, make_pkce_pair, make_state
from ..spotify.client import Profile
from ..spotify.service import SpotifyApp
from ..spotify.tokens import store_tokens
from .auth import current_user, log_in, safe_next_url

log = logging.getLogger(__name__)

bp = Blueprint("spotify_auth", __name__)


def spotify_app() -> SpotifyApp:
    """This instance's Spotify app; tests and the demo may swap the factory in app.extensions."""
    factory = current_app.extensions.get("mtm_spotify", SpotifyApp.from_config)
    return factory(current_app.config)


def spotify_configured() -> bool:
    """Whether "Log in with Spotify" / "Connect Spotify" can be offered."""
    return bool(current_app.config.get("SPOTIFY_CLIENT_ID"))


@bp.get("/login")
def login():
    """Start a Spotify sign-in: remember state and PKCE verifier, send the browser to Spotify."""
    if not spotify_configured():
        abort(404, description="Spotify is not set up on this instance; use a login link instead.")
    verifier, challenge = make_pkce_pair()
    state = make_state()
    session["oauth_state"] = state
    session["pkce_verifier"] = verifier
    next_url = safe_next_url(request.args.get("next"))
    if next_url:
        session["next_url"] = next_url
    return redirect(spotify_app().authorize_url(state, challenge))


def _failure_page(title: str, message: str, status: int, retry_after: int | None = None):
    response = current_app.make_response((render_template("error.html", title=title, message=message), status))
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.get("/callback")
def callback():
    """Spotify sends the browser back here with a code (or an error) and our state."""
    expected = session.pop("oauth_state", None)
    verifier = session.pop("pkce_verifier", None)
    state = request.args.get("state", "")
    if not expected or not verifier or not hmac.compare_digest(expected.encode(), state.encode()):
        # No token exchange: this answer may be forged, or from an old or another tab's sign-in.
        return _failure_page(
            "Sign-in could not be verified",
            "This sign-in answer does not match the one this browser started, so it was ignored. "
            "Please start again with Log in with Spotify.",
            400,
        )
    if request.args.get("error"):
        if request.args["error"] == "access_denied":
            flash("You did not allow access on Spotify, so nothing was connected.", "info")
        else:
            flash("Spotify did not complete the sign-in; please try again.", "error")
        return redirect(url_for("dashboard.index"))
    code = request.args.get("code")
    if not code:
        return _failure_page("Sign-in incomplete", "Spotify sent no sign-in code; please try again.", 400)

    spotify = spotify_app()
    now = utcnow()
    try:
        tokens = spotify.exchange_code(code, verifier, now)
        profile = spotify.client_with_token(tokens.access_token).me()
    except (TransientError, RateLimited) as exc:
        log.warning("Spotify sign-in failed: %s", exc.message)
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        return _failure_page("Spotify is not answering", f"{exc.message} Please try again in a while.", 503, retry_after)
    except AuthorizationError as exc:
        log.warning("Spotify refused the sign-in: %s", exc.message)
        status = 403 if exc.status == 403 else 502
        return _failure_page("Spotify refused the sign-in", exc.message, status)
    except SpotifyError as exc:
        log.warning("Spotify sign-in failed: %s", exc.message)
        return _failure_page("Spotify sign-in failed", f"{exc.message} Please try again.", 502)

    linking = current_user()
    with db.write() as conn:
        owner = conn.execute(
            users_table.select().where(users_table.c.spotify_id == profile.id)
        ).mappings().first()
        if linking is not None and owner is not None and owner["id"] != linking["id"]:
            return _failure_page(
                "Spotify account already in use",
                "This Spotify account is connected to another user of this app; log in as that user instead.",
                409,
            )
        if linking is not None and linking["spotify_id"] not in (None, profile.id):
            return _failure_page(
                "Another Spotify account",
                "You are connected to a different Spotify account; disconnect it in Settings first.",
                409,
            )
        user_id = linking["id"] if linking is not None else owner["id"] if owner is not None else _new_user(conn, profile, now)
        conn.execute(
            users_table.update().where(users_table.c.id == user_id)
            .values(spotify_id=profile.id, needs_reconnect=False)
        )  # fmt: skip
        store_tokens(conn, spotify.fernet, user_id, tokens, signed_in_at=now, now=now)
    log.info("User %s signed in with Spotify", user_id)
    log_in(user_id)
    flash(f"Connected to Spotify as {profile.display_name or profile.id}.", "success")
    return redirect(safe_next_url(session.pop("next_url", None)) or url_for("dashboard.index"))


def _new_user(conn: Connection, profile: Profile, now) -> int:
    """A user for a new Spotify account, named after its Spotify id (made unique if needed)."""
    base = re.sub(r"[^\w.@+-]", "_", profile.id)[:90] or "spotify"
    name, n = base, 1
    while users.find_user(conn, name) is not None:  # a local user may already have that name
        n += 1
        name = f"{base}-{n}"
    return users.create_user(conn, name, now=now, display_name=profile.display_name or profile.id)
