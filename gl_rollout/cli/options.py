"""Options several commands share, declared once so they are spelled and explained the same everywhere.

Each is an `Annotated` alias a command's signature names: `ref: RefArgument`, `dry_run: DryRunOption`.
The render options (`render`, `create`) and the flag targets (`enable`, `disable`) are such aliases
too: a command lists them as its own parameters, so Typer reads each command's signature as written,
and `render_options(locals())` gathers the render options by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from gl_rollout.render.issue import RenderOptions

# Metavars, one style across every command: an upper-case noun for what the value is (REF, STEP, FILE,
# URL, PROJECT, GROUP, N, WHEN, ...); tests/e2e/test_help.py holds every help page to it.

# Shell completion (gl_rollout.cli.completion) is loaded only when the shell asks for candidates.


def complete_refs(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    from gl_rollout.cli.completion import complete_refs

    return complete_refs(ctx, incomplete)


def complete_steps(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    from gl_rollout.cli.completion import complete_steps

    return complete_steps(ctx, incomplete)


def complete_environments(ctx: typer.Context, incomplete: str) -> list[str]:
    from gl_rollout.cli.completion import complete_environments

    return complete_environments(ctx, incomplete)


def complete_templates(ctx: typer.Context, incomplete: str) -> list[str]:
    from gl_rollout.cli.completion import complete_templates

    return complete_templates(ctx, incomplete)


_REF_HELP = "The rollout issue: a URL, group/project#42, or 42 with --project."

RefArgument = Annotated[
    str, typer.Argument(metavar="REF", help=_REF_HELP, show_default=False, autocompletion=complete_refs)
]
OptionalRefArgument = Annotated[
    str | None,
    typer.Argument(metavar="[REF]", help=_REF_HELP, show_default=False, autocompletion=complete_refs),
]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-R", metavar="PROJECT", help="Project path or ID (default CI_PROJECT_PATH)."),
]
LabelOption = Annotated[str, typer.Option("--label", metavar="LABEL", help="Only issues with this label.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", "-n", help="Show what would change; write nothing.")]
FlagOption = Annotated[
    str | None,
    typer.Option(
        "--flag", metavar="FLAG", help="The feature flag (default: the one the issue's title names)."
    ),
]
FileOption = Annotated[
    str | None,
    typer.Option(
        "--file",
        "-f",
        metavar="FILE",
        help="Markdown file holding the issue description ('-' reads standard input).",
        show_default=False,
    ),
]
EnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        metavar="ENV",
        help="ChatOps environment: dev, pre, staging, staging-ref, ops, production (repeatable; "
        "none means production). A project flag: one of its environments (none: the last).",
        autocompletion=complete_environments,
    ),
]
ChatopsPrefixOption = Annotated[
    str,
    typer.Option("--chatops-prefix", metavar="PREFIX", help='ChatOps prefix, e.g. "/chatops gitlab run".'),
]
DEFAULT_CHATOPS_PREFIX = "/chatops run"
DEFAULT_CHATOPS_LOG_PROJECT = "gitlab-com/gl-infra/feature-flag-log"  # where ChatOps logs on GitLab.com
ChatopsLogProjectOption = Annotated[
    str,
    typer.Option(
        "--chatops-log-project",
        metavar="PATH",
        help="Project where ChatOps opens its feature-flag log issues, searched for the flag when the issue "
        "has a status block or ChatOps comments (one request per 100 log issues); '' skips it.",
    ),
]


def log_project(value: str | None) -> str | None:
    """`--chatops-log-project` as the use cases take it: None when skipped with ''."""
    return value.strip() or None if value is not None else None


ADMIN_TOKEN_ENV = "GITLAB_ADMIN_TOKEN"

# --- the render options of `render` and `create` ------------------------------------------------------------

FlagArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="FLAG",
        help="Feature flag name (lowercase, digits, single underscores; '-' becomes '_'). "
        "Optional with --definition.",
        show_default=False,
    ),
]
TemplateOption = Annotated[
    str,
    typer.Option(
        "--template",
        "-t",
        metavar="TEMPLATE",
        help="Built-in template name (rollout, rollout-detailed, project-flag, gitlab-current) or a path.",
        autocompletion=complete_templates,
    ),
]
DefinitionOption = Annotated[
    Path | None,
    typer.Option(
        "--definition",
        metavar="FILE",
        help="GitLab flag definition YAML (config/feature_flags/TYPE/NAME.yml) to pre-fill from; "
        "explicit options win.",
    ),
]
GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group",
        metavar="GROUP",
        help="Owning group, e.g. 'product analytics'; adds the ~\"group::NAME\" label.",
    ),
]
TeamOption = Annotated[
    str | None, typer.Option("--team", metavar="TEAM", help="Team name (default: the group).")
]
SlackOption = Annotated[
    str | None, typer.Option("--slack", metavar="CHANNEL", help="Team Slack channel, e.g. #g_my_team.")
]
OwnerOption = Annotated[
    list[str] | None,
    typer.Option("--owner", metavar="USER", help="DRI / person to reach out to (repeatable)."),
]
BetaProjectOption = Annotated[
    list[str] | None,
    typer.Option(
        "--beta-project", metavar="PROJECT", help="Project path to enable first (repeatable, or comma list)."
    ),
]
BetaGroupOption = Annotated[
    list[str] | None,
    typer.Option(
        "--beta-group", metavar="GROUP", help="Group path to enable first (repeatable, or comma list)."
    ),
]
MilestoneOption = Annotated[
    str | None, typer.Option("--milestone", metavar="MILESTONE", help="Milestone, e.g. 17.2.")
]
FeatureIssueOption = Annotated[
    str | None, typer.Option("--feature-issue", metavar="URL", help="URL of the feature issue.")
]
IntroducedByOption = Annotated[
    str | None,
    typer.Option("--introduced-by", metavar="URL", help="URL of the merge request that added the flag."),
]
FlagTypeOption = Annotated[
    str | None,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="Flag type: gitlab_com_derisk, wip, beta, ops, experiment, worker, undefined.",
    ),
]
ExpectOption = Annotated[
    str | None, typer.Option("--expect", metavar="TEXT", help="What are we expecting to happen?")
]
RisksOption = Annotated[
    str | None, typer.Option("--risks", metavar="TEXT", help="What might happen if this goes wrong?")
]
MonitorOption = Annotated[
    str | None, typer.Option("--monitor", metavar="TEXT", help="What can we monitor to detect problems?")
]
VarOption = Annotated[
    list[str] | None,
    typer.Option("--var", metavar="KEY=VALUE", help="Extra template variable KEY=VALUE (repeatable)."),
]
RampOption = Annotated[
    str | None,
    typer.Option(
        "--ramp",
        metavar="PERCENTAGES",
        help="Production percentages for rollout-detailed (default 1,10,25,50,75,100) or project-flag "
        "(default 10,25,50,100).",
    ),
]
FlagBackendOption = Annotated[
    str,
    typer.Option(
        "--flag-backend",
        metavar="BACKEND",
        help="instance (the default): GitLab's own flags (ChatOps, Features API); project: a project "
        "feature flag (Unleash), recorded in the issue so later commands need no option.",
    ),
]
FlagProjectOption = Annotated[
    str | None,
    typer.Option(
        "--flag-project", metavar="PATH", help="Project holding the project flag (default: the issue's)."
    ),
]
EnvironmentsOption = Annotated[
    str | None,
    typer.Option(
        "--environments",
        metavar="ENVIRONMENTS",
        help="Project flag: its environments in order, the last gets the ramp (default staging,production).",
    ),
]
StickinessOption = Annotated[
    str,
    typer.Option(
        "--stickiness",
        metavar="STICKINESS",
        help="Project flag: the ramp's stickiness: default, userId, sessionId or random.",
    ),
]
BetaUserListOption = Annotated[
    str | None,
    typer.Option("--beta-user-list", metavar="NAME", help="Project flag: the user list of beta users."),
]
WaitOption = Annotated[
    str | None,
    typer.Option(
        "--wait",
        metavar="DURATION",
        help="Rollout plan: least time after each step, e.g. 15m (the default), 1h30m.",
    ),
]
HoldOption = Annotated[
    str | None,
    typer.Option(
        "--hold",
        metavar="DURATION",
        help="Rollout plan: least time at the last step before cleanup (default 1d).",
    ),
]
MaxJumpOption = Annotated[
    str | None,
    typer.Option(
        "--max-jump",
        metavar="POINTS",
        help="Rollout plan: largest rise between two production steps (default 50; 'none').",
    ),
]
ApproverOption = Annotated[
    list[str] | None,
    typer.Option(
        "--approver",
        metavar="USER",
        help="Rollout plan: USER may approve every production step; STEP=USER only that step "
        "(production-50, staging). Repeatable; USER,USER.",
    ),
]


def render_options(values: Mapping[str, Any]) -> RenderOptions:
    """RenderOptions from a command's parameters (`locals()`), by the names above: `flag`, `template`,
    `definition`, `group`, `team`, `slack`, `owner`, `beta_project`, `beta_group`, `milestone`,
    `feature_issue`, `introduced_by`, `flag_type`, `expect`, `risks`, `monitor`, `var`, `chatops_prefix`,
    `ramp`, `wait`, `hold`, `max_jump`, `approver`, `flag_backend`, `flag_project`, `environments`,
    `stickiness`, `beta_user_list`. Never raises: `render_issue` validates. An empty --template,
    --chatops-prefix or --ramp means the default, as if it were not given.
    """
    from gl_rollout.render.issue import RenderOptions

    defaults = RenderOptions()

    def many(name: str) -> tuple[str, ...]:
        return tuple(values.get(name) or ())

    return RenderOptions(
        flag=values.get("flag"),
        template=values.get("template") or defaults.template,
        group=values.get("group"),
        team=values.get("team"),
        slack=values.get("slack"),
        owners=many("owner"),
        beta_projects=many("beta_project"),
        beta_groups=many("beta_group"),
        milestone=values.get("milestone"),
        feature_issue_url=values.get("feature_issue"),
        introduced_by_url=values.get("introduced_by"),
        flag_type=values.get("flag_type"),
        expect=values.get("expect"),
        risks=values.get("risks"),
        monitor=values.get("monitor"),
        variables=many("var"),
        chatops_prefix=values.get("chatops_prefix") or defaults.chatops_prefix,
        ramp=values.get("ramp") or defaults.ramp,
        definition=values.get("definition"),
        wait=values.get("wait"),
        hold=values.get("hold"),
        max_jump=values.get("max_jump"),
        approvers=many("approver"),
        flag_backend=values.get("flag_backend") or defaults.flag_backend,
        flag_project=values.get("flag_project"),
        environments=values.get("environments") or defaults.environments,
        stickiness=values.get("stickiness") or defaults.stickiness,
        beta_user_list=values.get("beta_user_list"),
    )


# --- whom `enable` and `disable` set the flag for, and where ------------------------------------------------

ApplyOption = Annotated[
    bool,
    typer.Option(
        "--apply",
        help="Also set the flag through the Features API of --target-url (admin token from "
        "GITLAB_ADMIN_TOKEN or --target-token-env); with --sandbox, the sandbox itself.",
    ),
]
TargetUrlOption = Annotated[
    str | None,
    typer.Option(
        "--target-url",
        metavar="URL",
        help="GitLab instance whose Features API --apply uses (default: --url); https://, or "
        "http:// to localhost only unless --allow-http.",
    ),
]
TargetTokenEnvOption = Annotated[
    str,
    typer.Option("--target-token-env", metavar="VAR", help="Variable holding the admin token for --apply."),
]


def _actor_help(what: str) -> dict[str, str]:
    """The actor options' help for `enable` and `disable`, worded for each verb."""
    return {verb: f"{verb} for {what}" for verb in ("Enable", "Disable")}


_PROJECT_ACTOR = _actor_help("this project path (repeatable; an empty value is refused).")
_GROUP_ACTOR = _actor_help("this group path (repeatable; an empty value is refused).")
_USER = _actor_help("this username (repeatable; an empty value is refused).")
_FEATURE_GROUP = _actor_help("this feature group, e.g. gitlab_team_members (not empty).")

EnableProjectActors = Annotated[
    list[str] | None, typer.Option("--project-actor", metavar="PROJECT", help=_PROJECT_ACTOR["Enable"])
]
EnableGroupActors = Annotated[
    list[str] | None, typer.Option("--group-actor", metavar="GROUP", help=_GROUP_ACTOR["Enable"])
]
EnableUsers = Annotated[list[str] | None, typer.Option("--user", metavar="USER", help=_USER["Enable"])]
EnableFeatureGroup = Annotated[
    str | None, typer.Option("--feature-group", metavar="NAME", help=_FEATURE_GROUP["Enable"])
]
DisableProjectActors = Annotated[
    list[str] | None, typer.Option("--project-actor", metavar="PROJECT", help=_PROJECT_ACTOR["Disable"])
]
DisableGroupActors = Annotated[
    list[str] | None, typer.Option("--group-actor", metavar="GROUP", help=_GROUP_ACTOR["Disable"])
]
DisableUsers = Annotated[list[str] | None, typer.Option("--user", metavar="USER", help=_USER["Disable"])]
DisableFeatureGroup = Annotated[
    str | None, typer.Option("--feature-group", metavar="NAME", help=_FEATURE_GROUP["Disable"])
]
# --- project feature flags: `enable`, `create` ------------------------------------------------------------

UserListOption = Annotated[
    str | None,
    typer.Option("--user-list", metavar="NAME", help="Project flag: enable for the users of this user list."),
]
AllowDecreaseOption = Annotated[
    bool,
    typer.Option("--allow-decrease", help="Project flag: allow a lower percentage than the flag has now."),
]
AdoptFlagOption = Annotated[
    bool,
    typer.Option(
        "--adopt-flag",
        help="Project flag: take over a flag made elsewhere (another description or strategy layout).",
    ),
]
