"""X11 for ``make compose-check``: an Xvfb display on the host, and window dumps (xwd) as PNG without ImageMagick.

Standard library only, like the rest of the check; unit-tested in tests/deploy/test_compose_check.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter

from scripts.compose_tools import CheckFailed

__all__ = ["XDisplay", "looks_drawn", "png_colours", "xwd_to_png"]

_XWD_HEADER = struct.Struct(">25I")
_ZPIXMAP, _TRUE_COLOR, _DIRECT_COLOR = 2, 4, 5


def _channel_offsets(masks: tuple[int, int, int], bytes_pp: int, msb_first: bool) -> list[int]:
    offsets = []
    for mask in masks:
        shift = (mask & -mask).bit_length() - 1
        if mask >> shift != 0xFF or shift % 8:
            raise ValueError(f"unsupported colour mask {mask:#x}")
        offsets.append(bytes_pp - 1 - shift // 8 if msb_first else shift // 8)
    return offsets


def xwd_to_png(data: bytes) -> tuple[bytes, int, int]:
    """An ``xwd`` dump (ZPixmap, TrueColor, 24/32 bits per pixel) as PNG bytes; with its width and height."""
    if len(data) < _XWD_HEADER.size:
        raise ValueError("not an xwd dump: too short")
    h = _XWD_HEADER.unpack_from(data)
    header_size, fmt, width, height, byte_order, bpp, bpl, vclass = h[0], h[2], h[4], h[5], h[7], h[11], h[12], h[13]
    ncolors = h[19]
    if fmt != _ZPIXMAP or vclass not in (_TRUE_COLOR, _DIRECT_COLOR) or bpp not in (24, 32):
        raise ValueError(f"unsupported xwd dump (format {fmt}, visual class {vclass}, {bpp} bits per pixel)")
    bytes_pp = bpp // 8
    r_off, g_off, b_off = _channel_offsets((h[14], h[15], h[16]), bytes_pp, msb_first=byte_order == 1)
    start = header_size + ncolors * 12
    if len(data) < start + bpl * height:
        raise ValueError("xwd dump truncated")
    raw = bytearray()
    for y in range(height):
        row = data[start + y * bpl: start + y * bpl + width * bytes_pp]
        rgb = bytearray(width * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = row[r_off::bytes_pp], row[g_off::bytes_pp], row[b_off::bytes_pp]
        raw += b"\0" + rgb
    return _png(bytes(raw), width, height), width, height


def _png(raw: bytes, width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)   # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def png_colours(png: bytes) -> tuple[int, float]:
    """Distinct colours in a PNG written by :func:`xwd_to_png`, and the share of the commonest one."""
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        kind, body = png[pos + 4: pos + 8], png[pos + 8: pos + 8 + length]
        if kind == b"IHDR":
            width = struct.unpack_from(">I", body)[0]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), 1 + width * 3
    colours: Counter[bytes] = Counter()
    for y in range(0, len(raw) // stride):
        row = raw[y * stride + 1: (y + 1) * stride]
        colours.update(row[i: i + 3] for i in range(0, len(row), 3))
    return len(colours), colours.most_common(1)[0][1] / colours.total()


def looks_drawn(png: bytes) -> tuple[bool, str]:
    """A window with data on it, not an empty frame: a table or chart of values leaves under 80 % of the
    picture in one colour; an empty window (a frame, headers and a background) covers 90 % or more."""
    colours, commonest = png_colours(png)
    return colours >= 64 and commonest < 0.8, f"{colours} colours, {commonest:.0%} in the commonest"


class XDisplay:
    """An Xvfb display on this host, opened to local containers with ``xhost +local:`` (as the README tells
    users to do with their own display); windows drawn there are grabbed from the X server with ``xwd``."""

    TOOLS = ("Xvfb", "xhost", "xwd")

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.size = (width, height)
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self) -> str:
        missing = [t for t in self.TOOLS if shutil.which(t) is None]
        if missing:
            raise CheckFailed(f"viz: {', '.join(missing)} missing on the host "
                              "(apt-get install xvfb x11-xserver-utils x11-apps)")
        # -displayfd: Xvfb picks a free display number and writes it once it accepts connections
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", f"{self.size[0]}x{self.size[1]}x24",
                                      "-nolisten", "tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            raise CheckFailed("viz: Xvfb did not start")
        self.display = f":{line}"
        self._xhost("+local:")
        return self.display

    def _xhost(self, arg: str) -> None:
        subprocess.run(["xhost", arg], env={**os.environ, "DISPLAY": self.display}, capture_output=True,
                       check=True, timeout=30)

    def grab(self) -> bytes:
        out = subprocess.run(["xwd", "-root", "-silent", "-display", self.display], capture_output=True,
                             check=True, timeout=60)
        return out.stdout

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._xhost("-local:")
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
