"""Command-line entry point. Commands live in the modules imported below; this only wires them."""

from __future__ import annotations

import sys

from gl_rollout.cli.app import app, invoke

# Each module registers its commands on `app` when imported.
from gl_rollout.cli import offline as _offline  # noqa: F401  isort: skip
from gl_rollout.cli import steps_cmds as _steps_cmds  # noqa: F401  isort: skip
from gl_rollout.cli import workflow as _workflow  # noqa: F401  isort: skip
from gl_rollout.cli import sync_cmds as _sync_cmds  # noqa: F401  isort: skip
from gl_rollout.cli import sandbox_cmd as _sandbox_cmd  # noqa: F401  isort: skip

__all__ = ["app", "invoke", "main"]


def main() -> None:
    """Console-script entry point."""
    sys.exit(invoke(sys.argv[1:]))
