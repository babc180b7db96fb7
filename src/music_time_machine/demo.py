"""The demo: a user with a generated multi-year history, so a newcomer sees everything working."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.engine import Engine

from . import db, rollups, users
from .clock import utcnow
from .generator import generate_history
from .history import Catalogue, store_plays
from .web.auth import DEMO_USER

DEMO_PLAYS = 60_000
DEMO_YEARS = 4


def ensure_demo_user(
    engine: Engine,
    *,
    plays: int = DEMO_PLAYS,
    end: date | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Create the demo user with a generated history of `plays` plays, unless they exist; returns the id."""
    with db.transaction(engine) as conn:
        existing = users.find_user(conn, DEMO_USER)
        if existing is not None:
            return existing["id"]
        user_id = users.create_user(conn, DEMO_USER, display_name="Demo listener", now=utcnow())
        end = end or date.today().replace(day=1)
        start = end.replace(year=end.year - DEMO_YEARS)
        catalogue = Catalogue()
        batch = []
        # One transaction: the demo user appears with their whole history or not at all.
        for play in generate_history(plays, start=start, end=end, seed=2026):
            batch.append(play)
            if len(batch) == 5_000:
                store_plays(conn, user_id, batch, catalogue=catalogue, refresh=False)
                progress(len(batch))
                batch = []
        store_plays(conn, user_id, batch, catalogue=catalogue, refresh=False)
        rollups.refresh(conn, user_id)  # the summary tables once, for the whole history
        progress(len(batch))
        return user_id
