"""Qt's xcb platform checked before a QApplication exists: a folder of real libraries lacking some gives the
one install line; the list matches what the installed PyQt6 wheel links against; the real ``dhan viz`` and
``dhan control`` under Xvfb either pass the check and open their window, or print that one line (which
libraries ``ldd`` finds missing decides which), never Qt's abort."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from viz.qtcheck import XCB_LIBRARIES, missing_libraries, uses_xcb, xcb_problem

ROOT = Path(__file__).resolve().parents[2]
# glibc, the C++ runtime and compression: on every system that runs Python
BASE_SONAMES = {"ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1", "libzstd.so.1"}


def _system_paths() -> dict[str, Path]:
    """soname -> file, from the dynamic linker's cache (``ldconfig -p``) for this machine's architecture."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    found: dict[str, Path] = {}
    for soname, flags, path in re.findall(r"^\s*(\S+) \(([^)]*)\) => (\S+)$", out, re.MULTILINE):
        if platform.machine() != "x86_64" or "x86-64" in flags:  # not the 32-bit copies
            found.setdefault(soname, Path(path))
    return found


def _qt_root() -> Path:
    qt = pytest.importorskip("PyQt6")
    return Path(qt.__file__).parent / "Qt6"


def test_a_folder_lacking_libraries_gets_their_packages(tmp_path: Path) -> None:
    system = _system_paths()
    libs = tmp_path / "lib"
    libs.mkdir()
    removed = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    for soname in XCB_LIBRARIES:
        if soname in system and soname not in removed:
            (libs / soname).symlink_to(system[soname].resolve())
    absent = {s for s in XCB_LIBRARIES if not (libs / s).exists()}  # removed, and any this machine lacks
    assert absent >= removed

    problem = xcb_problem({"DISPLAY": ":0"}, search_dirs=[libs])
    assert problem is not None and "\n" not in problem
    assert problem.startswith("Qt needs these X11 libraries: sudo apt-get install ")
    command, _, names = problem.partition(" (missing: ")
    assert set(command.split("install ")[1].split()) == {XCB_LIBRARIES[s] for s in absent}
    assert set(names.rstrip(")").split(", ")) == absent
    assert "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in command  # in the order Qt's list gives them
    assert missing_libraries(sorted(set(XCB_LIBRARIES) - absent), search_dirs=[libs]) == []


def test_only_the_xcb_platform_is_checked(tmp_path: Path) -> None:
    empty = [tmp_path]  # nothing loads from here: any check that runs reports every library
    for env in ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, {"QT_QPA_PLATFORM": "wayland"}, {},
                {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}):
        assert not uses_xcb(env) and xcb_problem(env, search_dirs=empty) is None, env
    for env in ({"DISPLAY": ":0"}, {"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "xcb;wayland", "DISPLAY": ":1"},
                {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}):
        assert uses_xcb(env) and xcb_problem(env, search_dirs=empty) is not None, env


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) not installed")
def test_the_list_is_what_the_installed_qt_links_against() -> None:
    root = _qt_root()
    lib = root / "lib"
    todo = [root.parent / f"{m}.abi3.so" for m in ("QtCore", "QtGui", "QtWidgets")]
    todo.append(root / "plugins" / "platforms" / "libqxcb.so")
    seen: set[Path] = set()
    external: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out):
            if (lib / soname).exists():
                todo.append(lib / soname)
            else:
                external.add(soname)
    assert external - BASE_SONAMES == set(XCB_LIBRARIES)


def _ldd_missing() -> set[str]:
    """What the dynamic linker cannot find for the xcb plugin, by ``ldd`` (the check's independent oracle)."""
    out = subprocess.run(["ldd", str(_qt_root() / "plugins" / "platforms" / "libqxcb.so")], capture_output=True,
                         text=True, check=True).stdout
    return set(re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE))


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="Xvfb not installed (apt-get install xvfb)")
@pytest.mark.parametrize("command", [("viz", "tick-chart"), ("control",)])
def test_real_command_under_xvfb(command: tuple[str, ...], db_settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DHAN_", "QT_", "WAYLAND"))}
    env.update({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_SESSION_TYPE": "x11",
                "DHAN_KEY_PREFIX": db_settings.redis.key_prefix, "DHAN_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT),
                "DHAN_MYSQL_URL": db_settings.mysql.url.get_secret_value(),
                "DHAN_REDIS_URL": db_settings.redis.url.get_secret_value()})
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-nolisten tcp", sys.executable, "-m", "shared.cli", *command, "--duration", "1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    missing = _ldd_missing()
    if missing:  # this machine lacks some: the one line, the packages ldd's findings need
        assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
        line = proc.stderr.strip()
        assert "\n" not in line and line.startswith(f"dhan {command[0]}: error: Qt needs these X11 libraries: ")
        assert {XCB_LIBRARIES[s] for s in missing} <= set(line.split("install ")[1].split(" (")[0].split())
        assert "qt.qpa" not in proc.stderr and "Aborted" not in proc.stderr
    else:  # everything there: the check passes and Qt opens the window on the X server
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
        assert "Qt needs" not in proc.stderr and "qt.qpa.plugin" not in proc.stderr
