"""`gl-rollout adopt`: give an existing rollout issue gl-rollout's status block (`workflows.adopt`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli.app import run_command, state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import (
    DEFAULT_CHATOPS_LOG_PROJECT,
    ChatopsLogProjectOption,
    DryRunOption,
    ProjectOption,
    RefArgument,
    log_project,
)
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.cli.printer import Printer
    from gl_rollout.workflows.adopt import AdoptOutcome

app = typer.Typer()


@app.command("adopt", help=help_of("adopt"))
def adopt_command(
    ctx: typer.Context,
    ref: RefArgument,
    *,
    flag: Annotated[
        str | None,
        typer.Option("--flag", metavar="NAME", help="The feature flag, when the issue's title names none."),
    ] = None,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Rebuild a damaged status block from its boxes and the evidence."),
    ] = False,
    chatops_log_project: ChatopsLogProjectOption = DEFAULT_CHATOPS_LOG_PROJECT,
    dry_run: DryRunOption = False,
    project: ProjectOption = None,
) -> None:
    app_state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.workflows.adopt import adopt

        with open_client(app_state, need_write=not dry_run, project=project, ref=ref) as client:
            return adopt(
                client.api,
                client.issue,
                flag=flag,
                repair=repair,
                dry_run=dry_run,
                chatops_log_project=log_project(chatops_log_project),
            )

    run_command(ctx, "adopt", use_case, adopted)


def adopted(result: Result[AdoptOutcome], printer: Printer) -> None:
    """What was recognised and the block's steps; with --dry-run, the diff."""
    outcome = result.value
    assert outcome is not None
    for message in result.messages:
        printer.line(message)
    if outcome.status == "already-adopted":
        return
    verb = {
        "adopted": "added the status block to",
        "repaired": "rebuilt the status block of",
        "would-adopt": "would add the status block to",
        "would-repair": "would rebuild the status block of",
    }[outcome.status]
    printer.line(f"{verb} {outcome.reference} (flag {outcome.flag}):")
    seen = {step.step: step for step in outcome.steps}
    for step, state in outcome.states:
        found = seen.get(step)
        why = f"line {found.line}: {found.reason}" if found is not None else "today's process"
        printer.line(f"  {step:<18} {state:<8} {why}")
    if outcome.status.startswith("would-") and outcome.diff:
        printer.line()
        printer.line("Description diff:")
        printer.human.write(outcome.diff)
    if not outcome.status.startswith("would-"):
        printer.line(outcome.web_url)
