"""The ramp runner's commands: `advance` (take a rollout's next plan step when every guard holds).

The use case lives in `gl_rollout.workflows.advance`; it and python-gitlab are imported only when the
command runs, so `gl-rollout --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gl_rollout.cli.app import run_command, state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import (
    ADMIN_TOKEN_ENV,
    ApplyOption,
    DryRunOption,
    LabelOption,
    OptionalRefArgument,
    ProjectOption,
    RefArgument,
    TargetTokenEnvOption,
    TargetUrlOption,
)
from gl_rollout.result import Result

app = typer.Typer()


@app.command("advance", help=help_of("advance"))
def advance_command(
    ctx: typer.Context,
    ref: OptionalRefArgument = None,
    project: ProjectOption = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group", metavar="GROUP", help="Advance every open rollout with a plan in this group."
        ),
    ] = None,
    label: LabelOption = "feature flag",
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
    probe: Annotated[
        str | None,
        typer.Option(
            "--probe",
            metavar="CMD",
            help="Health check run on every run (no shell, 60 s at most): non-zero exit holds the ramp, or "
            "after a step rolls it back one step and pauses it.",
        ),
    ] = None,
    probe_url: Annotated[
        str | None,
        typer.Option(
            "--probe-url",
            metavar="URL",
            help="Health check by HTTP(S) GET (10 s, no token sent): an answer other than 2xx acts as a "
            "failing --probe. With --probe too, both must be healthy.",
        ),
    ] = None,
    settle: Annotated[
        str,
        typer.Option(
            "--settle",
            metavar="DURATION",
            help="After taking a step, wait this long (like 30s or 5m, at most 1h) and probe again: "
            "unhealthy rolls the step back in this run. Default 0: the next run's probe checks.",
        ),
    ] = "0",
    apply: ApplyOption = False,
    target_url: TargetUrlOption = None,
    token_env: TargetTokenEnvOption = ADMIN_TOKEN_ENV,
    apply_env: Annotated[
        str | None,
        typer.Option(
            "--apply-env",
            metavar="ENV",
            help="With --apply: the plan environment --target-url serves (default: the plan's last, "
            "production); the other environments' steps stay ChatOps comments.",
        ),
    ] = None,
    dry_run: DryRunOption = False,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        from dataclasses import replace

        from gl_rollout.cli.connection import open_client
        from gl_rollout.cli.workflow import patience
        from gl_rollout.core.guards import DEFAULT_BLOCKING_LABELS
        from gl_rollout.errors import UsageError
        from gl_rollout.workflows.advance import AdvanceOptions, advance, advance_many
        from gl_rollout.workflows.probe import (
            Probe,
            check_probe_command,
            check_probe_url,
            command_probe,
            every_probe,
            parse_settle,
            url_probe,
        )

        waiting = patience(state)
        labels = tuple(label.strip() for label in blocking_labels or () if label.strip())

        def mask(text: str) -> str:
            return state.secrets.mask(text)  # read when the probe runs: the connection adds its token

        # A probe that cannot run, a probe URL that is not one, or a bad --settle: exit 2 before any request.
        settle_seconds = parse_settle(settle)
        probes: dict[str, Probe] = {}
        if probe is not None:
            probes["--probe"] = command_probe(check_probe_command(probe), state.env, mask)
        if probe_url is not None:
            url, warning = check_probe_url(probe_url)
            if warning is not None:
                state.warn(warning)
            probes["--probe-url"] = url_probe(url, mask)
        if settle_seconds > 0 and not probes:
            raise UsageError("--settle needs a probe to run after the wait", "add --probe or --probe-url")
        if not apply and (target_url is not None or apply_env is not None):
            raise UsageError("--target-url and --apply-env go with --apply", "add --apply, or drop them")
        if apply:  # a bad target URL or a malformed admin token: exit 2 before any request
            from gl_rollout.gitlab.connection import check_admin_target

            check_admin_target(state, target_url, token_env)
        options = AdvanceOptions(
            incident_projects=tuple(incident_projects or ()),
            blocking_labels=labels or DEFAULT_BLOCKING_LABELS,
            adopt=adopt,
            probe=every_probe(probes) if probes else None,
            settle=settle_seconds,
        )
        if ref is not None and group is not None:
            raise UsageError("give an issue or --group, not both", "drop one")
        if ref is None and project is None and group is None:
            raise UsageError(
                "advance needs an issue, or --project/--group for every open rollout with a plan",
                "for example: gl-rollout advance group/project#42, or advance --project group/project",
            )
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
            if apply:
                from functools import cache

                from gl_rollout.workflows.ramp_read import InstanceApply

                # one admin connection, made when a GitLab-flag rollout first needs the Features API
                admin = cache(lambda: client.admin_api(target_url, token_env=token_env))
                options = replace(options, apply=InstanceApply(target_url, admin, apply_env))
            if ref is None:
                return advance_many(
                    client.api, project=None if group else client.project, group=group,
                    label=label or "", options=options, dry_run=dry_run, patience=waiting,
                )  # fmt: skip
            return advance(client.api, client.issue, options, dry_run=dry_run, patience=waiting)

    run_command(ctx, "advance", use_case)


ReasonOption = Annotated[
    str | None, typer.Option("--reason", metavar="TEXT", help="Why, for the people who read the issue.")
]


@app.command("pause", help=help_of("pause"))
def pause_command(
    ctx: typer.Context,
    ref: RefArgument,
    reason: ReasonOption = None,
    project: ProjectOption = None,
    dry_run: DryRunOption = False,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.cli.workflow import patience
        from gl_rollout.workflows.ramp_control import pause

        waiting = patience(state)
        if not (reason or "").strip():
            from gl_rollout.errors import UsageError

            raise UsageError("pause needs --reason TEXT", "say why, for the people who read the issue")
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
            return pause(client.api, client.issue, reason, dry_run=dry_run, patience=waiting)

    run_command(ctx, "pause", use_case)


@app.command("resume", help=help_of("resume"))
def resume_command(
    ctx: typer.Context,
    ref: RefArgument,
    project: ProjectOption = None,
    dry_run: DryRunOption = False,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.cli.workflow import patience
        from gl_rollout.workflows.ramp_control import resume

        waiting = patience(state)
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
            return resume(client.api, client.issue, dry_run=dry_run, patience=waiting)

    run_command(ctx, "resume", use_case)


@app.command("rollback", help=help_of("rollback"))
def rollback_command(
    ctx: typer.Context,
    ref: RefArgument,
    reason: ReasonOption = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="STEP", help="The plan step to go back to, like production-10."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Turn the flag off everywhere.")] = False,
    project: ProjectOption = None,
    dry_run: DryRunOption = False,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.cli.workflow import patience
        from gl_rollout.errors import UsageError
        from gl_rollout.workflows.ramp_control import rollback

        waiting = patience(state)
        if not (reason or "").strip():
            raise UsageError("rollback needs --reason TEXT", "say why, for the people who read the issue")
        if to is not None and off:
            raise UsageError("--to and --off do not go together", "give one: a step, or --off")
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
            return rollback(
                client.api, client.issue, reason, to=to, off=off, dry_run=dry_run, patience=waiting
            )

    run_command(ctx, "rollback", use_case)
