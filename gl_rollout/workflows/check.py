"""Use case `check`: set steps done, todo or skipped, on a rollout issue or in a local Markdown file.

On an issue: GET it, plan one-line edits, GET the newest notes (the floor of the edit's window), PUT the
description only, GET the notes again to verify (`gl_rollout.workflows.issue_edit`): 4 requests, 1 when
nothing changes, 5 when the issue changed while it was read, 3 more per repair of a tick the write undid.
In a file: print the new text, rewrite the file atomically, or show the diff.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from gl_rollout.core.checklist import (
    Step,
    StepState,
    parse_checklist,
    select_steps,
    set_step_state,
    split_lines,
)
from gl_rollout.core.model import Issue
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.status_block import check_block
from gl_rollout.errors import ConflictError, UsageError
from gl_rollout.files import check_target, read_text_input, write_atomic
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import FLATTEN, OMIT_NONE, Result
from gl_rollout.workflows.issue_edit import (
    Conflict,
    DescriptionEdit,
    change_line,
    conflict_of,
    plan_step_edit,
    read_for_edit,
    require_open,
    write_description,
)
from gl_rollout.workflows.summary import Counts, EditPreview, IssueSummary

_NO_NEWLINE = "\\ No newline at end of file\n"


def target_state(*, undo: bool, skip: bool) -> StepState:
    """The state `check` sets: done, or todo with --undo, or skipped with --skip."""
    if undo and skip:
        raise UsageError("--undo and --skip cannot be used together", "choose one of them")
    if undo:
        return "todo"
    return "skipped" if skip else "done"


# --- on an issue -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    """`check REF`: the issue, the edit (`--dry-run`'s diff), the steps set and left, the counts after."""

    issue: IssueSummary = field(metadata=FLATTEN)
    preview: EditPreview = field(metadata=FLATTEN)
    target_state: StepState
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    counts: Counts = field(metadata=FLATTEN)
    written: bool = False
    restored: tuple[str, ...] = ()
    conflict: Conflict | None = field(default=None, metadata=OMIT_NONE)


def check(
    api: GitLabAPI,
    ref: IssueRef,
    selectors: Sequence[str],
    state: StepState,
    *,
    dry_run: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> Result[CheckOutcome]:
    """Set steps to `state`: GET the issue, one-line edits, GET the newest notes (the window's floor),
    a PUT of the description only, GET the notes again to verify (`write_description`, which also sets
    back a tick the write undid). When the notes show an edit after the issue was read, the issue is
    read again and the edit planned on it (`read_for_edit`).

    The outcome follows `check --file` (`changed`/`unchanged` step IDs, the counts after the edit, the
    diff) plus the issue; its `state` is the issue's, as in `status`, and `target_state` the steps'.
    """
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    check_block(issue.description)
    edit, outcome, messages = _plan_check(issue, selectors, state, dry_run=dry_run)
    floor = 0
    if edit.needed and not dry_run:
        notes = api.list_notes(ref.project, ref.iid, sort="desc", per_page=100, max_pages=1)
        fresh, floor = read_for_edit(api, ref.project, issue, notes)
        if fresh.description != issue.description:
            edit, outcome, messages = _plan_check(fresh, selectors, state, dry_run=dry_run)
    progress = outcome.counts.progress
    if not edit.needed:
        return Result("check", outcome, messages=[*messages, "nothing to do", progress])
    if dry_run:
        return Result("check", outcome, messages=[*messages, progress, "dry run: nothing written"])
    try:
        written = write_description(api, ref.project, edit, floor=floor, sleep=sleep)
    except ConflictError as exc:
        return Result.failure("check", exc, replace(outcome, written=True, conflict=conflict_of(exc)))
    counts = Counts.of(parse_checklist(written.issue.description))
    outcome = replace(outcome, written=True, restored=tuple(written.restored), counts=counts)
    return Result("check", outcome, messages=[*messages, *written.warnings, counts.progress])


def _plan_check(
    issue: Issue, selectors: Sequence[str], state: StepState, *, dry_run: bool
) -> tuple[DescriptionEdit, CheckOutcome, list[str]]:
    """The edit `check` makes on `issue`, its outcome and its messages."""
    edit = plan_step_edit(issue, [(list(selectors), state)])
    selected = select_steps(parse_checklist(issue.description), list(selectors))
    changed_ids = tuple(step.id for step in edit.changed)
    unchanged = tuple(step.id for step in selected if step.id not in changed_ids)
    outcome = CheckOutcome(
        issue=IssueSummary.of(issue),
        preview=EditPreview.of(edit, dry_run=dry_run),
        target_state=state,
        changed=changed_ids,
        unchanged=unchanged,
        counts=Counts.of(parse_checklist(edit.new_text)),
    )
    messages = edit.change_lines() + [f"{step_id}: already {state}" for step_id in unchanged]
    return edit, outcome, messages


# --- in a file ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCheckOutcome:
    """`check --file`: the steps set and left, the counts after; the new text, or (`--dry-run`) the diff."""

    file: str
    state: StepState
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    counts: Counts = field(metadata=FLATTEN)
    dry_run: bool = False
    written: bool = False
    diff: str | None = field(default=None, metadata=OMIT_NONE)
    text: str | None = field(default=None, metadata=OMIT_NONE)


def check_file(
    path: str, selectors: Sequence[str], state: StepState, *, in_place: bool, dry_run: bool
) -> Result[FileCheckOutcome]:
    """Set steps of a Markdown file to `state`: print the new text, rewrite the file, or show the diff.

    Only the bracket of each changed step's line changes. Steps already in that state are left alone;
    when none changes the file is not touched.
    """
    if in_place and path == "-":
        raise UsageError("--in-place needs a file, not standard input", "drop --in-place to print the result")
    if in_place and not dry_run:
        check_target(Path(path))  # a read-only file or a device is refused whatever the steps say
    text = read_text_input(path)
    check_block(text)
    checklist = parse_checklist(text)
    selected = select_steps(checklist, selectors)
    new_text = text
    changed: list[Step] = []
    for step in selected:
        edited = set_step_state(new_text, step, state)
        if edited != new_text:
            changed.append(step)
        new_text = edited
    final = parse_checklist(new_text) if changed else checklist
    changed_ids = {step.id for step in changed}
    unchanged = [step for step in selected if step.id not in changed_ids]

    write = in_place and not dry_run and bool(changed)
    if write:
        write_atomic(Path(path), new_text)
    counts = Counts.of(final)
    outcome = FileCheckOutcome(
        file=path,
        state=state,
        changed=tuple(step.id for step in changed),
        unchanged=tuple(step.id for step in unchanged),
        counts=counts,
        dry_run=dry_run,
        written=write,
        diff=file_diff(text, new_text, "standard input" if path == "-" else path) if dry_run else None,
        text=new_text if not dry_run and not in_place else None,
    )
    messages = [change_line(step.id, step.state, state, step.line) for step in changed]
    messages += [f"{step.id}: already {state}" for step in unchanged]
    if not changed:
        messages.append("nothing to do")
    messages.append(counts.progress)
    if write:
        messages.append(f"wrote {path}")
    elif dry_run and changed:
        messages.append("dry run: nothing written")
    return Result("check", outcome, messages=messages)


def file_diff(old: str, new: str, name: str) -> str:
    """A unified diff that `patch` applies to the file: line endings kept, a missing final newline marked."""
    lines = []
    for line in difflib.unified_diff(split_lines(old), split_lines(new), fromfile=name, tofile=name):
        lines.append(line if line.endswith(("\n", "\r")) else line + "\n" + _NO_NEWLINE)
    return "".join(lines)
