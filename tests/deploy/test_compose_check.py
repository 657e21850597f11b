"""The parts of ``make compose-check`` that decide pass or fail, on real inputs: redis-cli's output of a real
Redis, compose's ``ps`` lines, the monitor's own alert events, and window dumps of a real X server.

The check itself (the whole stack on a Docker engine) runs as ``make compose-check``, not here.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import redis

from control.monitor.alerts import AlertBook
from control.monitor.rules import Condition
from scripts.compose_tools import DRAIN_SCRIPT, Redactor, alert_cycle, parse_ps, streams_behind
from scripts.compose_x11 import XDisplay, looks_drawn, png_colours, xwd_to_png
from tests.conftest import PrivateRedis


def test_redactor_hides_every_generated_secret() -> None:
    redact = Redactor(["abc123", "abc123def", ""])
    assert redact("url redis://:abc123def@redis x=abc123.") == "url redis://:***@redis x=***."


def test_ps_lines_and_readiness() -> None:
    lines = "\n".join(json.dumps(r) for r in (
        {"Service": "dbinit", "State": "exited", "Health": "", "ExitCode": 0, "Name": "p-dbinit-1"},
        {"Service": "instruments", "State": "exited", "Health": "", "ExitCode": 1, "Name": "p-instruments-1"},
        {"Service": "feed", "State": "running", "Health": "starting", "ExitCode": 0, "Name": "p-feed-1"},
        {"Service": "writer", "State": "running", "Health": "healthy", "ExitCode": 0, "Name": "p-writer-1"},
        {"Service": "viz", "State": "running", "Health": "", "ExitCode": 0, "Name": "p-viz-1"},
    ))
    states = parse_ps(lines)
    assert {n: s.ready for n, s in states.items()} == {
        "dbinit": True, "instruments": False, "feed": False, "writer": True, "viz": True}
    assert states["instruments"].describe() == "exited 1" and states["feed"].describe() == "running, starting"
    as_array = parse_ps(json.dumps([{"Service": "redis", "State": "running", "Health": "healthy"}]))
    assert as_array["redis"].ready and parse_ps("") == {}


@pytest.fixture
def redis_cli(tmp_path: Path, private_redis: PrivateRedis) -> Path:
    """A directory whose ``redis-cli`` talks to the test's private Redis (the check runs it in the container)."""
    exe = shutil.which("redis-cli")
    if exe is None:
        pytest.skip("redis-cli not on PATH")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "redis-cli").write_text(f'#!/bin/sh\nexec {exe} -p {private_redis.port} "$@"\n')
    (shim / "redis-cli").chmod(0o755)
    return shim


def _drain_report(shim: Path, *streams: str) -> str:
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", DRAIN_SCRIPT, "sh", *streams], capture_output=True, text=True, env=env,
                          check=True, timeout=30).stdout


def test_streams_behind_until_every_group_has_read_and_acked(redis_cli: Path, private_redis: PrivateRedis) -> None:
    r = redis.Redis(port=private_redis.port)
    for _ in range(3):
        r.xadd("s:ticks", {"d": "x"})
    r.xadd("s:quotes", {"d": "y"})
    r.xgroup_create("s:ticks", "writer", id="0")
    r.xgroup_create("s:quotes", "writer", id="0")
    r.xgroup_create("s:quotes", "greeks", id="0")
    streams = ("s:ticks", "s:quotes", "s:empty")
    behind = streams_behind(_drain_report(redis_cli, *streams))
    assert sorted(b.split(":")[1] for b in behind) == ["quotes greeks", "quotes writer", "ticks writer"], behind

    delivered = r.xreadgroup("writer", "w1", {"s:ticks": ">", "s:quotes": ">"})
    behind = streams_behind(_drain_report(redis_cli, *streams))
    assert any(b.startswith("s:ticks writer: 3 pending") for b in behind), behind  # read, not acknowledged
    for stream, entries in delivered:
        r.xack(stream, "writer", *[eid for eid, _ in entries])
    r.xreadgroup("greeks", "g1", {"s:quotes": ">"})
    last = r.xinfo_stream("s:quotes")["last-generated-id"].decode()
    assert streams_behind(_drain_report(redis_cli, *streams)) == [f"s:quotes greeks: 1 pending, at {last} of {last}"]
    r.xack("s:quotes", "greeks", last)
    assert streams_behind(_drain_report(redis_cli, *streams)) == []


def test_alert_cycle_from_the_monitors_own_events(redis_cli: Path, private_redis: PrivateRedis) -> None:
    book = AlertBook()
    down = Condition("redis_unreachable", "redis_unreachable", "critical", "Redis is not reachable: refused")
    other = Condition("service_down:feed", "service_down", "critical", "feed heartbeat gone")
    r = redis.Redis(port=private_redis.port)

    def publish(events: list[dict[str, object]]) -> None:
        for ev in events:
            r.xadd("s:alerts", {"d": json.dumps(ev)})

    def seen(since_s: float) -> tuple[bool, str]:
        env = {**os.environ, "PATH": f"{redis_cli}:{os.environ['PATH']}"}
        out = subprocess.run(["redis-cli", "XRANGE", "s:alerts", "-", "+"], capture_output=True, text=True,
                             env=env, check=True, timeout=30).stdout
        return alert_cycle(out, "redis_unreachable", since_s)

    publish(book.update([other], now=1000.0))
    assert seen(0.0) == (False, "redis_unreachable events since the restart: none")
    publish(book.update([other, down], now=1001.0))
    assert seen(1000.5) == (False, "redis_unreachable events since the restart: firing")
    publish(book.update([other], now=1002.0))
    assert seen(1000.5)[0] is True
    assert seen(1001.5) == (False, "redis_unreachable events since the restart: resolved")  # an older outage


def _xwd(width: int, height: int, pixels: list[tuple[int, int, int]], *, msb_first: bool) -> bytes:
    """A 32-bit TrueColor ZPixmap dump as xwd writes one (header big-endian, pixels in the given order)."""
    name = b"root\0"
    header_size = 100 + len(name)
    fields = [header_size, 7, 2, 24, width, height, 0, 1 if msb_first else 0, 32, 1 if msb_first else 0, 32, 32,
              width * 4, 4, 0xFF0000, 0x00FF00, 0x0000FF, 8, 256, 0, width, height, 0, 0, 0]
    order = ">I" if msb_first else "<I"
    body = b"".join(struct.pack(order, (r << 16) | (g << 8) | b) for r, g, b in pixels)
    return struct.pack(">25I", *fields) + name + body


@pytest.mark.parametrize("msb_first", [False, True])
def test_xwd_to_png_keeps_every_pixel(msb_first: bool) -> None:
    qt = pytest.importorskip("PyQt6.QtGui")
    pixels = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30), (255, 255, 255), (0, 0, 0)]
    png, width, height = xwd_to_png(_xwd(3, 2, pixels, msb_first=msb_first))
    image = qt.QImage.fromData(png, "PNG")
    assert (width, height) == (3, 2) and (image.width(), image.height()) == (3, 2)
    got = [image.pixelColor(i % 3, i // 3).getRgb()[:3] for i in range(6)]
    assert got == pixels
    assert png_colours(png) == (6, 1 / 6)


def test_xwd_to_png_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="too short"):
        xwd_to_png(b"\0" * 10)
    dump = bytearray(_xwd(1, 1, [(1, 2, 3)], msb_first=False))
    dump[8:12] = struct.pack(">I", 1)  # XYPixmap
    with pytest.raises(ValueError, match="unsupported xwd dump"):
        xwd_to_png(bytes(dump))


@pytest.mark.skipif(any(shutil.which(t) is None for t in XDisplay.TOOLS), reason="Xvfb, xhost or xwd missing")
def test_a_real_x_server_is_started_grabbed_and_stopped() -> None:
    display = XDisplay(width=320, height=200)
    try:
        name = display.start()
        assert Path(f"/tmp/.X11-unix/X{name[1:]}").exists()
        png, width, height = xwd_to_png(display.grab())
        assert (width, height) == (320, 200) and png_colours(png)[0] <= 2   # the root window's background only
        assert looks_drawn(png)[0] is False
    finally:
        display.stop()
    assert display.proc is None


def test_an_empty_window_is_not_taken_for_one_with_data() -> None:
    # 100 x 100: a background with a few hundred pixels of header text in 80 shades (what an empty table of a
    # dark theme gives) versus the same with rows of values over a third of it.
    background, shades = (20, 22, 26), [(100 + i, 100 + i, 100 + i) for i in range(80)]
    empty = [background] * 10_000
    for i in range(400):
        empty[i] = shades[i % 80]
    rows = list(empty)
    for i in range(400, 4000):
        rows[i] = shades[(i * 7) % 80] if i % 3 else (200, 60, 60)
    for pixels, drawn in ((empty, False), (rows, True)):
        png, _, _ = xwd_to_png(_xwd(100, 100, pixels, msb_first=False))
        assert looks_drawn(png)[0] is drawn, looks_drawn(png)
