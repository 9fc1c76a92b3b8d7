"""Render the rollout issue: options and the flag's definition become template variables, a Jinja
template (`gl_rollout.render.templating`) turns them into the description, and the result is checked
against GitLab's limits.

Every value a template prints with `{{ ... }}` is neutralised (`gl_rollout.render.neutralise`), so text from
options, definitions or `--var` can neither run a quick action, mass-mention, break out of a code span
nor hide steps in an HTML comment; text the template author writes outside `{{ ... }}` is kept as
written. A template names the issue title with a top-level `{% set title %}`; without one, the title
is ``[Feature flag] Rollout of `<flag>` ``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from gl_rollout.core import chatops
from gl_rollout.core.project_flag import (
    DEFAULT_ENVIRONMENTS,
    DEFAULT_PROJECT_RAMP,
    check_environment,
    check_project_flag_name,
    check_project_path,
    check_stickiness,
    env_slug,
)
from gl_rollout.core.rollout_marker import FLAG_BACKENDS, RolloutFlag
from gl_rollout.errors import UsageError
from gl_rollout.render.neutralise import Trusted, inert_title
from gl_rollout.render.option_values import (
    check_url,
    normalise_group,
    normalise_owner,
    normalise_slack,
    parse_ramp,
    split_items,
    validate_flag_name,
)
from gl_rollout.render.templating import (
    DEFAULT_TEMPLATE,
    reads_plan,
    reads_ramp,
    render_template,
    resolve_template,
)

if TYPE_CHECKING:
    from gl_rollout.render.definition import FlagDefinition

DEFAULT_RAMP: tuple[int, ...] = (1, 10, 25, 50, 75, 100)
PROJECT_FLAG_TEMPLATE = "project-flag"
INSTANCE_TEMPLATES = ("rollout", "rollout-detailed", "gitlab-current")
FEATURE_FLAG_LABEL = "feature flag"
MAX_TITLE = 255  # GitLab refuses longer issue titles
MAX_DESCRIPTION = 1_048_576  # GitLab's description limit, in characters

# Names a template can use; `--var` may not reuse them.
TEMPLATE_VARIABLES: dict[str, str] = {
    "flag": "the feature flag name (validated, lowercase with underscores)",
    "description": "the definition's description, or none",
    "group": "the group name without the group:: prefix, or none",
    "group_label": "the scoped group label (group::NAME), or none",
    "team": "the team name (defaults to the group name)",
    "slack": "the team's Slack channel, starting with #, or none",
    "owners": "the DRIs / people to reach out to (list)",
    "beta_projects": "projects to enable the flag for first (list)",
    "beta_groups": "groups to enable the flag for first (list)",
    "milestone": "the milestone, or none",
    "feature_issue_url": "the feature issue URL, or none",
    "introduced_by_url": "the merge request that introduced the flag, or none",
    "rollout_issue_url": "the definition's rollout_issue_url, or none",
    "flag_type": "the flag type (gitlab_com_derisk, beta, ops, ...), or none",
    "default_enabled": "the definition's default_enabled, or none",
    "expect": "what we expect to happen, or none",
    "risks": "what might go wrong, or none",
    "monitor": "what to monitor to detect problems, or none",
    "chatops_prefix": "the ChatOps prefix, /chatops run by default",
    "ramp": "the production percentages, 1, 10, 25, 50, 75, 100 by default (list)",
    "cmd": "ready ChatOps commands: staging, non_production, production, beta (list), ramp (list of "
    "{percent, command}), disable_production, disable_staging, disable_non_production, delete, "
    "non_production_ramp, feature_get",
    "labels": "the labels the issue gets (list)",
    "plan": "the rollout plan (--ramp, --wait, --hold, --max-jump, --approver): section (its Markdown "
    "section with the hidden copy, printed as is), steps (list of {id, environment, percent, target, wait, "
    "approvers}), hold, max_jump, environments",
    "flag_backend": "instance (GitLab's own flags, ChatOps) or project (a project feature flag)",
    "flag_project": "project flags: the project holding the flag (--flag-project), or none for the issue's",
    "environments": "project flags: the environments in order, staging, production by default (list)",
    "env_slugs": "project flags: each environment as it appears in step IDs, enable-<slug> (list)",
    "production_env": "project flags: the last environment, where the percentage ramp runs",
    "stickiness": "project flags: the flexibleRollout stickiness (default, userId, sessionId, random)",
    "beta_user_list": "project flags: the user list of beta users (--beta-user-list), or none",
    "vars": "every --var key=value (mapping); each key is also a variable of its own",
    "title": "set it at top level to name the issue title",
}

_VAR_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class RenderOptions:
    """Every option that shapes the rollout issue, as given on the command line; `render` and `create` use it.

    Building one never fails: `render_issue` validates every field and raises UsageError.
    """

    flag: str | None = None
    template: str = DEFAULT_TEMPLATE
    group: str | None = None
    team: str | None = None
    slack: str | None = None
    owners: tuple[str, ...] = ()
    beta_projects: tuple[str, ...] = ()
    beta_groups: tuple[str, ...] = ()
    milestone: str | None = None
    feature_issue_url: str | None = None
    introduced_by_url: str | None = None
    flag_type: str | None = None
    expect: str | None = None
    risks: str | None = None
    monitor: str | None = None
    variables: tuple[str, ...] = ()  # `key=value`, as `--var` takes them
    chatops_prefix: str = chatops.DEFAULT_PREFIX
    ramp: str | tuple[int, ...] = DEFAULT_RAMP  # `1,10,50,100` as `--ramp` takes it, or the numbers
    definition: Path | None = None
    # A definition already read and validated (`create --from-mr` reads it from the merge request).
    loaded_definition: FlagDefinition | None = None
    wait: str | None = None  # `--wait 15m`: the least time after each step of the plan
    hold: str | None = None  # `--hold 1d`: the least time at the last step before cleanup
    max_jump: str | None = None  # `--max-jump 25`, or `none`
    approvers: tuple[str, ...] = ()  # `--approver [SCOPE=]USER[,USER...]`, as given
    flag_backend: str = "instance"  # or "project": a project feature flag (`project-flag` template)
    flag_project: str | None = None
    environments: str | tuple[str, ...] = DEFAULT_ENVIRONMENTS  # `staging,production` or the names
    stickiness: str = "default"
    beta_user_list: str | None = None


@dataclass(frozen=True)
class RenderedIssue:
    """The issue to create: title, description (ends with the label quick actions) and its labels."""

    title: str
    description: str
    labels: tuple[str, ...]
    flag: str = ""
    notes: tuple[str, ...] = field(default=())
    rollout: RolloutFlag | None = None  # a project-flag rollout: what the description's marker says


def parse_var(text: str) -> tuple[str, str]:
    """`key=value` for `--var`; the key must be a template identifier and not a built-in variable."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _VAR_KEY_RE.match(key):
        raise UsageError(f"invalid --var {text!r}", "write --var key=value with a key like release_post")
    if key in TEMPLATE_VARIABLES:
        raise UsageError(f"--var {key} would hide the built-in variable {key!r}", "use the dedicated option")
    return key, value


def _text(value: str | None) -> str | None:
    """The value stripped, or None when it is missing or blank."""
    return value.strip() if value is not None and value.strip() else None


def _chatops_commands(
    flag: str,
    prefix: str,
    ramp: tuple[int, ...],
    beta_projects: tuple[str, ...],
    beta_groups: tuple[str, ...],
) -> dict[str, Any]:
    """The ready ChatOps commands a template shows as `cmd.*` (see TEMPLATE_VARIABLES)."""

    def feature_set(value: bool | int, **request: Unpack[chatops.FeatureSetRequest]) -> str:
        return chatops.feature_set_command(flag, value, prefix=prefix, **request)

    beta: list[str] = []
    if beta_projects:
        beta.append(feature_set(True, projects=beta_projects))
    if beta_groups:
        beta.append(feature_set(True, groups=beta_groups))
    return {
        "staging": feature_set(True, envs=["staging"]),
        "non_production": feature_set(True, envs=chatops.NON_PRODUCTION),
        "production": feature_set(True),
        "beta": tuple(beta),
        "ramp": tuple({"percent": p, "command": feature_set(p, actors=True)} for p in ramp if p < 100),
        "disable_production": feature_set(False),
        "disable_staging": feature_set(False, envs=["staging"]),
        "disable_non_production": feature_set(False, envs=chatops.NON_PRODUCTION),
        "delete": chatops.feature_delete_command(flag, envs=chatops.EVERYWHERE, prefix=prefix),
        "non_production_ramp": feature_set(50, actors=True, envs=chatops.NON_PRODUCTION),
        "feature_get": chatops.feature_get_command(flag, envs=chatops.EVERYWHERE, prefix=prefix),
    }


@dataclass(frozen=True)
class PlanChoices:
    """The plan options, read (durations, the max jump, approvers' spelling) but not yet held to the
    plan's rules, which apply only when a template shows the plan."""

    wait: dt.timedelta
    hold: dt.timedelta
    max_jump: int | None
    approvers: tuple[str, ...]
    given: tuple[str, ...]  # the options given, as `--wait 1h`, for the note when no template uses them


def plan_choices(options: RenderOptions) -> PlanChoices:
    """`--wait`, `--hold`, `--max-jump` and `--approver` read; UsageError for a value that is none."""
    from gl_rollout.core import plans
    from gl_rollout.core.times import parse_duration

    def duration(option: str, text: str) -> dt.timedelta:
        try:
            return parse_duration(text)
        except UsageError:
            raise UsageError(
                f"invalid {option} {text!r}", "give a duration such as 15m, 1h30m or 1d"
            ) from None

    given = []
    wait, hold = plans.DEFAULT_WAIT, plans.DEFAULT_HOLD
    max_jump: int | None = plans.DEFAULT_MAX_JUMP
    if options.wait is not None and options.wait.strip():
        wait = duration("--wait", options.wait)
        given.append(f"--wait {options.wait.strip()}")
    if options.hold is not None and options.hold.strip():
        hold = duration("--hold", options.hold)
        given.append(f"--hold {options.hold.strip()}")
    if options.max_jump is not None and options.max_jump.strip():
        text = options.max_jump.strip().lower()
        if text in ("none", "any"):
            max_jump = None
        elif text.isdigit() and 1 <= int(text) <= 100:
            max_jump = int(text)
        else:
            raise UsageError(
                f"invalid --max-jump {options.max_jump!r}", "give 1 to 100 percentage points, or none"
            )
        given.append(f"--max-jump {options.max_jump.strip()}")
    for text in options.approvers:
        plans.parse_approver_option(text)
        given.append(f"--approver {text}")
    return PlanChoices(wait, hold, max_jump, tuple(options.approvers), tuple(given))


def plan_variable(
    ramp: tuple[int, ...], choices: PlanChoices, rollout: RolloutFlag | None = None
) -> dict[str, Any]:
    """The template variable `plan` (see TEMPLATE_VARIABLES); PlanError (exit 2) for a plan that breaks
    a rule, such as a ramp rising by more than the max jump. A project-flag rollout's plan visits its
    own environments (any names); an instance rollout's, ChatOps' staging and production."""
    from gl_rollout.core import plans
    from gl_rollout.core.plan_text import plan_section

    plan = plans.build_plan(
        ramp,
        wait=choices.wait,
        hold=choices.hold,
        max_jump=choices.max_jump,
        approvers=choices.approvers,
        environments=rollout.environments if rollout is not None else plans.DEFAULT_ENVIRONMENTS,
        known_environments=None if rollout is not None else chatops.ENVIRONMENTS,
    )
    return {**plan.to_data(), "section": Trusted(plan_section(plan))}


def build_variables(options: RenderOptions, *, with_plan: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The template variables for `options`, merged over the definition; returns (variables, notes).

    `plan` is None unless `with_plan` (a template that shows no plan is not held to the plan's rules)."""
    from gl_rollout.render.definition import check_flag_type, load_definition

    notes: list[str] = []
    rollout = project_rollout(options)
    definition = options.loaded_definition
    if definition is None and options.definition:
        definition = load_definition(options.definition)
    if definition is not None:
        notes.extend(definition.notes)
    raw_flag = options.flag if options.flag else (definition.name if definition else None)
    if not raw_flag:
        raise UsageError("no feature flag name given", "pass FLAG or --definition FILE")
    flag_notes: list[str] = []
    if rollout is not None:
        flag = check_project_flag_name(raw_flag)
    else:
        flag, flag_notes = validate_flag_name(raw_flag)
    notes.extend(flag_notes)
    if definition is not None and flag != definition.name:
        notes.append(f"note: rendering {flag!r}, although the definition names {definition.name!r}")

    def pick(explicit: str | None, from_definition: str | None) -> str | None:
        """The option when given (even blank), else the definition's value."""
        return _text(explicit if explicit not in (None, "") else from_definition)

    group_text = pick(options.group, definition.group if definition else None)
    group, group_label = normalise_group(group_text) if group_text else (None, None)
    team = _text(options.team) or (group[0].upper() + group[1:] if group else None)
    slack = normalise_slack(options.slack) if options.slack and options.slack.strip() else None
    owners = tuple(normalise_owner(o) for o in options.owners if o.strip())
    milestone = pick(options.milestone, definition.milestone if definition else None)
    if milestone is not None and "\n" in milestone:
        raise UsageError("the milestone must be one line", "give a milestone like 17.2")

    feature_issue = pick(options.feature_issue_url, definition.feature_issue_url if definition else None)
    introduced_by = pick(options.introduced_by_url, definition.introduced_by_url if definition else None)
    feature_issue = check_url(feature_issue, "feature issue URL") if feature_issue else None
    introduced_by = check_url(introduced_by, "introduced-by merge request URL") if introduced_by else None

    flag_type = pick(options.flag_type, definition.type if definition else None)
    if flag_type is not None and options.flag_type:
        notes.extend(check_flag_type(flag_type))

    prefix = chatops.check_prefix(options.chatops_prefix)
    ramp = parse_ramp(
        DEFAULT_PROJECT_RAMP if rollout is not None and options.ramp is DEFAULT_RAMP else options.ramp
    )
    beta_projects = split_items(options.beta_projects)
    beta_groups = split_items(options.beta_groups)
    try:
        # ChatOps commands are for GitLab's own flags; a project flag is set through its API.
        commands = (
            _chatops_commands(flag, prefix, ramp, beta_projects, beta_groups) if rollout is None else {}
        )
    except UsageError as exc:
        beta_options = {"project": "--beta-project", "group": "--beta-group"}
        raise chatops.renamed_actor_error(exc, beta_options) from None
    free = dict(parse_var(text) for text in options.variables)
    choices = plan_choices(options)

    variables: dict[str, Any] = {
        **free,
        "flag": flag,
        "description": definition.description.strip() if definition and definition.description else None,
        "group": group,
        "group_label": group_label,
        "team": team,
        "slack": slack,
        "owners": owners,
        "beta_projects": beta_projects,
        "beta_groups": beta_groups,
        "milestone": milestone,
        "feature_issue_url": feature_issue,
        "introduced_by_url": introduced_by,
        "rollout_issue_url": definition.rollout_issue_url if definition else None,
        "flag_type": flag_type,
        "default_enabled": definition.default_enabled if definition else None,
        "expect": _text(options.expect),
        "risks": _text(options.risks),
        "monitor": _text(options.monitor),
        "chatops_prefix": prefix,
        "ramp": ramp,
        "cmd": commands,
        "labels": (FEATURE_FLAG_LABEL,) + ((group_label,) if group_label else ()),
        "vars": dict(free),
        "plan": plan_variable(ramp, choices, rollout) if with_plan else None,
        "flag_backend": "project" if rollout is not None else "instance",
        "flag_project": rollout.project if rollout is not None else None,
        "environments": rollout.environments if rollout is not None else (),
        "env_slugs": tuple(env_slug(env) for env in rollout.environments) if rollout is not None else (),
        "production_env": rollout.production if rollout is not None else "production",
        "stickiness": rollout.stickiness if rollout is not None else "default",
        "beta_user_list": rollout.beta_user_list if rollout is not None else None,
    }
    return variables, notes


def project_rollout(options: RenderOptions) -> RolloutFlag | None:
    """The project-flag settings of `options`, checked (None for an instance rollout). The flag name is
    filled in by `render_issue`. A definition YAML is GitLab's own instance flag: it implies `instance`."""
    backend = options.flag_backend or "instance"
    if backend not in FLAG_BACKENDS:
        raise UsageError(f"invalid --flag-backend {backend!r}", "use instance or project")
    if backend == "instance" and options.template == PROJECT_FLAG_TEMPLATE:
        backend = "project"  # the project-flag template speaks of nothing else
    project_only = {
        "--flag-project": options.flag_project is not None,
        "--environments": options.environments != DEFAULT_ENVIRONMENTS,
        "--stickiness": options.stickiness != "default",
        "--beta-user-list": options.beta_user_list is not None,
    }
    if backend == "instance":
        given = [name for name, present in project_only.items() if present]
        if given:
            raise UsageError(f"{given[0]} is for project feature flags", "add --flag-backend project")
        return None
    if options.definition is not None or options.loaded_definition is not None:
        raise UsageError(
            "--definition describes one of GitLab's own (instance) flags",
            "drop --definition for a project feature flag, or drop --flag-backend project",
        )
    if options.template in INSTANCE_TEMPLATES[1:]:
        raise UsageError(
            f"the {options.template} template is for instance flags (ChatOps)",
            "use --template project-flag (the default with --flag-backend project) or your own",
        )
    raw = options.environments
    names = [part for part in (raw.split(",") if isinstance(raw, str) else raw) if part.strip()]
    environments = tuple(check_environment(env, "--environments") for env in names)
    if not environments:
        raise UsageError("--environments names none", "give them in order, like staging,production")
    if len(set(environments)) != len(environments):
        raise UsageError("--environments names one environment twice", "give each once, in order")
    beta = options.beta_user_list.strip() if options.beta_user_list else None
    if options.beta_user_list is not None and not beta:
        raise UsageError("--beta-user-list names no list", "give the user list's name")
    return RolloutFlag(
        "placeholder",
        "project",
        check_project_path(options.flag_project) if options.flag_project else None,
        environments,
        DEFAULT_PROJECT_RAMP,
        check_stickiness(options.stickiness),
        beta,
    )


def render_issue(options: RenderOptions) -> RenderedIssue:
    """Render the rollout issue: title, description and labels, every inserted value neutralised.

    A project-flag rollout's description ends with its hidden marker (`gl_rollout.core.rollout_marker`).
    """
    project = project_rollout(options) is not None
    template = options.template
    if project and template == INSTANCE_TEMPLATES[0]:
        template = PROJECT_FLAG_TEMPLATE  # the default template, for a project flag
    ref = resolve_template(template)
    with_plan = reads_plan(ref)
    variables, notes = build_variables(options, with_plan=with_plan)
    unused = plan_choices(options).given
    if unused and not with_plan:
        notes.append(
            f"note: {' '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used: {ref.display} has no "
            "rollout plan (the rollout-detailed template has one)"
        )
    description, title = render_template(ref, variables)
    default_ramp = DEFAULT_PROJECT_RAMP if project else DEFAULT_RAMP
    if variables["ramp"] != parse_ramp(default_ramp) and not reads_ramp(ref):
        given = ",".join(str(percent) for percent in variables["ramp"])
        notes.append(
            f"note: --ramp {given} is not used: {ref.display} has no ramp steps "
            "(the rollout-detailed template has them)"
        )
    flag = str(variables["flag"])
    title = inert_title(title) if title is not None else f"[Feature flag] Rollout of `{flag}`"
    if not title:
        raise UsageError(f"{ref.display}: the template sets an empty title", "set title to some text")
    if len(title) > MAX_TITLE:
        raise UsageError(f"the title is {len(title)} characters long", f"GitLab allows at most {MAX_TITLE}")
    if len(description) > MAX_DESCRIPTION:
        raise UsageError(
            f"the description is {len(description)} characters long",
            f"GitLab allows at most {MAX_DESCRIPTION}",
        )
    rollout: RolloutFlag | None = None
    if project:
        rollout = RolloutFlag(
            flag,
            "project",
            variables["flag_project"],
            tuple(variables["environments"]),
            tuple(variables["ramp"]),
            str(variables["stickiness"]),
            variables["beta_user_list"],
        )
        description = description.rstrip("\n") + "\n\n" + rollout.to_comment() + "\n"
        if len(description) > MAX_DESCRIPTION:
            raise UsageError(
                f"the description is {len(description)} characters long",
                f"GitLab allows at most {MAX_DESCRIPTION}",
            )
    return RenderedIssue(
        title=title,
        description=description,
        labels=tuple(variables["labels"]),
        flag=flag,
        notes=tuple(notes),
        rollout=rollout,
    )
