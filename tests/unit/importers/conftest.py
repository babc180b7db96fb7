"""Fixtures for the export importers: the handwritten export files and zips built from them."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from factories import EXPORTS


@pytest.fixture
def exports() -> Path:
    """The folder of handwritten export files."""
    return EXPORTS


@pytest.fixture
def make_zip(tmp_path: Path) -> Callable[..., Path]:
    """Build a zip in tmp_path from {path inside the zip: bytes or str}."""

    def build(members: Mapping[str, bytes | str], name: str = "my_spotify_data.zip") -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, content in members.items():
                archive.writestr(member, content)
        return path

    return build
