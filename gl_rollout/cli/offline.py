"""Offline commands that need no GitLab: `render` (the rollout issue) and `templates` (the built-in ones).

The use cases are `gl_rollout.workflows.render`; jinja2 and ruamel.yaml are imported only when a
command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gl_rollout.cli import views
from gl_rollout.cli.app import run_command
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import (
    DEFAULT_CHATOPS_PREFIX,
    ApproverOption,
    BetaGroupOption,
    BetaProjectOption,
    BetaUserListOption,
    ChatopsPrefixOption,
    DefinitionOption,
    EnvironmentsOption,
    ExpectOption,
    FeatureIssueOption,
    FlagArgument,
    FlagBackendOption,
    FlagProjectOption,
    FlagTypeOption,
    GroupOption,
    HoldOption,
    IntroducedByOption,
    MaxJumpOption,
    MilestoneOption,
    MonitorOption,
    OwnerOption,
    RampOption,
    RisksOption,
    SlackOption,
    StickinessOption,
    TeamOption,
    TemplateOption,
    VarOption,
    WaitOption,
    render_options,
)

app = typer.Typer()


@app.command("render", help=help_of("render"))
def render_command(
    ctx: typer.Context,
    flag: FlagArgument = None,
    *,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the description to FILE (atomically, or into a device or FIFO), not to stdout.",
        ),
    ] = None,
    template: TemplateOption = "rollout",
    definition: DefinitionOption = None,
    group: GroupOption = None,
    team: TeamOption = None,
    slack: SlackOption = None,
    owner: OwnerOption = None,
    beta_project: BetaProjectOption = None,
    beta_group: BetaGroupOption = None,
    milestone: MilestoneOption = None,
    feature_issue: FeatureIssueOption = None,
    introduced_by: IntroducedByOption = None,
    flag_type: FlagTypeOption = None,
    expect: ExpectOption = None,
    risks: RisksOption = None,
    monitor: MonitorOption = None,
    var: VarOption = None,
    chatops_prefix: ChatopsPrefixOption = DEFAULT_CHATOPS_PREFIX,
    ramp: RampOption = None,
    wait: WaitOption = None,
    hold: HoldOption = None,
    max_jump: MaxJumpOption = None,
    approver: ApproverOption = None,
    flag_backend: FlagBackendOption = "instance",
    flag_project: FlagProjectOption = None,
    environments: EnvironmentsOption = None,
    stickiness: StickinessOption = "default",
    beta_user_list: BetaUserListOption = None,
) -> None:
    from gl_rollout.workflows.render import render

    options = render_options(locals())
    run_command(ctx, "render", lambda: render(options, output), views.rendered)


@app.command("templates", help=help_of("templates"))
def templates_command(ctx: typer.Context) -> None:
    from gl_rollout.workflows.render import templates

    run_command(ctx, "templates", templates, views.templates)
