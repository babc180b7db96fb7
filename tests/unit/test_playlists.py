"""The playlist sources on tiny hand-worked histories (today is 2026-05-08, UTC), rules, exports."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest

from factories import add_plays, make_user, play
from music_time_machine import db
from music_time_machine.playlists import (
    NO_URIS, SOURCES, NoCandidates, RuleError, clean_name, generate, parse_rules, savable_uris, statement, to_csv,
    to_jspf, to_m3u,
)  # fmt: skip
from music_time_machine.schema import snapshots

TODAY = date(2026, 5, 8)


def listens(artist, track, day, n=1, ms=200_000, **kw):
    return [play(artist, track, f"{day}T{10 + i:02d}:00:00", ms, **kw) for i in range(n)]


def pick(engine, user_id, source, today=TODAY, **rules):
    source = SOURCES[source]
    with engine.connect() as conn:
        return generate(conn, user_id, source, parse_rules(source, rules, today), today)


def history(engine, *groups):
    with db.transaction(engine) as conn:
        user_id = make_user(conn, "alice")
        add_plays(conn, user_id, *[p for group in groups for p in group])
    return user_id


def test_forgotten_gems_window_edges_chart_rule_and_reasons(any_engine):
    alice = history(
        any_engine,
        listens("A", "Edge 90", "2026-02-07", 5),  # exactly 90 days ago: still in the loved window
        listens("B", "Edge 365", "2025-05-08", 6),  # exactly 365 days ago: in the window
        listens("C", "Span", "2025-06-10", 3) + listens("C", "Span", "2025-09-15", 4),
        listens("D", "Charted", "2025-07-20", 1),  # 1 listen, but #1 of July 2025's chart
        listens("E", "Recent", "2025-12-01", 5) + listens("E", "Recent", "2026-02-08", 1, ms=5_000),  # a play 89 days ago
        listens("F", "Too old", "2025-05-07", 5),  # 366 days ago
        listens("G", "Few", "2026-02-01", 4),  # Feb 2026 is not a whole month of the window: no chart
        listens("H", "Skipped", "2025-08-03", 5, ms=10_000),  # plays, but no listens
    )
    chosen = pick(any_engine, alice, "forgotten_gems")
    assert [(t.title, t.reason) for t in chosen] == [
        ("Span", "7 listens in Jun–Sep 2025, none since"),
        ("Edge 365", "6 listens in May 2025, none since"),
        ("Edge 90", "5 listens in Feb 2026, none since"),
        ("Charted", "#1 in your chart of Jul 2025, none since"),
    ]
    assert [t.title for t in pick(any_engine, alice, "forgotten_gems", quiet_days=91)] == ["Span", "Edge 365", "Charted"]
    assert [t.title for t in pick(any_engine, alice, "forgotten_gems", loved_from_days=364)] == ["Span", "Edge 90", "Charted"]


def test_recent_discoveries_last_30_days_or_new_in_the_latest_chart(any_engine):
    alice = history(
        any_engine,
        listens("R", "Day 29", "2026-04-09", 3),
        listens("S", "Day 30", "2026-04-08", 3),  # first heard exactly 30 days ago: not in the last 30
        listens("T", "Once", "2026-05-01", 1),  # one listen: too few
        listens("K", "Comeback", "2025-01-05", 1, ms=10_000) + listens("K", "Comeback", "2026-05-02", 2),
    )
    assert [(t.title, t.reason) for t in pick(any_engine, alice, "recent_discoveries")] == [
        ("Day 29", "First heard 9 Apr 2026, 3 listens since"),
        ("Comeback", "First heard 5 Jan 2025, 2 listens since; new in your chart of May 2026 at #1"),
    ]
    assert [t.title for t in pick(any_engine, alice, "recent_discoveries", days=31)] == ["Day 29", "Day 30", "Comeback"]


def test_current_rotation_from_plays_of_the_last_28_days_with_ties_and_the_artist_cap(any_engine):
    alice = history(
        any_engine,
        listens("X", "X1", "2026-04-11", 4),  # today - 27: counted
        listens("X", "X2", "2026-05-01", 3),
        listens("X", "X3", "2026-05-02", 3, ms=250_000),  # same listens as X2, more minutes: first
        listens("Y", "Y1", "2026-05-03", 2),
        listens("Z", "Z1", "2026-05-04", 2),  # ties Y1 on listens and minutes: the lower track id first
        listens("W", "Old", "2026-04-10", 9),  # today - 28: outside
        listens("P", "Podcast", "2026-05-05", 9, kind="podcast"),
    )
    assert [(t.title, t.reason) for t in pick(any_engine, alice, "current_rotation")] == [
        ("X1", "4 listens in the last 28 days"), ("X3", "3 listens in the last 28 days"),
        ("X2", "3 listens in the last 28 days"), ("Y1", "2 listens in the last 28 days"),
        ("Z1", "2 listens in the last 28 days"),
    ]  # fmt: skip
    assert [t.title for t in pick(any_engine, alice, "current_rotation", max_per_artist=2, size=3)] == ["X1", "X3", "Y1"]
    assert [t.title for t in pick(any_engine, alice, "current_rotation", excluded_artists="x\n")] == ["Y1", "Z1"]


def test_current_rotation_takes_the_latest_short_term_snapshot_in_rank_order(any_engine):
    alice = history(any_engine, listens("A", "A1", "2026-05-01", 9), listens("B", "B1", "2025-01-01"),
                    listens("C", "C1", "2025-01-01"))  # fmt: skip
    with any_engine.connect() as conn:
        ids = {t.title: t.track_id for t in generate(conn, alice, SOURCES["top_of_year"],
                                                     parse_rules(SOURCES["top_of_year"], {"year": 2025}, TODAY), TODAY)}
        ids["A1"] = pick(any_engine, alice, "current_rotation")[0].track_id
    entry = {"user_id": alice, "kind": "track", "time_range": "short_term"}
    with db.transaction(any_engine) as conn:
        conn.execute(snapshots.insert(), [
            {**entry, "taken_on": date(2026, 5, 1), "rank": 1, "track_id": ids["C1"]},
            {**entry, "taken_on": date(2026, 5, 1), "rank": 2, "track_id": ids["B1"]},
            {**entry, "taken_on": date(2026, 4, 1), "rank": 1, "track_id": ids["A1"]},
            {**entry, "taken_on": date(2026, 5, 1), "rank": 1, "track_id": ids["A1"], "time_range": "long_term"},
        ])  # fmt: skip
    assert [(t.title, t.reason) for t in pick(any_engine, alice, "current_rotation")] == [
        ("C1", "#1 in Spotify's top tracks of the last 4 weeks (snapshot of 2026-05-01)"),
        ("B1", "#2 in Spotify's top tracks of the last 4 weeks (snapshot of 2026-05-01)"),
    ]


def test_this_month_years_ago_and_top_of_a_year(any_engine):
    alice = history(
        any_engine,
        listens("A", "Every May", "2024-05-10", 3) + listens("A", "Every May", "2025-05-20", 2),
        listens("B", "May once", "2025-05-03", 3),
        listens("C", "Too few", "2025-05-03", 2),
        listens("D", "April", "2025-04-30", 9),
        listens("E", "This May", "2026-05-02", 9),
    )
    assert [(t.title, t.reason) for t in pick(any_engine, alice, "this_month_years_ago")] == [
        ("Every May", "5 listens in May of 2 years, 2024–2025"), ("May once", "3 listens in May 2025"),
    ]  # fmt: skip
    assert [(t.title, t.reason) for t in pick(any_engine, alice, "top_of_year")] == [
        ("April", "9 listens in 2025"), ("May once", "3 listens in 2025"), ("Every May", "2 listens in 2025"),
        ("Too few", "2 listens in 2025"),
    ]  # fmt: skip
    assert [t.title for t in pick(any_engine, alice, "top_of_year", year="2024")] == ["Every May"]


def test_an_empty_history_gives_no_tracks_from_any_source(engine):
    alice = history(engine)
    for key in SOURCES:
        assert pick(engine, alice, key) == [], key


def test_tracks_without_a_uri_are_listed_but_not_savable_and_another_users_plays_never_count(engine):
    alice = history(engine, listens("A", "Has URI", "2026-05-01", 3), listens("B", "No URI", "2026-05-01", 2,
                                                                             uri=None, source="account"))  # fmt: skip
    with db.transaction(engine) as conn:
        add_plays(conn, make_user(conn, "bob"), *listens("Bob", "Bob's", "2026-05-01", 9))
    chosen = pick(engine, alice, "current_rotation")
    assert [(t.title, t.savable) for t in chosen] == [("Has URI", True), ("No URI", False)]
    assert savable_uris(chosen) == [chosen[0].uri]
    assert NO_URIS.startswith("None of these tracks has a Spotify URI")


def test_a_builder_is_a_pure_statement_bound_to_the_user():
    source = SOURCES["forgotten_gems"]
    compiled = statement(source, 42, source.defaults(TODAY), TODAY).compile()
    assert compiled.params["user_id_1"] == 42
    assert date(2025, 5, 8) in compiled.params.values() and date(2026, 2, 7) in compiled.params.values()


@pytest.mark.parametrize(("raw", "message"), [
    ({"size": "0"}, "Size must be a whole number from 1 to 500."),
    ({"size": "501"}, "Size must be a whole number from 1 to 500."),
    ({"size": "ten"}, "Size must be a whole number from 1 to 500."),
    ({"size": 2.5}, "Size must be a whole number from 1 to 500."),
    ({"size": True}, "Size must be a whole number from 1 to 500."),
    ({"max_per_artist": "-1"}, "At most per artist must be a whole number from 1 to 500."),
    ({"min_listens": "１"}, "Minimum listens must be a whole number from 1 to 10000."),
    ({"quiet_days": "365"}, "Not played for must be fewer days than Loved from."),
    ({"excluded_artists": 5}, "Excluded artists must be names, one per line."),
    ({"excluded_artists": [f"a{i}" for i in range(101)]}, "At most 100 artists can be excluded."),
])  # fmt: skip
def test_bad_rules_say_what_is_wrong(raw, message):
    with pytest.raises(RuleError, match=message.replace(".", r"\.")):
        parse_rules(SOURCES["forgotten_gems"], raw, TODAY)


def test_rules_default_trim_and_ignore_what_the_source_does_not_have():
    rules = parse_rules(SOURCES["forgotten_gems"], {"size": " 20 ", "year": "1", "excluded_artists": " A \n\na\nB"}, TODAY)
    assert rules == {"size": 20, "max_per_artist": 3, "min_listens": 5, "loved_from_days": 365, "quiet_days": 90,
                     "excluded_artists": ["A", "B"]}  # fmt: skip
    assert parse_rules(SOURCES["top_of_year"], {}, TODAY)["year"] == 2025
    with pytest.raises(RuleError, match="Year must be a whole number from 1990 to 2026"):
        parse_rules(SOURCES["top_of_year"], {"year": "2027"}, TODAY)


def test_names_are_trimmed_cut_to_100_and_default_to_label_and_month():
    source = SOURCES["forgotten_gems"]
    assert clean_name("  Mine  ", source, TODAY) == "Mine"
    assert clean_name("x" * 150, source, TODAY) == "x" * 100
    assert clean_name("   ", source, TODAY) == clean_name(None, source, TODAY) == "Forgotten Gems - May 2026"
    assert NoCandidates(source.missing(source.defaults(TODAY))).message.startswith("No forgotten gems")


def test_exports_csv_m3u_and_jspf(engine):
    alice = history(engine, listens("Björk", "Jóga", "2026-05-01", 2, album_name="Homogenic"),
                    listens("Кино", "Кукушка", "2026-05-01", 1, uri=None, source="account"))  # fmt: skip
    chosen = pick(engine, alice, "current_rotation")
    rows = list(csv.reader(io.StringIO(to_csv(chosen))))
    assert rows[0] == ["position", "artist", "title", "album", "spotify_uri", "spotify_url", "reason"]
    assert rows[1] == ["1", "Björk", "Jóga", "Homogenic", chosen[0].uri, chosen[0].url, "2 listens in the last 28 days"]
    assert rows[2][:5] == ["2", "Кино", "Кукушка", "", ""]
    assert to_m3u("My list", chosen) == (
        f"#EXTM3U\n#PLAYLIST:My list\n#EXTINF:-1,Björk - Jóga\n{chosen[0].url}\n# not on Spotify: Кино - Кукушка\n"
    )
    assert chosen[0].url == "https://open.spotify.com/track/" + chosen[0].uri.split(":")[2]
    jspf = to_jspf("My list", "alice", datetime(2026, 5, 8, 12, 0, 0, 5), chosen)["playlist"]
    assert (jspf["title"], jspf["creator"], jspf["date"]) == ("My list", "alice", "2026-05-08T12:00:00Z")
    assert jspf["track"][0] == {"title": "Jóga", "creator": "Björk", "album": "Homogenic", "identifier": [chosen[0].url],
                                "annotation": "2 listens in the last 28 days"}  # fmt: skip
    assert jspf["track"][1]["identifier"] == []


def test_exactly_100_excluded_artists_are_allowed_however_often_repeated():
    names = [f"Artist {i}" for i in range(100)] * 50  # repeats, in any case, count once
    rules = parse_rules(SOURCES["forgotten_gems"], {"excluded_artists": names + ["artist 7"]}, TODAY)
    assert rules["excluded_artists"] == [f"Artist {i}" for i in range(100)]
