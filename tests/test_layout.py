"""The floor plan's arrows (README, Layout): control -> viz, writer, feed -> shared, and tools import no tests."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "feed", "writer", "viz", "control", "devkit", "scripts", "bench", "tests")
ALLOWED = {
    "shared": set(),
    "feed": {"shared"},
    "writer": {"shared"},
    "viz": {"shared"},
    "control": {"shared", "feed", "writer", "viz"},
    "devkit": {"shared", "feed", "writer", "viz", "control"},
    "scripts": {"shared", "feed", "writer", "viz", "control", "devkit"},
    "bench": {"shared", "feed", "writer", "viz", "control", "devkit"},
}


def package_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Other top-level packages each module of ``package`` imports (absolute imports, anywhere in the file)."""
    out: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            found |= {n.split(".")[0] for n in names} & set(PACKAGES)
        out[str(path.relative_to(root))] = found - {package}
    return out


def test_arrows_run_one_way() -> None:
    wrong = [f"{module} imports {sorted(found - ALLOWED[package])}"
             for package in ALLOWED for module, found in package_imports(ROOT, package).items()
             if found - ALLOWED[package]]
    assert wrong == []


def test_a_wrong_arrow_is_found(tmp_path: Path) -> None:
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "x.py").write_text("def f() -> None:\n    from writer.sql import upsert\n")
    assert package_imports(tmp_path, "feed") == {"feed/x.py": {"writer"}}
