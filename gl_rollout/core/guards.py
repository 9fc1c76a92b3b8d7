"""Two of the ramp runner's guards, pure: blocking incidents and step approvals.

Incidents: an open issue of type `incident` in one of the configured incident projects that carries a
blocking label (default `severity::1` or `severity::2`, GitLab's incident severities as scoped labels)
blocks every step. The gitlab layer lists the open incidents of each project (`issue_type=incident`,
`state=opened`: one request per project; labels are matched here, since GitLab's `labels` filter means
"all of these", not "any"); `blocking_incidents` keeps those with a blocking label.

Approvals: a plan step that names approvers is taken only after one of them approved it in a comment
on the rollout issue. The approval is a line of its own, `gl-rollout approve STEP` (`STEP` as the plan
names it: `production-25`, `production-on`; case and surrounding spaces do not matter, Markdown emphasis
or a list bullet around it neither). It is not a slash command on purpose: GitLab strips lines that look
like quick actions from a comment, and an unknown `/approve-rollout` would be eaten or refused. An
approval counts when it was written by one of the step's approvers, who is not the issue's author
(nobody approves their own rollout), in a comment that is not a system note, and after the previous
step was reached (an approval given before that approved a different situation). An edited comment
keeps its creation time: GitLab does not expose when a note was last edited in a way every version
agrees on, so edits cannot make an old approval new.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gl_rollout.core.model import Issue, Note
from gl_rollout.core.plan_text import APPROVE_WORDS
from gl_rollout.core.plans import Plan, PlanStep
from gl_rollout.core.times import Timestamp

DEFAULT_BLOCKING_LABELS: tuple[str, ...] = ("severity::1", "severity::2")
_APPROVAL = re.compile(
    r"^\s{0,3}(?:[-*+]\s+)?[*_`]{0,3}\s*gl-rollout\s+approve\s+([A-Za-z0-9_.-]+)\s*[*_`]{0,3}\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


# --- incidents ----------------------------------------------------------------------------------


def blocking_incidents(
    incidents: Iterable[Issue], labels: Sequence[str] = DEFAULT_BLOCKING_LABELS
) -> list[Issue]:
    """The open incidents among `incidents` that carry one of `labels` (compared without case, as
    GitLab compares label names in filters), oldest first."""
    wanted = {label.strip().lower() for label in labels if label.strip()}
    found = [
        issue
        for issue in incidents
        if issue.state == "opened" and any(label.lower() in wanted for label in issue.labels)
    ]
    return sorted(found, key=lambda issue: (issue.created_at, issue.id))


# --- approvals ----------------------------------------------------------------------------------


def approval_comment(step: PlanStep) -> str:
    """The comment an approver writes to approve `step`."""
    return f"{APPROVE_WORDS} {step.environment}-{'on' if step.percent == 100 else step.percent}"


def approved_steps(body: str) -> list[str]:
    """The step names a comment approves (`production-25`), outside code blocks, in order."""
    kept, fenced = [], False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return [match.group(1) for match in _APPROVAL.finditer("\n".join(kept))]


@dataclass(frozen=True)
class Approval:
    """Who approved a step, in which comment, when."""

    step: PlanStep
    username: str
    note_id: int
    at: dt.datetime


def find_approval(
    plan: Plan,
    step: PlanStep,
    notes: Iterable[Note],
    *,
    issue_author: str,
    not_before: dt.datetime | None,
) -> Approval | None:
    """The first valid approval of `step` (see the module's rules), or None. A step without approvers
    needs none: callers check `step.approvers` first. `not_before` is when the previous step was
    reached (None before the first step)."""
    allowed = {name.lower() for name in step.approvers} - {issue_author.lower()}
    candidates: list[Approval] = []
    for note in notes:
        if note.system or note.author.lower() not in allowed:
            continue
        moment = Timestamp.of(note.created_at).moment
        if moment is None or (not_before is not None and moment <= not_before):
            continue
        if any(plan.step(name) == step for name in approved_steps(note.body)):
            candidates.append(Approval(step, note.author, note.id, moment))
    return min(candidates, key=lambda approval: (approval.at, approval.note_id), default=None)
