"""Command-line entry point. The commands are listed in `gl_rollout.cli.commands` and built on demand.

`gl-rollout --help` on a terminal of the usual width prints `root_help.txt`, the root help as the Typer
app renders it at that width, without importing Typer at all (`tests/e2e/test_help.py` keeps the file
equal to what the app renders; `python -m gl_rollout.cli.app --write-root-help` rewrites it).
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["invoke", "main"]

ROOT_HELP = os.path.join(os.path.dirname(__file__), "root_help.txt")
HELP_WIDTH = 80  # click's widest help; narrower terminals get the app's own rendering


def main() -> None:
    """Console-script entry point."""
    if os.environ.get("_GL_ROLLOUT_COMPLETE"):  # the shell asks for completions (gl_rollout.cli.completion)
        from gl_rollout.cli.completion import answer

        sys.exit(answer(os.environ, _root_command))
    argv = sys.argv[1:]
    if argv in (["--help"], ["-h"]) and _terminal_columns() >= HELP_WIDTH:
        try:
            with open(ROOT_HELP, encoding="utf-8") as text:
                help_text = text.read()
        except OSError:  # an installation without it: the app renders the same text
            help_text = ""
        if help_text:
            sys.stdout.write(help_text)
            sys.exit(0)
    from gl_rollout.cli.quick import quick_status  # `status --file` without building the Typer app

    code = quick_status(argv)
    if code is not None:
        sys.exit(code)
    from gl_rollout.cli.app import invoke

    sys.exit(invoke(argv))


def _root_command() -> Any:
    """The app's root click command (for shell completion)."""
    import typer.main

    from gl_rollout.cli.app import app

    return typer.main.get_command(app)


def _terminal_columns() -> int:
    import shutil

    return shutil.get_terminal_size().columns


def __getattr__(name: str) -> Any:
    """`invoke` (run the CLI in-process, as tests do) loads Typer: only when asked for."""
    if name == "invoke":
        import importlib

        return importlib.import_module("gl_rollout.cli.app").invoke
    raise AttributeError(name)
