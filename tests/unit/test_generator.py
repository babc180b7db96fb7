from collections import Counter
from datetime import UTC, date, datetime

from music_time_machine.generator import generate_history, to_extended_record


def test_same_seed_same_history_other_seed_other_history():
    first = list(generate_history(800, start=date(2024, 1, 1), end=date(2025, 1, 1), seed=3))
    again = list(generate_history(800, start=date(2024, 1, 1), end=date(2025, 1, 1), seed=3))
    other = list(generate_history(800, start=date(2024, 1, 1), end=date(2025, 1, 1), seed=4))
    assert first == again
    assert first != other


def test_a_demo_sized_history_looks_like_real_listening():
    plays = list(generate_history(8_000, start=date(2022, 1, 1), end=date(2026, 1, 1), seed=1))
    assert len(plays) == 8_000
    music = [p for p in plays if p.kind == "music"]
    assert 0 < len(plays) - len(music) < len(plays) * 0.1  # some podcasts
    first_year = datetime.fromtimestamp(min(p.ended_at for p in plays), UTC).year
    last_year = datetime.fromtimestamp(max(p.ended_at for p in plays), UTC).year
    assert (first_year, last_year) == (2022, 2025)
    skips = [p for p in music if p.skipped]
    assert 0.05 < len(skips) / len(music) < 0.25
    assert all(p.ms_played < 30_000 for p in skips)
    assert any(p.spotify_uri is None for p in music) and any(p.spotify_uri for p in music)
    # Zipf-like: the top artist gets far more plays than the median one.
    by_artist = Counter(p.artist_name for p in music).most_common()
    assert len(by_artist) > 100
    assert by_artist[0][1] > 10 * by_artist[len(by_artist) // 2][1]
    # Names in more than one script.
    assert any(not p.artist_name.isascii() for p in music)
    # More listening in the evening than at 4 a.m.
    hours = Counter(datetime.fromtimestamp(p.ended_at, UTC).hour for p in plays)
    assert hours[20] > 3 * hours[4]


def test_artists_rise_and_fade():
    plays = list(generate_history(8_000, start=date(2022, 1, 1), end=date(2026, 1, 1), seed=1))
    per_year: dict[int, Counter] = {}
    for p in plays:
        per_year.setdefault(datetime.fromtimestamp(p.ended_at, UTC).year, Counter())[p.artist_name] += 1
    (star_2022, plays_2022), = per_year[2022].most_common(1)
    (star_2025, plays_2025), = per_year[2025].most_common(1)
    assert star_2022 != star_2025
    assert per_year[2025][star_2022] < plays_2022 / 3  # faded
    assert per_year[2022][star_2025] < plays_2025 / 3  # rose


def test_extended_record_has_spotify_keys():
    play = next(generate_history(1, start=date(2024, 1, 1), end=date(2024, 1, 2)))
    record = to_extended_record(play)
    assert record["ts"].endswith("Z") and record["ms_played"] == play.ms_played
    assert {"master_metadata_track_name", "spotify_track_uri", "episode_name", "incognito_mode"} <= record.keys()
