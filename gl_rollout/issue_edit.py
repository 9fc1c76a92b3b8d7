"""Read, edit, write, verify: how gl-rollout changes a description (check, announce, enable, disable, sync).

GitLab's REST API has no compare-and-set for a description: a PUT replaces it and the last writer wins.
So the window is one read and one write, the write sends only `description`, and afterwards the
issue's newest notes are read. GitLab writes a system note for every description edit ("changed the
description", or "marked the checklist item **X** as completed|incomplete" when only boxes changed),
created just *after* it saves the issue and without touching `updated_at`. A note of that kind created
after the `updated_at` we read and before the `updated_at` our PUT returned is someone else's edit that
landed inside our window, and that our write overwrote: `ConflictError` (exit 4) says what we wrote and
that the other edit can be restored from the issue's description history.

Telling the edit we read from an edit after it:
- with a *baseline* (the notes read right after the issue, as announce, enable and sync do anyway), a
  note missing from the baseline was created after our read: exact. Before writing, the baseline itself
  is judged (below); if it shows or may show a later edit, the issue is read once more and edited fresh;
- without one (`check`, whose budget is 3 requests), the edit we read is recognised by its own notes:
  none when the issue was never edited or `updated_at` is a comment's touch, else the system notes within
  `SAME_EDIT_WINDOW` after `updated_at` by one author, minus checklist notes that contradict the boxes
  read. A second edit by that same author inside those seconds, racing our write, goes unseen.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gl_rollout.api import GitLabAPI, Issue, Note
from gl_rollout.checklist import Step, StepState, apply_step_states, parse_checklist, split_lines
from gl_rollout.errors import ConflictError, GitLabError

# GitLab creates its system note right after saving the issue; this bounds how far after.
SAME_EDIT_WINDOW = dt.timedelta(seconds=2)

COMMENT_TOUCH = dt.timedelta(milliseconds=250)  # a comment touches `updated_at` right after it is saved

_DESCRIPTION_NOTE = re.compile(r"^(?:changed the description|marked the (?:checklist item|task) )")
_CHECKLIST_NOTE = re.compile(
    r"^marked the (?:checklist item|task) \*\*(?P<text>.+)\*\* as (?P<status>completed|incomplete)\s*$",
    re.DOTALL,
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


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


def parse_time(value: str) -> dt.datetime | None:
    """GitLab's timestamps (`2026-01-04T15:31:51.081Z`, or with an offset) as aware datetimes."""
    text = value.strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def is_description_note(note: Note) -> bool:
    return note.system and bool(_DESCRIPTION_NOTE.match(note.body.strip()))


@dataclass(frozen=True)
class SinceRead:
    """Description edits seen in notes created after our read: surely others', or perhaps the read one's."""

    others: tuple[Note, ...] = ()
    uncertain: tuple[Note, ...] = ()  # "changed the description" taken as the read edit's own note


def judge_since_read(notes: Sequence[Note], read: Issue) -> SinceRead:
    """Which description notes created after `read.updated_at` are edits that are not in `read`.

    GitLab writes an edit's system notes just after saving it, so the edit we read may have notes a
    little after `updated_at`. They are: none when the issue was never edited, or when `updated_at` is
    a comment's touch; else the system notes within `SAME_EDIT_WINDOW`, by the first one's author,
    minus any checklist note that contradicts the boxes we read.
    """
    since = parse_time(read.updated_at)
    if since is None:
        return SinceRead()
    candidates = sorted((n for n in notes if is_description_note(n) and _after(n, since)), key=_order)
    if not candidates:
        return SinceRead()
    own = _notes_of_read_edit(notes, read, since)
    others = tuple(n for n in candidates if n.id not in own)
    uncertain = tuple(n for n in candidates if n.id in own and not _CHECKLIST_NOTE.match(n.body.strip()))
    return SinceRead(others, uncertain)


def edits_since_read(notes: Sequence[Note], read: Issue) -> list[Note]:
    """Description edits by anyone that landed after `read` was taken (see `judge_since_read`)."""
    return list(judge_since_read(notes, read).others)


def _after(note: Note, moment: dt.datetime) -> bool:
    created = parse_time(note.created_at)
    return created is not None and created > moment


def _order(note: Note) -> tuple[dt.datetime, int]:
    return (parse_time(note.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC), note.id)


def _notes_of_read_edit(notes: Sequence[Note], read: Issue, since: dt.datetime) -> set[int]:
    """The system notes GitLab wrote for the edit whose `updated_at` we read (see `judge_since_read`)."""
    if read.updated_at == read.created_at:
        return set()
    steps = parse_checklist(read.description).steps
    # `updated_at` right after a comment is that comment's touch: then no edit of ours to explain.
    touched_by_comment = any(
        not n.system
        and (created := parse_time(n.created_at)) is not None
        and since - COMMENT_TOUCH <= created <= since
        for n in notes
    )
    window = sorted(
        (n for n in notes if n.system and _after(n, since) and not _after(n, since + SAME_EDIT_WINDOW)),
        key=_order,
    )
    run = _first_author_run(window, since)
    own: set[int] = set()
    for note in notes:
        if not is_description_note(note) or not _after(note, since):
            continue
        verdict = _checklist_verdict(note, steps)
        if verdict is True or (verdict is None and not touched_by_comment and note.id in run):
            own.add(note.id)
    return own


def _checklist_verdict(note: Note, steps: Sequence[Step]) -> bool | None:
    """For "marked the checklist item X as completed|incomplete": does X read that way in `steps`?

    True: the boxes we read agree, so the edit is in our read (a later one would have flipped X from the
    state we read). False: they disagree, so it came after. None: not such a note, or X not found.
    """
    match = _CHECKLIST_NOTE.match(note.body.strip())
    if not match:
        return None
    text = _plain(match.group("text"))
    completed = match.group("status") == "completed"
    found = [step for step in steps if _plain(step.text) == text]
    if not found:
        return None
    return any((step.state == "done") == completed for step in found)


def _plain(text: str) -> str:
    return " ".join(_HTML_COMMENT.sub("", text).split()).casefold()


def interference(
    notes: Sequence[Note], read: Issue, written: Issue, baseline: Sequence[Note] | None
) -> tuple[list[Note], list[Note]]:
    """(overwritten, later): others' description edits inside our window, and any right after our write.

    Even an edit that ticked the very box we ticked counts as overwritten: GitLab writes only the
    checklist note when boxes changed, so other text that edit changed would not show.
    """
    until = parse_time(written.updated_at)
    since = parse_time(read.updated_at)
    if baseline is not None:
        # The baseline was read after the issue: a note missing from it was created after our read.
        known = {n.id for n in baseline}
        inside = sorted(
            (
                n
                for n in notes
                if is_description_note(n) and n.id not in known and (since is None or _after(n, since))
            ),
            key=_order,
        )
    else:
        inside = edits_since_read(notes, read)
    if until is None:
        return inside, []
    overwritten = [n for n in inside if (parse_time(n.created_at) or until) < until]
    after = [n for n in notes if n.system and _after(n, until)]
    # Our own PUT's notes come first after `until`, by one author (us), within the window.
    ours = _first_author_run(sorted(after, key=_order), until)
    later = [n for n in inside if _after(n, until) and n.id not in ours]
    return overwritten, later


def _first_author_run(ordered: Sequence[Note], since: dt.datetime) -> set[int]:
    if not ordered:
        return set()
    author = ordered[0].author
    run: set[int] = set()
    for note in ordered:
        created = parse_time(note.created_at)
        if note.author != author or created is None or created - since > SAME_EDIT_WINDOW:
            break
        run.add(note.id)
    return run


def fresh_if_stale(api: GitLabAPI, project: str, read: Issue, baseline: Sequence[Note]) -> Issue:
    """Before writing: when the baseline notes show (or may show) an edit after our read, read again.

    One extra GET, only then. Returns the issue to edit: the fresh one if the description moved.
    """
    judged = judge_since_read(baseline, read)
    if not judged.others and not judged.uncertain:
        return read
    fresh = api.get_issue(project, read.iid)
    return fresh if fresh.description != read.description or judged.others else read


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
    if written.description != edit.new_text:
        stored = line_changes(edit.new_text, written.description)
        raise ConflictError(
            f"GitLab stored a different description than gl-rollout sent for {issue.reference}"
            + (f" (line {stored[0].line}: {stored[0].after!r})" if stored else ""),
            "a line may have run as a quick action; compare with the issue's description history",
            details=_conflict_details(edit, [], stored=stored),
        )
    notes = api.list_notes(project, issue.iid, sort="desc", per_page=100, max_pages=1)
    overwritten, later = interference(notes, issue, written, baseline)
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
