"""Isolation (SPEC §3.1): whatever ids user B puts in a URL, B never sees user A's data.

Walks every GET route of the URL map (pages, API, exports, and whatever is added later) as B,
with each parameter filled with A's ids, months and names.
"""

from __future__ import annotations

import sqlalchemy as sa

from factories import give_data, make_user
from music_time_machine import db
from music_time_machine.schema import metadata, plays, tracks
from routes import urls


A_ONLY = ("Alicetunes", "alice-secret-playlist", "alice-secret-export.zip")


def ids_of(conn, user_id: int) -> dict[str, list[int]]:
    """The ids of every row of the user in every table with a user_id and an id, and of their tracks and artists."""
    found: dict[str, list[int]] = {}
    for table in metadata.sorted_tables:
        if "user_id" in table.c and "id" in table.c:
            found[table.name] = list(conn.execute(sa.select(table.c.id).where(table.c.user_id == user_id)).scalars())
    rows = conn.execute(sa.select(tracks.c.id, tracks.c.artist_id).join(plays).where(plays.c.user_id == user_id)).all()
    found["tracks"] = sorted({row[0] for row in rows})
    found["artists"] = sorted({row[1] for row in rows})
    return found


def test_user_b_never_sees_user_a_data_whatever_the_url(engine, logged_in_as):
    with db.transaction(engine) as conn:
        alice, bob = make_user(conn, "alice"), make_user(conn, "bob")
        give_data(conn, alice, "Alicetunes")
        give_data(conn, bob, "Bobsounds")
        conn.execute(sa.text("UPDATE playlists SET name = 'alice-secret-playlist' WHERE user_id = :u"), {"u": alice})
        conn.execute(sa.text("UPDATE import_batches SET label = 'alice-secret-export.zip' WHERE user_id = :u"),
                     {"u": alice})  # fmt: skip
        a = ids_of(conn, alice)
    every_id = sorted({i for values in a.values() for i in values})
    values = {
        "artist_id": a["artists"], "track_id": a["tracks"], "month": ["2026-04", "2026-03"], "year": 2026,
        "*int": every_id, "*": "x",
    }  # fmt: skip
    client = logged_in_as(bob)
    walked = set()
    for rule, url in urls(client.application, "GET", values):
        if rule.startswith("/login") or rule == "/callback":
            continue  # logging in is not reading data
        query = {"a": "2026-03", "b": "2026-04", "range": "all", "date": "2026-04-01"}
        response = client.get(url, query_string=query)
        body = response.get_data(as_text=True)
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        for secret in A_ONLY:
            assert secret not in body, f"GET {url} showed bob alice's {secret!r}"
        walked.add(rule)
    for artist_id in a["artists"]:
        assert client.get(f"/api/v1/artist/{artist_id}").status_code == 404
        assert client.get(f"/artist/{artist_id}").status_code == 404
    assert {"/export/<any('plays.csv', 'plays.jsonl', 'snapshots.csv'):name>", "/api/v1/artist/<int:artist_id>",
            "/settings"} <= walked  # fmt: skip
    # And alice, with the same URLs, does see her own data: the walk would notice a leak.
    as_alice = logged_in_as(alice)
    assert "Alicetunes" in as_alice.get("/export/plays.csv").get_data(as_text=True)
    assert "alice-secret-playlist" in as_alice.get(f"/playlists/{a['playlists'][0]}").get_data(as_text=True)
    assert "alice-secret-export.zip" in as_alice.get(f"/import/{a['import_batches'][0]}").get_data(as_text=True)
    assert {"/playlists/<int:playlist_id>", "/import/<int:batch_id>"} <= walked
