"""The current time, in one place, so tests can freeze it (freezegun) and code can take it as an argument."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the form every DateTime column stores)."""
    return datetime.now(UTC).replace(tzinfo=None)
