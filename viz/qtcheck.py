"""Does this Linux desktop have the system libraries Qt's X11 (xcb) platform loads? Asked before a
QApplication exists, so a fresh desktop gets one line naming the packages to install instead of Qt's abort
(exit 134, whose message names only libxcb-cursor0 whatever is missing). Qt-free and cheap: a ``dlopen``
per library, once, when a window is opened.

The list is what the PyQt6 wheel's ``plugins/platforms/libqxcb.so``, ``lib/libQt6XcbQpa.so.6`` and
``lib/libQt6Gui.so.6`` name as NEEDED outside the wheel (``readelf -d``; the Qt and ICU libraries ship inside
it), with the Debian 12 package of each. Libraries those need in turn (libXau, libbsd, ...) come with the
packages.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["XCB_LIBRARIES", "missing_libraries", "uses_xcb", "xcb_problem"]

# soname -> Debian package (bookworm; the same names on Ubuntu 22.04 and later)
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}


def missing_libraries(sonames: Sequence[str], search_dirs: Sequence[Path] | None = None) -> list[str]:
    """The sonames that cannot be loaded: by the dynamic linker's own search (``LD_LIBRARY_PATH``, the
    ld.so cache, the default folders), as Qt will load them; or, with ``search_dirs``, from those folders."""
    missing = []
    for soname in sonames:
        candidates = [soname] if search_dirs is None else [str(d / soname) for d in search_dirs]
        for candidate in candidates:
            try:
                ctypes.CDLL(candidate)
                break
            except OSError:
                continue
        else:
            missing.append(soname)
    return missing


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will open its xcb platform: ``QT_QPA_PLATFORM`` names xcb first, or is unset with an X11
    ``DISPLAY`` and no Wayland session (where Qt 6 tries wayland first)."""
    platform = env.get("QT_QPA_PLATFORM", "").strip()
    if platform:
        return platform.split(";")[0].split(":")[0].strip() == "xcb"
    if not env.get("DISPLAY"):
        return False
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "").lower() == "wayland")


def xcb_problem(env: Mapping[str, str] | None = None, search_dirs: Sequence[Path] | None = None) -> str | None:
    """One line with the install command when Qt's xcb platform would not load here; None when it would
    (or when xcb is not used: offscreen, Wayland, not Linux)."""
    if sys.platform != "linux" or not uses_xcb(os.environ if env is None else env):
        return None
    missing = missing_libraries(list(XCB_LIBRARIES), search_dirs)
    if not missing:
        return None
    packages = list(dict.fromkeys(XCB_LIBRARIES[m] for m in missing))
    return (f"Qt needs these X11 libraries: sudo apt-get install {' '.join(packages)} "
            f"(missing: {', '.join(missing)})")
