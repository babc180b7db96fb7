"""The one retry harness every Spotify call goes through (SPEC §3.4)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from .errors import RateLimited, SpotifyError, TransientError

T = TypeVar("T")


def call_with_retry(
    fn: Callable[[], T],
    *,
    sleep: Callable[[float], None],
    max_attempts: int = 3,
    base_delay: float = 0.5,
    retry_after_cap: float = 30,
    rng: Callable[[], float] = random.random,
    idempotent: bool = True,
) -> T:
    """Call `fn` (which raises `SpotifyError`s) until it succeeds, retrying only what may pass.

    Transient errors back off exponentially with jitter; a 429 waits its `Retry-After` when that
    is at most `retry_after_cap` seconds and is raised at once otherwise, so the caller can
    record "blocked until". Everything else is raised on the first attempt. No wait is ever
    longer than the cap. Non-idempotent calls are not retried after an ambiguous failure.
    """
    attempt = 1
    while True:
        try:
            return fn()
        except SpotifyError as exc:
            delay = _delay_before_retry(exc, attempt, base_delay, retry_after_cap, rng, idempotent)
            if delay is None or attempt >= max_attempts:
                raise
        sleep(min(delay, retry_after_cap))
        attempt += 1


def _delay_before_retry(
    exc: SpotifyError,
    attempt: int,
    base_delay: float,
    cap: float,
    rng: Callable[[], float],
    idempotent: bool,
) -> float | None:
    """Seconds to wait before the next attempt, or None when `exc` must be raised now."""
    if isinstance(exc, RateLimited):
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= cap else None
        if exc.quota_exceeded:
            return None
        return _backoff(attempt, base_delay, rng)  # a 429 without a wait: treat it as transient
    if isinstance(exc, TransientError):
        if exc.ambiguous and not idempotent:
            return None
        return _backoff(attempt, base_delay, rng)
    return None


def _backoff(attempt: int, base_delay: float, rng: Callable[[], float]) -> float:
    # "Equal jitter": half the exponential step is fixed, half random, so waits always grow
    # while concurrent clients still spread out.
    step = base_delay * 2 ** (attempt - 1)
    return step / 2 + rng() * step / 2
