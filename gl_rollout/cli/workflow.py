"""GitLab workflow commands: create, announce, enable, disable, demo.

Every command that writes takes `--dry-run`: the same code path runs, reads included, and prints the
diff of the description and the comments it would post instead of writing. python-gitlab, requests
and the use cases load only when a command runs, so `gl-rollout --help` stays fast.
"""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli.app import AppState, app, run_command, state_of
from gl_rollout.cli.offline import with_render_options
from gl_rollout.cli.options import OptionGroup, ProjectOption, with_option_group
from gl_rollout.cli.printer import HumanRenderer, Printer
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.cli.connection import Client
    from gl_rollout.gitlab.api import GitLabAPI
    from gl_rollout.render.issue import RenderOptions
    from gl_rollout.workflows.posting import Patience

RefArgument = Annotated[
    str,
    typer.Argument(
        metavar="REF", help="Issue URL, group/project#42, or 42 with --project.", show_default=False
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Show the description diff and the comments; write nothing.")
]
FlagOption = Annotated[
    str | None, typer.Option("--flag", help="The feature flag (default: the one the issue's title names).")
]
EnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        help="ChatOps environment: dev, pre, staging, staging-ref, ops, production (repeatable; "
        "none means production).",
    ),
]


def patience(state: AppState) -> Patience:
    """How long a lost answer to a POST is waited for: `--timeout` per request, GitLab's own request
    timeout (`GL_ROLLOUT_SERVER_TIMEOUT`, default 60 s) in all (UsageError for a bad value)."""
    from gl_rollout.workflows.posting import Patience, server_timeout_from_env

    return Patience(timeout=state.timeout, server_timeout=server_timeout_from_env(state.env))


# --- rendering results ------------------------------------------------------------------------------


def render_write(result: Result, printer: Printer) -> None:
    """Messages, then (dry run) the description diff and the comment bodies, then any conflict."""
    for message in result.messages:
        printer.line(message)
    data = result.data
    if data.get("dry_run"):
        if data.get("diff"):
            printer.line()
            printer.line("Description diff:")
            printer.human.write(data["diff"])
        for body in data.get("comments") or []:
            printer.line()
            printer.line("Comment:")
            for line in str(body).rstrip("\n").splitlines():
                printer.line("  " + line)
    conflict = data.get("conflict")
    if isinstance(conflict, dict):
        for change in conflict.get("wrote") or []:
            printer.line(f"gl-rollout wrote line {change['line']}: {change['after']}")
        for other in conflict.get("other_edits") or []:
            printer.line(f"overwritten edit: {other['author']} at {other['created_at']}: {other['note']}")


def render_create(result: Result, printer: Printer) -> None:
    render_write(result, printer)
    data = result.data
    if data.get("dry_run") and data.get("would_create") and not data.get("diff"):
        return
    if data.get("web_url") and not any(data["web_url"] in message for message in result.messages):
        printer.line(data["web_url"])


def _client(
    state: AppState, *, need_write: bool, project: str | None = None, ref: str | None = None
) -> AbstractContextManager[Client]:
    """`config.open_client`, imported when a command runs (python-gitlab and requests come with it)."""
    from gl_rollout.cli.connection import open_client

    return open_client(state, need_write=need_write, project=project, ref=ref)


# --- create -----------------------------------------------------------------------------------------


@app.command("create")
@with_render_options
def create_command(
    ctx: typer.Context,
    project: ProjectOption = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Extra label (repeatable).")
    ] = None,
    assignee: Annotated[
        list[str] | None, typer.Option("--assignee", "-a", help="Assign this username (repeatable).")
    ] = None,
    due: Annotated[str | None, typer.Option("--due", help="Due date, YYYY-MM-DD.")] = None,
    confidential: Annotated[
        bool, typer.Option("--confidential", help="Make the issue confidential.")
    ] = False,
    write_definition: Annotated[
        bool,
        typer.Option(
            "--write-definition", help="Write the issue's URL into --definition's rollout_issue_url (atomic)."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            "-n",
            help="Show the issue that would be created (and the definition edit); write nothing.",
        ),
    ] = False,
    *,
    options: RenderOptions,
) -> None:
    """Create the rollout issue for FLAG in --project, unless an open one exists (then report it, exit 0).

    Labels: "feature flag" and the group's label, plus --label. --milestone also sets the issue's milestone
    (it must exist). With --json: {iid, web_url, reference, created}.
    """
    state = state_of(ctx)

    def use_case() -> Result:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.render.issue import render_issue
        from gl_rollout.workflows.rollout import CreateOptions, create

        if write_definition and options.definition is None:
            raise UsageError("--write-definition needs --definition FILE", "name the flag's definition YAML")
        rendered = render_issue(options)
        with _client(state, need_write=not dry_run, project=project) as client:
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
            return create(client.api, rendered, create_options)

    run_command(ctx, "create", use_case, render_create)


# --- announce ---------------------------------------------------------------------------------------


@app.command("announce")
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
        str, typer.Option("--env", help="With --enabled: the environment (default production).")
    ] = "production",
    project: ProjectOption = None,
    flag: FlagOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Comment on the rollout issue when the flag will be enabled (--eta) or that it is (--enabled),
    then tick announce-eta / announce-enabled. Running it again posts nothing.
    """
    state = state_of(ctx)

    def use_case() -> Result:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        if (eta is None) == (not enabled):
            raise UsageError(
                "announce needs exactly one of --eta WHEN and --enabled", "for example --eta 'in 2h'"
            )
        if eta is not None:
            from gl_rollout.core.times import parse_eta
            from gl_rollout.workflows.announce import announce_eta

            when = parse_eta(eta)  # refused before any request when it has no zone or is past
            with _client(state, need_write=not dry_run, project=project, ref=ref) as client:
                return announce_eta(
                    client.api, client.issue, when, flag=flag, dry_run=dry_run, patience=waiting
                )
        from gl_rollout.core.chatops import parse_environments
        from gl_rollout.workflows.announce import announce_enabled

        parse_environments([env])
        with _client(state, need_write=not dry_run, project=project, ref=ref) as client:
            return announce_enabled(
                client.api, client.issue, env, flag=flag, dry_run=dry_run, patience=waiting
            )

    run_command(ctx, "announce", use_case, render_write)


# --- enable / disable -------------------------------------------------------------------------------


def flag_parameters(verb: str) -> OptionGroup:
    """The options `enable` and `disable` share (whom the flag is set for, and where and how), their
    help worded for `verb` ("Enable" or "Disable")."""
    return {
        "envs": (EnvOption, None),
        "projects": (
            Annotated[
                list[str] | None,
                typer.Option(
                    "--project-actor",
                    help=f"{verb} for this project path (repeatable; an empty value is refused).",
                ),
            ],
            None,
        ),
        "groups": (
            Annotated[
                list[str] | None,
                typer.Option(
                    "--group-actor",
                    help=f"{verb} for this group path (repeatable; an empty value is refused).",
                ),
            ],
            None,
        ),
        "users": (
            Annotated[
                list[str] | None,
                typer.Option(
                    "--user", help=f"{verb} for this username (repeatable; an empty value is refused)."
                ),
            ],
            None,
        ),
        "feature_group": (
            Annotated[
                str | None,
                typer.Option(
                    "--feature-group",
                    help=f"{verb} for this feature group, e.g. gitlab_team_members (not empty).",
                ),
            ],
            None,
        ),
        "prefix": (
            Annotated[
                str, typer.Option("--chatops-prefix", help='ChatOps prefix, e.g. "/chatops gitlab run".')
            ],
            "/chatops run",
        ),
        "apply": (
            Annotated[
                bool,
                typer.Option(
                    "--apply",
                    help="Also set the flag through the Features API of --target-url (admin token from "
                    "GITLAB_ADMIN_TOKEN or --target-token-env); with --sandbox, the sandbox itself.",
                ),
            ],
            False,
        ),
        "target_url": (
            Annotated[
                str | None,
                typer.Option(
                    "--target-url",
                    help="GitLab instance whose Features API --apply uses (default: --url); https://, or "
                    "http:// to localhost only unless --allow-http.",
                ),
            ],
            None,
        ),
        "token_env": (
            Annotated[
                str,
                typer.Option(
                    "--target-token-env", metavar="VAR", help="Variable holding the admin token for --apply."
                ),
            ],
            "GITLAB_ADMIN_TOKEN",
        ),
        "project": (ProjectOption, None),
        "flag": (FlagOption, None),
        "dry_run": (DryRunOption, False),
    }


@dataclass(frozen=True)
class FlagArgs:
    """The `flag_parameters` values (same names) as `enable` and `disable` receive them."""

    envs: list[str] | None
    projects: list[str] | None
    groups: list[str] | None
    users: list[str] | None
    feature_group: str | None
    prefix: str
    apply: bool
    target_url: str | None
    token_env: str
    project: str | None
    flag: str | None
    dry_run: bool


def _flag_args(values: dict[str, Any]) -> FlagArgs:
    return FlagArgs(**values)


with_enable_options = with_option_group(flag_parameters("Enable"), _flag_args, into="args")
with_disable_options = with_option_group(flag_parameters("Disable"), _flag_args, into="args")


@app.command("enable")
@with_enable_options
def enable_command(
    ctx: typer.Context,
    ref: RefArgument,
    percentage: Annotated[
        int | None, typer.Option("--percentage", help="Percentage 0-100 (needs --actors or --time).")
    ] = None,
    actors: Annotated[
        bool, typer.Option("--actors", help="The percentage is of actors (recommended).")
    ] = False,
    time: Annotated[bool, typer.Option("--time", help="The percentage is of the time (deprecated).")] = False,
    *,
    args: FlagArgs,
) -> None:
    """Comment the exact ChatOps `feature set` command on the rollout issue and tick the step it completes:
    enable-staging (staging), enable-beta (actors on production), enable-production (everyone on production),
    ramp-N (N% of actors, when the issue has that step). --apply also sets it through the Features API.
    """
    _set_flag(ctx, "enable", ref, args, percentage=percentage, actors=actors, time=time)


@app.command("disable")
@with_disable_options
def disable_command(ctx: typer.Context, ref: RefArgument, *, args: FlagArgs) -> None:
    """Roll back: comment `feature set FLAG false ...` on the rollout issue and set the matching enable step
    back to todo. --apply also sets it through the Features API.
    """
    _set_flag(ctx, "disable", ref, args)


def check_actors(args: FlagArgs) -> None:
    """Each actor option names someone (`option_values.check_actor_values`); exit 2 before any request."""
    from gl_rollout.render.option_values import check_actor_values

    check_actor_values("--project-actor", args.projects)
    check_actor_values("--group-actor", args.groups)
    check_actor_values("--user", args.users)
    check_actor_values("--feature-group", args.feature_group)


def _set_flag(
    ctx: typer.Context,
    command: str,
    ref: str,
    args: FlagArgs,
    *,
    percentage: int | None = None,
    actors: bool = False,
    time: bool = False,
) -> None:
    """`enable` and `disable`: one use case (`enabling.set_flag`), true/percentage or false."""
    state = state_of(ctx)

    def use_case() -> Result:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.gitlab.connection import check_admin_target
        from gl_rollout.workflows.enable import FlagOptions, feature_request, requested_value, set_flag

        enable = command == "enable"
        options = FlagOptions(
            envs=tuple(args.envs or ()),
            projects=tuple(args.projects or ()),
            groups=tuple(args.groups or ()),
            users=tuple(args.users or ()),
            feature_group=args.feature_group,
            percentage=percentage,
            actors=actors,
            time=time,
            prefix=args.prefix,
            flag=args.flag,
            apply=args.apply,
            target_url=args.target_url,
        )
        check_actors(args)  # exit 2 before any request, as every check down to `_client`
        value = requested_value(options, enable=enable)
        request = feature_request(options.flag or "placeholder_flag", value, options)
        if any((args.projects, args.groups, args.users, args.feature_group)) and not request.actors:
            # Never a silent global change: actors were asked for and none is left.
            raise UsageError(f"the actor options of {command} name nobody", "give an actor, or drop them")
        if args.apply:
            check_admin_target(state, args.target_url, args.token_env)
        with _client(state, need_write=not args.dry_run, project=args.project, ref=ref) as client:

            def admin() -> GitLabAPI:  # connects only if the Features API call is made
                return client.admin_api(options.target_url, token_env=args.token_env)

            return set_flag(
                client.api,
                client.issue,
                options,
                enable=enable,
                admin_api=admin if options.apply else None,
                dry_run=args.dry_run,
                patience=waiting,
            )

    run_command(ctx, command, use_case, render_write)


# --- demo -------------------------------------------------------------------------------------------


def _step_renderers() -> dict[str, HumanRenderer]:
    """The human renderer of each command the demo runs: the very ones the commands use."""
    from gl_rollout.cli.steps_cmds import render_issue_check, render_issue_status

    return {
        "create": render_create,
        "status": render_issue_status,
        "announce": render_write,
        "enable": render_write,
        "check": render_issue_check,
    }


def render_demo(result: Result, printer: Printer) -> None:
    """Each step as the command a user would type, then that command's own output, indented; then the
    final issue."""
    renderers = _step_renderers()
    for step in result.data.get("steps") or []:
        printer.line(f"$ {step['command_line']}")
        shown = io.StringIO()
        inner = Printer(json_mode=False, secrets=printer.secrets, out=shown, err=shown)
        ran = Result(
            command=step["command"], ok=step["ok"], data=step.get("data") or {}, messages=step["messages"]
        )
        render = renderers.get(step["command"])
        if render is not None and (ran.ok or ran.data):
            render(ran, inner)
        else:
            for message in ran.messages:
                inner.line(message)
        if step.get("error"):
            inner.line(f"error: {step['error']}")
        for line in shown.getvalue().rstrip("\n").splitlines():
            printer.line(f"  {line}" if line else "")
        printer.line()
    final = result.data.get("final")
    if isinstance(final, dict):
        printer.line(f"{final['reference']}: {final['title']}")
        printer.line(final["web_url"])
        printer.line()
        printer.human.write(final["description"].rstrip("\n") + "\n")
    for message in result.messages:
        printer.line(message)


@app.command("demo")
def demo_command(ctx: typer.Context) -> None:
    """The main job, end to end, against the embedded sandbox (no account needed): create the rollout issue
    for product_analytics_aggregated_metrics, status, announce --eta "in 2h", enable --env staging --apply,
    check test-staging, status again, then print the issue. Safe to run again: it reports what exists.
    State persists in the sandbox database (--sandbox-db FILE to choose).
    """
    state = state_of(ctx)

    def use_case() -> Result:
        waiting = patience(state)  # a bad GL_ROLLOUT_SERVER_TIMEOUT: exit 2 before any request
        from gl_rollout.workflows.demo import run_demo

        state.sandbox = True
        with _client(state, need_write=True) as client:
            return run_demo(client, patience=waiting)

    run_command(ctx, "demo", use_case, render_demo)
