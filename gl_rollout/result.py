"""What a use case did: `Result` holds the data for `--json`, lines for people, and the error if it failed.

Use cases return a `Result`; only the CLI prints it (`gl_rollout.cli.printer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gl_rollout.errors import ExitCode, RolloutError


@dataclass
class Result:
    """What a use case did: the data for `--json`, lines for people, and the error if it failed."""

    command: str
    ok: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    error: RolloutError | None = None
    exit_code: ExitCode = ExitCode.OK

    @classmethod
    def failure(cls, command: str, error: RolloutError, data: dict[str, Any] | None = None) -> Result:
        return cls(command=command, ok=False, data=data or {}, error=error, exit_code=error.exit_code)
