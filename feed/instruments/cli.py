"""``dhan instruments``: fetch and check the scrip master, load it into MySQL, show today's universe.

    dhan instruments                         # fetch + parse, print counts per segment and skipped rows
    dhan instruments --store                 # ... and upsert every instrument into dhan_instruments
    dhan instruments --show --price NIFTY=26050 --price BANKNIFTY=59300
                                             # the universe the feed would subscribe today, as a table

Without ``--price`` an underlying has no reference price, so ``--show`` lists it without options (as the feed
does until the first index tick arrives).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from datetime import date
from typing import Any

from feed.instruments.parse import ScripMasterReport, fetch_scrip_master, parse_scrip_master_report
from feed.instruments.store import store_instruments
from feed.universe import ROLES, Universe, UniverseSelector
from shared.clock import ist_trading_day
from shared.db import check_schema, create_pool
from shared.errors import ConfigError
from shared.settings import Settings, mask_url

__all__ = ["HELP", "IS_SERVICE", "add_arguments", "parse_prices", "render_universe", "run"]

HELP = "load the scrip master into dhan_instruments and show the universe"
IS_SERVICE = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        help="scrip master URL or file (default: DHAN_INSTRUMENTS_URL, "
        "else the simulator's without a token, Dhan's with one)",
    )
    parser.add_argument("--store", action="store_true", help="upsert every instrument into dhan_instruments")
    parser.add_argument("--show", action="store_true", help="print the universe selected for the trading day")
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="UNDERLYING=PRICE",
        help="reference price for --show, e.g. NIFTY=26050 (repeatable)",
    )
    parser.add_argument(
        "--date", default=None, metavar="YYYY-MM-DD", help="trading day for --show (default: today in IST)"
    )
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="download timeout (default DHAN_INSTRUMENTS_TIMEOUT_S)")


def parse_prices(items: list[str]) -> dict[str, float]:
    """``["NIFTY=26050", "banknifty=59300"]`` -> ``{"NIFTY": 26050.0, "BANKNIFTY": 59300.0}``."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            price = float(value)
        except ValueError:
            price = math.nan
        if not sep or not name.strip() or not (math.isfinite(price) and price > 0):
            raise ConfigError(f"--price expects UNDERLYING=PRICE with a positive price, got {item!r}")
        out[name.strip().upper()] = price
    return out


def _parse_day(text: str | None) -> date:
    if text is None:
        return ist_trading_day(time.time())
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date expects YYYY-MM-DD, got {text!r}") from None


def _summary(report: ScripMasterReport, source: str) -> list[str]:
    by_segment = Counter(i.segment for i in report.instruments)
    lines = [
        f"scrip master {source}: {report.layout} layout, {report.rows} rows, "
        f"{len(report.instruments)} instruments, {report.bad_rows} bad rows, "
        f"{report.unmapped_rows} rows of segments the feed does not carry",
        "  " + "  ".join(f"{seg} {n}" for seg, n in sorted(by_segment.items())),
    ]
    lines += [f"  skipped {example}" for example in report.bad_examples]
    if report.defaulted_ticks:
        lines.append(f"  {report.defaulted_ticks} rows had a zero tick size (Rs 0.01 assumed)")
    return lines


def _fmt_num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def render_universe(universe: Universe, selector: UniverseSelector, day: date) -> list[str]:
    """The universe as text: one line per member (by role, underlying, expiry, strike), then counts."""
    order = {r: n for n, r in enumerate(ROLES)}
    members = sorted(
        universe.members.values(),
        key=lambda m: (
            order.get(m.role, 99),
            m.info.underlying,
            m.info.expiry or date.min,
            m.info.strike or 0.0,
            m.info.option_type or "",
            m.info.security_id,
        ),
    )
    header = ("role", "segment", "id", "symbol", "expiry", "strike", "type", "lot", "tick", "mode")
    rows = [
        (
            m.role,
            m.info.segment,
            str(m.info.security_id),
            m.info.trading_symbol,
            m.info.expiry.isoformat() if m.info.expiry else "",
            _fmt_num(m.info.strike),
            m.info.option_type or "",
            str(m.info.lot_size),
            _fmt_num(m.info.tick_size),
            m.mode,
        )
        for m in members
    ]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = [
        f"universe for {day.isoformat()}:",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    counts = universe.count_by_role()
    lines.append(
        "counts: "
        + ", ".join(f"{role} {counts.get(role, 0)}" for role in ROLES)
        + f", total {len(universe.members)}"
    )
    for name, expiry in selector.option_expiries.items():
        atm = universe.atm.get(name)
        state = f"ATM {atm:g}" if atm is not None else "no price given: no options (use --price)"
        lines.append(f"{name} options: expiry {expiry.isoformat()}, {state}")
    lines += [f"note: {note}" for note in selector.notes]
    return lines


async def _store(settings: Settings, report: ScripMasterReport) -> str:
    pool: Any = await create_pool(settings, maxsize=1)
    try:
        await check_schema(pool)  # one line "run dhan db init" rather than a failed insert
        count = await store_instruments(pool, report.instruments)
    finally:
        pool.close()
        await pool.wait_closed()
    return f"stored {count} instruments into dhan_instruments ({settings.mysql.target.masked})"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    prices = parse_prices(args.price)
    day = _parse_day(args.date)
    source = args.url or settings.effective_instruments_url
    timeout_s = settings.instruments.timeout_s if args.timeout is None else args.timeout
    if not timeout_s > 0:
        raise ConfigError(f"--timeout {args.timeout}: must be above 0 seconds")
    text = await fetch_scrip_master(source, timeout_s=timeout_s, max_bytes=settings.instruments.max_mb << 20)
    report = parse_scrip_master_report(text)
    shown = mask_url(source) if "://" in source else source
    print("\n".join(_summary(report, shown)))
    if args.store:
        print(await _store(settings, report))
    if args.show:
        selector = UniverseSelector(report.instruments, settings, day)
        print("\n".join(render_universe(selector.initial(prices), selector, day)))
    return 0
