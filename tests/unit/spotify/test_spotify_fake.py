"""The fake Spotify, driven through the real sign-in helpers and client over real HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from music_time_machine.spotify import oauth
from music_time_machine.spotify.client import SpotifyClient
from music_time_machine.spotify.errors import AuthorizationError, RateLimited, TransientError
from music_time_machine.spotify.fake import create_fake_spotify

REDIRECT = "http://127.0.0.1:5000/callback"
NOW = datetime(2026, 11, 1, 12, 0, 0)


def authorize(base: str, scopes=oauth.SCOPES, redirect_uri: str = REDIRECT):
    """Walk the consent step; returns (callback query, verifier, state)."""
    verifier, challenge = oauth.make_pkce_pair()
    state = oauth.make_state()
    url = oauth.authorize_url(base, "demo-client", redirect_uri, scopes, state, challenge)
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}, verifier, state


def sign_in(base: str, scopes=oauth.SCOPES) -> oauth.TokenSet:
    query, verifier, _ = authorize(base, scopes)
    session = requests.Session()
    return oauth.exchange_code(
        session, base, "demo-client", None, query["code"], REDIRECT, verifier, NOW
    )


def client_for(base: str, tokens: oauth.TokenSet, sleep, **kwargs) -> SpotifyClient:
    return SpotifyClient(base, lambda: tokens.access_token, sleep=sleep, **kwargs)


def test_pkce_sign_in_then_profile(fake_base, sleep):
    query, verifier, state = authorize(fake_base)
    assert query["state"] == state
    tokens = oauth.exchange_code(
        requests.Session(), fake_base, "demo-client", None, query["code"], REDIRECT, verifier, NOW
    )
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert set(tokens.scope.split()) == set(oauth.SCOPES)
    assert client_for(fake_base, tokens, sleep).me().id == "fake-listener"


def test_wrong_verifier_and_reused_code_are_refused(fake_base):
    query, verifier, _ = authorize(fake_base)
    session = requests.Session()
    with pytest.raises(AuthorizationError) as wrong:
        oauth.exchange_code(
            session, fake_base, "demo-client", None, query["code"], REDIRECT, verifier + "x", NOW
        )
    assert wrong.value.needs_reconnect is True
    with pytest.raises(AuthorizationError):  # the code died with the failed attempt
        oauth.exchange_code(
            session, fake_base, "demo-client", None, query["code"], REDIRECT, verifier, NOW
        )


def test_denied_consent_comes_back_as_access_denied(fake_app, fake_base):
    fake_app.config["FAKE"].deny_consent = True
    query, _, state = authorize(fake_base)
    assert query == {"error": "access_denied", "state": state}


def test_localhost_redirect_is_refused_like_spotify_does(fake_base):
    _, challenge = oauth.make_pkce_pair()
    url = oauth.authorize_url(
        fake_base, "c", "http://localhost:5000/callback", oauth.SCOPES, "s", challenge
    )
    assert requests.get(url, allow_redirects=False, timeout=5).status_code == 400


def test_refresh_rotates_and_a_used_refresh_token_is_invalid_grant(fake_base):
    first = sign_in(fake_base)
    session = requests.Session()
    second = oauth.refresh(session, fake_base, "demo-client", None, first.refresh_token, NOW)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    with pytest.raises(AuthorizationError) as reused:
        oauth.refresh(session, fake_base, "demo-client", None, first.refresh_token, NOW)
    assert reused.value.needs_reconnect is True
    assert reused.value.reason == "invalid_grant"
    oauth.refresh(session, fake_base, "demo-client", None, second.refresh_token, NOW)


def test_refresh_token_dies_six_months_after_sign_in_despite_refreshes(fake_app, fake_base):
    fake = fake_app.config["FAKE"]
    tokens = sign_in(fake_base)
    session = requests.Session()
    fake.advance(timedelta(days=100).total_seconds())
    tokens = oauth.refresh(session, fake_base, "demo-client", None, tokens.refresh_token, NOW)
    fake.advance(timedelta(days=81).total_seconds())
    with pytest.raises(AuthorizationError) as expired:
        oauth.refresh(session, fake_base, "demo-client", None, tokens.refresh_token, NOW)
    assert expired.value.needs_reconnect is True


def test_expired_access_token_is_refreshed_once_by_the_client(fake_app, fake_base, sleep):
    tokens = sign_in(fake_base)
    current = {"tokens": tokens}

    def refresh_now() -> str:
        current["tokens"] = oauth.refresh(
            requests.Session(), fake_base, "demo-client", None,
            current["tokens"].refresh_token, NOW,
        )
        return current["tokens"].access_token

    client = SpotifyClient(
        fake_base, lambda: current["tokens"].access_token, sleep=sleep, on_unauthorized=refresh_now
    )
    fake_app.config["FAKE"].advance(3600)
    assert client.me().id == "fake-listener"
    assert current["tokens"].access_token != tokens.access_token


def test_missing_scope_is_403_and_asks_for_reconnect(fake_base, sleep):
    tokens = sign_in(fake_base, scopes=("user-top-read",))
    with pytest.raises(AuthorizationError) as caught:
        client_for(fake_base, tokens, sleep).recently_played()
    assert (caught.value.status, caught.value.needs_reconnect) == (403, True)


def test_top_lists_are_50_deterministic_items_in_several_scripts(fake_base, sleep):
    client = client_for(fake_base, sign_in(fake_base), sleep)
    tracks = client.top("tracks", "short_term")
    artists = client.top("artists", "long_term")
    assert [item.rank for item in tracks] == list(range(1, 51))
    assert len(artists) == 50
    assert client.top("tracks", "short_term") == tracks
    assert client.top("tracks", "long_term") != tracks
    assert any(not item.name.isascii() for item in artists)
    assert all(item.uri.startswith("spotify:track:") and item.album_name for item in tracks)


def test_recently_played_follows_the_after_cursor(fake_app, fake_base, sleep):
    client = client_for(fake_base, sign_in(fake_base), sleep)
    first = client.recently_played()
    assert len(first.plays) == 50
    assert first.plays == sorted(first.plays, key=lambda play: play.played_at, reverse=True)
    assert client.recently_played(after_ms=first.next_after_ms).plays == []
    fake_app.config["FAKE"].listen(3)
    assert len(client.recently_played(after_ms=first.next_after_ms).plays) == 3


def test_create_playlist_then_replace_and_add_items(fake_app, fake_base, sleep):
    client = client_for(fake_base, sign_in(fake_base), sleep)
    playlist = client.create_playlist("Höstens favoriter", "Autumn, 2019")
    uris = [f"spotify:track:{n:022d}" for n in range(250)]
    client.replace_items(playlist.id, uris[:120])
    client.replace_items(playlist.id, uris[:130])
    client.add_items(playlist.id, uris[130:])
    state = requests.get(f"{fake_base}/_fake/state", timeout=5).json()
    stored = state["playlists"][playlist.id]
    assert stored["name"] == "Höstens favoriter"
    assert stored["public"] is False
    assert stored["items"] == uris
    assert playlist.uri == f"spotify:playlist:{playlist.id}"
    methods = [call.split()[0] for call in state["requests"] if playlist.id in call]
    assert methods == ["PUT", "POST", "PUT", "POST", "POST", "POST"]


def test_injected_one_day_429_over_http_raises_without_sleeping(fake_base, sleep):
    client = client_for(fake_base, sign_in(fake_base), sleep)
    requests.post(
        f"{fake_base}/_fake/fail",
        json={"status": 429, "retry_after": 86400, "path_prefix": "/v1/me/top"},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(RateLimited) as caught:
        client.top("artists", "short_term")
    assert caught.value.retry_after == 86400
    assert sleep.waits == []
    assert len(client.top("artists", "short_term")) == 50  # the failure was used up


def test_injected_short_429_with_quota_is_waited_out(fake_app, fake_base, sleep):
    fake_app.config["FAKE"].fail_next(
        status=429, retry_after=3, quota_exceeded=True, path_prefix="/v1/me"
    )
    client = client_for(fake_base, sign_in(fake_base), sleep)
    assert client.me().id == "fake-listener"
    assert sleep.waits == [3]


def test_injected_server_errors_are_retried_until_they_pass(fake_app, fake_base, sleep):
    client = client_for(fake_base, sign_in(fake_base), sleep)
    fake = fake_app.config["FAKE"]
    fake.fail_next(status=502, count=2, path_prefix="/v1/me")
    assert client.me().id == "fake-listener"
    assert len(sleep.waits) == 2
    fake.fail_next(status=503, count=3)
    with pytest.raises(TransientError):
        client.me()


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_injected_statuses_answer_in_spotify_error_shape(status):
    client = create_fake_spotify().test_client()
    client.post("/_fake/fail", json={"status": status, "path_prefix": "/v1/"})
    response = client.get("/v1/me")
    assert response.status_code == status
    assert response.json["error"]["status"] == status
    assert client.get("/_fake/state").json["pending_failures"] == []


def test_slow_switch_stalls_through_the_injected_sleep(sleep):
    app = create_fake_spotify(sleep=sleep)
    app.config["FAKE"].fail_next(delay=25, path_prefix="/v1/me")
    response = app.test_client().get("/v1/me")
    assert sleep.waits == [25]
    assert response.status_code == 401  # after the stall it answers as usual (no token here)


def test_bad_failure_request_is_refused():
    client = create_fake_spotify().test_client()
    assert client.post("/_fake/fail", json={"statuss": 500}).status_code == 400
    assert client.get("/_fake/state").json["pending_failures"] == []


def test_adding_more_than_100_items_at_once_is_refused_like_spotify(fake_app, fake_base, sleep):
    tokens = sign_in(fake_base)
    playlist = client_for(fake_base, tokens, sleep).create_playlist("Too big")
    response = requests.post(
        f"{fake_base}/v1/playlists/{playlist.id}/items",
        json={"uris": [f"spotify:track:{n:022d}" for n in range(101)]},
        headers={"Authorization": f"Bearer {tokens.access_token}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert fake_app.config["FAKE"].playlists[playlist.id]["items"] == []
