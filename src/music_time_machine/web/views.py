"""What the web views share: reading a request's parameters, naming downloads."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from urllib.parse import quote

from flask import g

from .. import analytics, db
from ..clock import utcnow
from ..rollups import local_date
from .auth import current_user


def local_today(user) -> date:
    """Today's date in the user's time zone (the clock is frozen in tests)."""
    return local_date(user["time_zone"], utcnow())


def parse_choice(value: str | None, choices: tuple[str, ...], default: str, *, strict: bool, name: str) -> str:
    """`value` if it is one of `choices`; the default when missing (or, unless strict, unknown)."""
    if value is None or value == "":
        return default
    if value in choices:
        return value
    if strict:
        raise ValueError(f"{name} must be one of {', '.join(choices)}")
    return default


def parse_by(value: str | None, *, strict: bool) -> str:
    """listens | minutes."""
    return parse_choice(value, analytics.MEASURES, "listens", strict=strict, name="by")


def q(fn, *args):
    """`fn(conn, current user, *args)` through the analytics cache (see `analytics.cached`)."""
    return analytics.cached(db.get_conn(), current_user()["id"], fn, *args, state=cache_state())


def cache_state() -> analytics.CacheState:
    """The logged-in user's analytics.CacheState, read once per request (one read transaction)."""
    if "cache_state" not in g:
        g.cache_state = analytics.cache_state(db.get_conn(), current_user()["id"])
    return g.cache_state


def import_running() -> bool:
    """Whether an import into the logged-in user runs (the pages then say their figures may be older)."""
    return current_user() is not None and cache_state().importing


def attachment(filename: str) -> str:
    """Content-Disposition for a download: an ASCII `filename` and the exact name as RFC 5987 `filename*`."""
    stem, ext = filename.rsplit(".", 1)
    stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "-", stem).strip() or "download"
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = re.sub(r"[^A-Za-z0-9. ()-]+", "_", ascii_stem).strip(" _.") or "download"
    return f"attachment; filename=\"{ascii_stem}.{ext}\"; filename*=UTF-8''{quote(f'{stem}.{ext}', safe='')}"
