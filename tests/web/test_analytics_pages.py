"""Route tests for the dashboard, /analytics and the time machine pages."""

import re
from datetime import datetime

import pytest
from freezegun import freeze_time
import sqlalchemy as sa

from factories import add_plays, make_user, play
from music_time_machine import users
from music_time_machine.db import transaction
from music_time_machine.schema import users as users_table

PAGES = ["/analytics", "/analytics?range=all", "/months", "/month/2025-02", "/compare", "/compare?a=2025-01&b=2025-02",
         "/on-this-day", "/year/2025"]  # fmt: skip


@pytest.fixture
def alice(engine):
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        make_user(conn, "bob")
        add_plays(conn, alice, play("A", "A1", "2025-01-06T09:00:00", album_name="Album A"),
                  play("B", "B1", "2025-01-07T09:00:00"), play("B", "B1", "2025-02-03T09:00:00"),
                  play("C", "C1", "2025-02-04T23:30:00"))  # fmt: skip
    return alice


def ids(client):
    track = client.get("/api/v1/top/tracks?range=all").get_json()["items"][0]
    return track["id"], track["artist_id"]


def test_logged_out_visitors_are_sent_to_login(client):
    for url in [*PAGES, "/artist/1", "/track/1"]:
        response = client.get(url)
        assert response.status_code == 302 and response.location.startswith("/?next="), url


def test_every_page_is_friendly_for_an_empty_account(authenticated_client):
    for url in ["/", *PAGES, "/month/1999-01", "/year/1999"]:
        response = authenticated_client.get(url)
        assert response.status_code == 200, url
        assert b"Something went wrong" not in response.data


def test_every_page_renders_with_data(logged_in_as, alice):
    client = logged_in_as(alice)
    for url in ["/", *PAGES, "/analytics?range=6m&by=minutes", "/analytics?from=2025-01-01&to=2025-01-31",
                "/month/2025-02?by=minutes", "/compare?a=2025-01&b=2025-02&kind=tracks"]:  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"style=" not in response.data and b"<script>" not in response.data  # the CSP allows neither


def test_artist_and_track_pages_are_for_their_owner_only(logged_in_as, alice):
    track_id, artist_id = ids(logged_in_as(alice))
    owner, bob = logged_in_as(alice), logged_in_as(alice + 1)
    assert owner.get(f"/track/{track_id}").status_code == 200
    assert owner.get(f"/artist/{artist_id}").status_code == 200
    assert bob.get(f"/track/{track_id}").status_code == 404
    assert bob.get(f"/artist/{artist_id}").status_code == 404
    assert owner.get("/track/999999").status_code == 404
    assert owner.get("/month/2025-13").status_code == 404


def active_ranges(html: str) -> list[str]:
    return re.findall(r'class="button range active" data-range="([^"]+)"', html)


def test_only_the_active_range_button_has_the_active_class(logged_in_as, alice):
    client = logged_in_as(alice)
    for query, active in [("", ["12m"]), ("?range=6m", ["6m"]), ("?range=all", ["all"]), ("?range=nonsense", ["12m"]),
                          ("?from=2025-01-01", [])]:  # fmt: skip
        html = client.get("/analytics" + query).get_data(as_text=True)
        assert active_ranges(html) == active, query
        assert html.count(" active\"") == len(active), query


def test_analytics_has_a_text_alternative_for_every_chart(logged_in_as, alice):
    html = logged_in_as(alice).get("/analytics?range=all").get_data(as_text=True)
    charts = html.count("<canvas data-chart=")
    assert charts >= 7 and html.count('<details class="chart-table">') == charts
    assert "chart.umd.min.js" in html and "js/charts.js" in html


def test_the_range_filter_with_frozen_time(logged_in_as, alice):
    with freeze_time("2026-01-10 12:00:00"):  # 6m cutoff: 2025-07-14 → nothing; 12m: 2025-01-10 → February only
        check_frozen_ranges(logged_in_as(alice))


def check_frozen_ranges(client):
    assert "Nothing in this period" in client.get("/analytics?range=6m").get_data(as_text=True)
    titles = [t["title"] for t in client.get("/api/v1/top/tracks?range=12m").get_json()["items"]]
    assert sorted(titles) == ["B1", "C1"]


def test_compare_with_bad_months_is_a_friendly_400(logged_in_as, alice):
    response = logged_in_as(alice).get("/compare?a=2025-01&b=banana")
    assert response.status_code == 400 and b"Pick two months" in response.data


@freeze_time("2026-05-08 12:00:00")
def test_the_home_page_shows_insights_and_notices(logged_in_as, alice, engine):
    with transaction(engine) as conn:
        conn.execute(users_table.update().where(users_table.c.id == alice).values(
            needs_reconnect=True, blocked_until=datetime(2026, 5, 9, 8, 0)))  # fmt: skip
    html = logged_in_as(alice).get("/").get_data(as_text=True)
    for stat in ("plays", "hours", "tracks", "artists", "turnover", "consistent", "latest", "months"):
        assert f'data-stat="{stat}"' in html
    assert 'id="notice-reconnect"' in html and "2026-05-09 08:00" in html
    assert "New tracks discovered per month" in html


def test_changing_the_time_zone_changes_the_views(logged_in_as, alice, engine):
    client = logged_in_as(alice)
    assert client.get("/api/v1/month/2025-02").get_json()["totals"]["plays"] == 2
    with transaction(engine) as conn:
        users.update_preferences(conn, alice, time_zone="Pacific/Honolulu", listen_threshold_ms=30_000)
    # In Honolulu (UTC-10) the 09:00Z plays move to 23:00 the day before (two of them to Sunday),
    # and 4 Feb 23:30Z becomes Tuesday 13:30.
    clock = client.get("/api/v1/clock?range=all").get_json()
    assert clock["time_zone"] == "Pacific/Honolulu"
    assert (clock["listens"][6][23], clock["listens"][0][23], clock["listens"][1][13]) == (2, 1, 1)
    assert client.get("/api/v1/on-this-day?date=2026-01-05").get_json()["years"][0]["tracks"][0]["title"] == "A1"
    with transaction(engine) as conn:
        users.update_preferences(conn, alice, time_zone="UTC", listen_threshold_ms=300_000)
    assert client.get("/api/v1/month/2025-02").get_json()["totals"]["listens"] == 0  # 200 s plays are no longer listens
    with pytest.raises(ValueError), transaction(engine) as conn:
        users.update_preferences(conn, alice, time_zone="Mars/Olympus", listen_threshold_ms=30_000)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users_table.c.time_zone).where(users_table.c.id == alice)).scalar() == "UTC"


def test_a_custom_period_at_the_end_of_the_calendar_falls_back_on_the_page(authenticated_client):
    response = authenticated_client.get("/analytics?to=9999-12-31")
    assert response.status_code == 200
    assert active_ranges(response.get_data(as_text=True)) == ["12m"]  # like any other unusable period


@pytest.mark.parametrize("ending", ["finishes", "dies"])
def test_while_an_import_runs_the_figures_from_before_it_are_shown_and_then_the_new_ones(
    engine, logged_in_as, alice, ending
):
    """Every file an import stores changes the cache's version; while it runs, the pages keep the
    figures they had (and say so) instead of recomputing every view after every file."""
    from music_time_machine.importers import pipeline

    client = logged_in_as(alice)
    assert client.get("/api/v1/overview").get_json()["plays"] == 4
    before = client.get("/analytics?range=all").get_data(as_text=True)
    assert 'id="import-running"' not in before
    with transaction(engine) as conn:
        batch = pipeline.start_import(conn, alice, origin="cli", label="x", options=pipeline.ImportOptions(),
                                      files_total=2)  # fmt: skip
        add_plays(conn, alice, play("D", "D1", "2025-02-05T09:00:00"))  # its first file
    assert client.get("/api/v1/overview").get_json()["plays"] == 4
    during = client.get("/analytics?range=all").get_data(as_text=True)
    assert 'id="import-running"' in during and ">D<" not in during
    assert 'id="import-running"' in client.get("/").get_data(as_text=True)
    if ending == "finishes":
        pipeline._finish(engine, batch, {"files": []})
    pipeline._running_here.discard(batch)  # run_import's last step (or, for "dies": its process is gone)
    assert client.get("/api/v1/overview").get_json()["plays"] == 5
    after = client.get("/analytics?range=all").get_data(as_text=True)
    assert 'id="import-running"' not in after and ">D<" in after
    with transaction(engine) as conn:
        bob = users.find_user(conn, "bob")["id"]
    assert 'id="import-running"' not in logged_in_as(bob).get("/").get_data(as_text=True)  # only alice imports


def test_summaries_a_dead_import_left_stale_are_brought_up_to_date_before_a_page_reads_them(
    engine, logged_in_as, alice
):
    """A playlist preview reads the summary tables without the analytics cache: the request's
    first step (not the template at its end) refreshes what an import that died left stale."""
    from music_time_machine import rollups
    from music_time_machine.history import store_plays
    from music_time_machine.importers import pipeline

    client = logged_in_as(alice)
    preview = "/playlists/preview.csv?source=top_of_year&year=2025&min_listens=1"
    assert "D1" not in client.get(preview).get_data(as_text=True)
    with transaction(engine) as conn:
        batch = pipeline.start_import(conn, alice, origin="cli", label="x", options=pipeline.ImportOptions(),
                                      files_total=1)  # fmt: skip
        store_plays(conn, alice, [play("D", "D1", "2025-02-05T09:00:00")], batch_id=batch, refresh=False)
    pipeline._running_here.discard(batch)  # its process is gone, its batch still says running
    with engine.connect() as conn:
        assert rollups.is_stale(conn, alice)
    assert "D1" in client.get(preview).get_data(as_text=True)
    with engine.connect() as conn:
        assert not rollups.is_stale(conn, alice)
