"""`gl-rollout sandbox serve`: run the embedded GitLab sandbox on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gl_rollout.cli import views
from gl_rollout.cli.app import state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.printer import emit
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

group_app = typer.Typer(name="sandbox", help=help_of("sandbox"), no_args_is_help=True)


@group_app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 8929,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", metavar="FILE", help="SQLite file holding the state (default: the user's state folder)."
        ),
    ] = None,
    control: Annotated[
        bool,
        typer.Option(
            "--control",
            help="Also serve /-/sandbox/ to inject faults from another process (with the secret printed).",
        ),
    ] = False,
) -> None:
    """Serve the sandbox on 127.0.0.1 only; print its URL, project and tokens; state survives restarts."""
    from gl_rollout.cli.connection import default_sandbox_db, serve_sandbox
    from gl_rollout.errors import RolloutError

    state = state_of(ctx)
    printer = state.printer()
    db_path = db or state.sandbox_db or default_sandbox_db(state.env)
    if not 0 <= port <= 65535:
        raise typer.Exit(
            emit(Result.failure("sandbox serve", UsageError(f"port {port} is out of range")), printer)
        )
    try:
        served = serve_sandbox(db_path, state.env, port=port, control=control)
    except RolloutError as exc:
        raise typer.Exit(emit(Result.failure("sandbox serve", exc), printer)) from None
    try:
        emit(Result("sandbox serve", served.serving), printer, views.sandbox_serving, state.json_file)
        printer.human.flush()
        served.serve_forever()  # werkzeug returns from here on Ctrl-C
    except KeyboardInterrupt:
        pass  # Ctrl-C before serving started
    finally:
        served.close()
    printer.err.write("sandbox stopped; state kept in " + str(db_path) + "\n")
    raise typer.Exit(0)
