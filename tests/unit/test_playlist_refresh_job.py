"""The worker's monthly refresh of the playlists a user asked to refresh (stub Spotify, both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from factories import add_plays, make_user, play
from spotify_stub import StubSpotify
from music_time_machine import db, rollups
from music_time_machine.history import store_plays
from music_time_machine.playlists import refresh_playlist
from music_time_machine.schema import job_runs, playlists, spotify_tokens
from music_time_machine.spotify import NotFound
from music_time_machine.worker import Worker

MAY = datetime(2026, 5, 1, 0, 5)


class PlaylistStub(StubSpotify):
    """The stub with the playlist call the refresh makes; `missing` playlists answer 404."""

    def __init__(self, missing=()):
        super().__init__()
        self.replaced: dict[str, list[str]] = {}
        self.missing = set(missing)

    def replace_items(self, playlist_id, uris):
        self._call("replace", playlist_id)
        if playlist_id in self.missing:
            raise NotFound("Spotify could not find what was asked for.", status=404)
        self.replaced[playlist_id] = list(uris)


def test_auto_refresh_playlists_are_refreshed_once_a_month_and_a_deleted_one_is_turned_off(any_engine):
    with db.transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        conn.execute(spotify_tokens.insert().values(user_id=alice, access_token="x", refresh_token="x", expires_at=MAY,
                                                    signed_in_at=MAY, updated_at=MAY))  # fmt: skip
        add_plays(conn, alice, play("A", "Now", "2026-04-30T10:00:00"))
        made = {"user_id": alice, "source": "current_rotation", "rules": {"size": 10}, "spotify_url": "u",
                "created_at": datetime(2026, 4, 10)}  # fmt: skip
        conn.execute(playlists.insert(), [
            {**made, "name": "Monthly", "spotify_id": "monthly", "auto_refresh": True},
            {**made, "name": "Once", "spotify_id": "once", "auto_refresh": False},
            {**made, "name": "Deleted", "spotify_id": "gone", "auto_refresh": True},
            {**made, "name": "Fresh", "spotify_id": "fresh", "auto_refresh": True, "created_at": MAY},
        ])  # fmt: skip
    stub = PlaylistStub(missing={"gone"})
    runs = Worker(any_engine, lambda user_id: stub).run_once(MAY)
    refresh = [run for run in runs if run.job == "playlist_refresh"]
    assert [(run.status, run.message) for run in refresh] == [
        ("ok", "Refreshed 1 playlist. Playlist 3 is gone from Spotify: monthly refresh turned off.")
    ]
    # The snapshot ran first in the same tick, so the current rotation is its short-term top 10.
    assert stub.replaced == {"monthly": [f"spotify:track:s{rank:021d}" for rank in range(1, 11)]}
    with any_engine.connect() as conn:
        rows = conn.execute(sa.select(playlists.c.name, playlists.c.track_count, playlists.c.auto_refresh)).all()
    assert {name: (count, auto) for name, count, auto in rows} == {
        "Monthly": (10, True), "Once": (0, False), "Deleted": (0, False), "Fresh": (0, True)}
    later = Worker(any_engine, lambda user_id: stub).run_once(MAY + timedelta(hours=1))
    assert [run.job for run in later if run.job == "playlist_refresh"] == []  # done for May
    with any_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(job_runs.c.job == "playlist_refresh")).scalar() == 1


def test_a_refresh_sees_the_plays_whose_summaries_a_dead_import_left_stale(any_engine):
    """The worker has no page request to bring stale summaries up to date (web/__init__.py):
    generating a list does it, as the pages do, when no import is running."""
    with db.transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        # Stored as an import's file is, summaries left for the import's end, which never came.
        store_plays(conn, alice, [play("A", "Now", "2026-04-30T10:00:00")], refresh=False)
        playlist_id = conn.execute(playlists.insert().values(
            user_id=alice, source="current_rotation", rules={"size": 10}, name="Monthly", spotify_id="monthly",
            spotify_url="u", auto_refresh=True, created_at=datetime(2026, 4, 10),
        )).inserted_primary_key[0]  # fmt: skip
    stub = PlaylistStub()
    refresh_playlist(any_engine, alice, playlist_id, stub, today=MAY.date(), now=MAY)
    assert stub.replaced == {"monthly": [play("A", "Now").spotify_uri]}
    with any_engine.connect() as conn:
        assert not rollups.is_stale(conn, alice)
