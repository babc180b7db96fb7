"""What can go wrong when talking to Spotify, sorted into the categories of SPEC §3.4.

`classify` is the one place that turns an HTTP answer or a `requests` exception into one of
these exceptions; the retry harness and the web layer decide what to do from the class alone.
Messages are one user-facing sentence and never contain a token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import requests

# Spotify does not always say how long a quota block lasts; wait this long before trying again.
UNKNOWN_BLOCK_SECONDS = 3600


class SpotifyError(Exception):
    """A Spotify call failed; `message` is one sentence fit to show the user."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason  # Spotify's machine-readable code (`QUOTA_EXCEEDED`, `invalid_grant`)


class TransientError(SpotifyError):
    """Timeout, dropped connection or 5xx: worth trying again shortly."""

    def __init__(self, message: str, *, status: int | None = None, ambiguous: bool = False):
        super().__init__(message, status=status)
        # True when Spotify may have acted on the request before failing (a read timeout):
        # retrying a non-idempotent call then risks doing it twice.
        self.ambiguous = ambiguous


class AuthorizationError(SpotifyError):
    """Spotify refused our credentials or this user; retrying the same call cannot help."""

    def __init__(
        self,
        message: str,
        *,
        needs_reconnect: bool,
        status: int | None = None,
        reason: str | None = None,
    ):
        super().__init__(message, status=status, reason=reason)
        self.needs_reconnect = needs_reconnect


class RateLimited(SpotifyError):
    """Spotify answered 429; `retry_after` is its wait in seconds when it gave one."""

    def __init__(self, message: str, *, retry_after: int | None, quota_exceeded: bool):
        super().__init__(
            message, status=429, reason="QUOTA_EXCEEDED" if quota_exceeded else None
        )
        self.retry_after = retry_after
        self.quota_exceeded = quota_exceeded

    def blocked_until(self, now: datetime) -> datetime:
        """When calls may resume, counted from `now` (naive UTC)."""
        wait = self.retry_after if self.retry_after is not None else UNKNOWN_BLOCK_SECONDS
        return now + timedelta(seconds=wait)


class DataError(SpotifyError):
    """Spotify answered, but not with the shape we expect."""


class NotFound(SpotifyError):
    """The playlist, track or user does not exist (any more)."""


def classify(outcome: requests.Response | BaseException) -> SpotifyError:
    """Turn a failed response (or a 2xx whose body could not be read) or exception into an error."""
    if isinstance(outcome, BaseException):
        return _classify_exception(outcome)
    return _classify_response(outcome)


def _classify_exception(exc: BaseException) -> SpotifyError:
    # ConnectTimeout is both a Timeout and a ConnectionError; the request never left, so it is
    # safe to retry anything. A read timeout means Spotify got the request and may have acted.
    if isinstance(exc, requests.ConnectTimeout):
        return TransientError("Spotify could not be reached in time.")
    if isinstance(exc, requests.Timeout):
        return TransientError("Spotify did not answer in time.", ambiguous=True)
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return TransientError("The connection to Spotify failed.")
    return SpotifyError("The request to Spotify failed unexpectedly.")


def _classify_response(response: requests.Response) -> SpotifyError:
    status = response.status_code
    if 200 <= status < 300:
        return DataError("Spotify sent an answer we could not read.", status=status)
    error = _error_body(response)
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    reason = error.get("reason") if isinstance(error, dict) else None
    if status == 429:
        quota = reason == "QUOTA_EXCEEDED"
        return RateLimited(
            "Spotify's quota for this app is used up for now."
            if quota
            else "Spotify asked us to slow down.",
            retry_after=_retry_after(response),
            quota_exceeded=quota,
        )
    if status >= 500:
        return TransientError(
            "Spotify is having trouble right now.", status=status, ambiguous=status == 504
        )
    if isinstance(error, str):  # the accounts service: {"error": "invalid_grant", ...}
        return _classify_token_error(status, error)
    if status == 401:
        # Usually an expired access token: the client refreshes once before giving up.
        return AuthorizationError(
            "Spotify no longer accepts this sign-in.", needs_reconnect=False, status=401
        )
    if status == 403:
        if "scope" in message.lower():
            return AuthorizationError(
                "Spotify needs a permission this app was not given: please reconnect.",
                needs_reconnect=True,
                status=403,
            )
        return AuthorizationError(
            "Spotify refused access: the account may not be on the Spotify app's allow-list.",
            needs_reconnect=False,
            status=403,
        )
    if status == 404:
        return NotFound("Spotify could not find what was asked for.", status=404)
    return SpotifyError("Spotify rejected the request.", status=status, reason=reason)


def _classify_token_error(status: int, code: str) -> SpotifyError:
    if code == "invalid_grant":
        # Expired (6 months after sign-in), revoked or already-used refresh token, or a stale code.
        return AuthorizationError(
            "Your Spotify sign-in has expired: please reconnect.",
            needs_reconnect=True,
            status=status,
            reason=code,
        )
    if code in ("invalid_client", "unauthorized_client"):
        return AuthorizationError(
            "Spotify refused this app's client id or secret: check the Spotify settings.",
            needs_reconnect=False,
            status=status,
            reason=code,
        )
    return AuthorizationError(
        "Spotify refused the sign-in: please connect again.",
        needs_reconnect=True,
        status=status,
        reason=code,
    )


def _error_body(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None
