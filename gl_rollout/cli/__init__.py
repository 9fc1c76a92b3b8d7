"""Command-line entry point. The commands are listed in `gl_rollout.cli.commands` and built on demand."""

from __future__ import annotations

import sys

from gl_rollout.cli.app import app, invoke

__all__ = ["app", "invoke", "main"]


def main() -> None:
    """Console-script entry point."""
    sys.exit(invoke(sys.argv[1:]))
