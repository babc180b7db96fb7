"""A small client for the handful of Spotify Web API endpoints the app uses (SPEC §2.2)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any
from urllib.parse import quote

import requests

from .errors import AuthorizationError, DataError, classify
from .retry import call_with_retry

log = logging.getLogger(__name__)

TOP_KINDS = ("tracks", "artists")
TIME_RANGES = ("short_term", "medium_term", "long_term")
MAX_PAGE = 50  # Spotify's largest `limit` for top lists and recently played
ITEMS_PER_CALL = 100  # Spotify's largest batch for adding playlist items


@dataclass(frozen=True)
class Profile:
    """The signed-in Spotify user."""

    id: str
    display_name: str | None
    account_id: str | None  # newer responses carry a permanent account id besides `id`


@dataclass(frozen=True)
class TopItem:
    """One entry of a top list; for artists `name` is the artist and the other names are None."""

    rank: int  # Spotify's position, 1-based; kept even when items before it were skipped
    uri: str
    name: str
    artist_name: str | None  # tracks: the first (primary) artist
    album_name: str | None


@dataclass(frozen=True)
class RecentPlay:
    """One play from recently played."""

    played_at: datetime  # naive UTC; in practice Spotify stamps when the play ended
    uri: str
    track_name: str
    artist_name: str  # the first (primary) artist
    album_name: str | None
    duration_ms: int


@dataclass(frozen=True)
class RecentPlays:
    """A page of recently played, newest first, and the cursor for the next poll."""

    plays: list[RecentPlay]
    next_after_ms: int | None  # None when Spotify had nothing new: keep the previous cursor


@dataclass(frozen=True)
class Playlist:
    """A playlist created on Spotify."""

    id: str
    uri: str
    url: str | None


class SpotifyClient:
    """Spotify Web API calls for one user, each through the retry harness."""

    def __init__(
        self,
        api_base: str,
        access_token_provider: Callable[[], str],
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5, 20),
        sleep: Callable[[float], None] = time.sleep,
        retry_after_cap: float = 30,
        on_unauthorized: Callable[[], str] | None = None,
    ):
        """`api_base` is e.g. "https://api.spotify.com" (no /v1); `on_unauthorized` refreshes
        the tokens and returns the new access token."""
        self._api_base = api_base.rstrip("/")
        self._access_token_provider = access_token_provider
        self._session = session or requests.Session()
        self._timeout = timeout
        self._sleep = sleep
        self._retry_after_cap = retry_after_cap
        self._on_unauthorized = on_unauthorized

    def me(self) -> Profile:
        """The signed-in user's profile."""
        body = self._request("GET", "/v1/me")
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise DataError("Spotify's profile answer had no user id.")
        return Profile(
            id=body["id"],
            display_name=_str_or_none(body.get("display_name")),
            account_id=_str_or_none(body.get("account_id")),
        )

    def top(self, kind: str, time_range: str, limit: int = MAX_PAGE) -> list[TopItem]:
        """The user's top tracks or artists for one time range, best first."""
        if kind not in TOP_KINDS:
            raise ValueError(f"kind must be one of {TOP_KINDS}, not {kind!r}")
        if time_range not in TIME_RANGES:
            raise ValueError(f"time_range must be one of {TIME_RANGES}, not {time_range!r}")
        _check_limit(limit)
        body = self._request(
            "GET", f"/v1/me/top/{kind}", params={"time_range": time_range, "limit": limit}
        )
        parse = _top_track if kind == "tracks" else _top_artist
        items = [
            item
            for rank, raw in enumerate(_items(body), start=1)
            if (item := _parse_or_skip(parse, raw, rank, f"top {kind}")) is not None
        ]
        if not items:
            log.info("Spotify returned an empty top %s list for %s", kind, time_range)
        return items

    def recently_played(self, after_ms: int | None = None, limit: int = MAX_PAGE) -> RecentPlays:
        """Plays after the `after_ms` cursor (Unix ms), newest first; at most the last 50."""
        _check_limit(limit)
        params: dict[str, int] = {"limit": limit}
        if after_ms is not None:
            params["after"] = after_ms
        body = self._request("GET", "/v1/me/player/recently-played", params=params)
        plays = [
            play
            for position, raw in enumerate(_items(body), start=1)
            if (play := _parse_or_skip(_recent_play, raw, position, "recently played")) is not None
        ]
        return RecentPlays(plays=plays, next_after_ms=_after_cursor(body))

    def create_playlist(self, name: str, description: str = "", public: bool = False) -> Playlist:
        """Create a playlist in the user's account."""
        body = self._request(
            "POST",
            "/v1/me/playlists",
            json={"name": name, "public": public, "description": description},
        )
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) for key in ("id", "uri")
        ):
            raise DataError("Spotify's new-playlist answer had no playlist id.")
        urls = body.get("external_urls")
        return Playlist(
            id=body["id"],
            uri=body["uri"],
            url=_str_or_none(urls.get("spotify")) if isinstance(urls, dict) else None,
        )

    def add_items(self, playlist_id: str, uris: Sequence[str]) -> None:
        """Append `uris` to a playlist, in order, 100 per call."""
        for chunk in _chunks(uris, ITEMS_PER_CALL):
            self._request("POST", _items_path(playlist_id), json={"uris": chunk})

    def replace_items(self, playlist_id: str, uris: Sequence[str]) -> None:
        """Make `uris` the playlist's whole content: replace with the first 100, append the rest."""
        self._request("PUT", _items_path(playlist_id), json={"uris": list(uris[:ITEMS_PER_CALL])})
        self.add_items(playlist_id, uris[ITEMS_PER_CALL:])

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        url = self._api_base + path
        try:
            return self._with_retry(method, url, self._access_token_provider(), params, json)
        except AuthorizationError as exc:
            if exc.status != 401:
                raise
            if self._on_unauthorized is None:
                raise _reconnect_error() from exc
        token = self._on_unauthorized()  # a 401 is usually an access token that died early
        try:
            return self._with_retry(method, url, token, params, json)
        except AuthorizationError as exc:
            if exc.status == 401:
                raise _reconnect_error() from exc
            raise

    def _with_retry(
        self, method: str, url: str, token: str, params: dict[str, Any] | None, json: Any
    ) -> Any:
        return call_with_retry(
            partial(self._send, method, url, token, params, json),
            sleep=self._sleep,
            retry_after_cap=self._retry_after_cap,
            # A repeated POST could create a second playlist or add the items twice.
            idempotent=method != "POST",
        )

    def _send(
        self, method: str, url: str, token: str, params: dict[str, Any] | None, json: Any
    ) -> Any:
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise classify(exc) from exc
        if not response.ok:
            raise classify(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise classify(response) from None


def _reconnect_error() -> AuthorizationError:
    return AuthorizationError(
        "Spotify no longer accepts this sign-in: please reconnect.",
        needs_reconnect=True,
        status=401,
    )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")


def _items_path(playlist_id: str) -> str:
    return f"/v1/playlists/{quote(playlist_id, safe='')}/items"


def _chunks(uris: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(uris), size):
        yield list(uris[start : start + size])


def _items(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise DataError("Spotify's answer had no list of items.")
    return body["items"]


def _parse_or_skip(parse: Callable[[Any, int], Any], raw: Any, position: int, what: str) -> Any:
    """Parse one item; a malformed one is logged and skipped so the good ones are kept."""
    try:
        return parse(raw, position)
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        log.warning("Skipped malformed %s item at position %d (%s)", what, position, exc)
        return None


def _top_track(raw: Any, rank: int) -> TopItem:
    return TopItem(
        rank=rank,
        uri=_required_str(raw, "uri"),
        name=_required_str(raw, "name"),
        artist_name=_required_str(raw["artists"][0], "name"),
        album_name=_str_or_none((raw.get("album") or {}).get("name")),
    )


def _top_artist(raw: Any, rank: int) -> TopItem:
    return TopItem(
        rank=rank,
        uri=_required_str(raw, "uri"),
        name=_required_str(raw, "name"),
        artist_name=None,
        album_name=None,
    )


def _recent_play(raw: Any, _position: int) -> RecentPlay:
    track = raw["track"]
    duration_ms = track["duration_ms"]
    if not isinstance(duration_ms, int):
        raise TypeError("duration_ms is not an integer")
    return RecentPlay(
        played_at=_utc_naive(_required_str(raw, "played_at")),
        uri=_required_str(track, "uri"),
        track_name=_required_str(track, "name"),
        artist_name=_required_str(track["artists"][0], "name"),
        album_name=_str_or_none((track.get("album") or {}).get("name")),
        duration_ms=duration_ms,
    )


def _after_cursor(body: dict[str, Any]) -> int | None:
    cursors = body.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return int(after) if isinstance(after, str) and after.isascii() and after.isdigit() else None


def _required_str(obj: Any, key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is missing or empty")
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _utc_naive(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
