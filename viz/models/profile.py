"""Volume profile: traded volume by price, point of control and value area (pure numpy).

Volume is the true traded quantity: each tick's ``qty`` is the rise of the cumulative day volume, so the
profile sums every share once (never candle volume smeared over a range). A :class:`PriceLadder` keeps
volume at tick resolution, split buy/sell/unknown; :meth:`PriceLadder.profile` groups it into rows of
``ticks_per_row`` ticks (a row is labelled by its lowest price), so changing the row size never loses data.

Point of control (POC): the row with the most volume; ties go to the row nearest the middle of the traded
range, then to the lower price.

Value area: the rows around the POC holding ``fraction`` (default 70 %) of the volume. Two methods:

``cbot``    the CBOT Market Profile rule ("TPO-style"): from the POC, compare the sum of the next two rows
            above with the sum of the next two below and add the larger pair; equal pairs are both added;
            near an edge a "pair" is whatever rows remain on that side. Stop once the area holds the target.
``greedy``  single-row greedy: the same expansion one row at a time (the larger neighbour first; equal
            neighbours both added).

VAH/VAL are the prices of the highest and lowest rows inside the value area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shared.events import PRICE_MAX
from viz.models import values
from viz.models.ticks import SIDE_BUY, SIDE_SELL

__all__ = [
    "VA_METHODS",
    "PriceLadder",
    "Profile",
    "ProfileStats",
    "ValueAreaMethod",
    "point_of_control",
    "price_decimals",
    "value_area",
]

ValueAreaMethod = Literal["cbot", "greedy"]
VA_METHODS: dict[str, str] = {
    "cbot": "CBOT: expand from POC two rows at a time",
    "greedy": "greedy: expand from POC one row at a time",
}
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def price_decimals(tick_size: float) -> int:
    text = f"{tick_size:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def point_of_control(total: npt.NDArray[Any]) -> int:
    """Index of the row with the most volume (ties: nearest the middle of the traded rows, then lower)."""
    if len(total) == 0 or not np.any(total > 0):
        return -1
    top = total.max()
    candidates = np.flatnonzero(total == top)
    if len(candidates) == 1:
        return int(candidates[0])
    traded = np.flatnonzero(total > 0)
    middle = (traded[0] + traded[-1]) / 2.0
    distance = np.abs(candidates - middle)
    return int(candidates[np.flatnonzero(distance == distance.min())[0]])


def value_area(
    total: npt.NDArray[Any], poc: int, fraction: float = 0.70, method: ValueAreaMethod = "cbot"
) -> tuple[int, int]:
    """``(low_row, high_row)`` inclusive of the value area around ``poc``; ``(-1, -1)`` without volume."""
    n = len(total)
    if poc < 0 or n == 0:
        return -1, -1
    vol = np.asarray(total, dtype=np.float64)
    target = fraction * float(vol.sum())
    step = 2 if method == "cbot" else 1
    if method not in VA_METHODS:
        raise ValueError(f"unknown value-area method {method!r}")
    lo = hi = poc
    inside = float(vol[poc])
    while inside < target and (lo > 0 or hi < n - 1):
        up_rows = min(step, n - 1 - hi)
        down_rows = min(step, lo)
        up = float(vol[hi + 1 : hi + 1 + up_rows].sum()) if up_rows else -1.0
        down = float(vol[lo - down_rows : lo].sum()) if down_rows else -1.0
        if up >= down and up_rows:
            hi += up_rows
            inside += up
        if down >= up and down_rows:
            lo -= down_rows
            inside += down
    return lo, hi


@dataclass(frozen=True, slots=True)
class ProfileStats:
    poc: float | None
    vah: float | None
    val: float | None
    poc_row: int
    va_rows: tuple[int, int]
    total: int
    va_volume: int


@dataclass(frozen=True, slots=True)
class Profile:
    """Rows of a profile, ascending by price: ``price`` is each row's lowest price."""

    price: F64
    buy: I64
    sell: I64
    other: I64
    row_size: float

    @property
    def total(self) -> I64:
        return self.buy + self.sell + self.other

    def stats(self, fraction: float = 0.70, method: ValueAreaMethod = "cbot") -> ProfileStats:
        total = self.total
        poc = point_of_control(total)
        if poc < 0:
            return ProfileStats(None, None, None, -1, (-1, -1), 0, 0)
        lo, hi = value_area(total, poc, fraction, method)
        return ProfileStats(
            float(self.price[poc]),
            float(self.price[hi]),
            float(self.price[lo]),
            poc,
            (lo, hi),
            int(total.sum()),
            int(total[lo : hi + 1].sum()),
        )


class PriceLadder:
    """Volume at every tick-size price level, split buy / sell / unknown side; grows as prices arrive."""

    __slots__ = ("_base", "_buy", "_other", "_sell", "decimals", "tick_size")

    def __init__(self, tick_size: float) -> None:
        if not tick_size > 0:
            raise ValueError(f"tick size must be positive, got {tick_size!r}")
        self.tick_size = float(tick_size)
        self.decimals = price_decimals(self.tick_size)
        self._base = 0  # tick index of row 0
        self._buy: I64 = np.zeros(0, np.int64)
        self._sell: I64 = np.zeros(0, np.int64)
        self._other: I64 = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._buy)

    def tick_index(self, price: Any) -> Any:
        return np.rint(np.asarray(price, dtype=np.float64) / self.tick_size).astype(np.int64)

    def _cover(self, lo: int, hi: int) -> None:
        """Grow the arrays so tick indexes ``lo..hi`` fit, with headroom to avoid regrowing each tick."""
        n = len(self._buy)
        if n == 0:
            margin = 64
            self._base = lo - margin
            size = hi - lo + 1 + 2 * margin
            self._buy, self._sell, self._other = (np.zeros(size, np.int64) for _ in range(3))
            return
        top = self._base + n - 1
        if lo >= self._base and hi <= top:
            return
        margin = max(64, n // 2)
        new_base = min(self._base, lo - margin) if lo < self._base else self._base
        new_top = max(top, hi + margin) if hi > top else top
        offset = self._base - new_base
        size = new_top - new_base + 1
        for name in ("_buy", "_sell", "_other"):
            old = getattr(self, name)
            new = np.zeros(size, np.int64)
            new[offset : offset + n] = old
            setattr(self, name, new)
        self._base = new_base

    def add(self, price: float, qty: int, side: int) -> None:
        if values.price(price) is None or values.quantity(qty) is None:
            return  # a bad value (NaN, infinite, huge) has no row
        idx = round(price / self.tick_size)
        if not len(self._buy) or not self._base <= idx < self._base + len(self._buy):
            self._cover(idx, idx)
        row = idx - self._base
        if side == SIDE_BUY:
            self._buy[row] += qty
        elif side == SIDE_SELL:
            self._sell[row] += qty
        else:
            self._other[row] += qty

    def add_many(self, price: Any, qty: Any, side: Any) -> None:
        price = np.asarray(price, dtype=np.float64)
        qty = np.asarray(qty, dtype=np.int64)
        side = np.asarray(side)
        good = (price >= 0.0) & (price < PRICE_MAX) & (qty >= 0)  # NaN fails the comparisons
        if not good.all():
            price, qty, side = price[good], qty[good], side[good]
        if len(price) == 0:
            return
        idx = self.tick_index(price)
        self._cover(int(idx.min()), int(idx.max()))
        rows = idx - self._base
        size = len(self._buy)
        for code, arr in ((SIDE_BUY, self._buy), (SIDE_SELL, self._sell)):
            mask = side == code
            if mask.any():
                arr += np.bincount(rows[mask], weights=qty[mask], minlength=size).astype(np.int64)
        mask = (side != SIDE_BUY) & (side != SIDE_SELL)
        if mask.any():
            self._other += np.bincount(rows[mask], weights=qty[mask], minlength=size).astype(np.int64)

    def clear(self) -> None:
        self._buy = np.zeros(0, np.int64)
        self._sell = np.zeros(0, np.int64)
        self._other = np.zeros(0, np.int64)

    @property
    def total_volume(self) -> int:
        return int(self._buy.sum() + self._sell.sum() + self._other.sum())

    def profile(self, ticks_per_row: int = 1) -> Profile:
        """Rows of ``ticks_per_row`` ticks from the lowest to the highest traded price."""
        k = max(1, int(ticks_per_row))
        total = self._buy + self._sell + self._other
        traded = np.flatnonzero(total)
        if len(traded) == 0:
            empty_f: F64 = np.zeros(0, np.float64)
            empty_i: I64 = np.zeros(0, np.int64)
            return Profile(empty_f, empty_i, empty_i, empty_i, k * self.tick_size)
        first, last = int(traded[0]), int(traded[-1])
        lo_tick, hi_tick = self._base + first, self._base + last
        row_lo, row_hi = lo_tick // k, hi_tick // k
        start = row_lo * k - self._base  # may be < 0 or run past the end: pad with zeros
        length = (row_hi - row_lo + 1) * k
        rows = []
        for arr in (self._buy, self._sell, self._other):
            window = np.zeros(length, np.int64)
            src_lo, src_hi = max(start, 0), min(start + length, len(arr))
            window[src_lo - start : src_hi - start] = arr[src_lo:src_hi]
            rows.append(window.reshape(-1, k).sum(axis=1))
        prices = np.round(np.arange(row_lo, row_hi + 1, dtype=np.float64) * k * self.tick_size, self.decimals)
        return Profile(prices, rows[0], rows[1], rows[2], k * self.tick_size)
