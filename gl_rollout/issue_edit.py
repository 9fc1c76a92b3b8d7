"""Read, edit, write, verify: how gl-rollout changes a description (check, announce, enable, disable, sync).

GitLab's REST API has no compare-and-set for a description: a PUT replaces it and the last writer wins.
So the window is one read and one write, the write sends only `description`, and afterwards the
issue's newest notes are read. GitLab writes a system note for every description edit ("changed the
description", or "marked the checklist item **X** as completed|incomplete" when only boxes changed),
created just *after* it saves the issue and without touching `updated_at`. A note of that kind created
after the `updated_at` we read and before the `updated_at` our PUT returned is someone else's edit that
landed inside our window, and that our write overwrote: `ConflictError` (exit 4) says what we wrote and
that the other edit can be restored from the issue's description history.

How an edit after our read is told from the edit we read is `gl_rollout.system_notes`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from gl_rollout.api import GitLabAPI, Issue, Note
from gl_rollout.checklist import Step, StepState, apply_step_states, parse_checklist, split_lines
from gl_rollout.errors import ConflictError, GitLabError, UsageError
from gl_rollout.system_notes import interference, judge_since_read


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


@dataclass(frozen=True)
class WrittenEdit:
    """What GitLab stored after our PUT, and remarks worth showing (never errors)."""

    issue: Issue
    warnings: tuple[str, ...] = field(default=())


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


def fresh_if_stale(api: GitLabAPI, project: str, read: Issue, baseline: Sequence[Note]) -> Issue:
    """Before writing: when the baseline notes show (or may show) an edit after our read, read again.

    One extra GET, only then: when someone edited the issue between our two reads, or when the seconds
    after the edit we read hold several system notes by its author (a second, later edit of theirs
    cannot be told from the first). Returns the issue to edit: the fresh one if the description moved.
    """
    judged = judge_since_read(baseline, read)
    if not judged.others and not judged.uncertain:
        return read
    fresh = api.get_issue(project, read.iid)
    return fresh if fresh.description != read.description or judged.others else read


def same_stored_text(sent: str, stored: str) -> bool:
    """GitLab stored what we sent, up to line endings and trailing whitespace some servers normalise."""
    return sent == stored or _normalised(sent) == _normalised(stored)


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).rstrip()


def write_description(
    api: GitLabAPI,
    project: str,
    edit: DescriptionEdit,
    *,
    baseline: Sequence[Note] | None = None,
) -> WrittenEdit:
    """PUT only the description, check GitLab stored exactly that, then look for edits we overwrote.

    ConflictError (exit 4) when GitLab stored something else, or when someone's edit landed between
    our read and our write; its `details` carry what we wrote and whose edit it was.
    """
    issue = edit.issue
    written = api.update_issue(project, issue.iid, {"description": edit.new_text})
    if not same_stored_text(edit.new_text, written.description):
        stored = line_changes(edit.new_text, written.description)
        raise ConflictError(
            f"GitLab stored a different description than gl-rollout sent for {issue.reference}"
            + (f" (line {stored[0].line}: {stored[0].after!r})" if stored else ""),
            "a line may have run as a quick action; compare with the issue's description history",
            details=_conflict_details(edit, [], stored=stored),
        )
    notes = api.list_notes(project, issue.iid, sort="desc", per_page=100, max_pages=1)

    def whoami() -> str | None:
        try:
            return api.current_user().username
        except GitLabError:
            return None

    overwritten, later = interference(notes, issue, written, baseline, whoami)
    if overwritten:
        raise conflict_error(edit, overwritten)
    warnings: list[str] = []
    for note in later:
        warnings.append(
            f"{note.author or 'someone'} edited the description right after gl-rollout "
            f"({note.created_at}): run `gl-rollout status {issue.reference}` to see the result"
        )
    return WrittenEdit(issue=written, warnings=tuple(warnings))


def conflict_error(edit: DescriptionEdit, others: Sequence[Note]) -> ConflictError:
    """The exit-4 error: what gl-rollout wrote, whose edit it overwrote, and how to get it back."""
    who = ", ".join(
        sorted({f"{n.author or 'someone'} ({_describe_note(n)}, {n.created_at})" for n in others})
    )
    wrote = "; ".join(f"line {c.line}: {c.after.strip()}" for c in edit.line_changes()) or "nothing"
    return ConflictError(
        f"{edit.issue.reference}: another edit of the description landed between gl-rollout's read and "
        f"its write, by {who}; gl-rollout wrote {wrote}",
        "that edit was overwritten: restore it from the issue's description history "
        "(the 'Compare with previous version' link of the edit), then run the command again",
        details=_conflict_details(edit, others),
    )


def _describe_note(note: Note) -> str:
    body = " ".join(note.body.split())
    return body if len(body) <= 80 else body[:77] + "..."


def _conflict_details(
    edit: DescriptionEdit, others: Sequence[Note], *, stored: Sequence[LineChange] = ()
) -> dict[str, object]:
    details: dict[str, object] = {
        "wrote": [c.to_dict() for c in edit.line_changes()],
        "other_edits": [
            {"author": n.author, "created_at": n.created_at, "note": n.body, "note_id": n.id} for n in others
        ],
    }
    if stored:
        details["stored_differs"] = [c.to_dict() for c in stored]
    return details


def is_ambiguous(error: GitLabError) -> bool:
    """A write whose answer was lost (timeout, 5xx, dropped connection): it may have landed."""
    return bool(error.details.get("ambiguous"))
