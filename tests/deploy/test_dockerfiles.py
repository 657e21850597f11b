"""Dockerfile.feed and Dockerfile.viz read without an engine: stages, base pin, user, layers, Qt's libraries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.settings import ENV_FIELDS
from tests.deploy.deployfiles import DOCKERFILES, ROOT, DockerIgnore, copy_sources, parse_dockerfile

CODE_DIRS = {"shared", "feed", "writer", "control", "viz"}

# Shared libraries the PyQt6 wheel's Qt (QtCore/QtGui/QtWidgets and the xcb platform plugin with its GL,
# image-format and input plugins) links against outside the wheel, and the Debian 12 package of each.
SONAME_PACKAGES = {
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libdbus-1.so.3": "libdbus-1-3", "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2", "libbrotlidec.so.1": "libbrotli1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-glx.so.0": "libxcb-glx0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
}
# In every python:*-slim-bookworm image already (glibc, libstdc++, zlib, zstd: apt itself needs them).
BASE_SONAMES = {"ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                "libresolv.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1", "libzstd.so.1"}
# What the issue names for X11 (plus fonts).
REQUIRED_VIZ_PACKAGES = {
    "libgl1", "libegl1", "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1",
    "libdbus-1-3", "libfontconfig1",
}


def _apt_packages(rest: str) -> set[str]:
    words = rest.replace("&&", " ").replace("\\", " ").split()
    out: set[str] = set()
    for i, w in enumerate(words):
        if w == "install":
            for pkg in words[i + 1:]:
                if pkg in ("rm", "apt-get", ";"):
                    break
                if not pkg.startswith("-"):
                    out.add(pkg)
    return out


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_base_image_is_python_311_slim_bookworm_pinned_by_tag(kind: str) -> None:
    df = parse_dockerfile(DOCKERFILES[kind])
    for stage in df.stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stage.base), stage.base


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_multi_stage_non_root_and_only_the_venv_crosses(kind: str) -> None:
    df = parse_dockerfile(DOCKERFILES[kind])
    assert [s.name for s in df.stages] == ["builder", "runtime"]
    builder, runtime = df.stage("builder"), df.stage("runtime")
    assert "gcc" in " ".join(builder.all("RUN")), "the builder compiles feed/_fastfeed.c"
    assert all("gcc" not in _apt_packages(r) for r in runtime.all("RUN")), "no compiler in the runtime image"
    crossing = [r for r in runtime.all("COPY") if r.startswith("--from=")]
    assert crossing == ["--from=builder /opt/venv /opt/venv"]
    users = runtime.all("USER")
    assert users and users[-1] not in ("root", "0"), "the runtime image runs as a non-root user"
    assert df.exec_form(runtime, "ENTRYPOINT") == ["dhan"]
    assert "/opt/venv/bin" in df.env(runtime)["PATH"]


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dependency_layer_is_cached_apart_from_the_code(kind: str) -> None:
    builder = parse_dockerfile(DOCKERFILES[kind]).stage("builder")
    copied: list[str] = []
    for keyword, rest in builder.instructions:
        if keyword == "COPY":
            copied += copy_sources(rest)[0]
        if keyword == "RUN" and "install-python.sh deps" in rest:
            assert set(copied) == {"pyproject.toml", "docker/install-python.sh"}, copied
            break
    else:
        raise AssertionError("no dependency step")
    all_copied = {src for rest in builder.all("COPY") for src in copy_sources(rest)[0]}
    expected = CODE_DIRS if kind == "viz" else CODE_DIRS - {"viz"}
    assert expected <= all_copied and ("viz" in all_copied) == (kind == "viz")
    # setup.py builds the extension, README.md is the package's readme: the build needs both.
    assert {"setup.py", "README.md"} <= all_copied


def test_viz_image_installs_the_gui_extra() -> None:
    builder = parse_dockerfile(DOCKERFILES["viz"]).stage("builder")
    assert any(r.rstrip().endswith("install-python.sh deps /opt/venv gui") for r in builder.all("RUN"))


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_image_environment_names_real_settings(kind: str) -> None:
    df = parse_dockerfile(DOCKERFILES[kind])
    fields = {f.env for f in ENV_FIELDS.values()}
    for key in df.env(df.final):
        assert not key.startswith("DHAN_") or key in fields, key


def test_viz_image_has_the_x11_libraries_named_by_the_issue() -> None:
    runtime = parse_dockerfile(DOCKERFILES["viz"]).stage("runtime")
    packages = set().union(*(_apt_packages(r) for r in runtime.all("RUN")))
    assert packages >= REQUIRED_VIZ_PACKAGES, REQUIRED_VIZ_PACKAGES - packages
    assert any(p.startswith("fonts-") for p in packages)
    assert set(SONAME_PACKAGES.values()) <= packages, set(SONAME_PACKAGES.values()) - packages


def _needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) not installed")
def test_every_library_the_qt_wheel_links_against_is_installed_by_dockerfile_viz() -> None:
    qt = pytest.importorskip("PyQt6")
    root = Path(qt.__file__).parent
    lib = root / "Qt6" / "lib"
    plugins = root / "Qt6" / "plugins"
    todo = [root / f"{m}.abi3.so" for m in ("QtCore", "QtGui", "QtWidgets")]
    for pattern in ("platforms/libqxcb.so", "xcbglintegrations/*.so", "imageformats/*.so", "iconengines/*.so",
                    "platforminputcontexts/*.so"):
        todo += sorted(plugins.glob(pattern))
    assert (plugins / "platforms" / "libqxcb.so") in todo
    seen: set[Path] = set()
    external: dict[str, str] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for soname in _needed(path):
            if (lib / soname).exists():
                todo.append(lib / soname)
            else:
                external.setdefault(soname, path.name)
    unknown = {s: f for s, f in external.items() if s not in SONAME_PACKAGES and s not in BASE_SONAMES}
    assert not unknown, f"Qt needs libraries Dockerfile.viz may lack (add the package and SONAME_PACKAGES): {unknown}"
    runtime = parse_dockerfile(DOCKERFILES["viz"]).stage("runtime")
    packages = set().union(*(_apt_packages(r) for r in runtime.all("RUN")))
    missing = {s: SONAME_PACKAGES[s] for s in external if s in SONAME_PACKAGES and SONAME_PACKAGES[s] not in packages}
    assert not missing, missing


def test_dockerignore_keeps_secrets_and_local_builds_out() -> None:
    ignore = DockerIgnore(ROOT / ".dockerignore")
    for rel in (".env", ".git/config", ".venv/bin/python", "feed/_fastfeed.cpython-311-x86_64-linux-gnu.so",
                "feed/__pycache__/service.cpython-311.pyc", "var/spool/x", "tests/conftest.py"):
        assert ignore.ignored(rel), rel
    for rel in ("pyproject.toml", "setup.py", "README.md", "feed/_fastfeed.c", "feed/fastfeed_state.c",
                "feed/fastfeed.h", "shared/_depthpack.c", "writer/_rowfmt.c",
                "feed/sim/data/x.csv",
                "shared/schema/001_initial.sql", "docker/install-python.sh", "docker/healthcheck.py"):
        assert not ignore.ignored(rel), rel


@pytest.mark.parametrize("path", [*DOCKERFILES.values(), ROOT / "docker" / "standin" / "Dockerfile"])
def test_no_frontend_image_is_needed_to_build(path: Path) -> None:
    # "# syntax=docker/dockerfile:1" makes BuildKit pull the frontend from Docker Hub: the build then fails
    # where no registry answers. The engine's built-in frontend has everything these files use (RUN --mount).
    first = path.read_text().splitlines()[0]
    assert not first.lower().replace(" ", "").startswith("#syntax="), f"{path.name}: {first}"
