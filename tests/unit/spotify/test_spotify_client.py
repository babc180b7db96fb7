"""The API client at the HTTP boundary: requests sent, answers parsed, errors handled."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest
import requests
import responses
from responses import matchers

from music_time_machine.spotify.client import (
    Playlist,
    Profile,
    RecentPlay,
    SpotifyClient,
    TopItem,
)
from music_time_machine.spotify.errors import (
    AuthorizationError,
    DataError,
    NotFound,
    RateLimited,
    TransientError,
)

API = "https://api.example"
BEARER = {"Authorization": "Bearer AT1"}


def make_client(sleep, **kwargs) -> SpotifyClient:
    return SpotifyClient(API + "/", lambda: "AT1", sleep=sleep, **kwargs)


def track(n: int, **overrides) -> dict:
    item = {
        "id": f"t{n}",
        "uri": f"spotify:track:t{n}",
        "name": f"Track {n}",
        "duration_ms": 200_000 + n,
        "artists": [{"name": f"Artist {n}", "uri": f"spotify:artist:a{n}"}, {"name": "Guest"}],
        "album": {"name": f"Album {n}"},
    }
    item.update(overrides)
    return item


def uris(count: int) -> list[str]:
    return [f"spotify:track:{n:022d}" for n in range(count)]


def sent_json(call) -> object:
    return json.loads(call.request.body)


@responses.activate
def test_me_sends_the_bearer_token_and_reads_the_profile(sleep):
    responses.get(
        f"{API}/v1/me",
        json={"id": "u1", "display_name": "Ana", "account_id": "acc-1"},
        match=[matchers.header_matcher(BEARER)],
    )
    assert make_client(sleep).me() == Profile(id="u1", display_name="Ana", account_id="acc-1")
    assert responses.calls[0].request.req_kwargs["timeout"] == (5, 20)


@responses.activate
def test_me_without_an_id_is_a_data_error(sleep):
    responses.get(f"{API}/v1/me", json={"display_name": "Ana"})
    with pytest.raises(DataError):
        make_client(sleep).me()


@responses.activate
def test_top_tracks_asks_for_the_range_and_limit_and_ranks_from_one(sleep):
    responses.get(
        f"{API}/v1/me/top/tracks",
        json={"items": [track(1), track(2, album=None)]},
        match=[
            matchers.query_param_matcher({"time_range": "medium_term", "limit": "50"}),
            matchers.header_matcher(BEARER),
        ],
    )
    assert make_client(sleep).top("tracks", "medium_term") == [
        TopItem(1, "spotify:track:t1", "Track 1", "Artist 1", "Album 1"),
        TopItem(2, "spotify:track:t2", "Track 2", "Artist 2", None),
    ]


@responses.activate
def test_top_artists_are_names_without_artist_or_album(sleep):
    responses.get(
        f"{API}/v1/me/top/artists",
        json={"items": [{"uri": "spotify:artist:a1", "name": "坂本龍一", "genres": []}]},
        match=[matchers.query_param_matcher({"time_range": "long_term", "limit": "10"})],
    )
    assert make_client(sleep).top("artists", "long_term", limit=10) == [
        TopItem(1, "spotify:artist:a1", "坂本龍一", None, None)
    ]


@pytest.mark.parametrize(
    ("kind", "time_range", "limit"),
    [("albums", "short_term", 50), ("tracks", "all_time", 50), ("tracks", "short_term", 51),
     ("tracks", "short_term", 0)],
)
def test_top_rejects_what_spotify_does_not_offer(sleep, kind, time_range, limit):
    with pytest.raises(ValueError):
        make_client(sleep).top(kind, time_range, limit)


@responses.activate
def test_malformed_top_items_are_skipped_and_logged_the_good_ones_kept(sleep, caplog):
    responses.get(
        f"{API}/v1/me/top/tracks",
        json={"items": [track(1), track(2, name=None), track(3, artists=[]), "junk", track(5)]},
    )
    with caplog.at_level(logging.WARNING, logger="music_time_machine.spotify.client"):
        items = make_client(sleep).top("tracks", "short_term")
    assert [(item.rank, item.name) for item in items] == [(1, "Track 1"), (5, "Track 5")]
    assert len(caplog.records) == 3
    assert "AT1" not in caplog.text


@responses.activate
def test_empty_top_list_is_an_empty_list(sleep):
    responses.get(f"{API}/v1/me/top/artists", json={"items": []})
    assert make_client(sleep).top("artists", "short_term") == []


@pytest.mark.parametrize("body", ["{not json", '{"tracks": []}', '{"items": {}}', "[]"])
@responses.activate
def test_unreadable_top_answer_is_a_data_error_and_not_retried(sleep, body):
    responses.get(f"{API}/v1/me/top/tracks", body=body, content_type="application/json")
    with pytest.raises(DataError):
        make_client(sleep).top("tracks", "short_term")
    assert len(responses.calls) == 1


@responses.activate
def test_recently_played_sends_the_after_cursor_and_returns_the_next_one(sleep):
    responses.get(
        f"{API}/v1/me/player/recently-played",
        json={
            "items": [
                {"track": track(2), "played_at": "2026-11-01T10:04:05.123Z"},
                {"track": track(1), "played_at": "2026-11-01T10:00:00Z"},
            ],
            "cursors": {"after": "1793527445123", "before": "1793527200000"},
            "limit": 50,
        },
        match=[
            matchers.query_param_matcher({"limit": "50", "after": "1793520000000"}),
            matchers.header_matcher(BEARER),
        ],
    )
    page = make_client(sleep).recently_played(after_ms=1_793_520_000_000)
    assert page.next_after_ms == 1_793_527_445_123
    assert page.plays[0] == RecentPlay(
        played_at=datetime(2026, 11, 1, 10, 4, 5, 123_000),
        uri="spotify:track:t2",
        track_name="Track 2",
        artist_name="Artist 2",
        album_name="Album 2",
        duration_ms=200_002,
    )
    assert page.plays[1].played_at == datetime(2026, 11, 1, 10, 0, 0)


@responses.activate
def test_recently_played_first_poll_has_no_cursor_and_nothing_new_keeps_none(sleep):
    responses.get(
        f"{API}/v1/me/player/recently-played",
        json={"items": [], "cursors": None, "limit": 20},
        match=[matchers.query_param_matcher({"limit": "20"})],
    )
    page = make_client(sleep).recently_played(limit=20)
    assert (page.plays, page.next_after_ms) == ([], None)


@responses.activate
def test_recently_played_skips_plays_with_missing_fields(sleep, caplog):
    responses.get(
        f"{API}/v1/me/player/recently-played",
        json={
            "items": [
                {"track": track(1), "played_at": "2026-11-01T10:00:00Z"},
                {"track": track(2)},
                {"track": track(3, duration_ms=None), "played_at": "2026-11-01T09:00:00Z"},
                {"track": track(4), "played_at": "yesterday"},
            ],
            "cursors": {"after": "1"},
        },
    )
    with caplog.at_level(logging.WARNING):
        page = make_client(sleep).recently_played()
    assert [play.uri for play in page.plays] == ["spotify:track:t1"]
    assert len(caplog.records) == 3


@responses.activate
def test_create_playlist_posts_to_me_playlists_private_by_default(sleep):
    responses.post(
        f"{API}/v1/me/playlists",
        status=201,
        json={
            "id": "pl1",
            "uri": "spotify:playlist:pl1",
            "external_urls": {"spotify": "https://open.example/playlist/pl1"},
        },
        match=[
            matchers.json_params_matcher(
                {"name": "Forgotten gems", "public": False, "description": "From 2019"}
            ),
            matchers.header_matcher(BEARER),
        ],
    )
    playlist = make_client(sleep).create_playlist("Forgotten gems", "From 2019")
    assert playlist == Playlist("pl1", "spotify:playlist:pl1", "https://open.example/playlist/pl1")


@responses.activate
def test_add_items_posts_250_uris_as_100_100_50_in_order(sleep):
    responses.post(f"{API}/v1/playlists/pl1/items", status=201, json={"snapshot_id": "s"})
    all_uris = uris(250)
    make_client(sleep).add_items("pl1", all_uris)
    bodies = [sent_json(call) for call in responses.calls]
    assert [len(body["uris"]) for body in bodies] == [100, 100, 50]
    assert [uri for body in bodies for uri in body["uris"]] == all_uris
    assert all(call.request.headers["Authorization"] == "Bearer AT1" for call in responses.calls)


@responses.activate
def test_add_items_with_nothing_makes_no_call(sleep):
    make_client(sleep).add_items("pl1", [])
    assert len(responses.calls) == 0


@responses.activate
def test_playlist_id_cannot_escape_its_path(sleep):
    responses.post(f"{API}/v1/playlists/..%2Fme/items", status=201, json={})
    make_client(sleep).add_items("../me", uris(1))
    assert responses.calls[0].request.url == f"{API}/v1/playlists/..%2Fme/items"


@responses.activate
def test_replace_items_puts_the_first_100_then_posts_the_rest(sleep):
    responses.put(f"{API}/v1/playlists/pl1/items", json={"snapshot_id": "s1"})
    responses.post(f"{API}/v1/playlists/pl1/items", status=201, json={"snapshot_id": "s2"})
    all_uris = uris(230)
    make_client(sleep).replace_items("pl1", all_uris)
    calls = [(call.request.method, sent_json(call)["uris"]) for call in responses.calls]
    assert calls == [
        ("PUT", all_uris[:100]),
        ("POST", all_uris[100:200]),
        ("POST", all_uris[200:]),
    ]


@responses.activate
def test_replace_items_with_nothing_empties_the_playlist(sleep):
    responses.put(
        f"{API}/v1/playlists/pl1/items",
        json={"snapshot_id": "s1"},
        match=[matchers.json_params_matcher({"uris": []})],
    )
    make_client(sleep).replace_items("pl1", [])
    assert [call.request.method for call in responses.calls] == ["PUT"]


@responses.activate
def test_401_refreshes_once_then_succeeds_with_the_new_token(sleep):
    responses.get(f"{API}/v1/me", status=401, json={"error": {"status": 401, "message": "expired"}})
    responses.get(
        f"{API}/v1/me",
        json={"id": "u1"},
        match=[matchers.header_matcher({"Authorization": "Bearer AT2"})],
    )
    refreshes = []
    client = make_client(sleep, on_unauthorized=lambda: refreshes.append(1) or "AT2")
    assert client.me().id == "u1"
    assert refreshes == [1]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer AT1"
    assert sleep.waits == []


@responses.activate
def test_401_twice_means_the_user_must_reconnect(sleep):
    responses.get(f"{API}/v1/me", status=401, json={"error": {"status": 401, "message": "bad"}})
    refreshes = []
    client = make_client(sleep, on_unauthorized=lambda: refreshes.append(1) or "AT2")
    with pytest.raises(AuthorizationError) as caught:
        client.me()
    assert caught.value.needs_reconnect is True
    assert refreshes == [1]
    assert len(responses.calls) == 2


@responses.activate
def test_401_without_a_way_to_refresh_means_reconnect(sleep):
    responses.get(f"{API}/v1/me", status=401)
    with pytest.raises(AuthorizationError) as caught:
        make_client(sleep).me()
    assert caught.value.needs_reconnect is True


@responses.activate
def test_403_is_raised_without_refresh_or_retry(sleep):
    responses.get(
        f"{API}/v1/me",
        status=403,
        json={"error": {"status": 403, "message": "User not registered"}},
    )
    refreshes = []
    client = make_client(sleep, on_unauthorized=lambda: refreshes.append(1) or "AT2")
    with pytest.raises(AuthorizationError) as caught:
        client.me()
    assert caught.value.status == 403
    assert refreshes == []
    assert len(responses.calls) == 1


@responses.activate
def test_404_is_not_retried(sleep):
    responses.post(f"{API}/v1/playlists/gone/items", status=404)
    with pytest.raises(NotFound):
        make_client(sleep).add_items("gone", uris(3))
    assert len(responses.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
@responses.activate
def test_server_errors_are_tried_three_times_with_growing_waits(sleep, status):
    responses.get(f"{API}/v1/me", status=status)
    with pytest.raises(TransientError):
        make_client(sleep).me()
    assert len(responses.calls) == 3
    assert len(sleep.waits) == 2
    assert sleep.waits[0] < sleep.waits[1]


@pytest.mark.parametrize(
    "failure", [requests.ReadTimeout("slow"), requests.ConnectionError("reset")]
)
@responses.activate
def test_network_failure_then_success_is_retried(sleep, failure):
    responses.get(f"{API}/v1/me", body=failure)
    responses.get(f"{API}/v1/me", json={"id": "u1"})
    assert make_client(sleep).me().id == "u1"
    assert len(sleep.waits) == 1


@responses.activate
def test_timed_out_post_is_not_repeated(sleep):
    responses.post(f"{API}/v1/me/playlists", body=requests.ReadTimeout("slow"))
    with pytest.raises(TransientError):
        make_client(sleep).create_playlist("Once only")
    assert len(responses.calls) == 1


@responses.activate
def test_short_retry_after_is_waited_exactly_then_retried(sleep):
    responses.get(f"{API}/v1/me", status=429, headers={"Retry-After": "4"})
    responses.get(f"{API}/v1/me", json={"id": "u1"})
    assert make_client(sleep).me().id == "u1"
    assert sleep.waits == [4]


@responses.activate
def test_one_day_retry_after_raises_without_sleeping(sleep):
    responses.get(f"{API}/v1/me", status=429, headers={"Retry-After": "86400"})
    with pytest.raises(RateLimited) as caught:
        make_client(sleep).me()
    assert caught.value.blocked_until(datetime(2026, 11, 1)) == datetime(2026, 11, 2)
    assert sleep.waits == []
    assert len(responses.calls) == 1


@responses.activate
def test_retry_after_above_a_configured_cap_raises(sleep):
    responses.get(f"{API}/v1/me", status=429, headers={"Retry-After": "11"})
    with pytest.raises(RateLimited):
        make_client(sleep, retry_after_cap=10).me()
    assert sleep.waits == []


@responses.activate
def test_quota_exceeded_is_reported_as_such(sleep):
    responses.get(
        f"{API}/v1/me/top/tracks",
        status=429,
        json={"error": {"status": 429, "message": "Quota exceeded", "reason": "QUOTA_EXCEEDED"}},
    )
    with pytest.raises(RateLimited) as caught:
        make_client(sleep).top("tracks", "short_term")
    assert caught.value.quota_exceeded is True
    assert sleep.waits == []
