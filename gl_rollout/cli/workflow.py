"""GitLab workflow commands: create, announce, enable, disable, demo.

Every command that writes takes `--dry-run`: the same code path runs, reads included, and prints the
diff of the description and the comments it would post instead of writing. python-gitlab, requests
and the use cases load only when a command runs, so `gl-rollout --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli import views
from gl_rollout.cli.app import run_command, state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import (
    ADMIN_TOKEN_ENV,
    DEFAULT_CHATOPS_PREFIX,
    AdoptFlagOption,
    AllowDecreaseOption,
    ApplyOption,
    ApproverOption,
    BetaGroupOption,
    BetaProjectOption,
    BetaUserListOption,
    ChatopsPrefixOption,
    DefinitionOption,
    DisableFeatureGroup,
    DisableGroupActors,
    DisableProjectActors,
    DisableUsers,
    DryRunOption,
    EnableFeatureGroup,
    EnableGroupActors,
    EnableProjectActors,
    EnableUsers,
    EnvironmentsOption,
    EnvOption,
    ExpectOption,
    FeatureIssueOption,
    FlagArgument,
    FlagBackendOption,
    FlagOption,
    FlagProjectOption,
    FlagTypeOption,
    GroupOption,
    HoldOption,
    IntroducedByOption,
    MaxJumpOption,
    MilestoneOption,
    MonitorOption,
    OwnerOption,
    ProjectOption,
    RampOption,
    RefArgument,
    RisksOption,
    SlackOption,
    StickinessOption,
    TargetTokenEnvOption,
    TargetUrlOption,
    TeamOption,
    TemplateOption,
    UserListOption,
    VarOption,
    WaitOption,
    complete_environments,
    render_options,
)
from gl_rollout.cli.running import AppState
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.render.issue import RenderOptions
    from gl_rollout.workflows.posting import Patience

app = typer.Typer()


def patience(state: AppState) -> Patience:
    """How long a lost answer to a POST is waited for: `--timeout` per request, GitLab's own request
    timeout (`GL_ROLLOUT_SERVER_TIMEOUT`, default 60 s) in all (UsageError for a bad value)."""
    from gl_rollout.workflows.posting import Patience, server_timeout_from_env

    return Patience(timeout=state.timeout, server_timeout=server_timeout_from_env(state.env))


# --- create -------------------------------------------------------------------------------------------------


@app.command("create", help=help_of("create"))
def create_command(
    ctx: typer.Context,
    flag: FlagArgument = None,
    *,
    project: ProjectOption = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", metavar="LABEL", help="Extra label (repeatable).")
    ] = None,
    assignee: Annotated[
        list[str] | None,
        typer.Option("--assignee", "-a", metavar="USER", help="Assign this username (repeatable)."),
    ] = None,
    due: Annotated[str | None, typer.Option("--due", metavar="DATE", help="Due date, YYYY-MM-DD.")] = None,
    confidential: Annotated[
        bool, typer.Option("--confidential", help="Make the issue confidential.")
    ] = False,
    write_definition: Annotated[
        bool,
        typer.Option(
            "--write-definition", help="Write the issue's URL into --definition's rollout_issue_url (atomic)."
        ),
    ] = False,
    allow_sandbox_url: Annotated[
        bool,
        typer.Option(
            "--allow-sandbox-url",
            help="With --sandbox: let --write-definition write the sandbox's loopback URL into a "
            "definition outside the sandbox's folder.",
        ),
    ] = False,
    dry_run: DryRunOption = False,
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
    create_flag: Annotated[
        bool,
        typer.Option(
            "--create-flag",
            help="Project flag: also create it (inactive, no strategy) when the project has none.",
        ),
    ] = False,
    adopt_flag: AdoptFlagOption = False,
    from_mr: Annotated[
        str | None,
        typer.Option(
            "--from-mr",
            metavar="MR",
            help="A rollout issue for each flag definition the merge request adds (an MR URL, "
            "group/project!12, or 12 with --project), and one MR comment with their rollout_issue_url.",
        ),
    ] = None,
) -> None:
    options = render_options(locals())
    state = state_of(ctx)
    if from_mr is not None:
        given = [
            name
            for name, present in (
                ("FLAG", flag is not None),
                ("--definition", options.definition is not None),
                ("--write-definition", write_definition),
                ("--create-flag", create_flag),
                ("--flag-backend project", flag_backend == "project"),
            )
            if present
        ]
        if given:
            run_command(ctx, "create", _refuse_with_from_mr(given[0]), views.created)
            return
        run_command(
            ctx, "create", _from_mr_use_case(state, options, from_mr, project, locals()), views.from_mr
        )
        return

    def use_case() -> Result[Any]:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.cli.connection import check_sandbox_definition, open_client
        from gl_rollout.render.issue import render_issue
        from gl_rollout.workflows.create import CreateOptions, create

        if write_definition and options.definition is None:
            raise UsageError("--write-definition needs --definition FILE", "name the flag's definition YAML")
        if write_definition and options.definition is not None:
            check_sandbox_definition(state, options.definition, allowed=allow_sandbox_url)
        rendered = render_issue(options)
        if (create_flag or adopt_flag) and rendered.rollout is None:
            given = "--create-flag" if create_flag else "--adopt-flag"
            raise UsageError(f"{given} is for project feature flags", "add --flag-backend project")
        if adopt_flag and not create_flag:
            raise UsageError("--adopt-flag goes with --create-flag", "add --create-flag")
        with open_client(state, need_write=not dry_run, project=project) as client:
            create_options = CreateOptions(
                project=client.project,
                labels=tuple(label or ()),
                assignees=tuple(assignee or ()),
                milestone=options.milestone,
                due=due,
                confidential=confidential,
                definition=options.definition,
                write_definition=write_definition,
                dry_run=dry_run,
                patience=waiting,
            )
            if create_flag:
                from gl_rollout.workflows.project_flag_create import create_with_flag

                return create_with_flag(client.api, rendered, create_options, adopt=adopt_flag)
            return create(client.api, rendered, create_options)

    run_command(ctx, "create", use_case, views.created)


def _refuse_with_from_mr(given: str) -> Callable[[], Result[Any]]:
    def use_case() -> Result[Any]:
        raise UsageError(
            f"--from-mr takes no {given}: the flags come from the merge request's definitions",
            f"drop {given}, or drop --from-mr",
        )

    return use_case


def _from_mr_use_case(
    state: AppState, options: RenderOptions, mr: str, project: str | None, values: Mapping[str, Any]
) -> Callable[[], Result[Any]]:
    """`create --from-mr MR`: the issues go to --project (or CI_PROJECT_PATH), else the MR's project."""

    def use_case() -> Result[Any]:
        waiting = patience(state)
        from gl_rollout.cli.connection import open_client
        from gl_rollout.core.merge_requests import MergeRequestRef, parse_mr_ref
        from gl_rollout.gitlab.connection import find_project
        from gl_rollout.workflows.create import CreateOptions
        from gl_rollout.workflows.from_mr import create_from_mr

        text = mr.strip().removeprefix("!")
        if text.isdigit():  # `12`: --project, CI_PROJECT_PATH or the sandbox's project completes it
            if not state.sandbox:
                parse_mr_ref(mr, find_project(project, state.env))  # no project: the MR-worded error
            as_issue = text
        else:
            ref = parse_mr_ref(mr)
            # The MR's host and project choose the GitLab by the same rules as an issue reference's.
            as_issue = (
                f"{ref.host}/{ref.project}/-/issues/{ref.iid}" if ref.host else f"{ref.project}#{ref.iid}"
            )
        with open_client(state, need_write=not values["dry_run"], project=project, ref=as_issue) as client:
            assert client.issue_ref is not None
            mr_ref = MergeRequestRef(client.issue_ref.project, client.issue_ref.iid)
            create_options = CreateOptions(
                project=client.project_path or mr_ref.project,
                labels=tuple(values["label"] or ()),
                assignees=tuple(values["assignee"] or ()),
                milestone=options.milestone,
                due=values["due"],
                confidential=values["confidential"],
                dry_run=values["dry_run"],
                patience=waiting,
            )
            return create_from_mr(client.api, mr_ref, options, create_options)

    return use_case


# --- announce -----------------------------------------------------------------------------------------------


@app.command("announce", help=help_of("announce"))
def announce_command(
    ctx: typer.Context,
    ref: RefArgument,
    eta: Annotated[
        str | None,
        typer.Option(
            "--eta",
            metavar="WHEN",
            help="When the flag will be enabled on production: ISO 8601 with a zone, "
            "'2026-12-01 14:00 UTC', or 'in 2h' / 'in 30m' / 'in 1d'.",
        ),
    ] = None,
    enabled: Annotated[
        bool, typer.Option("--enabled", help="Announce that the flag is now enabled.")
    ] = False,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            metavar="ENV",
            help="With --enabled: the environment (default production).",
            autocompletion=complete_environments,
        ),
    ] = "production",
    project: ProjectOption = None,
    flag: FlagOption = None,
    dry_run: DryRunOption = False,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.cli.connection import open_client

        if (eta is None) == (not enabled):
            raise UsageError(
                "announce needs exactly one of --eta WHEN and --enabled", "for example --eta 'in 2h'"
            )
        if eta is not None:
            from gl_rollout.core.times import parse_eta
            from gl_rollout.workflows.announce import announce_eta

            when = parse_eta(eta)  # refused before any request when it has no zone or is past
            with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
                return announce_eta(
                    client.api, client.issue, when, flag=flag, dry_run=dry_run, patience=waiting
                )
        from gl_rollout.core.chatops import parse_environments
        from gl_rollout.workflows.announce import announce_enabled

        parse_environments([env])
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:
            return announce_enabled(
                client.api, client.issue, env, flag=flag, dry_run=dry_run, patience=waiting
            )

    run_command(ctx, "announce", use_case, views.written)


# --- enable / disable ---------------------------------------------------------------------------------------


@app.command("enable", help=help_of("enable"))
def enable_command(
    ctx: typer.Context,
    ref: RefArgument,
    percentage: Annotated[
        int | None,
        typer.Option(
            "--percentage",
            metavar="N",
            help="Percentage 0-100 (GitLab's own flags: with --actors or --time).",
        ),
    ] = None,
    actors: Annotated[
        bool, typer.Option("--actors", help="The percentage is of actors (recommended).")
    ] = False,
    time: Annotated[bool, typer.Option("--time", help="The percentage is of the time (deprecated).")] = False,
    *,
    envs: EnvOption = None,
    projects: EnableProjectActors = None,
    groups: EnableGroupActors = None,
    users: EnableUsers = None,
    feature_group: EnableFeatureGroup = None,
    prefix: ChatopsPrefixOption = DEFAULT_CHATOPS_PREFIX,
    apply: ApplyOption = False,
    target_url: TargetUrlOption = None,
    token_env: TargetTokenEnvOption = ADMIN_TOKEN_ENV,
    project: ProjectOption = None,
    flag: FlagOption = None,
    user_list: UserListOption = None,
    allow_decrease: AllowDecreaseOption = False,
    adopt_flag: AdoptFlagOption = False,
    dry_run: DryRunOption = False,
) -> None:
    set_flag_command(ctx, "enable", ref, locals())


@app.command("disable", help=help_of("disable"))
def disable_command(
    ctx: typer.Context,
    ref: RefArgument,
    *,
    envs: EnvOption = None,
    projects: DisableProjectActors = None,
    groups: DisableGroupActors = None,
    users: DisableUsers = None,
    feature_group: DisableFeatureGroup = None,
    prefix: ChatopsPrefixOption = DEFAULT_CHATOPS_PREFIX,
    apply: ApplyOption = False,
    target_url: TargetUrlOption = None,
    token_env: TargetTokenEnvOption = ADMIN_TOKEN_ENV,
    project: ProjectOption = None,
    flag: FlagOption = None,
    dry_run: DryRunOption = False,
) -> None:
    set_flag_command(ctx, "disable", ref, locals())


def set_flag_command(ctx: typer.Context, command: str, ref: str, values: Mapping[str, Any]) -> None:
    """`enable` and `disable`: one use case (`workflows.flag_command`), true/percentage or false, for
    the kind of flag the issue rolls out (GitLab's own, or a project feature flag).

    `values` are the command's parameters (`locals()`), by the names both commands give them.
    """
    from gl_rollout.workflows.enable import FlagOptions
    from gl_rollout.workflows.project_flags import ProjectFlagOptions

    state = state_of(ctx)
    token_env: str = values["token_env"]
    project: str | None = values["project"]
    dry_run: bool = values["dry_run"]
    options = FlagOptions(
        envs=tuple(values["envs"] or ()),
        projects=tuple(values["projects"] or ()),
        groups=tuple(values["groups"] or ()),
        users=tuple(values["users"] or ()),
        feature_group=values["feature_group"],
        percentage=values.get("percentage"),
        actors=bool(values.get("actors")),
        time=bool(values.get("time")),
        prefix=values["prefix"],
        flag=values["flag"],
        apply=values["apply"],
        target_url=values["target_url"],
    )
    project_options = ProjectFlagOptions(
        envs=options.envs,
        percentage=options.percentage,
        user_list=values.get("user_list"),
        allow_decrease=bool(values.get("allow_decrease")),
        adopt=bool(values.get("adopt_flag")),
    )

    def use_case() -> Result[Any]:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.cli.connection import open_client
        from gl_rollout.gitlab.connection import check_admin_target
        from gl_rollout.workflows.flag_command import check_before_reading, set_flag_of_issue

        enable = command == "enable"
        check_before_reading(options, project_options, enable=enable)  # exit 2 before any request
        if options.apply:
            check_admin_target(state, options.target_url, token_env)
        with open_client(state, need_write=not dry_run, project=project, ref=ref) as client:

            def admin() -> Any:  # connects only if the Features API call is made
                return client.admin_api(options.target_url, token_env=token_env)

            return set_flag_of_issue(
                client.api,
                client.issue,
                options,
                project_options,
                enable=enable,
                admin_api=admin if options.apply else None,
                dry_run=dry_run,
                patience=waiting,
            )

    run_command(ctx, command, use_case, views.written)


# --- demo ---------------------------------------------------------------------------------------------------


@app.command("demo", help=help_of("demo"))
def demo_command(
    ctx: typer.Context,
    flag_backend: FlagBackendOption = "instance",
    ramp: Annotated[
        bool,
        typer.Option(
            "--ramp",
            help="Walk a whole guarded ramp with advance instead, the sandbox clock moved forward: waits, an "
            "incident, a probe's rollback, resume, 100%.",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="With --ramp: the HTML report with the step chart (default: in a new temporary folder).",
        ),
    ] = None,
) -> None:
    state = state_of(ctx)

    def use_case() -> Result[Any]:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.cli.connection import open_client
        from gl_rollout.workflows.demo import run_demo

        if flag_backend not in ("instance", "project"):
            raise UsageError(f"invalid --flag-backend {flag_backend!r}", "use instance or project")
        if output is not None and not ramp:
            raise UsageError("--output is for demo --ramp (its HTML report)", "add --ramp, or drop --output")
        if ramp:
            return _ramp_demo(state, flag_backend, output, waiting)
        state.sandbox = True
        with open_client(state, need_write=True) as client:
            if flag_backend == "project":
                from gl_rollout.gitlab.unleash import fetch_unleash_features
                from gl_rollout.workflows.demo_project import run_project_demo

                unleash = client.unleash
                assert unleash is not None  # the sandbox serves it

                def served(env: str) -> Any:
                    return fetch_unleash_features(
                        unleash.url, unleash.instance_id, env, timeout=state.timeout
                    )

                return run_project_demo(client.api, client.project, served, patience=waiting)
            return run_demo(client.api, client.project, client.admin_api, patience=waiting)

    run_command(ctx, "demo", use_case, views.demo_ramp if ramp else views.demo)


def _ramp_demo(state: AppState, flag_backend: str, output: Path | None, waiting: Patience) -> Result[Any]:
    """`demo --ramp` on a sandbox state of its own (a new file, or --sandbox-db FILE) and its report."""
    import tempfile

    from gl_rollout.cli.connection import open_demo_sandbox
    from gl_rollout.render.report_formats import report_format
    from gl_rollout.workflows.demo_ramp import run_ramp_demo

    if output is not None and report_format(output) != "html":
        raise UsageError(
            f"--output {output} is not an HTML file", "name it .html: the report draws the chart"
        )
    needs_folder = output is None or state.sandbox_db is None
    where = state.env.get("TMPDIR") or None  # the command's environment, as everywhere else
    folder = Path(tempfile.mkdtemp(prefix="gl-rollout-demo-ramp-", dir=where)) if needs_folder else None
    db = state.sandbox_db or (folder / "sandbox.sqlite3" if folder else None)
    out = output or (folder / "rollouts.html" if folder else None)
    assert db is not None
    assert out is not None
    state.sandbox = True
    with open_demo_sandbox(state, db) as demo:
        result = run_ramp_demo(
            demo.client.api, demo.client.project, demo.incident_project, demo.move_clock, out,
            flag_backend=flag_backend, patience=waiting,
        )  # fmt: skip
    final = result.value.final if result.value is not None else None
    if final is not None:
        page = final.web_url.split("/", 3)[-1] if "://" in final.web_url else final.web_url
        result.messages.append(
            f"the issue page, with the chart under its description: run `gl-rollout sandbox serve "
            f"--sandbox-db {db}` and open /{page} on the address it prints"
        )
    return result
