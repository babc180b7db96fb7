"""Spotify sign-in: Authorization Code with PKCE, token exchange and refresh (SPEC §2.2, §3.1).

All times are naive UTC datetimes passed in by the caller; nothing here reads the clock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from .errors import DataError, classify

SCOPES = ("user-top-read", "user-read-recently-played", "playlist-modify-private")

# The token guard refreshes when this much or less of the access token's life is left.
REFRESH_MARGIN = timedelta(seconds=300)

# Spotify ends a refresh token 6 months after sign-in, and refreshing does not extend it.
# Six calendar months are 181 to 184 days; counting 180 means the countdown never promises
# a day that Spotify does not give.
REFRESH_TOKEN_LIFETIME = timedelta(days=180)
RECONNECT_WARNING_DAYS = 14

DEFAULT_TIMEOUT = (5, 20)  # (connect, read) seconds


@dataclass(frozen=True)
class TokenSet:
    """One user's tokens; they are left out of `repr` so that logs never hold them."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime  # naive UTC
    scope: str


def make_pkce_pair() -> tuple[str, str]:
    """Return a fresh (code_verifier, S256 code_challenge) pair."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_state() -> str:
    """Return an unguessable `state` value for one sign-in attempt."""
    return secrets.token_urlsafe(32)


def authorize_url(
    accounts_base: str,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...] | list[str],
    state: str,
    code_challenge: str,
) -> str:
    """The Spotify consent page URL to send the browser to."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge,
        }
    )
    return f"{accounts_base.rstrip('/')}/authorize?{query}"


def exchange_code(
    session: requests.Session,
    accounts_base: str,
    client_id: str,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    verifier: str,
    now: datetime,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> TokenSet:
    """Trade the callback's `code` (and the PKCE verifier) for the user's first tokens."""
    body = _post_token(
        session,
        accounts_base,
        client_id,
        client_secret,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout,
    )
    if not isinstance(body.get("refresh_token"), str):
        raise DataError("Spotify's sign-in answer had no refresh token.")
    return _token_set(body, body["refresh_token"], now)


def refresh(
    session: requests.Session,
    accounts_base: str,
    client_id: str,
    client_secret: str | None,
    refresh_token: str,
    now: datetime,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> TokenSet:
    """Get a new access token; the refresh token is replaced when Spotify sends a new one."""
    body = _post_token(
        session,
        accounts_base,
        client_id,
        client_secret,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout,
    )
    new_refresh = body.get("refresh_token")
    return _token_set(body, new_refresh if isinstance(new_refresh, str) else refresh_token, now)


def needs_refresh(expires_at: datetime, now: datetime) -> bool:
    """True when the access token expires within 300 seconds (exactly 300 left: True)."""
    return expires_at - now <= REFRESH_MARGIN


def refresh_token_days_left(signed_in_at: datetime, now: datetime) -> int:
    """Whole days until the refresh token from the sign-in at `signed_in_at` dies (never < 0)."""
    return max(0, (signed_in_at + REFRESH_TOKEN_LIFETIME - now).days)


def _post_token(
    session: requests.Session,
    accounts_base: str,
    client_id: str,
    client_secret: str | None,
    form: dict[str, str],
    timeout: tuple[float, float],
) -> dict[str, Any]:
    # Not retried: the code and (with PKCE) each refresh token are single-use, so repeating a
    # request that Spotify may already have honoured would burn the user's sign-in.
    auth = (client_id, client_secret) if client_secret else None
    if auth is None:
        form = {**form, "client_id": client_id}
    try:
        response = session.post(
            f"{accounts_base.rstrip('/')}/api/token", data=form, auth=auth, timeout=timeout
        )
    except requests.RequestException as exc:
        raise classify(exc) from exc
    if not response.ok:
        raise classify(response)
    try:
        body = response.json()
    except ValueError:
        raise classify(response) from None  # the decoder's error may quote the token-bearing body
    if not isinstance(body, dict):
        raise DataError("Spotify's sign-in answer was not understood.", status=response.status_code)
    return body


def _token_set(body: dict[str, Any], refresh_token: str, now: datetime) -> TokenSet:
    access_token = body.get("access_token")
    expires_in = body.get("expires_in")
    if not isinstance(access_token, str) or not isinstance(expires_in, int):
        raise DataError("Spotify's sign-in answer was not understood.")
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=now + timedelta(seconds=expires_in),
        scope=str(body.get("scope", "")),
    )
