"""Allow `python -m gl_rollout`."""

from __future__ import annotations

from gl_rollout.cli import main

if __name__ == "__main__":
    main()
