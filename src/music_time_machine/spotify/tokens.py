"""A user's Spotify tokens at rest: encrypted in `spotify_tokens`, refreshed by the token guard.

The tokens never leave the server: not in the session, not in a page, not in a log line. They
are Fernet-encrypted with `MTM_TOKEN_KEY`, or with a key derived from `SECRET_KEY` when that is
not set (so changing SECRET_KEY makes stored tokens unreadable: users reconnect).
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Connection, Engine

from .. import db
from ..leases import acquire_lease, release_lease
from ..schema import spotify_tokens, users
from . import oauth
from .errors import AuthorizationError, TransientError
from .oauth import RECONNECT_WARNING_DAYS, TokenSet

log = logging.getLogger(__name__)

REFRESH_LEASE = timedelta(seconds=60)  # longer than a refresh call's timeouts (5 s + 20 s)
REFRESH_WAIT_SECONDS = 0.25
REFRESH_WAITS = 120  # 30 s for another process's refresh, then a transient error


def make_fernet(token_key: str, secret_key: str) -> Fernet:
    """The cipher for tokens at rest: `token_key` (a Fernet key) or one derived from `secret_key`."""
    if token_key:
        return Fernet(token_key.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"music-time-machine", info=b"spotify-tokens"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


@dataclass(frozen=True)
class StoredTokens:
    """A user's decrypted tokens and when they signed in (their refresh token dies 180 days later)."""

    tokens: TokenSet
    signed_in_at: datetime


def store_tokens(
    conn: Connection, fernet: Fernet, user_id: int, tokens: TokenSet, *, signed_in_at: datetime, now: datetime
) -> None:
    """Save (insert or replace) the user's tokens, encrypted."""
    values = {
        "access_token": fernet.encrypt(tokens.access_token.encode()).decode(),
        "refresh_token": fernet.encrypt(tokens.refresh_token.encode()).decode(),
        "expires_at": tokens.expires_at,
        "scope": tokens.scope,
        "signed_in_at": signed_in_at,
        "updated_at": now,
    }
    updated = conn.execute(
        spotify_tokens.update().where(spotify_tokens.c.user_id == user_id).values(**values)
    ).rowcount
    if not updated:
        conn.execute(spotify_tokens.insert().values(user_id=user_id, **values))


def load_tokens(conn: Connection, fernet: Fernet, user_id: int) -> StoredTokens | None:
    """The user's tokens, or None when they have none (or they cannot be decrypted any more)."""
    row = conn.execute(sa.select(spotify_tokens).where(spotify_tokens.c.user_id == user_id)).mappings().first()
    if row is None:
        return None
    try:
        access = fernet.decrypt(row["access_token"].encode()).decode()
        refresh = fernet.decrypt(row["refresh_token"].encode()).decode()
    except InvalidToken:
        log.warning("Stored Spotify tokens of user %s cannot be decrypted (key changed?)", user_id)
        return None
    return StoredTokens(TokenSet(access, refresh, row["expires_at"], row["scope"] or ""), row["signed_in_at"])


def delete_tokens(conn: Connection, user_id: int) -> None:
    """Forget the user's tokens (their history stays)."""
    conn.execute(spotify_tokens.delete().where(spotify_tokens.c.user_id == user_id))


def mark_needs_reconnect(conn: Connection, user_id: int) -> None:
    """Spotify refused this user's sign-in for good: the UI asks them to connect again."""
    conn.execute(users.update().where(users.c.id == user_id).values(needs_reconnect=True))


def not_connected() -> AuthorizationError:
    """The error for a user without stored tokens."""
    return AuthorizationError("This account is not connected to Spotify.", needs_reconnect=False)


class TokenGuard:
    """Hands the API client a live access token, refreshing it (and storing the rotation) in time."""

    def __init__(
        self,
        engine: Engine,
        fernet: Fernet,
        user_id: int,
        refresh: Callable[[str, datetime], TokenSet],
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
    ):
        """`refresh(refresh_token, now)` asks Spotify for new tokens (`oauth.refresh`, bound)."""
        self._engine = engine
        self._fernet = fernet
        self._user_id = user_id
        self._refresh = refresh
        self._clock = clock
        self._sleep = sleep

    def access_token(self) -> str:
        """A token valid for more than 300 s, refreshed first when needed."""
        with self._engine.connect() as conn:
            stored = load_tokens(conn, self._fernet, self._user_id)
        if stored is None:
            raise not_connected()
        if not oauth.needs_refresh(stored.tokens.expires_at, self._clock()):
            return stored.tokens.access_token
        return self.refresh(stale=stored.tokens.access_token)

    def refresh(self, stale: str | None = None) -> str:
        """Refresh now (also the client's answer to a 401) and store the new tokens.

        With PKCE a refresh token works once, so two processes refreshing at once would make the
        loser look signed out: they take turns under a lease. The call to Spotify happens outside
        any transaction (on SQLite a transaction held through it would stop every other writer).
        """
        lease, owner = f"token-refresh:{self._user_id}", secrets.token_hex(8)
        waits = 0
        while not acquire_lease(self._engine, lease, owner, self._clock(), REFRESH_LEASE):
            if waits == REFRESH_WAITS:
                raise TransientError("Another refresh of this Spotify sign-in is still running; try again shortly.")
            waits += 1
            self._sleep(REFRESH_WAIT_SECONDS)
        try:
            with self._engine.connect() as conn:
                stored = load_tokens(conn, self._fernet, self._user_id)
            if stored is None:
                raise not_connected()
            now = self._clock()
            if stale is not None and stored.tokens.access_token != stale and not oauth.needs_refresh(
                stored.tokens.expires_at, now
            ):
                return stored.tokens.access_token  # someone else refreshed meanwhile
            fresh = self._refresh(stored.tokens.refresh_token, now)
            with db.transaction(self._engine) as conn:
                store_tokens(conn, self._fernet, self._user_id, fresh, signed_in_at=stored.signed_in_at, now=now)
            log.info("Refreshed the Spotify access token of user %s", self._user_id)
            return fresh.access_token
        except AuthorizationError as exc:
            if exc.needs_reconnect:
                log.warning("Spotify refused the refresh for user %s: needs reconnect", self._user_id)
                with db.transaction(self._engine) as conn:
                    mark_needs_reconnect(conn, self._user_id)
            raise
        finally:
            release_lease(self._engine, lease, owner)


def bound_refresh(
    session: requests.Session, accounts_url: str, client_id: str, client_secret: str | None
) -> Callable[[str, datetime], TokenSet]:
    """`oauth.refresh` with the app's credentials filled in."""

    def refresh(refresh_token: str, now: datetime) -> TokenSet:
        return oauth.refresh(session, accounts_url, client_id, client_secret, refresh_token, now)

    return refresh


@dataclass(frozen=True)
class ConnectionStatus:
    """What the settings and home pages say about a user's Spotify connection."""

    connected: bool
    spotify_id: str | None
    display_name: str | None
    days_left: int | None  # of the refresh token's 180-day life
    needs_reconnect: bool
    blocked_until: datetime | None
    blocked_reason: str | None  # QUOTA_EXCEEDED or RATE_LIMITED

    @property
    def reconnect_soon(self) -> bool:
        """In the last 14 days of the sign-in's life: time to say 'reconnect within N days'."""
        return self.connected and self.days_left is not None and self.days_left <= RECONNECT_WARNING_DAYS


def connection_status(conn: Connection, user_id: int, now: datetime) -> ConnectionStatus:
    """The user's Spotify connection as the UI shows it (no token in it)."""
    row = conn.execute(
        sa.select(
            users.c.spotify_id,
            users.c.display_name,
            users.c.needs_reconnect,
            users.c.blocked_until,
            users.c.blocked_reason,
            spotify_tokens.c.signed_in_at,
        )
        .select_from(users.outerjoin(spotify_tokens))
        .where(users.c.id == user_id)
    ).one()
    connected = row.signed_in_at is not None
    blocked = row.blocked_until is not None and row.blocked_until > now
    return ConnectionStatus(
        connected=connected,
        spotify_id=row.spotify_id,
        display_name=row.display_name,
        days_left=oauth.refresh_token_days_left(row.signed_in_at, now) if connected else None,
        needs_reconnect=bool(row.needs_reconnect),
        blocked_until=row.blocked_until if blocked else None,
        blocked_reason=row.blocked_reason if blocked else None,
    )


def block_user(conn: Connection, user_id: int, until: datetime, reason: str) -> None:
    """Record Spotify's "wait until" for the user; the worker and the UI respect it."""
    conn.execute(users.update().where(users.c.id == user_id).values(blocked_until=until, blocked_reason=reason))

