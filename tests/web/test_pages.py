from datetime import UTC, datetime

from factories import add_plays, play
from music_time_machine import db


def test_start_page_for_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"mtm login-link" in response.data
    assert b"Log out" not in response.data


def test_home_shows_the_basic_numbers(authenticated_client, engine, user):
    with db.transaction(engine) as conn:
        add_plays(
            conn, user,
            play("Björk", "Jóga", "2024-01-01T10:00:00", ms=180_000),
            play("Björk", "Hunter", "2024-06-01T10:00:00", ms=3_600_000),
            play("Sade", "Smooth Operator", "2025-02-03T10:00:00", ms=420_000),
            play("Show", "Episode 1", "2025-02-04T10:00:00", ms=600_000, kind="podcast", uri="spotify:episode:1"),
        )  # fmt: skip
    page = authenticated_client.get("/").get_data(as_text=True)
    assert 'data-stat="plays">3<' in page
    assert 'data-stat="hours">1.2<' in page  # (180 + 3600 + 420) s = 1.17 h; podcasts apart
    assert 'data-stat="tracks">3<' in page
    assert 'data-stat="artists">2<' in page
    assert 'data-stat="first">1 Jan 2024<' in page
    assert 'data-stat="last">3 Feb 2025<' in page
    assert "Plus 1 podcast" in page


def test_home_of_an_empty_account_is_friendly(authenticated_client):
    page = authenticated_client.get("/").get_data(as_text=True)
    assert "No history yet" in page


def test_overview_on_a_generated_history(seeded_db):
    from music_time_machine.analytics import overview

    music = [r for r in seeded_db.records if r.kind == "music"]
    with seeded_db.engine.connect() as conn:
        numbers = overview(conn, seeded_db.user_id)
    assert numbers.plays == len(music)
    assert numbers.distinct_tracks == len({r.spotify_uri or (r.artist_name, r.track_name) for r in music})
    assert numbers.first_play == datetime.fromtimestamp(min(r.ended_at for r in music), UTC)


def test_status_reports_version_database_and_user_counts(authenticated_client, engine, user):
    with db.transaction(engine) as conn:
        add_plays(conn, user, play())
    body = authenticated_client.get("/status").get_json()
    assert body["ok"] is True
    assert body["database"] == {"reachable": True, "revision": db.head_revision(), "up_to_date": True}
    assert body["user"] == {"plays": 1, "snapshots": 0}
    assert body["worker"] == {"last_run": None}
    assert "SECRET" not in str(body)


def test_status_without_login_has_no_user_part(client):
    body = client.get("/status").get_json()
    assert body["ok"] is True and "user" not in body


def test_status_is_503_when_the_database_is_gone(app, client, tmp_path):
    import sqlalchemy as sa

    app.extensions["mtm_engine"] = sa.create_engine(f"sqlite:///{tmp_path}/no-such-folder/mtm.sqlite3")
    response = client.get("/status")
    assert response.status_code == 503
    assert response.get_json()["database"]["reachable"] is False


def test_every_page_sends_a_strict_content_security_policy(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)
    assert " style=" not in response.get_data(as_text=True)


def test_unknown_pages_are_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and b"Back to the start" in response.data
