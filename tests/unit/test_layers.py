"""The dependency rule holds, and would be caught if it stopped holding.

`pyproject.toml`'s import-linter contracts say: imports point down the floors (cli -> workflows ->
render | gitlab -> core -> result | files -> errors), no two modules of one package import each other in
a loop (type-only imports count), the sandbox imports nothing of the rest, and only the CLI's
connection module imports it. The check runs import-linter on the package as it is, then on a copy with
one forbidden import added, to show each kind of breach fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the package under `root` (its own `pyproject.toml`), in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "250"}
    command = [sys.executable, "-c", LINT]
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_package_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its contracts where `module` (a path under gl_rollout/) has `line` added."""
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "gl_rollout", tmp_path / "gl_rollout", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "gl_rollout" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/checklist.py", "import gl_rollout.cli.app", "floors"),
        ("core/markers.py", "from gl_rollout.gitlab import client", "floors"),
        ("gitlab/decoding.py", "from gl_rollout.render import issue", "floors"),
        ("core/steps.py", "from gl_rollout.core import checklist  # type-only would count too", "loops"),
        ("sandbox/store.py", "from gl_rollout.errors import UsageError", "the sandbox imports nothing"),
        ("workflows/demo.py", "from gl_rollout.sandbox import Sandbox", "only the CLI's connection module"),
    ],
    ids=["core-imports-the-cli", "core-imports-gitlab", "gitlab-imports-render", "a-loop-in-core",
         "sandbox-imports-errors", "a-workflow-imports-the-sandbox"],
)  # fmt: skip
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    done = lint(copy_with(tmp_path, module, line))
    assert done.returncode != 0, done.stdout
    broken_lines = [text for text in done.stdout.splitlines() if text.rstrip().endswith("BROKEN")]
    assert any(broken in text for text in broken_lines), done.stdout
