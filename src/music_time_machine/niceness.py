"""Imports run at low CPU priority, so that a long import never starves the pages being served."""

from __future__ import annotations

import os

IMPORT_NICENESS = 10  # `nice -n 10`: on a busy machine the import gets what the pages leave over


def lower_priority(niceness: int = IMPORT_NICENESS) -> None:
    """Raise this process's niceness to at least `niceness` (never lowers it; no-op where unsupported)."""
    try:
        current = os.nice(0)
        if current < niceness:
            os.nice(niceness - current)
    except (AttributeError, OSError):  # Windows has no os.nice
        pass
