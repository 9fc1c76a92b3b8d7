"""`status --file` answered without the Typer app (`gl_rollout.cli.quick`) says exactly what the app says."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

from gl_rollout.cli import invoke
from gl_rollout.cli.quick import quick_status
from tests.helpers import CliResult

CHECKLISTS = Path(__file__).resolve().parents[1] / "data" / "checklists"


def quick(args: list[str], env: dict[str, str], stdin: str | None = None) -> CliResult | None:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = quick_status(args, env)
    finally:
        sys.stdin = old
    return None if code is None else CliResult(code, out.getvalue(), err.getvalue())


def through_app(args: list[str], env: dict[str, str], stdin: str | None = None) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = invoke(args, env=env)
    finally:
        sys.stdin = old
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    path = tmp_path / "issue.md"
    path.write_text(
        "## Steps\n\n- [x] Enable on staging `/chatops run feature set f true --staging`\n"
        "- [ ] Enable on production `/chatops run feature set f true`\n",
        encoding="utf-8",
    )
    return path


CASES = [
    ["status", "--file", "{seed}"],
    ["status", "-f", "{seed}", "--json"],
    ["status", "--json", "--file={seed}"],
    ["status", "--file", "{seed}", "--require", "enable-staging"],  # exit 0
    ["status", "--file", "{seed}", "--require=enable-on-production", "--json"],  # exit 6
    ["status", "--file", "{seed}", "--require", "no-such-step"],  # exit 5
    ["status", "--file", "{missing}"],  # exit 2
    ["status", "--file", "{blank}"],
    ["status", "--file", "-"],
    *[["status", "--file", str(path)] for path in sorted(CHECKLISTS.glob("*.md"))[:6]],
]


@pytest.mark.parametrize("template", CASES, ids=lambda case: " ".join(case)[-60:])
def test_the_quick_path_says_what_the_app_says(template: list[str], seed: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.md"
    blank.write_text("no boxes here\n", encoding="utf-8")
    args = [word.format(seed=seed, missing=tmp_path / "nope.md", blank=blank) for word in template]
    env = {"NO_COLOR": "1", "COLUMNS": "100"}
    stdin = seed.read_text(encoding="utf-8")
    fast = quick(args, env, stdin)
    assert fast is not None, "the quick path must take this line"
    assert fast == through_app(args, env, stdin)


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "group/p#1"],
        ["status", "--file", "x.md", "--timeline"],
        ["status", "--file", "--json"],
        ["status", "--file", "a.md", "--file", "b.md"],
        ["status", "--file"],
        ["status", "--file", "a.md", "--debug"],
        ["check", "--file", "a.md", "x"],
        ["--json", "status", "--file", "a.md"],
    ],
)
def test_anything_else_goes_to_the_app(args: list[str]) -> None:
    assert quick(args, {}) is None
