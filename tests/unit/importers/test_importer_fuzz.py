"""Fuzzing the importers' record parsing: any JSON-like record becomes a play or a BadRecord with a
reason, never another exception (SPEC §3.2: bad input never loses data or crashes an import)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import examples
from music_time_machine.importers.account import account_play
from music_time_machine.importers.extended import extended_play
from music_time_machine.importers.fields import BadRecord
from music_time_machine.records import PlayRecord

pytestmark = pytest.mark.fuzz

FUZZ = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None, derandomize=True)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
# Plausible values too, so records get past the first field and exercise the rest.
TIMES = st.sampled_from(["2024-03-01T10:00:00Z", "2024-03-01 10:00", "2024-02-30T10:00:00Z", "", "yesterday",
                         "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2024-03-01T10:00:00+99:00"])
VALUE = JSON | TIMES | st.integers(min_value=-(2**70), max_value=2**70)
EXTENDED_KEYS = ["ts", "ms_played", "master_metadata_track_name", "master_metadata_album_artist_name",
                 "master_metadata_album_album_name", "spotify_track_uri", "episode_name", "episode_show_name",
                 "spotify_episode_uri", "audiobook_title", "audiobook_chapter_title", "audiobook_chapter_uri",
                 "reason_start", "reason_end", "shuffle", "skipped", "offline", "offline_timestamp",
                 "incognito_mode", "platform", "conn_country", "ip_addr", "username", "user_agent_decrypted"]
ACCOUNT_KEYS = ["endTime", "msPlayed", "trackName", "artistName", "episodeName", "podcastName", "chapterName",
                "audiobookName"]


def records(keys: list[str]):
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), VALUE, max_size=len(keys))


def parsed_or_refused(parse, record) -> None:
    try:
        play = parse(record)
    except BadRecord as refused:
        assert isinstance(refused.reason, str) and refused.reason
        return
    assert isinstance(play, PlayRecord)
    assert isinstance(play.ended_at, int) and isinstance(play.ms_played, int) and play.ms_played >= 0
    assert play.track_name and play.artist_name


@FUZZ
@given(record=records(EXTENDED_KEYS), keep_personal=st.booleans(), keep_incognito=st.booleans())
def test_any_extended_history_record_is_a_play_or_a_bad_record(record, keep_personal, keep_incognito):
    parsed_or_refused(lambda r: extended_play(r, keep_personal, keep_incognito), record)


@FUZZ
@given(record=records(ACCOUNT_KEYS))
def test_any_account_data_record_is_a_play_or_a_bad_record(record):
    parsed_or_refused(account_play, record)
