"""Every analytics query on a tiny hand-built history, with the expected values worked out by hand.

Alice lives in Berlin (UTC+1 in winter, UTC+2 from 30 March 2025 03:00). Her plays (UTC):

  Jan  A/A1 ×3 (Mon–Wed 09:00Z), B/B1 Wed 19:00Z, C/C1 Thu 19:00Z skipped after 10 s
  Feb  A/A1 31 Jan 23:30Z (= 1 Feb 00:30 in Berlin: a February play), B/B1 ×3 (3–5 Feb 09:00Z),
       A/A1 5 Feb 10:00Z, A/A2 6 and 7 Feb 10:00Z
  Mar  C/C1 29 Mar 23:30Z (Sun 00:30 CET) and 30 Mar 01:30Z (Sun 03:30 CEST: after the DST jump)

Every play but the skip lasts 200 s and is a listen.
"""

from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from factories import add_plays, make_user, play
from music_time_machine import analytics as an
from music_time_machine.db import transaction
from music_time_machine.schema import snapshots

ALL = an.Period("all", None, None)
HISTORY = [
    play("A", "A1", "2025-01-06T09:00:00", album_name="Album A"),
    play("A", "A1", "2025-01-07T09:00:00", album_name="Album A"),
    play("A", "A1", "2025-01-08T09:00:00", album_name="Album A"),
    play("B", "B1", "2025-01-08T19:00:00", album_name="Album B"),
    play("C", "C1", "2025-01-09T19:00:00", ms=10_000, skipped=True),
    play("A", "A1", "2025-01-31T23:30:00", album_name="Album A"),
    play("B", "B1", "2025-02-03T09:00:00", album_name="Album B"),
    play("B", "B1", "2025-02-04T09:00:00", album_name="Album B"),
    play("B", "B1", "2025-02-05T09:00:00", album_name="Album B"),
    play("A", "A1", "2025-02-05T10:00:00", album_name="Album A"),
    play("A", "A2", "2025-02-06T10:00:00", album_name="Album A"),
    play("A", "A2", "2025-02-07T10:00:00", album_name="Album A"),
    play("C", "C1", "2025-03-29T23:30:00"),
    play("C", "C1", "2025-03-30T01:30:00"),
]


@pytest.fixture
def history(any_engine):
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
        bob = make_user(conn, "bob")
        add_plays(conn, alice, *HISTORY)
        add_plays(conn, bob, play("B", "B1", "2025-01-08T19:00:00"))  # bob's play never shows for alice
    with any_engine.connect() as conn:
        yield conn, alice


def names(entries, key="title"):
    return [(e[key], e["listens"]) for e in entries]


def test_monthly_charts_use_the_local_calendar_month(history):
    conn, alice = history
    jan = an.monthly_chart(conn, alice, "2025-01")
    assert names(jan["tracks"]) == [("A1", 3), ("B1", 1)]  # the skip has no listen: not in the chart
    assert names(jan["artists"], "name") == [("A", 3), ("B", 1)]
    feb = an.monthly_chart(conn, alice, "2025-02")
    assert names(feb["tracks"]) == [("B1", 3), ("A1", 2), ("A2", 2)]  # A1 holds the 31 Jan 23:30Z play
    assert names(feb["artists"], "name") == [("A", 4), ("B", 3)]
    by_minutes = an.monthly_chart(conn, alice, "2025-01", by="minutes")
    assert [(e["title"], e["minutes"]) for e in by_minutes["tracks"]] == [("A1", 10.0), ("B1", 3.3), ("C1", 0.2)]


def test_catalogue_growth_counts_first_plays_per_month_and_cumulates(history):
    conn, alice = history
    assert an.catalogue_growth(conn, alice, ALL) == [
        {"month": "2025-01", "new_tracks": 3, "total_tracks": 3},
        {"month": "2025-02", "new_tracks": 1, "total_tracks": 4},
        {"month": "2025-03", "new_tracks": 0, "total_tracks": 4},
    ]
    feb_on = an.catalogue_growth(conn, alice, an.Period("custom", date(2025, 2, 1), None))
    assert feb_on[0] == {"month": "2025-02", "new_tracks": 1, "total_tracks": 4}


def test_artist_diversity_and_consistency(history):
    conn, alice = history
    assert [d["artists"] for d in an.artist_diversity(conn, alice, ALL)] == [3, 2, 1]
    consistent = an.consistent_artists(conn, alice, ALL)
    assert consistent["months"] == 3
    assert [(a["name"], a["months_charted"]) for a in consistent["artists"]] == [("A", 2), ("B", 2), ("C", 1)]
    assert an.most_consistent_artist(conn, alice)["name"] == "A"  # tie with B broken by listens (7 to 4)


def test_turnover_is_the_share_of_the_latest_chart_not_in_the_previous_one(history):
    conn, alice = history
    assert an.track_turnover(conn, alice) == {"month": "2025-03", "previous": "2025-02", "new": 1, "size": 1, "share": 1.0}


def test_listening_clock_in_berlin_across_the_dst_change(history):
    conn, alice = history
    grid = an.listening_clock(conn, alice, ALL)["listens"]
    mon, tue, wed, thu, fri, sat, sun = range(7)
    expected = {(mon, 10): 2, (tue, 10): 2, (wed, 10): 2, (wed, 11): 1, (wed, 20): 1, (thu, 11): 1, (fri, 11): 1,
                (sat, 0): 1, (sun, 0): 1, (sun, 3): 1}  # fmt: skip
    actual = {(d, h): grid[d][h] for d in range(7) for h in range(24) if grid[d][h]}
    assert actual == expected  # 03:30 CEST, not 02:30: the clock knows the DST jump


def test_time_per_month_and_skip_rate(history):
    conn, alice = history
    months = an.time_per_month(conn, alice, ALL)
    assert [(m["month"], m["minutes"], m["plays"], m["skips"]) for m in months] == [
        ("2025-01", 13.5, 5, 1), ("2025-02", 23.3, 7, 0), ("2025-03", 6.7, 2, 0),
    ]  # fmt: skip
    rate = an.skip_rate(conn, alice, ALL)
    assert (rate["plays"], rate["skips"], rate["months"][0]["skip_rate"]) == (14, 1, 0.2)


def test_top_lists_for_a_range(history):
    conn, alice = history
    assert names(an.top_tracks(conn, alice, ALL)) == [("A1", 5), ("B1", 4), ("C1", 2), ("A2", 2)]
    assert names(an.top_artists(conn, alice, ALL), "name") == [("A", 7), ("B", 4), ("C", 2)]
    assert [(a["album"], a["listens"]) for a in an.top_albums(conn, alice, ALL)] == [("Album A", 7), ("Album B", 4)]
    # C1 has 10 s more than A2 (the skip). From 5 February on (a partial month: read from the daily rollup) to 30 March.
    period = an.Period("custom", date(2025, 2, 5), date(2025, 3, 30))
    assert names(an.top_tracks(conn, alice, period)) == [("C1", 2), ("A2", 2), ("A1", 1), ("B1", 1)]
    assert names(an.top_tracks(conn, alice, an.Period("custom", date(2025, 2, 5), date(2025, 2, 5)))) == [("A1", 1), ("B1", 1)]


def test_taste_shift_gives_monthly_ranks_of_the_top_artists(history):
    conn, alice = history
    shift = an.taste_shift(conn, alice, ALL)
    assert shift["months"] == ["2025-01", "2025-02", "2025-03"]
    assert [(a["name"], a["ranks"]) for a in shift["artists"]] == [("A", [1, 1, None]), ("B", [2, 2, None]), ("C", [None, None, 1])]


def test_compare_two_months(history):
    conn, alice = history
    result = an.compare_months(conn, alice, "2025-01", "2025-02", kind="tracks")
    assert [(e["name"], e["rank"]) for e in result["new"]] == [("A2", 3)]
    assert result["dropped"] == []
    assert [(e["name"], e["previous_rank"], e["rank"]) for e in result["risers"]] == [("B1", 2, 1)]
    assert [(e["name"], e["previous_rank"], e["rank"]) for e in result["fallers"]] == [("A1", 1, 2)]
    assert [e["name"] for e in an.compare_months(conn, alice, "2025-02", "2025-03")["dropped"]] == ["A", "B"]


def test_month_page_year_in_review_and_on_this_day(history):
    conn, alice = history
    feb = an.month_page(conn, alice, "2025-02")
    assert feb["has_data"] and feb["discoveries"]["count"] == 1 and feb["discoveries"]["tracks"][0]["title"] == "A2"
    assert (feb["previous_month"], feb["next_month"]) == ("2025-01", "2025-03")
    assert an.month_page(conn, alice, "2024-06")["has_data"] is False
    year = an.year_in_review(conn, alice, 2025)
    assert (year["minutes"], year["plays"], year["busiest_month"], year["discoveries"]["count"]) == (43.5, 14, "2025-02", 4)
    assert year["top_artists"][0]["name"] == "A"
    assert an.year_in_review(conn, alice, 2019)["has_data"] is False
    (day,) = an.on_this_day(conn, alice, date(2026, 2, 5))
    assert (day["year"], day["plays"], sorted(t["title"] for t in day["tracks"])) == (2025, 2, ["A1", "B1"])
    assert an.on_this_day(conn, alice, date(2026, 7, 1)) == []


def test_on_this_day_lists_every_year_with_plays_newest_first_whatever_today_is(any_engine):
    with transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(conn, alice, play("A", "A1", "2021-06-01T12:00:00"), play("B", "B1", "2023-06-01T12:00:00"),
                  play("B", "B1", "2023-06-01T13:00:00"), play("C", "C1", "2023-06-02T12:00:00"))  # fmt: skip
        years = [(y["year"], y["plays"], [t["title"] for t in y["tracks"]]) for y in an.on_this_day(conn, alice, date(2026, 6, 1))]
        assert years == [(2023, 2, ["B1"]), (2021, 1, ["A1"])]
        far_future = an.on_this_day(conn, alice, date(9999, 6, 1))  # one query, not one per year since 2021
        assert [(y["year"], y["date"]) for y in far_future] == [(2023, "2023-06-01"), (2021, "2021-06-01")]
        assert [y["year"] for y in an.on_this_day(conn, alice, date(2022, 6, 1))] == [2021]


def test_artist_and_track_pages_and_strangers(history):
    conn, alice = history
    a = next(x for x in an.top_artists(conn, alice, ALL) if x["name"] == "A")
    page = an.artist_page(conn, alice, a["id"])
    assert (page["first_listen"], page["last_listen"], page["listens"]) == ("2025-01-06", "2025-02-07", 7)
    assert [(m["month"], m["listens"], m["rank"]) for m in page["months"]] == [("2025-01", 3, 1), ("2025-02", 4, 1)]
    c1 = next(x for x in an.top_tracks(conn, alice, ALL) if x["title"] == "C1")
    track = an.track_page(conn, alice, c1["id"])
    assert (track["first_listen"], track["last_listen"], track["listens"]) == ("2025-01-09", "2025-03-30", 2)
    assert [(m["month"], m["listens"], m["rank"]) for m in track["months"]] == [("2025-01", 0, None), ("2025-03", 2, 1)]
    assert an.artist_page(conn, alice, 999_999) is None
    bob = alice + 1
    assert an.track_page(conn, bob, c1["id"]) is None  # bob never played C1


def test_data_coverage_and_snapshot_charts(any_engine, history):
    conn, alice = history
    c1 = next(x for x in an.top_tracks(conn, alice, ALL) if x["title"] == "C1")
    with transaction(any_engine) as w:
        w.execute(snapshots.insert(), [
            {"user_id": alice, "taken_on": date(2025, 4, 1), "time_range": "short_term", "kind": "track", "rank": 1,
             "track_id": c1["id"], "artist_id": None},
            {"user_id": alice, "taken_on": date(2025, 4, 1), "time_range": "short_term", "kind": "artist", "rank": 1,
             "track_id": None, "artist_id": c1["artist_id"]},
        ])  # fmt: skip
    conn.rollback()
    assert an.data_coverage(conn, alice) == [
        {"month": "2025-01", "sources": ["extended"]}, {"month": "2025-02", "sources": ["extended"]},
        {"month": "2025-03", "sources": ["extended"]}, {"month": "2025-04", "sources": ["snapshot"]},
    ]  # fmt: skip
    chart = an.snapshot_chart(conn, alice, "2025-04")
    assert (chart["taken_on"], chart["tracks"][0]["title"], chart["artists"][0]["name"]) == ("2025-04-01", "C1", "C")


@pytest.mark.parametrize(
    ("key", "cutoff"),
    [("6m", date(2025, 11, 9)), ("12m", date(2025, 5, 8)), ("24m", date(2024, 5, 8)), ("all", None),
     ("bogus", date(2025, 5, 8)), ("", date(2025, 5, 8))],
)  # fmt: skip
def test_range_cutoffs(key, cutoff):
    today = date(2026, 5, 8)
    assert an.resolve_period(key, None, None, today).start == cutoff


def test_custom_periods_and_strict_parsing():
    today = date(2026, 5, 8)
    assert an.resolve_period("6m", "2025-01-01", "2025-03-31", today) == an.Period("custom", date(2025, 1, 1), date(2025, 3, 31))
    assert an.resolve_period(None, "2025-04-01", "2025-01-01", today).key == "12m"  # reversed: the page falls back
    for bad in [("bogus", None, None), ("6m", "2025-13-01", None), ("6m", "2025-02-01", "2025-01-01")]:
        with pytest.raises(ValueError):
            an.resolve_period(*bad, today, strict=True)
    with pytest.raises(ValueError):
        an.parse_month("2025-13")


def test_the_range_filter_counts_the_cutoff_day_and_not_the_day_before(engine):
    from freezegun import freeze_time

    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(conn, alice, play("X", "Before", "2025-11-08T23:59:59"), play("X", "OnCutoff", "2025-11-09T00:00:00"),
                  play("X", "Today", "2026-05-08T11:00:00"))  # fmt: skip
    with freeze_time("2026-05-08 12:00:00"), engine.connect() as conn:
        from music_time_machine.clock import utcnow

        period = an.resolve_period("6m", None, None, utcnow().date())
        assert sorted(t["title"] for t in an.top_tracks(conn, alice, period)) == ["OnCutoff", "Today"]
        period = an.resolve_period("12m", None, None, utcnow().date())
        assert len(an.top_tracks(conn, alice, period)) == 3


def test_play_counts_include_podcasts_and_follow_every_change(any_engine, history):
    """/settings and /status count from the cache; a podcast-only store must still show."""
    conn, alice = history
    assert an.play_counts(conn, alice) == (len(HISTORY), 4)
    conn.rollback()
    with transaction(any_engine) as writer:
        add_plays(writer, alice, play("Pod", "Episode 1", "2025-04-01T10:00:00", kind="podcast"))
    assert an.play_counts(conn, alice) == (len(HISTORY) + 1, 5)


def test_play_counts_are_counted_once_per_version(engine):
    """Counting a million plays takes a quarter of a second: the second ask must not count again."""
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(conn, alice, play("A", "A1"))
    seen = []
    listen = lambda *args: seen.append(args[2])  # noqa: E731  (conn, cursor, statement, …)
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.connect() as conn:
            assert an.play_counts(conn, alice) == an.play_counts(conn, alice) == (1, 1)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    assert sum("count(DISTINCT plays.track_id)" in statement for statement in seen) == 1


def test_cache_state_knows_the_version_and_a_running_import(any_engine, history):
    from music_time_machine.importers import pipeline

    conn, alice = history
    first = an.cache_state(conn, alice)
    assert first.version and not first.importing
    assert an.overview(conn, alice).plays == len(HISTORY)
    conn.rollback()
    with transaction(any_engine) as writer:
        batch = pipeline.start_import(writer, alice, origin="cli", label="x", options=pipeline.ImportOptions(),
                                      files_total=1)  # fmt: skip
        add_plays(writer, alice, play("D", "D1", "2025-02-05T09:00:00"))
    during = an.cache_state(conn, alice)
    assert during.importing and during.version != first.version
    assert an.overview(conn, alice).plays == len(HISTORY)  # remembered from before the import
    pipeline._running_here.discard(batch)  # the import's process is gone
    conn.rollback()
    assert not an.cache_state(conn, alice).importing
    assert an.overview(conn, alice).plays == len(HISTORY) + 1


def test_a_view_another_thread_is_computing_is_waited_for_not_computed_again(engine):
    from concurrent.futures import Future

    with transaction(engine) as conn:
        alice = make_user(conn, "alice")

    def view(conn, user_id):
        raise AssertionError("computed although another thread was computing it")

    with engine.connect() as conn:
        state = an.cache_state(conn, alice)
        computing = Future()
        an._PENDING[(str(engine.url), alice, "view", ())] = (state.version, computing)
        try:
            computing.set_result("the other thread's answer")
            assert an.cached(conn, alice, view, state=state) == "the other thread's answer"
        finally:
            an._PENDING.clear()


def test_while_another_thread_computes_the_new_answer_the_previous_one_is_served(engine):
    from concurrent.futures import Future

    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
    with engine.connect() as conn:
        before = an.cache_state(conn, alice)
        assert an.cached(conn, alice, lambda conn, user_id: "before", state=before) == "before"
        after = an.CacheState(before.version + 1, importing=False)  # an import has just ended
        key = (str(engine.url), alice, "<lambda>", ())
        computing = Future()
        computing.set_result("after, from the other thread")  # what waiting for it would give
        an._PENDING[key] = (after.version, computing)
        try:
            assert an.cached(conn, alice, lambda conn, user_id: "computed twice", state=after) == "before"
        finally:
            an._PENDING.clear()
        assert an.cached(conn, alice, lambda conn, user_id: "after", state=after) == "after"
        assert an.cached(conn, alice, lambda conn, user_id: "not again", state=after) == "after"


def test_while_the_recompute_slots_are_taken_an_out_of_date_view_is_served_its_previous_answer(engine, monkeypatch):
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")
    with engine.connect() as conn:
        before = an.cache_state(conn, alice)
        assert an.cached(conn, alice, lambda conn, user_id: "before", state=before) == "before"
        after = an.CacheState(before.version + 1, importing=False)  # every view out of date at once
        monkeypatch.setattr(an, "_recomputing", Counter({alice: an._RECOMPUTE_SLOTS}))  # other threads recompute hers
        assert an.cached(conn, alice, lambda conn, user_id: "computed", state=after) == "before"
        assert an.cached(conn, alice, lambda conn, user_id, n: "never seen", 7, state=after) == "never seen"
        bob = alice + 1  # another user's views have slots of their own
        assert an.cached(conn, bob, lambda conn, user_id: "bob before", state=before) == "bob before"
        assert an.cached(conn, bob, lambda conn, user_id: "bob after", state=after) == "bob after"
        an._recomputing[alice] -= 1  # a slot is free again
        assert an.cached(conn, alice, lambda conn, user_id: "after", state=after) == "after"
        assert an._recomputing[alice] == an._RECOMPUTE_SLOTS - 1  # the slot was given back


def test_a_failing_view_leaves_nothing_pending(engine):
    with transaction(engine) as conn:
        alice = make_user(conn, "alice")

    def view(conn, user_id):
        raise RuntimeError("the database went away")

    with engine.connect() as conn, pytest.raises(RuntimeError):
        an.cached(conn, alice, view)
    assert not an._PENDING
    with engine.connect() as conn:  # failing again with a previous answer: its slot is given back
        state = an.cache_state(conn, alice)
        an._CACHE[(str(engine.url), alice, "view", ())] = (state.version + 1, "previous")
        with pytest.raises(RuntimeError):
            an.cached(conn, alice, view, state=state)
    assert not an._PENDING and an._recomputing[alice] == 0
