"""Read, edit, write, verify: how gl-rollout changes a description (check, announce, enable, disable, sync).

GitLab's REST API has no compare-and-set for a description: a PUT replaces it and the last writer wins.
So the write sends only `description`, and the edit's *window* is bounded by notes: a floor (the newest
note ID read before the description was) and the notes read right after the PUT. Every description
note above the floor is an edit after our read, or our own (`gl_rollout.core.system_notes` tells which, by
what the notes say and when, never by who wrote them: one token may serve many writers).

- A tick (or untick) that landed in the window and that our write undid is set again on a fresh read,
  and the write checked again: ten processes ticking ten steps with one token keep ten ticks.
- A text edit our write replaced cannot be rebuilt from the notes: `ConflictError` (exit 4) says what
  we wrote and that the other edit can be restored from the issue's description history.
"""

from __future__ import annotations

import difflib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gl_rollout.core.chatops import ENVIRONMENTS
from gl_rollout.core.checklist import Step, StepState, apply_step_states, parse_checklist, split_lines
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.plan_text import refreshed_hidden_copy
from gl_rollout.core.system_notes import OurWrite, Reverted, edit_after_read, judge_window, newest_id
from gl_rollout.errors import ConflictError, GitLabError, StepError, UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.gitlab.retry import RetryPolicy


@dataclass(frozen=True)
class LineChange:
    """One line the edit changes (1-based), before and after."""

    line: int
    before: str
    after: str

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class DescriptionEdit:
    """A planned change of one issue's description: the issue as read and the text to write."""

    issue: Issue
    new_text: str
    changed: tuple[Step, ...] = ()  # the steps whose box changes, as they read after the edit

    @property
    def needed(self) -> bool:
        return self.new_text != self.issue.description

    def line_changes(self) -> list[LineChange]:
        return line_changes(self.issue.description, self.new_text)

    def diff(self) -> str:
        return unified_diff(self.issue.description, self.new_text, self.issue.reference or "description")

    def change_lines(self) -> list[str]:
        """One `ID: before -> after (line N)` per changed step: the wording every command uses."""
        before = {step.line: step.state for step in parse_checklist(self.issue.description).steps}
        return [change_line(s.id, before.get(s.line, "todo"), s.state, s.line) for s in self.changed]


def change_line(step_id: str, before: str, after: str, line: int) -> str:
    """How a step's change is told: `enable-staging: todo -> done (line 34)`."""
    return f"{step_id}: {before} -> {after} (line {line})"


def require_open(issue: Issue) -> None:
    """Refuse to change a closed issue (exit 2, before anything is written): the rollout is over, or
    paused, and a comment or a tick there would go unseen. The many-issue commands skip closed ones."""
    if issue.state == "closed":
        name = issue.reference or f"issue #{issue.iid}"
        raise UsageError(f"will not change {name}: it is closed: reopen it first")


MAX_WRITES = 6  # writes of one edit at most: the first, and repairs of ticks it undid


@dataclass(frozen=True)
class WrittenEdit:
    """What GitLab stored after our writes, remarks worth showing (never errors), and the steps set
    back to another edit's state after our write had undone it."""

    issue: Issue
    warnings: tuple[str, ...] = field(default=())
    restored: tuple[str, ...] = field(default=())


def plan_step_edit(issue: Issue, changes: Sequence[tuple[Sequence[str], StepState]]) -> DescriptionEdit:
    """Apply `(selectors, state)` pairs in order to the description as read; StepError if one matches none."""
    text = issue.description
    changed: dict[int, Step] = {}
    for selectors, state in changes:
        if not selectors:
            continue
        text, steps = apply_step_states(text, selectors, state)
        for step in steps:
            changed[step.line] = step
    # A step set one way and back again within one plan is no change at all.
    final = {s.line: s for s in parse_checklist(text).steps} if changed else {}
    before = {s.line: s for s in parse_checklist(issue.description).steps} if changed else {}
    kept = [
        final[line]
        for line in sorted(changed)
        if line in final and (line not in before or before[line].state != final[line].state)
    ]
    if kept:  # a write happens anyway: bring the plan's hidden copy up to a person's edit of the table
        text = refreshed_hidden_copy(text, ENVIRONMENTS)
    return DescriptionEdit(issue=issue, new_text=text, changed=tuple(kept))


def line_changes(old: str, new: str) -> list[LineChange]:
    """Lines that differ between two texts of the same line count (box edits never add or drop lines)."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    if len(old_lines) != len(new_lines):
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        changes: list[LineChange] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            for offset in range(max(i2 - i1, j2 - j1)):
                before = old_lines[i1 + offset].rstrip("\r\n") if i1 + offset < i2 else ""
                after = new_lines[j1 + offset].rstrip("\r\n") if j1 + offset < j2 else ""
                changes.append(LineChange(j1 + offset + 1, before, after))
        return changes
    return [
        LineChange(index + 1, a.rstrip("\r\n"), b.rstrip("\r\n"))
        for index, (a, b) in enumerate(zip(old_lines, new_lines, strict=True))
        if a != b
    ]


def unified_diff(old: str, new: str, name: str) -> str:
    """A unified diff of two descriptions ("" when equal); line endings are not shown."""
    if old == new:
        return ""
    lines = difflib.unified_diff(
        [line.rstrip("\r\n") for line in split_lines(old)],
        [line.rstrip("\r\n") for line in split_lines(new)],
        fromfile=f"{name} (now)",
        tofile=f"{name} (after)",
        lineterm="",
    )
    return "\n".join(lines) + "\n"


def same_stored_text(sent: str, stored: str) -> bool:
    """GitLab stored what we sent, up to line endings and trailing whitespace some servers normalise."""
    return sent == stored or _normalised(sent) == _normalised(stored)


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).rstrip()


def read_for_edit(api: GitLabAPI, project: str, read: Issue, notes: Sequence[Note]) -> tuple[Issue, int]:
    """The issue to edit and the floor of the edit's window, from an issue and the notes read after it.

    When the notes show (or may show) a description edit after that read (`edit_after_read`), the issue
    is read once more: the notes, read before that second read, then hold nothing the text lacks.
    """
    floor = newest_id(notes)
    if not edit_after_read(notes, read):
        return read, floor
    return api.get_issue(project, read.iid), floor


def write_description(
    api: GitLabAPI,
    project: str,
    edit: DescriptionEdit,
    *,
    floor: int,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> WrittenEdit:
    """PUT only the description, check GitLab stored exactly that, then judge the notes above `floor`.

    `floor` is the newest note ID read before `edit.issue` was (see `read_for_edit`). A tick another
    edit made after that read and that our write undid is set again on a fresh read, unless someone
    changed that box since, and the write is checked again (at most `MAX_WRITES` writes, a short
    jittered wait before each repair). ConflictError (exit 4) when GitLab stored something else, or
    when our write replaced an edit that cannot be rebuilt (a text edit); its `details` carry what we
    wrote and the edits overwritten.
    """
    rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not a secret
    current = edit
    overwritten: dict[int, Note] = {}
    warnings: list[str] = []
    restored: dict[str, StepState] = {}
    for attempt in range(MAX_WRITES):
        written = _put_description(api, project, current)
        notes = _notes_above(api, project, current.issue.iid, floor)
        ours = OurWrite(
            current.issue.description, current.new_text, {s.id for s in current.changed}, written.updated_at
        )
        window = judge_window(notes, floor, ours)
        overwritten.update((n.id, n) for n in window.overwritten)
        warnings += [_later_warning(n, edit.issue.reference) for n in window.later]
        if not window.reverted:
            break
        floor = max(floor, newest_id(notes))
        sleep(RetryPolicy(base=0.1, cap=1.0, rng=rng).backoff(attempt))
        fresh = api.get_issue(project, current.issue.iid)
        repair, lost = plan_restore(fresh, window.reverted)
        overwritten.update((r.note.id, r.note) for r in lost)
        if repair is None:
            written = fresh
            break
        restored.update({s.id: s.state for s in repair.changed})
        current = repair
    else:
        raise EditConflict(
            f"{edit.issue.reference}: other edits kept landing while gl-rollout set back the ticks its "
            f"writes had undone ({MAX_WRITES} writes)",
            "run `gl-rollout status` to see the boxes now, and tick again those that are missing",
            _conflict(edit, [r.note for r in window.reverted]),
        )
    if overwritten:
        raise conflict_error(edit, sorted(overwritten.values(), key=lambda n: n.id))
    repairs = [
        f"restored {step_id}: {state} (another edit's, which gl-rollout's write had undone)"
        for step_id, state in restored.items()
    ]
    return WrittenEdit(written, (*repairs, *warnings), tuple(restored))


def plan_restore(fresh: Issue, reverted: Sequence[Reverted]) -> tuple[DescriptionEdit | None, list[Reverted]]:
    """(the repair edit on `fresh`, or None when nothing is left to set; the ticks that cannot be set).

    A box is set back to the other edit's state only where `fresh` still shows what our write made it:
    whoever changed it since had the last word.
    """
    checklist = parse_checklist(fresh.description)
    changes: list[tuple[list[str], StepState]] = []
    lost: list[Reverted] = []
    for item in reverted:
        step = checklist.find(item.step_id)
        if step is None:
            lost.append(item)
        elif step.state != item.state and step.state == ("done" if item.state == "todo" else "todo"):
            changes.append(([item.step_id], item.state))
    if not changes:
        return None, lost
    try:
        repair = plan_step_edit(fresh, changes)
    except StepError:
        return None, [*lost, *reverted]
    return (repair if repair.needed else None), lost


def _put_description(api: GitLabAPI, project: str, edit: DescriptionEdit) -> Issue:
    issue = edit.issue
    written = api.update_issue(project, issue.iid, {"description": edit.new_text})
    if not same_stored_text(edit.new_text, written.description):
        stored = line_changes(edit.new_text, written.description)
        raise EditConflict(
            f"GitLab stored a different description than gl-rollout sent for {issue.reference}"
            + (f" (line {stored[0].line}: {stored[0].after!r})" if stored else ""),
            "a line may have run as a quick action; compare with the issue's description history",
            _conflict(edit, [], stored=stored),
        )
    return written


def _notes_above(api: GitLabAPI, project: str, iid: int, floor: int) -> list[Note]:
    """The newest notes, down to the floor: one page of 100, all of them in the rare case that more
    than a page landed since."""
    notes = api.list_notes(project, iid, sort="desc", per_page=100, max_pages=1)
    if len(notes) >= 100 and min(n.id for n in notes) > floor:
        notes = api.list_notes(project, iid, sort="desc", per_page=100)
    return notes


def _later_warning(note: Note, reference: str) -> str:
    return (
        f"{note.author or 'someone'} edited the description right after gl-rollout "
        f"({note.created_at}): run `gl-rollout status {reference}` to see the result"
    )


def conflict_error(edit: DescriptionEdit, others: Sequence[Note]) -> EditConflict:
    """The exit-4 error: what gl-rollout wrote, whose edit it overwrote, and how to get it back."""
    who = ", ".join(
        sorted({f"{n.author or 'someone'} ({_describe_note(n)}, {n.created_at})" for n in others})
    )
    wrote = "; ".join(f"line {c.line}: {c.after.strip()}" for c in edit.line_changes()) or "nothing"
    return EditConflict(
        f"{edit.issue.reference}: another edit of the description landed between gl-rollout's read and "
        f"its write, by {who}; gl-rollout wrote {wrote}",
        "that edit was overwritten: restore it from the issue's description history "
        "(the 'Compare with previous version' link of the edit), then run the command again",
        _conflict(edit, others),
    )


def _describe_note(note: Note) -> str:
    body = " ".join(note.body.split())
    return body if len(body) <= 80 else body[:77] + "..."


@dataclass(frozen=True)
class OtherEdit:
    """An edit of the description that gl-rollout's write overwrote, as GitLab's note tells it."""

    author: str
    created_at: str
    note: str
    note_id: int


@dataclass(frozen=True)
class Conflict:
    """What an exit-4 conflict reports: the lines gl-rollout wrote, the edits its write overwrote, and
    (when GitLab stored another text than was sent) how the stored text differs."""

    wrote: tuple[LineChange, ...] = ()
    other_edits: tuple[OtherEdit, ...] = ()
    stored_differs: tuple[LineChange, ...] = ()

    def to_dict(self) -> dict[str, object]:
        details: dict[str, object] = {
            "wrote": [c.to_dict() for c in self.wrote],
            "other_edits": [
                {"author": o.author, "created_at": o.created_at, "note": o.note, "note_id": o.note_id}
                for o in self.other_edits
            ],
        }
        if self.stored_differs:
            details["stored_differs"] = [c.to_dict() for c in self.stored_differs]
        return details


class EditConflict(ConflictError):
    """A ConflictError of a description write, with its `Conflict` record (also its `details`)."""

    def __init__(self, message: str, hint: str | None, conflict: Conflict) -> None:
        super().__init__(message, hint, details=conflict.to_dict())
        self.conflict = conflict


def conflict_of(error: ConflictError) -> Conflict | None:
    """The record of a description conflict; None for a conflict found before anything was written."""
    return error.conflict if isinstance(error, EditConflict) else None


def _conflict(
    edit: DescriptionEdit, others: Sequence[Note], *, stored: Sequence[LineChange] = ()
) -> Conflict:
    return Conflict(
        wrote=tuple(edit.line_changes()),
        other_edits=tuple(OtherEdit(n.author, n.created_at, n.body, n.id) for n in others),
        stored_differs=tuple(stored),
    )


def is_ambiguous(error: GitLabError) -> bool:
    """A write whose answer was lost (timeout, 5xx, dropped connection): it may have landed."""
    return bool(error.details.get("ambiguous"))
