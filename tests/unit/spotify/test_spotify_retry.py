"""The one retry harness: what is retried, how long it waits, and what is raised at once."""

from __future__ import annotations

import pytest

from music_time_machine.spotify.errors import (
    AuthorizationError,
    DataError,
    NotFound,
    RateLimited,
    TransientError,
)
from music_time_machine.spotify.retry import call_with_retry


class Script:
    """A callable that raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def transient(status: int | None = 503, ambiguous: bool = False) -> TransientError:
    return TransientError("Spotify is having trouble.", status=status, ambiguous=ambiguous)


def limited(retry_after: int | None, quota: bool = False) -> RateLimited:
    return RateLimited("Slow down.", retry_after=retry_after, quota_exceeded=quota)


def test_success_first_time_does_not_sleep(sleep):
    assert call_with_retry(Script(), sleep=sleep) == "ok"
    assert sleep.waits == []


@pytest.mark.parametrize("status", [500, 502, 503, None])
def test_transient_errors_are_retried_with_growing_jittered_waits(sleep, status):
    fn = Script(transient(status), transient(status))
    assert call_with_retry(fn, sleep=sleep, base_delay=0.5, rng=lambda: 0.5) == "ok"
    assert fn.calls == 3
    assert sleep.waits == [0.375, 0.75]  # half fixed + half jitter of 0.5, then of 1.0


def test_jitter_stays_within_the_step(sleep):
    call_with_retry(Script(transient()), sleep=sleep, base_delay=1, rng=lambda: 0.0)
    call_with_retry(Script(transient()), sleep=sleep, base_delay=1, rng=lambda: 0.999)
    assert sleep.waits[0] == 0.5
    assert 0.5 < sleep.waits[1] < 1


def test_transient_errors_give_up_after_three_attempts(sleep):
    fn = Script(transient(), transient(), transient(), transient())
    with pytest.raises(TransientError):
        call_with_retry(fn, sleep=sleep)
    assert fn.calls == 3
    assert len(sleep.waits) == 2
    assert sleep.waits[0] < sleep.waits[1]


@pytest.mark.parametrize(
    "error",
    [
        AuthorizationError("Refused.", needs_reconnect=False, status=401),
        AuthorizationError("Refused.", needs_reconnect=False, status=403),
        AuthorizationError("Expired.", needs_reconnect=True, reason="invalid_grant"),
        NotFound("Gone.", status=404),
        DataError("Unreadable.", status=200),
    ],
)
def test_authorization_not_found_and_data_errors_are_never_retried(sleep, error):
    fn = Script(error)
    with pytest.raises(type(error)):
        call_with_retry(fn, sleep=sleep)
    assert fn.calls == 1
    assert sleep.waits == []


def test_short_retry_after_is_slept_exactly_then_retried(sleep):
    fn = Script(limited(retry_after=7))
    assert call_with_retry(fn, sleep=sleep, retry_after_cap=30) == "ok"
    assert sleep.waits == [7]
    assert fn.calls == 2


def test_retry_after_equal_to_the_cap_is_still_honoured(sleep):
    call_with_retry(Script(limited(retry_after=30)), sleep=sleep, retry_after_cap=30)
    assert sleep.waits == [30]


@pytest.mark.parametrize("retry_after", [31, 86_400])
def test_long_retry_after_raises_at_once_without_sleeping(sleep, retry_after):
    fn = Script(limited(retry_after=retry_after))
    with pytest.raises(RateLimited) as caught:
        call_with_retry(fn, sleep=sleep, retry_after_cap=30)
    assert caught.value.retry_after == retry_after
    assert fn.calls == 1
    assert sleep.waits == []


def test_quota_exceeded_without_retry_after_raises_at_once(sleep):
    fn = Script(limited(retry_after=None, quota=True))
    with pytest.raises(RateLimited) as caught:
        call_with_retry(fn, sleep=sleep)
    assert caught.value.quota_exceeded
    assert sleep.waits == []


def test_429_without_retry_after_backs_off_like_a_transient_error(sleep):
    fn = Script(limited(retry_after=None))
    assert call_with_retry(fn, sleep=sleep, base_delay=0.5, rng=lambda: 0.0) == "ok"
    assert sleep.waits == [0.25]


def test_repeated_short_429s_count_as_attempts(sleep):
    fn = Script(limited(2), limited(2), limited(2))
    with pytest.raises(RateLimited):
        call_with_retry(fn, sleep=sleep)
    assert fn.calls == 3
    assert sleep.waits == [2, 2]


def test_backoff_never_sleeps_longer_than_the_cap(sleep):
    fn = Script(transient(), transient(), transient(), transient())
    with pytest.raises(TransientError):
        call_with_retry(
            fn, sleep=sleep, max_attempts=4, base_delay=20, retry_after_cap=30, rng=lambda: 0.5
        )
    assert sleep.waits == [15, 30, 30]  # 30 and 60 of backoff are cut to the cap


def test_ambiguous_failure_of_a_non_idempotent_call_is_not_retried(sleep):
    fn = Script(transient(status=None, ambiguous=True))
    with pytest.raises(TransientError):
        call_with_retry(fn, sleep=sleep, idempotent=False, rng=lambda: 0.0)
    assert fn.calls == 1


def test_clear_failure_of_a_non_idempotent_call_is_retried(sleep):
    fn = Script(transient(status=503))
    assert call_with_retry(fn, sleep=sleep, idempotent=False) == "ok"
    assert fn.calls == 2
