"""Use case `status`: a rollout issue's checklist (one GET), or a Markdown file's, and the `--require` gate.

The steps, GitLab's progress counts and the next step; with an issue also its identity, GitLab's own
count for a cross-check and, with `timeline`, what happened when (one more GET, of the notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gl_rollout.core.chatops_commands import LOG_PROJECT
from gl_rollout.core.checklist import Checklist, parse_checklist, progress_line
from gl_rollout.core.status_block import check_block, find_block
from gl_rollout.errors import RolloutError
from gl_rollout.files import read_text_input
from gl_rollout.result import FLATTEN, OMIT_NONE, Result
from gl_rollout.workflows.gate import Gate, required_steps
from gl_rollout.workflows.summary import IssueSummary

if TYPE_CHECKING:
    from gl_rollout.core.evidence import TimelineEvent
    from gl_rollout.core.model import Issue
    from gl_rollout.core.refs import IssueRef
    from gl_rollout.gitlab.api import GitLabAPI


@dataclass(frozen=True)
class TaskCompletion:
    """GitLab's own count of the description's task items (`task_completion_status`)."""

    count: int | None
    completed_count: int | None


@dataclass(frozen=True)
class StatusOutcome:
    """The checklist of an issue (with `issue`) or of a file, and the gate when `--require` was given."""

    issue: IssueSummary | None = field(default=None, metadata=FLATTEN)
    checklist: Checklist = field(default_factory=lambda: Checklist.of(()), metadata=FLATTEN)
    progress: str = ""
    task_completion_status: TaskCompletion | None = field(default=None, metadata=OMIT_NONE)
    timeline: tuple[TimelineEvent, ...] | None = field(default=None, metadata=OMIT_NONE)
    gate: Gate | None = field(default=None, metadata=FLATTEN)


def gitlab_count_note(issue: Issue, checklist: Checklist) -> str | None:
    """A remark when GitLab counts the boxes differently (its regex and its rendering can disagree, and
    GitLab counts every box of a description that has gl-rollout's status block)."""
    if issue.task_count is None or issue.task_completed is None:
        return None
    if (issue.task_count, issue.task_completed) == (checklist.total, checklist.done):
        return None
    if find_block(issue.description) is not None:
        return (
            f"GitLab counts {issue.task_completed} of {issue.task_count}: every box of the description, "
            "where gl-rollout counts those of its status block"
        )
    return (
        f"GitLab counts {issue.task_completed} of {issue.task_count}: its count and its rendering "
        "disagree on this description, and gl-rollout follows the rendering"
    )


def status(
    api: GitLabAPI,
    ref: IssueRef,
    require: Sequence[str] = (),
    *,
    timeline: bool = False,
    chatops_log_project: str | None = LOG_PROJECT,
) -> Result[StatusOutcome]:
    """One GET: the steps, the progress line and the next step; `require` gates on steps being done.

    `timeline` adds one GET of the notes: what happened when (`gl_rollout.core.evidence.build_timeline`),
    with ChatOps' changes of the flag (its comments, and the log issues of `chatops_log_project` when the
    issue has a status block or ChatOps' comments: one more request, see `workflows.chatops_record`); for
    a project-flag rollout also one GET of the flag, the last event of the timeline.
    """
    issue = api.get_issue(ref.project, ref.iid)
    check_block(issue.description)
    checklist = parse_checklist(issue.description)
    messages: list[str] = []
    remark = gitlab_count_note(issue, checklist)
    if remark:
        messages.append(remark)
    events = None
    debug: list[str] = []
    if timeline:
        from gl_rollout.core.evidence import build_timeline, flag_of_issue  # only --timeline reads notes
        from gl_rollout.core.rollout_marker import find_rollout_flag
        from gl_rollout.workflows.chatops_record import read_chatops_record
        from gl_rollout.workflows.flag_backend import project_flag_reading

        notes = api.list_notes(ref.project, ref.iid, sort="asc", per_page=100)
        rollout = find_rollout_flag(issue.description)
        reading = project_flag_reading(api, ref.project, rollout) if rollout is not None else None
        record = read_chatops_record(api, issue, notes, flag_of_issue(issue, notes), chatops_log_project)
        messages += record.warnings
        debug += record.debug
        events = tuple(
            build_timeline(issue, notes, checklist=checklist, reading=reading, extra=record.timeline())
        )
    gate, error = required_steps(checklist, require, issue.reference or str(ref))
    outcome = StatusOutcome(
        issue=IssueSummary.of(issue),
        checklist=checklist,
        progress=progress_line(checklist),
        task_completion_status=TaskCompletion(issue.task_count, issue.task_completed),
        timeline=events,
        gate=gate,
    )
    result = _gated(outcome, messages, error)
    result.debug = debug
    return result


def status_of_file(path: str, require: Sequence[str] = ()) -> Result[StatusOutcome]:
    """The steps of a Markdown file, GitLab's progress counts and the next step to do; with `require`,
    the pipeline gate (exit 6 when a named step is not done). The file is read once: it may be stdin.
    """
    text = read_text_input(path)
    check_block(text)
    checklist = parse_checklist(text)
    gate, error = required_steps(checklist, require, path, file=True)
    outcome = StatusOutcome(checklist=checklist, progress=progress_line(checklist), gate=gate)
    return _gated(outcome, [], error)


def _gated(outcome: StatusOutcome, messages: list[str], error: RolloutError | None) -> Result[StatusOutcome]:
    """The result, failed with exit 6 (its data kept) when the gate found a step not done."""
    if error is not None:
        result = Result.failure("status", error, outcome)
        result.messages = messages
        return result
    return Result("status", outcome, messages=messages)
