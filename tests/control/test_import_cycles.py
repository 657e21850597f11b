"""control's modules import one another in one direction only: no cycle, counting every import (at the top,
under TYPE_CHECKING, inside a function), so Start All never needs the engine it serves."""

from __future__ import annotations

import ast
from pathlib import Path

import control

ROOT = Path(control.__file__).resolve().parent


def _module(path: Path) -> str:
    parts = ("control", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def control_imports(root: Path) -> dict[str, set[str]]:
    """Each module of ``root`` (the control package) -> the control modules it imports anywhere."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[_module(path)] = {d for d in deps if d == "control" or d.startswith("control.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph.get(name, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                found.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, path)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    return found


def test_control_has_no_import_cycle() -> None:
    graph = control_imports(ROOT)
    assert "control.center.start_all" in graph and "control.chaos.harness" in graph
    assert cycles(graph) == []


def test_start_all_does_not_import_the_engine() -> None:
    assert "control.center.engine" not in control_imports(ROOT)["control.center.start_all"]


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
