"""Fixtures for the Spotify layer's tests: a sleep recorder and a live fake Spotify."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


class SleepRecorder:
    """Stands in for `time.sleep`: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()
