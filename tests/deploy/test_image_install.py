"""The feed image's Python layer, built here the way Dockerfile.feed builds it: a broken install step fails CI.

The builder stage is read from Dockerfile.feed itself: its COPY lines fill a temporary build context (with
.dockerignore applied, so the locally compiled feed/_fastfeed*.so is not there to hide a broken compile) and
its ``install-python.sh`` RUN lines run as written, ``/opt/venv`` pointed at a fresh venv under tmp. pip's own
cache and the machine's pip configuration serve the downloads; nothing else is swapped in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.deployfiles import (
    DOCKERFILES,
    ROOT,
    DockerIgnore,
    copy_into_context,
    copy_sources,
    parse_dockerfile,
    strip_run_flags,
)

VENV_IN_IMAGE = "/opt/venv"


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a build step: no venv of ours, ``python3`` = this interpreter's base Python 3.11."""
    shim = tmp / "shim"
    shim.mkdir()
    (shim / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.timeout(300)  # ~25 s here (warm or cold pip cache); slow networks take longer
def test_builder_stage_installs_the_feed_image_python_layer(tmp_path: Path) -> None:
    dockerfile = parse_dockerfile(DOCKERFILES["feed"])
    builder = dockerfile.stage("builder")
    workdirs = builder.all("WORKDIR")
    assert workdirs == ["/src"], "the builder copies into one WORKDIR"
    context = tmp_path / "src"
    context.mkdir()
    venv = tmp_path / "venv"
    env = _clean_env(tmp_path)
    ignore = DockerIgnore(ROOT / ".dockerignore")

    install_lines: list[str] = []
    for keyword, rest in builder.instructions:
        if keyword == "COPY":
            sources, dest = copy_sources(rest)
            copy_into_context(sources, dest, context, ignore)
            assert not list(context.rglob("*.so")), f"COPY {rest}: a prebuilt .so reached the context (.dockerignore)"
        elif keyword == "RUN" and "install-python.sh" in rest:
            line = strip_run_flags(rest).replace(VENV_IN_IMAGE, str(venv))
            install_lines.append(line)
            started = time.monotonic()
            proc = subprocess.run(["sh", "-c", line], cwd=context, env=env, capture_output=True, text=True,
                                  timeout=900)
            took_s = time.monotonic() - started
            output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            assert proc.returncode == 0, f"`{line}` failed (exit {proc.returncode}, {took_s:.0f}s):\n{output}"
    # The steps the Dockerfile must contain, in this order: dependencies before code, the check, the pruning.
    steps = [line.split("install-python.sh", 1)[1].split()[0] for line in install_lines]
    assert steps == ["deps", "app", "check", "prune"], steps
    assert not list((venv / "lib").glob("python3*/site-packages/pip")), "pip stays in the builder"

    py = venv / "bin" / "python"
    # The C extensions were compiled by the app step (check imports them; this says which files they are).
    for module in ("feed._fastfeed", "shared._depthpack", "writer._rowfmt"):
        native = subprocess.run([str(py), "-c", f"import {module} as m; print(m.__file__)"], env=env,
                                capture_output=True, text=True, cwd=tmp_path)
        assert native.returncode == 0 and str(venv) in native.stdout, (module, native.stderr)
    # Installed, not run from the context: the service commands work from elsewhere.
    for cmd in (["feed", "--help"], ["writer", "--help"], ["db", "init", "--help"]):
        proc = subprocess.run([str(venv / "bin" / "dhan"), *cmd], env=env, capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, (cmd, proc.stderr[-2000:])
    # The headless image carries no visualizers (viz/ is not copied; Qt lives in Dockerfile.viz).
    viz = subprocess.run([str(py), "-c", "import viz"], env=env, capture_output=True, cwd=tmp_path)
    assert viz.returncode != 0
