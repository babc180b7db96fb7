"""A fake Spotify (accounts service and Web API on one port) for tests, the demo and offline work.

It signs a user in with PKCE, rotates refresh tokens, serves deterministic top lists and
recently played, keeps created playlists in memory, and fails on demand:

    fake = app.config["FAKE"]
    fake.fail_next(status=429, retry_after=86400, path_prefix="/v1/me/top")

or over HTTP (`POST /_fake/fail` with the same fields as JSON) from a browser test or a demo.
Run it alone with `python -m music_time_machine.spotify.fake --port 8765`.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import random
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

import waitress
from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import make_server

from .oauth import REFRESH_TOKEN_LIFETIME, SCOPES

CODE_LIFETIME = 600  # seconds an authorization code stays valid
HISTORY_WINDOW = 50  # recently played only ever reaches back this many plays
_ITEM_URI = re.compile(r"spotify:(track|episode):[0-9A-Za-z]{22}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ERROR_MESSAGES = {
    401: "The access token expired",
    403: "User not registered in the Developer Dashboard",
    404: "Not found.",
    429: "API rate limit exceeded",
    500: "Server error.",
    502: "Bad gateway.",
    503: "Service unavailable",
}

# A small catalogue with names in several scripts, so storage and pages meet real-world text.
_NAMED_ARTISTS = [
    ("Björk", "Homogenic"),
    ("Sigur Rós", "Ágætis byrjun"),
    ("坂本龍一", "音楽図鑑"),
    ("竹内まりや", "Variety"),
    ("Кино", "Группа крови"),
    ("فيروز", "وحدن"),
    ("방탄소년단", "화양연화"),
    ("Αλκίνοος Ιωαννίδης", "Όσα περιμένω"),
    ("ए. आर. रहमान", "रोजा"),
    ("Os Mutantes", "Tudo Foi Feito Pelo Sol"),
    ("Ólafur Arnalds", "Found Songs"),
    ("Mercedes Sosa", "Cantora"),
    ("Amadou & Mariam", "Dimanche à Bamako"),
    ("Tinariwen", "Amassakoul"),
    ("Nina Simone", "Pastel Blues"),
    ("Caetano Veloso", "Transa"),
    ("Rosalía", "El Mal Querer"),
    ("Daft Punk", "Discovery"),
    ("Khruangbin", "Con Todo El Mundo"),
    ("Ennio Morricone", "C'era una volta il West"),
]
_BAND_WORDS = (
    ["Velvet", "Neon", "Quiet", "Electric", "Paper", "Golden", "Midnight", "Silver"],
    ["Harbour", "Foxes", "Orchard", "Signal", "Lanterns", "Comets"],
)
_TITLE_WORDS = [
    "Sunrise", "Ночь", "夜明け", "사랑", "Saudade", "حلم", "Ψυχή", "Lumière", "Río", "Échos",
    "Ghost", "Letters", "Summer", "Tide", "Zeit", "Fuego", "月", "Dust", "Home", "Blue",
]


@dataclass
class Failure:
    """One injected failure: the next `count` requests under `path_prefix` get it."""

    status: int | None = None  # None: answer normally (after `delay`)
    count: int = 1
    path_prefix: str = "/"
    retry_after: int | None = None
    quota_exceeded: bool = False
    delay: float = 0.0  # seconds to stall before answering, to provoke client timeouts
    message: str | None = None


class FakeSpotify:
    """The fake's state: catalogue, issued tokens, plays, playlists and pending failures."""

    def __init__(
        self,
        *,
        seed: int = 0,
        access_token_lifetime: int = 3600,
        refresh_token_lifetime: int = int(REFRESH_TOKEN_LIFETIME.total_seconds()),
        user_id: str = "fake-listener",
        display_name: str = "Fake Listener",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.seed = seed
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.user_id = user_id
        self.display_name = display_name
        self.deny_consent = False
        self._clock = clock
        self.sleep = sleep
        self._offset = 0.0
        self.lock = threading.RLock()
        self.failures: list[Failure] = []
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}  # token -> signed_in_at, scope, used
        self.playlists: dict[str, dict[str, Any]] = {}
        # "METHOD /path" of the latest requests, /_fake ones left out
        self.requests: deque[str] = deque(maxlen=500)
        self.tracks, self.artists = _catalogue(seed)
        self.plays: list[tuple[int, int]] = []  # (played_at ms, track index), oldest first
        self.listen(HISTORY_WINDOW + 10)

    def now(self) -> float:
        """The fake's clock in Unix seconds (the real clock plus any `advance`)."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward, to expire tokens without waiting."""
        self._offset += seconds

    def fail_next(self, status: int | None = None, **options: Any) -> Failure:
        """Inject a failure (see `Failure` for the options) for the next matching requests."""
        failure = Failure(status=status, **options)
        with self.lock:
            self.failures.append(failure)
        return failure

    def listen(self, count: int = 1) -> None:
        """Add `count` plays of catalogue tracks, the last one ending now."""
        rng = random.Random(f"{self.seed}:plays:{len(self.plays)}")
        now_ms = int(self.now() * 1000)
        with self.lock:
            for back in range(count - 1, -1, -1):
                previous = self.plays[-1][0] if self.plays else 0
                played_at = max(now_ms - back * 240_000, previous + 1000)
                self.plays.append((played_at, rng.randrange(len(self.tracks))))

    def state(self) -> dict[str, Any]:
        """What a test may want to check, as JSON-ready data."""
        with self.lock:
            return {
                "playlists": self.playlists,
                "pending_failures": [asdict(failure) for failure in self.failures],
                "live_access_tokens": sum(
                    1 for token in self.access_tokens.values() if token["expires"] > self.now()
                ),
                "live_refresh_tokens": sum(
                    1 for token in self.refresh_tokens.values() if not token["used"]
                ),
                "requests": list(self.requests),
            }

    def take_failure(self, path: str) -> Failure | None:
        """The pending failure for a request to `path`, used up by one."""
        with self.lock:
            for failure in self.failures:
                if path.startswith(failure.path_prefix):
                    failure.count -= 1
                    if failure.count <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def issue_tokens(self, scope: str, signed_in_at: float) -> dict[str, Any]:
        """A token answer with a fresh access token and a fresh refresh token."""
        access = "fake-access-" + secrets.token_urlsafe(24)
        refresh = "fake-refresh-" + secrets.token_urlsafe(24)
        self.access_tokens[access] = {
            "expires": self.now() + self.access_token_lifetime,
            "scope": scope,
        }
        self.refresh_tokens[refresh] = {"signed_in_at": signed_in_at, "scope": scope, "used": False}
        return {
            "access_token": access,
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.access_token_lifetime,
            "refresh_token": refresh,
        }


def create_fake_spotify(**options: Any) -> Flask:
    """A Flask app imitating Spotify's accounts service and Web API; state in `config["FAKE"]`."""
    fake = FakeSpotify(**options)
    app = Flask(__name__)
    app.config["FAKE"] = fake

    @app.before_request
    def inject_failure() -> Response | None:
        if request.path.startswith("/_fake/"):
            return None
        with fake.lock:
            fake.requests.append(f"{request.method} {request.path}")
        failure = fake.take_failure(request.path)
        if failure is None:
            return None
        if failure.delay:
            fake.sleep(failure.delay)
        if failure.status is None:
            return None
        response = _api_error(
            failure.status,
            failure.message or _ERROR_MESSAGES.get(failure.status, "Error."),
            reason="QUOTA_EXCEEDED" if failure.quota_exceeded else None,
        )
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response

    @app.get("/authorize")
    def authorize() -> Any:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if not args.get("client_id") or args.get("response_type") != "code" or not redirect_uri:
            return "INVALID_CLIENT: missing client_id, response_type or redirect_uri", 400
        if urlsplit(redirect_uri).hostname == "localhost":
            return "INVALID_CLIENT: Insecure redirect URI (use 127.0.0.1, not localhost)", 400
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return "code_challenge with code_challenge_method=S256 is required", 400
        answer: dict[str, str] = {}
        if fake.deny_consent:
            answer["error"] = "access_denied"
        else:
            code = "fake-code-" + secrets.token_urlsafe(16)
            with fake.lock:
                fake.codes[code] = {
                    "client_id": args["client_id"],
                    "redirect_uri": redirect_uri,
                    "challenge": args["code_challenge"],
                    "scope": args.get("scope", " ".join(SCOPES)),
                    "expires": fake.now() + CODE_LIFETIME,
                }
            answer["code"] = code
        if "state" in args:
            answer["state"] = args["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{separator}{urlencode(answer)}")

    @app.post("/api/token")
    def token() -> Any:
        form = request.form
        basic = request.authorization
        client_id = form.get("client_id") or (basic.username if basic else None)
        if not client_id:
            return _token_error("invalid_client", "Invalid client", 400)
        with fake.lock:
            if form.get("grant_type") == "authorization_code":
                return _grant_code(fake, form, client_id)
            if form.get("grant_type") == "refresh_token":
                return _grant_refresh(fake, form.get("refresh_token", ""))
        return _token_error("unsupported_grant_type", "grant_type must be authorization_code "
                            "or refresh_token", 400)

    @app.get("/v1/me")
    def me() -> Any:
        if (denied := _check_token(fake, scope=None)) is not None:
            return denied
        return jsonify(
            {
                "id": fake.user_id,
                "account_id": f"acc-{fake.user_id}",
                "display_name": fake.display_name,
                "type": "user",
                "uri": f"spotify:user:{fake.user_id}",
                "href": f"{request.host_url}v1/users/{fake.user_id}",
                "external_urls": {"spotify": f"https://open.spotify.com/user/{fake.user_id}"},
                "images": [],
            }
        )

    @app.get("/v1/me/top/<kind>")
    def top(kind: str) -> Any:
        if kind not in ("tracks", "artists"):
            return _api_error(404, "Service not found")
        if (denied := _check_token(fake, scope="user-top-read")) is not None:
            return denied
        time_range = request.args.get("time_range", "medium_term")
        if time_range not in ("short_term", "medium_term", "long_term"):
            return _api_error(400, "Invalid time range")
        limit, offset = _int_arg("limit", 20), _int_arg("offset", 0)
        if limit is None or offset is None or not 1 <= limit <= 50 or offset < 0:
            return _api_error(400, "Invalid limit or offset")
        pool = fake.tracks if kind == "tracks" else fake.artists
        ranking = random.Random(f"{fake.seed}:{kind}:{time_range}").sample(pool, len(pool))
        return jsonify(
            {
                "items": ranking[offset : offset + limit],
                "total": len(ranking),
                "limit": limit,
                "offset": offset,
                "href": request.url,
                "next": None,
                "previous": None,
            }
        )

    @app.get("/v1/me/player/recently-played")
    def recently_played() -> Any:
        if (denied := _check_token(fake, scope="user-read-recently-played")) is not None:
            return denied
        limit, after = _int_arg("limit", 20), _int_arg("after", 0)
        if limit is None or after is None or not 1 <= limit <= 50:
            return _api_error(400, "Invalid limit or cursor")
        with fake.lock:
            window = fake.plays[-HISTORY_WINDOW:]
        newest_first = [play for play in reversed(window) if play[0] > after][:limit]
        items = [
            {"track": fake.tracks[index], "played_at": _iso_ms(played_at), "context": None}
            for played_at, index in newest_first
        ]
        cursors = (
            {"after": str(newest_first[0][0]), "before": str(newest_first[-1][0])}
            if newest_first
            else None
        )
        return jsonify(
            {"items": items, "cursors": cursors, "limit": limit, "href": request.url, "next": None}
        )

    @app.post("/v1/me/playlists")
    def create_playlist() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return _api_error(400, "Missing required field: name")
        public = bool(body.get("public", True))
        needed = "playlist-modify-public" if public else "playlist-modify-private"
        if (denied := _check_token(fake, scope=needed)) is not None:
            return denied
        with fake.lock:
            playlist_id = _spotify_id(f"playlist:{fake.seed}:{len(fake.playlists)}")
            fake.playlists[playlist_id] = {
                "name": body["name"],
                "description": str(body.get("description", "")),
                "public": public,
                "items": [],
            }
        return jsonify(_playlist_json(fake, playlist_id)), 201

    @app.route("/v1/playlists/<playlist_id>/items", methods=["POST", "PUT"])
    def playlist_items(playlist_id: str) -> Any:
        if (denied := _check_token(fake, scope="playlist-modify-private")) is not None:
            return denied
        body = request.get_json(silent=True)
        uris = body.get("uris") if isinstance(body, dict) else None
        if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
            return _api_error(400, "Missing or malformed uris")
        if len(uris) > 100:
            return _api_error(400, "You can add a maximum of 100 tracks per request.")
        if request.method == "POST" and not uris:
            return _api_error(400, "No uris provided")
        if bad := [uri for uri in uris if not _ITEM_URI.fullmatch(uri)]:
            return _api_error(400, f"Invalid track uri: {bad[0]}")
        with fake.lock:
            playlist = fake.playlists.get(playlist_id)
            if playlist is None:
                return _api_error(404, "Not found.")
            if request.method == "PUT":
                playlist["items"] = list(uris)
            else:
                playlist["items"].extend(uris)
            snapshot = _spotify_id(f"{playlist_id}:{len(playlist['items'])}:{uris}")
        return jsonify({"snapshot_id": snapshot}), 201 if request.method == "POST" else 200

    @app.get("/_fake/state")
    def fake_state() -> Any:
        return jsonify(fake.state())

    @app.post("/_fake/fail")
    def fake_fail() -> Any:
        options = request.get_json(silent=True)
        if not isinstance(options, dict):
            return jsonify({"error": "send the failure as a JSON object"}), 400
        try:
            failure = fake.fail_next(**options)
        except TypeError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(asdict(failure)), 201

    return app


def serve_fake_spotify(port: int = 0, app: Flask | None = None) -> tuple[str, Callable[[], None]]:
    """Serve the fake (a new one unless `app` is given) on 127.0.0.1 in a thread.

    Returns the base URL (for both the accounts and the API base settings) and a `stop()`.
    A fake needs no production server: werkzeug's threaded one stops cleanly and at once.
    """
    server = make_server("127.0.0.1", port, app or create_fake_spotify(), threaded=True)
    # A short poll interval lets shutdown() return at once (its default waits up to 0.5 s).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="fake-spotify", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{server.server_port}", stop


def _grant_code(fake: FakeSpotify, form: Any, client_id: str) -> Any:
    grant = fake.codes.pop(form.get("code", ""), None)  # single use, whatever the outcome
    if grant is None or grant["expires"] < fake.now() or grant["client_id"] != client_id:
        return _token_error("invalid_grant", "Invalid authorization code", 400)
    if grant["redirect_uri"] != form.get("redirect_uri"):
        return _token_error("invalid_grant", "Invalid redirect URI", 400)
    if _challenge(form.get("code_verifier", "")) != grant["challenge"]:
        return _token_error("invalid_grant", "code_verifier was incorrect", 400)
    return jsonify(fake.issue_tokens(grant["scope"], signed_in_at=fake.now()))


def _grant_refresh(fake: FakeSpotify, refresh_token: str) -> Any:
    grant = fake.refresh_tokens.get(refresh_token)
    if grant is None or grant["used"]:
        return _token_error("invalid_grant", "Invalid refresh token", 400)
    if fake.now() >= grant["signed_in_at"] + fake.refresh_token_lifetime:
        return _token_error("invalid_grant", "Refresh token expired", 400)
    answer = fake.issue_tokens(grant["scope"], signed_in_at=grant["signed_in_at"])
    grant["used"] = True  # with PKCE each refresh token is single-use
    return jsonify(answer)


def _check_token(fake: FakeSpotify, scope: str | None) -> Response | None:
    header = request.headers.get("Authorization", "")
    with fake.lock:
        grant = fake.access_tokens.get(header.removeprefix("Bearer "))
    if grant is None:
        return _api_error(401, "Invalid access token")
    if grant["expires"] <= fake.now():
        return _api_error(401, "The access token expired")
    if scope is not None and scope not in grant["scope"].split():
        return _api_error(403, "Insufficient client scope")
    return None


def _api_error(status: int, message: str, reason: str | None = None) -> Response:
    error: dict[str, Any] = {"status": status, "message": message}
    if reason:
        error["reason"] = reason
    response = jsonify({"error": error})
    response.status_code = status
    return response


def _token_error(code: str, description: str, status: int) -> Response:
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response


def _int_arg(name: str, default: int) -> int | None:
    value = request.args.get(name)
    if value is None:
        return default
    return int(value) if value.isdigit() else None


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _spotify_id(text: str) -> str:
    number = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    digits = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(digits)


def _iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _playlist_json(fake: FakeSpotify, playlist_id: str) -> dict[str, Any]:
    playlist = fake.playlists[playlist_id]
    return {
        "id": playlist_id,
        "uri": f"spotify:playlist:{playlist_id}",
        "type": "playlist",
        "name": playlist["name"],
        "description": playlist["description"],
        "public": playlist["public"],
        "collaborative": False,
        "owner": {"id": fake.user_id, "display_name": fake.display_name, "type": "user"},
        "href": f"{request.host_url}v1/playlists/{playlist_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist_id}"},
        "snapshot_id": _spotify_id(f"{playlist_id}:0"),
        "items": {"total": len(playlist["items"]), "items": []},
        "images": [],
    }


@functools.cache  # shared by every fake with the same seed, which only ever reads it
def _catalogue(seed: int) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """Deterministic tracks and artists in Spotify's JSON shapes (without the removed fields)."""
    rng = random.Random(f"{seed}:catalogue")
    names = list(_NAMED_ARTISTS)
    for first in _BAND_WORDS[0]:
        for second in _BAND_WORDS[1][:5]:
            names.append((f"The {first} {second}", f"{second} of {first}"))
    artists, tracks = [], []
    for artist_name, album_name in names:
        artist_id = _spotify_id(f"artist:{seed}:{artist_name}")
        artist = {
            "id": artist_id,
            "uri": f"spotify:artist:{artist_id}",
            "type": "artist",
            "name": artist_name,
            "href": f"https://api.spotify.com/v1/artists/{artist_id}",
            "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        }
        artists.append({**artist, "genres": [], "images": []})
        album_id = _spotify_id(f"album:{seed}:{artist_name}:{album_name}")
        album = {
            "id": album_id,
            "uri": f"spotify:album:{album_id}",
            "type": "album",
            "album_type": "album",
            "name": album_name,
            "release_date": f"{rng.randint(1965, 2025)}-{rng.randint(1, 12):02d}-01",
            "release_date_precision": "day",
            "total_tracks": 4,
            "artists": [artist],
            "images": [],
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        }
        for number in range(1, 5):
            title = " ".join(rng.sample(_TITLE_WORDS, rng.randint(1, 3)))
            track_id = _spotify_id(f"track:{seed}:{album_id}:{number}")
            tracks.append(
                {
                    "id": track_id,
                    "uri": f"spotify:track:{track_id}",
                    "type": "track",
                    "name": title,
                    "duration_ms": rng.randint(95_000, 420_000),
                    "explicit": False,
                    "is_local": False,
                    "track_number": number,
                    "disc_number": 1,
                    "artists": [artist],
                    "album": album,
                    "href": f"https://api.spotify.com/v1/tracks/{track_id}",
                    "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
                }
            )
    return tuple(tracks), tuple(artists)


def main(argv: list[str] | None = None) -> None:
    """Run the fake on its own: `python -m music_time_machine.spotify.fake --port 8765`."""
    parser = argparse.ArgumentParser(description="Serve a fake Spotify on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--access-token-lifetime", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    app = create_fake_spotify(seed=args.seed, access_token_lifetime=args.access_token_lifetime)
    print(f"Fake Spotify on http://127.0.0.1:{args.port} (accounts and API base URL)", flush=True)
    waitress.serve(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
