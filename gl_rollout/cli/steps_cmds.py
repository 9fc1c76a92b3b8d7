"""Checklist commands `status` and `check`, on a rollout issue (`REF`) or a local Markdown file (`--file`).

`FILE` may be `-` for standard input. The use cases are `gl_rollout.workflows.status` and
`gl_rollout.workflows.check`; markdown-it loads only when a command runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gl_rollout.cli import views
from gl_rollout.cli.app import run_command, state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import (
    DEFAULT_CHATOPS_LOG_PROJECT,
    ChatopsLogProjectOption,
    DryRunOption,
    FileOption,
    OptionalRefArgument,
    ProjectOption,
    complete_steps,
    log_project,
)
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

app = typer.Typer()


def ref_or_file(ref: str | None, file: str | None, command: str) -> None:
    """Exactly one of REF (GitLab) and --file (a local Markdown file)."""
    if ref is not None and file is not None:
        raise UsageError(f"{command} takes REF or --file, not both", "drop one of them")
    if ref is None and file is None:
        raise UsageError(
            f"{command} needs the issue: REF, or --file PATH for a local description",
            "for example group/project#42, or --file issue.md",
        )


@app.command("status", help=help_of("status"))
def status_command(
    ctx: typer.Context,
    ref: OptionalRefArgument = None,
    file: FileOption = None,
    require: Annotated[
        list[str] | None,
        typer.Option(
            "--require",
            metavar="STEP",
            help="Exit 6 unless this step is done (repeatable): a pipeline gate.",
            autocompletion=complete_steps,
        ),
    ] = None,
    timeline: Annotated[
        bool,
        typer.Option(
            "--timeline", help="With REF: also what happened when (one more request, two with ChatOps' log)."
        ),
    ] = False,
    chatops_log_project: ChatopsLogProjectOption = DEFAULT_CHATOPS_LOG_PROJECT,
    project: ProjectOption = None,
) -> None:
    app_state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.workflows.status import status, status_of_file

        ref_or_file(ref, file, "status")
        if file is not None:
            if timeline:
                raise UsageError("--timeline needs the issue's comments", "give REF instead of --file")
            return status_of_file(file, require or ())
        from gl_rollout.cli.connection import open_client

        with open_client(app_state, need_write=False, project=project, ref=ref) as client:
            return status(
                client.api,
                client.issue,
                require or (),
                timeline=timeline,
                chatops_log_project=log_project(chatops_log_project),
            )

    run_command(ctx, "status", use_case, views.status)


@app.command("check", help=help_of("check"))
def check_command(
    ctx: typer.Context,
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[REF] STEP...",
            help="The rollout issue (a URL, group/project#42, or 42 with --project), unless --file is given; "
            "then the steps to set: an ID (enable-staging), a position (1 is the first box), or a piece of "
            "the step's text that matches one step.",
            show_default=False,
            autocompletion=complete_steps,
        ),
    ],
    *,
    file: FileOption = None,
    undo: Annotated[bool, typer.Option("--undo", help="Set the steps back to todo ([ ]).")] = False,
    skip: Annotated[
        bool, typer.Option("--skip", help="Mark the steps inapplicable ([~]): left out of the counts.")
    ] = False,
    in_place: Annotated[
        bool, typer.Option("--in-place", "-i", help="With --file: rewrite the file (atomically).")
    ] = False,
    dry_run: DryRunOption = False,
    project: ProjectOption = None,
) -> None:
    app_state = state_of(ctx)
    if file is not None:
        from gl_rollout.workflows.check import check_file, target_state

        path = file
        run_command(
            ctx,
            "check",
            lambda: check_file(
                path, args, target_state(undo=undo, skip=skip), in_place=in_place, dry_run=dry_run
            ),
            views.checked_file,
        )
        return

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.workflows.check import check, target_state

        state = target_state(undo=undo, skip=skip)
        if len(args) < 2:
            raise UsageError(
                "check needs the issue and at least one step",
                "for example: gl-rollout check group/project#42 enable-staging (or --file PATH STEP...)",
            )
        if in_place:
            raise UsageError("--in-place is for --file", "drop --in-place: with REF the issue is written")
        with open_client(app_state, need_write=not dry_run, project=project, ref=args[0]) as client:
            return check(client.api, client.issue, args[1:], state, dry_run=dry_run)

    run_command(ctx, "check", use_case, views.written)
