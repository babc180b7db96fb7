"""The one place that turns a Spotify failure into an answer for the browser (SPEC §3.4).

Transient or rate-limited upstream → 503 (with Retry-After when known); authorization → 401
with a link to (re)connect; anything else Spotify refuses → 502. The form path flashes the
same message the JSON path sends, so both ways in say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import jsonify, url_for

from ..jobs import blocked_message
from ..spotify.errors import AuthorizationError, RateLimited, SpotifyError, TransientError
from .spotify_auth import spotify_configured


@dataclass(frozen=True)
class Failure:
    """An HTTP answer for something that could not be done: status, one sentence, extras."""

    status: int
    message: str
    retry_after: int | None = None
    reconnect_url: str | None = None

    def json_response(self):
        """The JSON answer: {"error": …} (+ "reconnect_url"), with Retry-After when known."""
        body = {"error": self.message}
        if self.reconnect_url:
            body["reconnect_url"] = self.reconnect_url
        response = jsonify(body)
        response.status_code = self.status
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


def connect_url(next_path: str | None = None) -> str:
    """Where the user (re)connects Spotify: the sign-in, or the settings page that explains why it cannot."""
    if spotify_configured():
        return url_for("spotify_auth.login", next=next_path) if next_path else url_for("spotify_auth.login")
    return url_for("settings.index", _anchor="spotify")


def upstream_failure(exc: SpotifyError, next_path: str | None = None) -> Failure:
    """The answer for a failed Spotify call."""
    if isinstance(exc, RateLimited):
        return Failure(503, f"{exc.message} Please try again later.", exc.retry_after)
    if isinstance(exc, TransientError):
        return Failure(503, f"{exc.message} Please try again in a moment.")
    if isinstance(exc, AuthorizationError):
        return Failure(401, exc.message, reconnect_url=connect_url(next_path))
    return Failure(502, exc.message)


def still_blocked(user, now: datetime) -> Failure | None:
    """503 while Spotify's "wait until" for the user lasts (no call is made meanwhile)."""
    until = user["blocked_until"]
    if until is None or until <= now:
        return None
    wait = max(1, int((until - now).total_seconds()))
    return Failure(503, blocked_message(until, user["blocked_reason"]), wait)
