"""Run the real CLI in-process and capture what a user would see."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass

from gl_rollout.cli import invoke


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(args: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None) -> CliResult:
    """Invoke `gl-rollout ARGS` with `env` as its whole environment; return code and streams."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", newline="")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = invoke(args, env=env if env is not None else {})
    finally:
        sys.stdin = old_stdin
    return CliResult(code, out.getvalue(), err.getvalue())
