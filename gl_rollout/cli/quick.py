"""Command lines answered without building the Typer app: `status --file FILE`, the offline pipeline gate.

Importing Typer and building the app costs about a fifth of the command's start-up, and `status --file`
runs in pipelines where start-up is most of its time. `quick_status` takes only the plainest forms:
`status --file FILE` (or `-f FILE`, `--file=FILE`) with any of `--json` and `--require STEP` (repeatable,
`--require=STEP`), in any order after the command. Anything else, including a value that starts with
`-`, returns None and the Typer app parses the line as usual. The use case, the output and the exit code
are the app's own: `gl_rollout.workflows.status.status_of_file`, `views.status` and
`gl_rollout.cli.running.run_use_case` (`tests/e2e/test_quick.py` compares both paths).
"""

from __future__ import annotations

import os
from typing import Any

from gl_rollout.result import Result


def quick_status(argv: list[str], env: dict[str, str] | None = None) -> int | None:
    """The exit code of `argv` run as `status --file`, or None when the Typer app must parse it."""
    parsed = _parse(argv)
    if parsed is None:
        return None
    path, require, json_mode = parsed
    from gl_rollout.cli import views
    from gl_rollout.cli.running import AppState, run_use_case

    state = AppState(json=json_mode, env=dict(os.environ) if env is None else dict(env))

    def use_case() -> Result[Any]:
        from gl_rollout.workflows.status import status_of_file

        return status_of_file(path, tuple(require))

    return run_use_case(state, "status", use_case, views.status)


def _parse(argv: list[str]) -> tuple[str, list[str], bool] | None:
    if not argv or argv[0] != "status":
        return None
    path: str | None = None
    require: list[str] = []
    json_mode = False
    words = iter(argv[1:])
    for word in words:
        if word == "--json":
            json_mode = True
            continue
        name, eq, inline = word.partition("=")
        if name in ("--file", "-f", "--require") and not (eq and name == "-f"):
            value = inline if eq else next(words, None)
            if not value or (value.startswith("-") and value != "-"):
                return None
            if name == "--require":
                require.append(value)
            elif path is None:
                path = value
            else:
                return None  # --file twice: the app's parser says what it does with that
            continue
        return None
    return (path, require, json_mode) if path is not None else None
