"""The ramp runner's guards that read GitLab: deploy freezes, blocking incidents, and the plan's approvers.

Each is the pure rule of `gl_rollout.core` (`freezes`, `guards`) over what the `GitLabAPI` lists:
one request per project (per page of 100), nothing written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gl_rollout.core.freezes import Freeze, active_freezes
from gl_rollout.core.guards import DEFAULT_BLOCKING_LABELS, blocking_incidents
from gl_rollout.core.model import Issue, IssueQuery
from gl_rollout.core.plans import PlanStep
from gl_rollout.errors import UsageError

if TYPE_CHECKING:
    from gl_rollout.gitlab.api import GitLabAPI


def current_freezes(api: GitLabAPI, project: str, now: dt.datetime) -> list[Freeze]:
    """The project's deploy freezes active at `now` (GitLab's time), the one ending last first."""
    return active_freezes(api.list_freeze_periods(project), now)


def open_blocking_incidents(
    api: GitLabAPI, projects: Sequence[str], labels: Sequence[str] = DEFAULT_BLOCKING_LABELS
) -> list[Issue]:
    """The open incidents of `projects` that carry one of `labels`: one listing of open incidents per
    project (`issue_type=incident`), the labels matched by `gl_rollout.core.guards`."""
    found: list[Issue] = []
    for project in projects:
        query = IssueQuery(project=project, state="opened", issue_type="incident", order_by="created_at")
        found.extend(api.list_issues(query))
    return blocking_incidents(found, labels)


def check_approvers(api: GitLabAPI, steps: Sequence[PlanStep], fix: str) -> None:
    """Every approver the steps name is a GitLab user (one lookup per name), else UsageError (exit 2)
    naming the first unknown one and its step, with `fix` as the hint: an approval from a name nobody
    holds could never come."""
    wanted = list(dict.fromkeys(name for step in steps for name in step.approvers))
    if not wanted:
        return
    found = {name.lower() for name in api.find_user_ids(wanted)}
    missing = next((name for name in wanted if name.lower() not in found), None)
    if missing is not None:
        step = next(step for step in steps if missing in step.approvers)
        raise UsageError(
            f"the plan names @{missing} as an approver of {step.id}, but GitLab has no such user", fix
        )
