"""What every command shares once its options are parsed, without Typer: the options that apply to every
command (`AppState`) and `run_use_case`, the one place a use case's result or error becomes output and an
exit code. `gl_rollout.cli.app.run_command` raises Typer's exit with it; `gl_rollout.cli.quick` calls it
directly for the command lines it answers without building the Typer app.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gl_rollout.cli.printer import UNSERVED_HINT, HumanRenderer, Printer, emit
from gl_rollout.errors import RolloutError, Secrets
from gl_rollout.result import Result


@dataclass
class AppState:
    """Options that apply to every command, and the environment they are read from."""

    json: bool = False
    json_file: Path | None = None
    debug: bool = False  # tracebacks, and each HTTP exchange logged on stderr
    debug_body: bool = False  # --debug=body: the HTTP bodies too
    sandbox: bool = False
    sandbox_db: Path | None = None
    url: str | None = None
    gitlab_name: str | None = None
    ca_bundle: Path | None = None
    timeout: float = 30.0
    allow_http: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets: Secrets = field(default_factory=Secrets)  # every connection's, added by `cli.connection`
    unserved_origin: str | None = None  # a `--sandbox` run's own server, closed with it (`cli.connection`)

    def printer(self) -> Printer:
        return Printer(
            json_mode=self.json, secrets=self.secrets, env=self.env, unserved_origin=self.unserved_origin
        )

    def warn(self, text: str) -> None:
        """A one-line warning on stderr, at once (with --json too: stdout keeps the envelope alone)."""
        self.printer().warning(" ".join(text.split()))


def debug_logging(state: AppState) -> contextlib.AbstractContextManager[None]:
    """With --debug, the package's log (each HTTP exchange) on stderr, masked; else nothing."""
    if not state.debug:
        return contextlib.nullcontext()
    from gl_rollout.cli.debug_log import debug_log

    # `state.secrets` grows while the command runs (each connection's token): read it at each line.
    return debug_log(lambda text: state.secrets.mask(text), bodies=state.debug_body)  # noqa: PLW0108


def _traceback_text() -> str:
    import traceback  # only with --debug: it costs start-up time

    return traceback.format_exc()


def run_use_case(
    state: AppState,
    command: str,
    use_case: Callable[[], Result[Any]],
    render_human: HumanRenderer | None = None,
) -> int:
    """Run a use case, print its result, and return its exit code. The only place errors become text."""
    printer = state.printer()
    if state.json_file is not None:  # a bad --json-file is refused before anything is written
        from gl_rollout.files import check_target

        try:
            check_target(state.json_file, streams=True)
        except RolloutError as exc:
            return emit(Result.failure(command, exc), printer)
    try:
        with debug_logging(state):
            result = use_case()
    except RolloutError as exc:
        if state.debug:
            printer.err.write(state.secrets.mask(_traceback_text()))
        result = Result.failure(command, exc)
    except KeyboardInterrupt:
        printer.err.write("interrupted\n")
        return 130
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if state.debug:
            printer.err.write(state.secrets.mask(_traceback_text()))
        first = str(exc).splitlines()[0] if str(exc) else ""
        message = f"unexpected error: {type(exc).__name__}: {first}"[:300]
        result = Result.failure(command, RolloutError(message, "rerun with --debug and report it"))
    printer = state.printer()  # secrets may have been learnt while running
    if state.debug:
        for line in result.debug:
            printer.note("debug: " + " ".join(line.split()))
    try:
        code = emit(result, printer, render_human, state.json_file)
    except RolloutError as exc:  # --json-file could not be written: say so, after the result itself
        emit(result, printer, render_human, None)
        printer.error(exc.one_line())
        code = int(exc.exit_code)
    if printer.unserved_links:
        printer.err.write(UNSERVED_HINT + "\n")
    return code
