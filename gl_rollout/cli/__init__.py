"""Command-line entry point. Commands live in the modules imported below; this only wires them."""

from __future__ import annotations

import sys

from gl_rollout.cli.app import app, invoke

# Each module registers its commands on `app` when imported.
from gl_rollout.cli import offline as _offline  # noqa: F401  isort: skip

__all__ = ["app", "invoke", "main"]


def main() -> None:
    """Console-script entry point."""
    sys.exit(invoke(sys.argv[1:]))
