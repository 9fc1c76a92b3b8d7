"""`enable` and `disable` on any rollout: the issue says which kind of flag it drives.

An issue whose description carries a project-flag marker (`gl_rollout.core.rollout_marker`, written by
`create --flag-backend project`) is a project-flag rollout (`gl_rollout.workflows.project_flags`); any
other is an instance rollout (`gl_rollout.workflows.enable`: ChatOps and the Features API). An option
of the other kind is exit 2 after the issue's read, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gl_rollout.core import chatops
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.rollout_marker import find_rollout_flag
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.enable import FlagOptions, check_flag_command, set_flag
from gl_rollout.workflows.issue_edit import require_open
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.project_flags import ProjectFlagOptions, check_project_options, set_project_flag
from gl_rollout.workflows.step_comments import CommentOutcome, read_notes


def instance_only(options: FlagOptions) -> list[str]:
    """The options given that only GitLab's own flags take."""
    given = {
        "--apply": options.apply,
        "--target-url": options.target_url is not None,
        "--project-actor": bool(options.projects),
        "--group-actor": bool(options.groups),
        "--user": bool(options.users),
        "--feature-group": options.feature_group is not None,
        "--actors": options.actors,
        "--time": options.time,
        "--chatops-prefix": options.prefix != chatops.DEFAULT_PREFIX,
    }
    return [name for name, present in given.items() if present]


def project_only(options: ProjectFlagOptions) -> list[str]:
    """The options given that only project feature flags take."""
    given = {
        "--user-list": options.user_list is not None,
        "--allow-decrease": options.allow_decrease,
        "--adopt-flag": options.adopt,
    }
    return [name for name, present in given.items() if present]


def check_before_reading(options: FlagOptions, project: ProjectFlagOptions, *, enable: bool) -> None:
    """What is refused before any request: options of both kinds at once, and with options only GitLab's
    own flags take, whatever ChatOps refuses (the issue must then be an instance rollout anyway)."""
    instance, own = instance_only(options), project_only(project)
    if instance and own:
        raise UsageError(
            f"{instance[0]} is for GitLab's own flags and {own[0]} for project feature flags",
            "give the options of the rollout's kind of flag",
        )
    if instance:
        check_flag_command(options, enable=enable)
    elif options.percentage is not None and not 0 <= options.percentage <= 100:
        raise UsageError(f"--percentage {options.percentage} is outside 0..100", "give a whole number 0-100")
    if own:
        check_project_options(project, enable=enable)


def set_flag_of_issue(
    api: GitLabAPI,
    ref: IssueRef,
    options: FlagOptions,
    project: ProjectFlagOptions,
    *,
    enable: bool,
    admin_api: Callable[[], GitLabAPI] | None = None,
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[CommentOutcome]:
    """Read the issue, then `enable`/`disable` the kind of flag it rolls out."""
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    rollout = find_rollout_flag(issue.description)
    if rollout is None:
        _refuse(project_only(project), f"{issue.reference} rolls out one of GitLab's own flags")
        check_flag_command(options, enable=enable)
        return set_flag(
            api, ref, options, enable=enable, admin_api=admin_api, dry_run=dry_run, patience=patience,
            issue=issue,
        )  # fmt: skip
    _refuse(instance_only(options), f"{issue.reference} rolls out the project feature flag {rollout.flag}")
    if options.flag and options.flag != rollout.flag:
        raise UsageError(
            f"{issue.reference} rolls out the project feature flag {rollout.flag}, not {options.flag}",
            "drop --flag: the issue names its flag",
        )
    notes = read_notes(api, ref)
    return set_project_flag(
        api, ref, issue, notes, rollout, project, enable=enable, dry_run=dry_run, patience=patience
    )


def _refuse(options: Sequence[str], what: str) -> None:
    if options:
        raise UsageError(f"{options[0]} does not apply: {what}", f"drop {options[0]}")
