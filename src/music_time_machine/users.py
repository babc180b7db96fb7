"""Users and their one-time login links (local mode: no passwords, no Spotify needed)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from . import rollups
from .schema import login_tokens, users

NAME_PATTERN = r"^[\w.@+-]{1,100}$"


def create_user(
    conn: Connection, name: str, *, now: datetime, display_name: str | None = None, time_zone: str = "UTC"
) -> int:
    """Create a user and return their id."""
    user_id = conn.execute(
        users.insert().values(name=name, display_name=display_name or name, time_zone=time_zone, created_at=now)
    ).inserted_primary_key[0]
    rollups.start(conn, user_id)
    return user_id


def get_user(conn: Connection, user_id: int) -> RowMapping | None:
    """The user with this id, or None."""
    return conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()


def find_user(conn: Connection, name: str) -> RowMapping | None:
    """The user with this login name, or None."""
    return conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()


def list_users(conn: Connection) -> list[RowMapping]:
    """All users, oldest first."""
    return list(conn.execute(sa.select(users).order_by(users.c.id)).mappings())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_login_token(conn: Connection, user_id: int, *, now: datetime, minutes: int) -> str:
    """A new single-use login token for the user, valid for `minutes`; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        login_tokens.insert().values(
            user_id=user_id, token_hash=_hash(token), created_at=now, expires_at=now + timedelta(minutes=minutes)
        )
    )
    return token


def login_token_user(conn: Connection, token: str, *, now: datetime) -> int | None:
    """The user a still-valid, unused token belongs to (without using it up), or None."""
    return conn.execute(
        sa.select(login_tokens.c.user_id).where(
            login_tokens.c.token_hash == _hash(token),
            login_tokens.c.used_at.is_(None),
            login_tokens.c.expires_at > now,
        )
    ).scalar()


def consume_login_token(conn: Connection, token: str, *, now: datetime) -> int | None:
    """Use up a valid token and return its user id; None if unknown, used or expired."""
    user_id = login_token_user(conn, token, now=now)
    if user_id is None:
        return None
    # The used_at IS NULL condition makes two simultaneous uses of one token log in only once.
    used = conn.execute(
        login_tokens.update()
        .where(login_tokens.c.token_hash == _hash(token), login_tokens.c.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    return user_id if used == 1 else None


def update_preferences(conn: Connection, user_id: int, *, time_zone: str, listen_threshold_ms: int) -> None:
    """Change the user's time zone and listen threshold; the analytics' rollups follow.

    Raises ValueError for an unknown time zone or a threshold outside 0..600,000 ms.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone: {time_zone!r}") from None
    if not 0 <= int(listen_threshold_ms) <= 600_000:
        raise ValueError("the listen threshold must be between 0 and 600,000 ms")
    conn.execute(
        users.update().where(users.c.id == user_id).values(time_zone=time_zone, listen_threshold_ms=int(listen_threshold_ms))
    )
    rollups.rebuild(conn, user_id)
