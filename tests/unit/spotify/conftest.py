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


@pytest.fixture
def fake_app():
    """A fresh fake Spotify app; its state is `fake_app.config["FAKE"]`."""
    from music_time_machine.spotify.fake import create_fake_spotify

    return create_fake_spotify()


@pytest.fixture
def fake_base(fake_app) -> Iterator[str]:
    """The fake served on a free 127.0.0.1 port; yields its base URL."""
    from music_time_machine.spotify.fake import serve_fake_spotify

    base_url, stop = serve_fake_spotify(app=fake_app)
    yield base_url
    stop()
