"""The ramp runner's commands: `advance` (take a rollout's next plan step when every guard holds).

The use case lives in `gl_rollout.workflows.advance`; it and python-gitlab are imported only when the
command runs, so `gl-rollout --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gl_rollout.cli.app import run_command, state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import DryRunOption, ProjectOption, RefArgument
from gl_rollout.result import Result

app = typer.Typer()


@app.command("advance", help=help_of("advance"))
def advance_command(
    ctx: typer.Context,
    ref: RefArgument,
    project: ProjectOption = None,
    incident_projects: Annotated[
        list[str] | None,
        typer.Option(
            "--incident-project",
            metavar="PROJECT",
            help="Project whose open incidents with a blocking label hold every step (repeatable).",
        ),
    ] = None,
    blocking_labels: Annotated[
        list[str] | None,
        typer.Option(
            "--blocking-label",
            metavar="LABEL",
            help="Incident label that holds the ramp (repeatable; default severity::1 and severity::2).",
        ),
    ] = None,
    adopt: Annotated[
        bool,
        typer.Option("--adopt", help="Continue from a flag changed by hand instead of refusing (exit 4)."),
    ] = False,
    dry_run: DryRunOption = False,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.cli.workflow import patience
        from gl_rollout.core.guards import DEFAULT_BLOCKING_LABELS
        from gl_rollout.workflows.advance import AdvanceOptions, advance

        waiting = patience(state)
        labels = tuple(label.strip() for label in blocking_labels or () if label.strip())
        options = AdvanceOptions(
            incident_projects=tuple(incident_projects or ()),
            blocking_labels=labels or DEFAULT_BLOCKING_LABELS,
            adopt=adopt,
        )
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
            return advance(client.api, client.issue, options, dry_run=dry_run, patience=waiting)

    run_command(ctx, "advance", use_case)
