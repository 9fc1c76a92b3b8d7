"""Commands registered on the app (see gl_rollout.cli.app)."""

from __future__ import annotations
