"""Exponential backoff as a pure function, so it is tested as arithmetic."""

from __future__ import annotations

import random

__all__ = ["backoff_s"]


def backoff_s(
    attempt: int,
    *,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped, +/- ``jitter`` share.

    Attempt 0 means "retry at once" (the first reconnect after a good session is immediate).
    """
    if attempt <= 0:
        return 0.0
    delay = min(cap_s, base_s * (2.0 ** min(attempt - 1, 30)))
    if jitter:
        r = (rng or random).uniform(-jitter, jitter)
        delay = max(0.0, delay * (1.0 + r))
    return min(delay, cap_s * (1.0 + jitter))
