"""Which cells of a table row changed since it was painted, as runs of adjacent columns.

The quote board and the option chain keep what each row shows (texts and colour names) as of their last
refresh and tell the view only about the cells that differ: one ``dataChanged`` per run, so Qt repaints
those cells and not the table (bench/viz_frames.py: a full repaint of either table is 7-10 ms).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["changed_runs"]


def changed_runs(old: Sequence[object] | None, new: Sequence[object]) -> list[tuple[int, int]]:
    """``[(first, last), ...]``: inclusive runs of indices where ``old`` and ``new`` differ (all of ``new``
    when there is no comparable ``old``)."""
    if old is None or len(old) != len(new):
        return [(0, len(new) - 1)] if new else []
    runs: list[tuple[int, int]] = []
    start = -1
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            if start < 0:
                start = i
        elif start >= 0:
            runs.append((start, i - 1))
            start = -1
    if start >= 0:
        runs.append((start, len(new) - 1))
    return runs
