"""The sandbox stands apart: none of its modules imports the rest of gl_rollout (conventions, "The shape")."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[2] / "gl_rollout" / "sandbox"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_sandbox_imports_nothing_else_of_gl_rollout() -> None:
    modules = sorted(SANDBOX.glob("*.py"))
    assert len(modules) > 10
    outside = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if (name == "gl_rollout" or name.startswith("gl_rollout."))
        and not name.startswith("gl_rollout.sandbox")
    }
    assert outside == set()
