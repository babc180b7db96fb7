"""Playlists on the web: preview, the AJAX contract of SPEC §3.8, the form, upstream failures,
refresh, history, exports, and other users' playlists (Spotify mocked with `responses` or the fake)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import requests
import responses
import sqlalchemy as sa

from factories import add_plays, make_user, play
from music_time_machine import db
from music_time_machine.clock import utcnow
from music_time_machine.schema import playlist_tracks, playlists, users
from music_time_machine.spotify import SCOPES, TokenSet
from music_time_machine.spotify.service import SpotifyApp
from music_time_machine.spotify.tokens import store_tokens
from music_time_machine.web import playlists as web_playlists
from music_time_machine.web import views as web_views
from spotify_stub import connect_to_fake

API = "https://api.test"
ITEMS = f"{API}/v1/playlists/pl1/items"
CREATED = {"id": "pl1", "uri": "spotify:playlist:pl1", "external_urls": {"spotify": "https://open.spotify.com/playlist/pl1"}}


@pytest.fixture(autouse=True)
def frozen(request, monkeypatch):
    """Today is 2026-05-08 for the playlist views, except with the fake Spotify (which runs on real time).

    Patched where the views read the clock rather than with freezegun, whose start-up scan of
    every loaded module would cost more than these tests."""
    if "fake_spotify" in request.fixturenames:
        return
    for module in (web_playlists, web_views):
        monkeypatch.setattr(module, "utcnow", lambda: datetime(2026, 5, 8, 12, 0, 0))


@pytest.fixture
def config(config):
    config.update(SPOTIFY_CLIENT_ID="cid", SPOTIFY_ACCOUNTS_URL="https://accounts.test", SPOTIFY_API_URL=API)
    return config


@pytest.fixture
def sleeps(app):
    """The retry harness's waits, recorded instead of slept."""
    waits: list[float] = []
    app.extensions["mtm_spotify"] = lambda config: SpotifyApp.from_config(config, sleep=waits.append)
    return waits


def connect(app, user_id):
    tokens = TokenSet("ACCESS", "REFRESH", datetime(2100, 1, 1), " ".join(SCOPES))
    with db.transaction(app.extensions["mtm_engine"]) as conn:
        store_tokens(conn, SpotifyApp.from_config(app.config).fernet, user_id, tokens,
                     signed_in_at=utcnow(), now=utcnow())  # fmt: skip


def rotation(conn, user_id, tracks=3, day="2026-05-01", **kw):
    """`tracks` tracks with 1 listen each in the last 28 days (before 2026-05-08)."""
    add_plays(conn, user_id, *[play(f"Artist {n}", f"Song {n}", f"{day}T{n // 60 % 24:02d}:{n % 60:02d}:00", **kw)
                               for n in range(tracks)])  # fmt: skip


@pytest.fixture
def alice(app, engine, user, sleeps):
    with db.transaction(engine) as conn:
        rotation(conn, user)
    connect(app, user)
    return user


@pytest.fixture
def ajax(authenticated_client):
    def post(body=None, **kw):
        return authenticated_client.post("/api/generate-playlist", json=body, **kw)

    return post


def saved_rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(playlists.c.name, playlists.c.track_count, playlists.c.source)).all()


# --- the AJAX contract --------------------------------------------------------------------------


def test_success_creates_a_private_playlist_adds_the_items_and_answers_201(ajax, alice, engine):
    with responses.RequestsMock() as spotify:
        spotify.post(f"{API}/v1/me/playlists", json=CREATED, status=201)
        spotify.post(ITEMS, json={"snapshot_id": "s"}, status=201)
        response = ajax({"source": "  Current_Rotation ", "playlist_name": "  Now  "})
        assert json.loads(spotify.calls[0].request.body) == {
            "name": "Now", "public": False,
            "description": "Current Rotation, made by Music Time Machine from your listening history.",
        }  # fmt: skip
        assert len(json.loads(spotify.calls[1].request.body)["uris"]) == 3
    assert response.status_code == 201
    body = response.get_json()
    assert {k: body[k] for k in ("id", "url", "name", "track_count")} == {
        "id": "pl1", "url": "https://open.spotify.com/playlist/pl1", "name": "Now", "track_count": 3}
    assert body["page_url"] == f"/playlists/{body['playlist_id']}"
    assert saved_rows(engine) == [("Now", 3, "current_rotation")]


@pytest.mark.parametrize("kwargs", [{}, {"data": "source=current_rotation"}, {"data": "{not json",
                                    "content_type": "application/json"}, {"data": '["current_rotation"]', "content_type": "application/json"}])  # fmt: skip
def test_no_or_non_json_body_is_400(ajax, alice, kwargs):
    response = ajax(**kwargs)
    assert (response.status_code, response.get_json()) == (400, {"error": "No JSON body provided"})


@pytest.mark.parametrize("source", ["nope", None, "forgotten gems"])
def test_an_unknown_source_is_400(ajax, alice, source):
    response = ajax({"source": source})
    assert (response.status_code, response.get_json()) == (400, {"error": "Invalid playlist source"})


@pytest.mark.parametrize(("name", "saved"), [("   ", "Current Rotation - May 2026"), (None, "Current Rotation - May 2026"),
                                             (" " + "é" * 120, "é" * 100)])  # fmt: skip
def test_the_name_is_trimmed_cut_to_100_or_the_default(ajax, alice, name, saved):
    with responses.RequestsMock() as spotify:
        spotify.post(f"{API}/v1/me/playlists", json=CREATED, status=201)
        spotify.post(ITEMS, json={}, status=201)
        response = ajax({"source": "current_rotation", "playlist_name": name})
        assert json.loads(spotify.calls[0].request.body)["name"] == saved
    assert response.get_json()["name"] == saved


def test_bad_rules_are_400_with_the_reason(ajax, alice):
    response = ajax({"source": "current_rotation", "rules": {"size": 0}})
    assert (response.status_code, response.get_json()) == (400, {"error": "Size must be a whole number from 1 to 500."})
    assert ajax({"source": "current_rotation", "rules": "big"}).status_code == 400
    assert ajax({"source": "current_rotation", "playlist_name": 7}).get_json() == {"error": "playlist_name must be text"}


def test_no_candidates_is_422_saying_what_is_missing(ajax, alice):
    with responses.RequestsMock():  # nothing may reach Spotify
        response = ajax({"source": "forgotten_gems"})
    assert response.status_code == 422
    assert response.get_json()["error"].startswith("No forgotten gems: this needs tracks with 5 or more listens")


def test_only_uri_less_tracks_is_422(ajax, engine, user, sleeps, app):
    with db.transaction(engine) as conn:
        rotation(conn, user, uri=None, source="account")
    connect(app, user)
    response = ajax({"source": "current_rotation"})
    assert response.status_code == 422 and "None of these tracks has a Spotify URI" in response.get_json()["error"]


def test_not_connected_is_401_with_the_connect_link(ajax, engine, user, sleeps):
    with db.transaction(engine) as conn:
        rotation(conn, user)
    response = ajax({"source": "current_rotation"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "This account is not connected to Spotify.",
                                   "reconnect_url": "/login?next=/playlists"}  # fmt: skip


def test_logged_out_is_401_json(client):
    response = client.post("/api/generate-playlist", json={"source": "current_rotation"})
    assert (response.status_code, response.get_json()) == (401, {"error": "Log in first."})


def test_250_tracks_go_in_three_calls_of_100_100_50_in_order(ajax, engine, user, sleeps, app):
    with db.transaction(engine) as conn:
        rotation(conn, user, tracks=250)
    connect(app, user)
    with responses.RequestsMock() as spotify:
        spotify.post(f"{API}/v1/me/playlists", json=CREATED, status=201)
        spotify.post(ITEMS, json={}, status=201)
        response = ajax({"source": "current_rotation", "rules": {"size": 250, "max_per_artist": 1}})
        batches = [json.loads(call.request.body)["uris"] for call in spotify.calls[1:]]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(playlist_tracks.c.track_id).order_by(playlist_tracks.c.position)).scalars().all()
    assert len(stored) == 250 and len(set(sum(batches, []))) == 250
    assert response.get_json()["track_count"] == 250


# --- upstream failures: one mapping for both ways in ---------------------------------------------

UPSTREAM = [
    # (status, headers, body, expected status, expected Retry-After, error starts with)
    (401, {}, {"error": {"status": 401, "message": "expired"}}, 401, None, "Your Spotify sign-in has expired"),
    (403, {}, {"error": {"status": 403, "message": "User not registered"}}, 401, None, "Spotify refused access"),
    (404, {}, {"error": {"status": 404, "message": "Not found."}}, 502, None, "Spotify could not find"),
    (429, {"Retry-After": "5"}, {"error": {"status": 429}}, 503, "5", "Spotify asked us to slow down"),
    (429, {"Retry-After": "86400"}, {"error": {"status": 429}}, 503, "86400", "Spotify asked us to slow down"),
    (500, {}, {}, 503, None, "Spotify is having trouble"),
    (502, {}, {}, 503, None, "Spotify is having trouble"),
    (503, {}, {}, 503, None, "Spotify is having trouble"),
    ("timeout", {}, {}, 503, None, "Spotify did not answer in time"),
]  # fmt: skip


def fail_create(spotify, status, headers, body):
    if status == "timeout":
        spotify.post(f"{API}/v1/me/playlists", body=requests.ReadTimeout("slow"))
    else:
        spotify.post(f"{API}/v1/me/playlists", json=body, status=status, headers=headers)
    spotify.post("https://accounts.test/api/token", json={"error": "invalid_grant"}, status=400)  # the 401's refresh


@pytest.mark.parametrize(("upstream", "headers", "body", "status", "retry_after", "error"), UPSTREAM)
def test_upstream_failures_map_to_503_401_502_in_json(ajax, alice, engine, upstream, headers, body, status, retry_after, error):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as spotify:
        fail_create(spotify, upstream, headers, body)
        response = ajax({"source": "current_rotation"})
    assert response.status_code == status
    assert response.headers.get("Retry-After") == retry_after
    assert response.get_json()["error"].startswith(error)
    assert ("reconnect_url" in response.get_json()) == (status == 401)
    assert saved_rows(engine) == []  # nothing recorded when Spotify made nothing


@pytest.mark.parametrize(("upstream", "headers", "body", "status", "retry_after", "error"),
                         [UPSTREAM[1], UPSTREAM[2], UPSTREAM[4], UPSTREAM[8]])  # 401, 502, 503 + Retry-After, timeout
def test_the_form_flashes_the_same_message_and_goes_back_with_the_same_rules(
    authenticated_client, alice, upstream, headers, body, status, retry_after, error
):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as spotify:
        fail_create(spotify, upstream, headers, body)
        response = authenticated_client.post("/playlists", data={"source": "current_rotation", "size": "7",
                                                                  "playlist_name": "Mine"})  # fmt: skip
    assert response.status_code == 302
    assert response.location == "/playlists?source=current_rotation&size=7&playlist_name=Mine"
    with authenticated_client.session_transaction() as session:
        assert session["_flashes"][0][1].startswith(error)


def test_a_long_rate_limit_blocks_further_saves_without_calling_spotify(ajax, alice, engine):
    with responses.RequestsMock() as spotify:
        spotify.post(f"{API}/v1/me/playlists", json={"error": {"status": 429, "reason": "QUOTA_EXCEEDED"}},
                     status=429, headers={"Retry-After": "3600"})  # fmt: skip
        assert ajax({"source": "current_rotation"}).status_code == 503
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.blocked_reason)).scalar() == "QUOTA_EXCEEDED"
    with responses.RequestsMock():
        response = ajax({"source": "current_rotation"})
    assert (response.status_code, response.headers["Retry-After"]) == (503, "3600")
    assert response.get_json()["error"].startswith("Spotify's quota for this app is used up: waiting until")


def test_items_failing_after_creation_keep_the_playlist_for_a_refresh(ajax, alice, engine):
    with responses.RequestsMock() as spotify:
        spotify.post(f"{API}/v1/me/playlists", json=CREATED, status=201)
        spotify.post(ITEMS, json={"error": {"status": 403, "message": "no"}}, status=403)
        assert ajax({"source": "current_rotation"}).status_code == 401
    assert saved_rows(engine) == [("Current Rotation - May 2026", 0, "current_rotation")]


# --- preview, form, refresh, history, exports ------------------------------------------------------


def test_preview_shows_tracks_reasons_and_marks_uri_less_ones(authenticated_client, engine, user):
    with db.transaction(engine) as conn:
        rotation(conn, user, tracks=2)
        add_plays(conn, user, play("Кино", "Кукушка", "2026-05-02T10:00:00", uri=None, source="account"))
    page = authenticated_client.get("/playlists?source=current_rotation&max_per_artist=5").get_data(as_text=True)
    empty = authenticated_client.get("/playlists?source=forgotten_gems")
    bad = authenticated_client.get("/playlists?source=current_rotation&size=-3")
    assert "Current Rotation: 3 tracks" in page and "1 listen in the last 28 days" in page
    assert page.count("not savable: no Spotify URI") == 1 and '<span id="savable-count">2</span>' in page
    assert 'name="max_per_artist" value="5"' in page
    assert empty.status_code == 200 and "No forgotten gems" in empty.get_data(as_text=True)
    assert bad.status_code == 400 and "Size must be a whole number" in bad.get_data(as_text=True)
    assert authenticated_client.get("/playlists?source=zzz").status_code == 400
    switched = authenticated_client.get("/playlists?source=current_rotation&rules_of=forgotten_gems&min_listens=5")
    assert "Current Rotation: 3 tracks" in switched.get_data(as_text=True)  # the other source's rules are dropped


def test_form_save_refresh_history_and_exports_with_the_fake_spotify(fake_spotify, app, engine, user, logged_in_as):
    now = utcnow()
    with db.transaction(engine) as conn:
        add_plays(conn, user, *[play("Björk", f"Song {n}", (now - timedelta(days=2, minutes=n)).isoformat(timespec="seconds"))
                                for n in range(3)])  # fmt: skip
    connect_to_fake(app, user, fake_spotify)
    client = logged_in_as(user)
    response = client.post("/playlists", data={"source": "current_rotation", "playlist_name": "Jóga / mix",
                                                "auto_refresh": "on"})  # fmt: skip
    assert response.status_code == 302 and response.location.startswith("/playlists/")
    page = client.get(response.location).get_data(as_text=True)
    assert "Saved “Jóga / mix” to Spotify with 3 tracks." in page and "open.spotify.com/playlist/" in page
    (spotify_id, remote), = fake_spotify.playlists.items()
    assert (remote["public"], len(remote["items"])) == (False, 3)

    with db.transaction(engine) as conn:  # a new favourite: the refresh picks it up
        add_plays(conn, user, *[play("Sigur Rós", "Hoppípolla", (now - timedelta(hours=h)).isoformat(timespec="seconds"))
                                for h in range(1, 3)])  # fmt: skip
    assert client.post(f"{response.location}/refresh").status_code == 302
    assert len(fake_spotify.playlists[spotify_id]["items"]) == 4
    assert fake_spotify.requests[-1] == f"PUT /v1/playlists/{spotify_id}/items"
    with engine.connect() as conn:
        assert conn.execute(sa.select(playlists.c.track_count, playlists.c.refreshed_at.is_not(None))).one() == (4, True)

    history = client.get("/playlists/history").get_data(as_text=True)
    assert "Jóga / mix" in history and "Current Rotation" in history and "monthly" in history
    csv_answer = client.get(f"{response.location}.csv")
    assert csv_answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_answer.headers["Content-Disposition"] == (
        "attachment; filename=\"Joga - mix.csv\"; filename*=UTF-8''J%C3%B3ga%20-%20mix.csv")
    assert csv_answer.get_data(as_text=True).splitlines()[1].startswith("1,Sigur Rós,Hoppípolla,")
    m3u = client.get(f"{response.location}.m3u")
    assert m3u.headers["Content-Type"] == "audio/x-mpegurl; charset=utf-8"
    assert m3u.get_data(as_text=True).startswith("#EXTM3U\n#PLAYLIST:Jóga / mix\n#EXTINF:-1,Sigur Rós - Hoppípolla\nhttps://open.spotify.com/track/")
    jspf = client.get(f"{response.location}.jspf")
    assert jspf.headers["Content-Type"] == "application/jspf+json"
    assert jspf.headers["Content-Disposition"].endswith(".jspf")
    assert [t["creator"] for t in jspf.get_json()["playlist"]["track"]] == ["Sigur Rós", "Björk", "Björk", "Björk"]


def test_preview_exports_follow_the_rules(authenticated_client, engine, user):
    with db.transaction(engine) as conn:
        rotation(conn, user, tracks=3)
    answer = authenticated_client.get("/playlists/preview.csv?source=current_rotation&size=2")
    assert authenticated_client.get("/playlists/preview.m3u?source=nope").status_code == 400
    assert authenticated_client.get("/playlists/preview.jspf?source=current_rotation&size=x").status_code == 400
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="Current Rotation - May 2026.csv"')
    assert len(answer.get_data(as_text=True).splitlines()) == 3


def test_another_users_playlist_is_404_for_page_refresh_and_exports(app, engine, user, logged_in_as):
    with db.transaction(engine) as conn:
        bob = make_user(conn, "bob")
        theirs = conn.execute(playlists.insert().values(user_id=bob, source="current_rotation", name="Bob's", rules={},
                                                        spotify_id="x", spotify_url="u", created_at=utcnow())
                              ).inserted_primary_key[0]  # fmt: skip
    client = logged_in_as(user)
    for url in (f"/playlists/{theirs}", f"/playlists/{theirs}.csv", f"/playlists/{theirs}.m3u", f"/playlists/{theirs}.jspf"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/playlists/{theirs}/refresh").status_code == 404
    assert "Bob's" not in client.get("/playlists/history").get_data(as_text=True)


@pytest.mark.parametrize("field", ["endpoint", "_method", "_external"])
def test_a_form_field_named_like_a_url_argument_goes_back_to_the_form(authenticated_client, field):
    response = authenticated_client.post("/playlists", data={"source": "current_rotation", "size": "0", field: "x"})
    assert response.status_code == 302
    assert response.location.startswith("/playlists?source=current_rotation&size=0&")
