"""Readers for the deployment files (no Docker engine needed): compose services, Dockerfile stages, .dockerignore.

Small on purpose: they read what our own files use (exec-form commands, ``\\`` continuations, ``COPY src dest``,
short-syntax ports) and fail loudly on anything else, so a new construct gets a reader before a test trusts it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILES = {"feed": ROOT / "Dockerfile.feed", "viz": ROOT / "Dockerfile.viz"}

# ${NAME}, ${NAME:-default}, ${NAME:?message}, ${NAME-default}; $$ is a literal dollar.
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file without services"
    return data


def interpolated_names(text: str) -> set[str]:
    """Every variable docker compose substitutes in ``text`` (the raw file, anchors included)."""
    return {m.group(1) for m in _INTERPOLATION.finditer(text)}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's substitution for the forms we use (defaults and required markers)."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        val = env.get(name)
        if op in (":-", ":?") and not val:
            if op == ":?":
                raise KeyError(f"{name}: {arg}")
            return arg
        if op in ("-", "?") and val is None:
            if op == "?":
                raise KeyError(f"{name}: {arg}")
            return arg
        return val or ""

    return _INTERPOLATION.sub(sub, value).replace("$$", "$")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, rest of the line)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    args: dict[str, str]          # global ARGs (before the first FROM) with their defaults
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def exec_form(self, stage: Stage, keyword: str) -> list[str] | None:
        """The JSON-array value of the stage's last ENTRYPOINT/CMD, None when absent."""
        values = stage.all(keyword)
        if not values:
            return None
        parsed = yaml.safe_load(values[-1])
        assert isinstance(parsed, list), f"{keyword} must use the exec (JSON array) form: {values[-1]}"
        return [str(x) for x in parsed]

    def env(self, stage: Stage) -> dict[str, str]:
        out: dict[str, str] = {}
        for rest in stage.all("ENV"):
            for token in shlex.split(rest):
                key, sep, value = token.partition("=")
                assert sep, f"ENV must use KEY=VALUE: {rest}"
                out[key] = value
        return out


def parse_dockerfile(path: Path) -> Dockerfile:
    logical: list[str] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, f"{path.name}: instruction continued past the end of the file"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            stages.append(Stage(name=name, base=base))
        elif not stages:
            assert keyword == "ARG", f"{path.name}: only ARG may precede FROM, found {keyword}"
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(args=args, stages=stages)


def copy_sources(rest: str) -> tuple[list[str], str]:
    """``COPY [--flags] src... dest`` -> (sources, dest); flags other than --chown/--chmod are refused."""
    tokens = shlex.split(rest)
    flags = [t for t in tokens if t.startswith("--")]
    assert all(f.startswith(("--chown=", "--chmod=")) for f in flags), f"unsupported COPY flags: {flags}"
    paths = [t for t in tokens if not t.startswith("--")]
    assert len(paths) >= 2, f"COPY needs a source and a destination: {rest}"
    return paths[:-1], paths[-1]


def strip_run_flags(rest: str) -> str:
    """``RUN --mount=... cmd`` -> ``cmd`` (BuildKit flags only change caching, not what runs)."""
    while rest.startswith("--"):
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip()
    return rest


class DockerIgnore:
    """The ``.dockerignore`` rules of the build context (patterns, ``**``, ``!`` exceptions; last match wins)."""

    def __init__(self, path: Path) -> None:
        self.rules: list[tuple[bool, str]] = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:] if negate else line
            self.rules.append((negate, pattern.strip("/")))

    @staticmethod
    def _match(pattern: str, rel: str) -> bool:
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        # a pattern naming a directory excludes everything under it
        return re.fullmatch(regex + "(?:/.*)?", rel) is not None

    def ignored(self, rel: str) -> bool:
        result = False
        for negate, pattern in self.rules:
            if self._match(pattern, rel):
                result = not negate
        return result


def copy_into_context(sources: list[str], dest: str, target: Path, ignore: DockerIgnore) -> None:
    """What ``COPY sources dest`` puts under ``target`` (the stage's WORKDIR), with .dockerignore applied."""
    for src in sources:
        path = ROOT / src
        assert path.exists(), f"COPY source {src} does not exist"
        if path.is_dir():
            base = target / dest
            for item in sorted(path.rglob("*")):
                rel = item.relative_to(ROOT).as_posix()
                if item.is_dir() or ignore.ignored(rel):
                    continue
                out = base / item.relative_to(path)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(item, out)
        else:
            assert not ignore.ignored(src), f"COPY {src}: excluded by .dockerignore"
            out = target / dest / path.name if dest.endswith("/") or len(sources) > 1 else target / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
