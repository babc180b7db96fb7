"""A stand-in for SpotifyClient's read calls that the jobs make (top, recently_played), for job and
worker tests (no HTTP); tests that write playlists add what they need."""

from __future__ import annotations

from music_time_machine.spotify import RecentPlays, TopItem


class StubSpotify:
    """Answers `top` and `recently_played` like SpotifyClient; `fail_on_call` makes that call
    (1-based) raise `error`."""

    def __init__(self, *, fail_on_call: int | None = None, error: Exception | None = None, recent=()):
        self.calls: list[tuple] = []
        self.fail_on_call, self.error, self.recent = fail_on_call, error, list(recent)

    def _call(self, *what):
        self.calls.append(what)
        if len(self.calls) == self.fail_on_call:
            raise self.error

    def top(self, kind, time_range, limit=50):
        self._call("top", kind, time_range)
        if kind == "artists":
            return [TopItem(rank, f"spotify:artist:a{rank:021d}", f"Artist {rank}", None, None) for rank in range(1, 51)]
        return [TopItem(rank, f"spotify:track:{time_range[0]}{rank:021d}", f"Song {rank}", f"Artist {rank % 7}", "LP")
                for rank in range(1, 51)]  # fmt: skip

    def recently_played(self, after_ms=None, limit=50):
        self._call("recent", after_ms)
        fresh = [p for p in self.recent if after_ms is None or p.played_at.timestamp() * 1000 > after_ms]
        return RecentPlays(plays=fresh, next_after_ms=None)


def connect_to_fake(app, user_id: int, fake, expires_at=None) -> None:
    """Give the user tokens issued by the fake Spotify, stored as a real sign-in would."""
    from music_time_machine import db
    from music_time_machine.clock import utcnow
    from music_time_machine.spotify import SCOPES, TokenSet
    from music_time_machine.spotify.service import SpotifyApp
    from music_time_machine.spotify.tokens import store_tokens

    issued = fake.issue_tokens(" ".join(SCOPES), signed_in_at=fake.now())
    expires_at = expires_at or utcnow().replace(year=2100)
    tokens = TokenSet(issued["access_token"], issued["refresh_token"], expires_at, issued["scope"])
    with db.transaction(app.extensions["mtm_engine"]) as conn:
        store_tokens(conn, SpotifyApp.from_config(app.config).fernet, user_id, tokens, signed_in_at=utcnow(), now=utcnow())
